"""Write-audit-publish of the serving file.

The marts are copied into a new DuckDB file beside the serving file, which is
then renamed over it in one atomic step. Readers see the old file or the new
one, never a half-written one; a run that fails before this leaves the old file
as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestration import duckdb_connection
from orchestration.landing import utc_now

PUBLISHED_SCHEMAS = ("marts", "quality")
"""Copied into the serving file's `main` schema under their own names: the marts, and
`quality_check_results` (every check of every run) for BI's data-quality status."""


@dataclass(frozen=True)
class Published:
    path: Path
    tables: dict[str, int]
    """rows per table"""
    checksum: str
    """sha256 of the file as it was swapped in"""


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: dict[str, int]
    """rows per table"""
    files: int
    """Parquet files written"""
    partitions: int
    """partition folders (`as_of_date=…/`) written, over the partitioned tables"""


@dataclass(frozen=True)
class ScoreSummary:
    """What a person checks first after a run: the latest day's scores."""

    as_of_date: str
    accounts: int
    bands: dict[str, int]
    mean: float | None
    p10: float | None
    median: float | None
    p90: float | None
    config_versions: list[str]


def score_summary(serving: Path) -> ScoreSummary | None:
    """The latest day of the published fact table (None when it holds no rows)."""
    con = duckdb_connection.connect(str(serving), read_only=True)
    try:
        latest = con.execute("select max(as_of_date) from fct_customer_health_daily").fetchone()
        if not latest or latest[0] is None:
            return None
        day = latest[0]
        accounts, mean, p10, median, p90 = con.execute(
            "select count(*), round(avg(health_score), 2),"
            " round(quantile_cont(health_score, 0.1), 2), round(median(health_score), 2),"
            " round(quantile_cont(health_score, 0.9), 2)"
            " from fct_customer_health_daily where as_of_date = ?",
            [day],
        ).fetchone()
        bands = con.execute(
            "select health_band, count(*) from fct_customer_health_daily where as_of_date = ?"
            " group by health_band order by health_band",
            [day],
        ).fetchall()
        versions = con.execute(
            "select distinct config_version from fct_customer_health_daily"
            " where as_of_date = ? order by 1",
            [day],
        ).fetchall()
    finally:
        con.close()
    return ScoreSummary(
        as_of_date=day.isoformat(),
        accounts=int(accounts),
        bands={band: int(n) for band, n in bands},
        mean=mean,
        p10=p10,
        median=median,
        p90=p90,
        config_versions=[v for (v,) in versions],
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def publish_serving_file(warehouse: Path, serving: Path, *, run_id: str) -> Published:
    """Copy every table of the published schemas into a new serving file, then swap it in."""
    serving.parent.mkdir(parents=True, exist_ok=True)
    staging = serving.with_name(f".{serving.name}.{run_id}.tmp")
    staging.unlink(missing_ok=True)
    tables: dict[str, int] = {}
    con = duckdb_connection.connect(str(staging))
    try:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        names = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = 'warehouse' and table_schema in"
            f" ({', '.join(repr(s) for s in PUBLISHED_SCHEMAS)}) order by table_name"
        ).fetchall()
        for schema, name in names:
            con.execute(f'create table main."{name}" as select * from warehouse.{schema}."{name}"')
            row = con.execute(f'select count(*) from main."{name}"').fetchone()
            tables[name] = int(row[0]) if row else 0
        con.execute(
            "create table main.publish_log as select ? as run_id, ? as published_at, ? as tables",
            [run_id, utc_now(), ",".join(sorted(tables))],
        )
        con.execute("detach warehouse")
        con.execute("checkpoint")
    finally:
        con.close()
    _fsync(staging)
    checksum = sha256_file(staging)  # of this publication, whatever replaces it later
    os.replace(staging, serving)
    _fsync(serving.parent)
    return Published(path=serving, tables=tables, checksum=checksum)


PARTITION_COLUMN = "as_of_date"


def export_parquet(serving: Path, exports: Path, *, run_id: str) -> Exported:
    """Parquet files of every published table under `exports/<table>/`: tables with an
    `as_of_date` are partitioned by it (`as_of_date=YYYY-MM-DD/`), the rest are one file.

    Written beside the exports folder, then swapped in table by table (rename), so a tool
    reading a table's folder sees the old files or the new ones."""
    staging = exports.with_name(f".{exports.name}.{run_id}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows: dict[str, int] = {}
    con = duckdb_connection.connect(str(serving), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
            " and table_name != 'publish_log' order by 1"
        ).fetchall()
        for (table,) in tables:
            columns = {
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'main' and table_name = ?",
                    [table],
                ).fetchall()
            }
            target = staging / table
            if PARTITION_COLUMN in columns:
                con.execute(
                    f"copy (select * from main.\"{table}\" order by all) to '{target}'"
                    f" (format parquet, partition_by ({PARTITION_COLUMN}))"
                )
            else:
                target.mkdir()
                con.execute(
                    f'copy (select * from main."{table}" order by all)'
                    f" to '{target / (table + '.parquet')}' (format parquet)"
                )
            row = con.execute(f'select count(*) from main."{table}"').fetchone()
            rows[table] = int(row[0]) if row else 0
    finally:
        con.close()
    files = sum(1 for _ in staging.rglob("*.parquet"))
    partitions = sum(1 for _ in staging.glob(f"*/{PARTITION_COLUMN}=*"))
    exports.mkdir(parents=True, exist_ok=True)
    for table in rows:
        old = exports / f".{table}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (exports / table).exists():
            os.rename(exports / table, old)
        os.rename(staging / table, exports / table)
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return Exported(path=exports, rows=rows, files=files, partitions=partitions)
