"""Copy the DuckDB warehouse's `raw` schema into a local Spark warehouse (spike).

Exports every raw.* table of the DuckDB warehouse to Parquet, then registers each as a
managed Parquet table in the Spark `raw` database, with the same Spark settings as the
dbt `spark` target (dbt_project/profiles.yml): the same warehouse dir and Derby
metastore under HEALTH_SPARK_DIR. Naive DuckDB timestamps (UTC) become Spark
TIMESTAMPs in a UTC session. One Spark process at a time (embedded Derby).

    HEALTH_SPARK_DIR=$PWD/data/spark nice -n 19 .venv/bin/python tools/raw_to_spark.py \
        [--warehouse data/warehouse.duckdb]
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import duckdb


def export_parquet(warehouse: Path, out: Path) -> list[str]:
    # files named raw__<table>: Spark skips files whose name starts with "_" (_changed_days)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [
            row[0]
            for row in con.sql(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw' order by table_name"
            ).fetchall()
        ]
        for table in tables:
            path = out / f"raw__{table}.parquet"
            con.execute(f"copy raw.\"{table}\" to '{path}' (format parquet)")
    return tables


def register(spark_dir: Path, parquet_dir: Path, tables: list[str]) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.enableHiveSupport()
        .master("local[2]")
        .config("spark.sql.warehouse.dir", f"{spark_dir}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={spark_dir}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        spark.sql("create database if not exists raw")
        for table in tables:
            df = spark.read.parquet(str(parquet_dir / f"raw__{table}.parquet"))
            df = df.select(
                *[
                    F.col(f.name).cast("timestamp").alias(f.name)
                    if f.dataType.typeName() == "timestamp_ntz"
                    else F.col(f.name)
                    for f in df.schema.fields
                ]
            )
            df.write.mode("overwrite").format("parquet").saveAsTable(f"raw.`{table}`")
            print(f"raw.{table}: {spark.table(f'raw.`{table}`').count()} rows")
    finally:
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default="data/warehouse.duckdb", type=Path)
    args = parser.parse_args()
    spark_dir = Path(os.environ.get("HEALTH_SPARK_DIR", "data/spark")).resolve()
    parquet_dir = spark_dir / "raw_parquet"
    tables = export_parquet(args.warehouse, parquet_dir)
    register(spark_dir, parquet_dir, tables)


if __name__ == "__main__":
    main()
