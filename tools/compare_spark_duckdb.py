"""Compare the tables dbt built on Spark with the DuckDB warehouse's (spike).

Reads the Spark warehouse's Parquet files directly with DuckDB (no Spark session), and
for each table present in both says: rows on each side, rows only in DuckDB, rows only
in Spark (columns in DuckDB's order, doubles rounded to 6 decimals, timestamps as text).

    nice -n 19 .venv/bin/python tools/compare_spark_duckdb.py [--schemas marts intermediate]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import duckdb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default="data/warehouse.duckdb")
    parser.add_argument("--schemas", nargs="*", default=["marts", "intermediate", "config"])
    parser.add_argument("--show", type=int, default=0, help="print this many differing rows")
    args = parser.parse_args()
    spark_dir = Path(os.environ.get("HEALTH_SPARK_DIR", "data/spark")).resolve() / "warehouse"
    con = duckdb.connect()
    con.execute(f"attach '{args.warehouse}' as wh (read_only)")
    for schema in args.schemas:
        tables = con.sql(
            "select table_name from information_schema.tables where table_catalog = 'wh' "
            f"and table_schema = '{schema}' and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
        for (table,) in tables:
            folder = spark_dir / f"{schema}.db" / table
            if not folder.is_dir():
                print(f"{schema}.{table}: not on Spark")
                continue
            cols = con.sql(
                "select column_name, data_type from information_schema.columns "
                f"where table_catalog = 'wh' and table_schema = '{schema}' "
                f"and table_name = '{table}' order by ordinal_position"
            ).fetchall()

            def expr(name: str, dtype: str) -> str:
                if dtype in ("DOUBLE", "FLOAT") or dtype.startswith("DECIMAL"):
                    return f'round(cast("{name}" as double), 6) as "{name}"'
                if dtype.startswith("TIMESTAMP"):
                    return f'cast("{name}" as varchar) as "{name}"'
                if dtype == "DATE":
                    return f'cast("{name}" as date) as "{name}"'
                return f'cast("{name}" as {dtype}) as "{name}"'

            select = ", ".join(expr(n, t) for n, t in cols)
            hive = any(p.name.count("=") == 1 for p in folder.iterdir() if p.is_dir())
            glob = f"{folder}/**/*.parquet" if hive else f"{folder}/*.parquet"
            spark_rel = f"read_parquet('{glob}', hive_partitioning = {str(hive).lower()})"
            try:
                d = f"select {select} from wh.{schema}.{table}"
                s = f"select {select} from {spark_rel}"
                n_d = con.sql(f"select count(*) from wh.{schema}.{table}").fetchall()[0][0]
                n_s = con.sql(f"select count(*) from {spark_rel}").fetchall()[0][0]
                only_d = con.sql(f"select count(*) from ({d} except all {s})").fetchall()[0][0]
                only_s = con.sql(f"select count(*) from ({s} except all {d})").fetchall()[0][0]
            except duckdb.Error as exc:
                print(f"{schema}.{table}: cannot compare: {str(exc).splitlines()[0]}")
                continue
            same = "same" if only_d == only_s == 0 and n_d == n_s else "DIFFERENT"
            print(
                f"{schema}.{table}: {same} duckdb={n_d} spark={n_s} "
                f"only_duckdb={only_d} only_spark={only_s}"
            )
            if args.show and same != "same":
                print(con.sql(f"({d} except all {s}) limit {args.show}"))
                print(con.sql(f"({s} except all {d}) limit {args.show}"))


if __name__ == "__main__":
    main()
