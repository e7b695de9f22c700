"""Write-audit-publish of the serving file, and the Parquet exports made from it.

A publication is built in a new DuckDB file beside the serving file, which is then
renamed over it in one atomic step. Readers see the old file or the new one, never a
half-written one (a reader holding the old file open keeps reading it); a run that
fails before this leaves the old file as it was.

Neither rewrites history when a day changed. The new file starts as a copy of the last
publication (a file copy, no query); then each table with an `as_of_date` gets only the
days whose rows differ from the warehouse's (`changed_days`: per day, the row count and
the sum of the rows' hashes), and every other table is replaced whole (they are small:
one row per account or per segment). The exports rewrite only the partitions whose
fingerprint differs from the one recorded when they were last written.

The fingerprints come recorded (customer_health/fingerprints.py): the warehouse's as dbt
wrote the days, the serving file's as the publication that wrote them copied them (its
`publication` schema, beside `main`); they are computed only for a table without any.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from customer_health import duckdb_connection
from customer_health.fingerprints import (
    PARTITION_COLUMN,
    changed_days,
    days_in,
    fingerprints,
    from_json,
    record_fingerprints,
    to_json,
)
from customer_health.landing import utc_now

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
    replaced_days: dict[str, int | None]
    """per table, the days whose rows this publication replaced (None: the whole table)"""


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: dict[str, int]
    """rows per table"""
    files: int
    """Parquet files written"""
    partitions: int
    """partition folders (`as_of_date=…/`) written, over the partitioned tables"""
    unchanged_partitions: int = 0
    """partition folders left as they were: their rows had not changed"""


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


def _columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list:
    return con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_catalog = ? and table_schema = ? and table_name = ?"
        " order by ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def _here(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_database()").fetchone()[0]


def _base_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables of the copied last publication, or none when there was none."""
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables"
            " where table_catalog = current_database() and table_schema = 'main'"
        ).fetchall()
    }


def publish_serving_file(warehouse: Path, serving: Path, *, run_id: str) -> Published:
    """A new serving file from the last one and the changed days of the published
    schemas (see the module docstring), then swapped in."""
    serving.parent.mkdir(parents=True, exist_ok=True)
    staging = serving.with_name(f".{serving.name}.{run_id}.tmp")
    staging.unlink(missing_ok=True)
    if serving.is_file():
        shutil.copyfile(serving, staging)
    tables: dict[str, int] = {}
    replaced: dict[str, int | None] = {}
    try:
        con = duckdb_connection.connect(str(staging))
    except duckdb.Error:  # the last publication cannot be opened: build this one whole
        staging.unlink(missing_ok=True)
        con = duckdb_connection.connect(str(staging))
    try:
        con.execute(f"attach '{warehouse}' as warehouse (read_only)")
        names = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_catalog = 'warehouse' and table_schema in"
            f" ({', '.join(repr(s) for s in PUBLISHED_SCHEMAS)}) order by table_name"
        ).fetchall()
        previous = _base_tables(con)
        for stale in previous - {name for _, name in names}:
            con.execute(f'drop table main."{stale}"')
            record_fingerprints(con, stale, {})
        for schema, name in names:
            source = f'warehouse.{schema}."{name}"'
            columns = _columns(con, "warehouse", schema, name)
            partitioned = PARTITION_COLUMN in {c for c, _ in columns}
            new = fingerprints(con, name, source, "warehouse") if partitioned else {}
            if (
                name in previous
                and partitioned
                and _columns(con, _here(con), "main", name) == columns
            ):
                days = changed_days(fingerprints(con, name, f'main."{name}"'), new)
                if days:
                    where = days_in(days)
                    con.execute(f'delete from main."{name}" where {where}')
                    con.execute(f'insert into main."{name}" select * from {source} where {where}')
                replaced[name] = len(days)
            else:
                con.execute(f'create or replace table main."{name}" as select * from {source}')
                replaced[name] = None
            record_fingerprints(con, name, new)
            row = con.execute(f'select count(*) from main."{name}"').fetchone()
            tables[name] = int(row[0]) if row else 0
        con.execute(
            "create or replace table main.publish_log as"
            " select ? as run_id, ? as published_at, ? as tables",
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
    return Published(path=serving, tables=tables, checksum=checksum, replaced_days=replaced)


FINGERPRINTS = ".fingerprints.json"
"""In each partitioned table's export folder: its columns and each partition's
fingerprint (`day_fingerprints`) as last written."""


def _recorded(folder: Path, columns: list) -> dict[date, tuple]:
    """The fingerprints of the partitions in an export folder, when they were written
    with these columns and are all still there; else none (everything is rewritten)."""
    try:
        recorded = json.loads((folder / FINGERPRINTS).read_text())
    except (OSError, ValueError):
        return {}
    if recorded.get("columns") != [list(c) for c in columns]:
        return {}
    days = from_json(recorded.get("days", {}))
    present = {p.name for p in folder.glob(f"{PARTITION_COLUMN}=*")}
    return {d: v for d, v in days.items() if f"{PARTITION_COLUMN}={d}" in present}


def _swap(old: Path, new: Path | None) -> None:
    """Replace folder `old` by `new` (rename; None removes it)."""
    aside = old.with_name(f".{old.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if old.exists():
        os.rename(old, aside)
    if new is not None:
        os.rename(new, old)
    shutil.rmtree(aside, ignore_errors=True)


def export_parquet(serving: Path, exports: Path, *, run_id: str) -> Exported:
    """Parquet files of every published table under `exports/<table>/`: tables with an
    `as_of_date` are partitioned by it (`as_of_date=YYYY-MM-DD/`), the rest are one file.

    Written beside the exports folder, then swapped in by rename: a whole table folder
    for the unpartitioned tables (and a partitioned one exported for the first time or
    with new columns), else each changed partition folder, so that a tool reading a
    partition sees its old files or its new ones. Partitions whose rows did not change
    (their fingerprint is the one recorded in the folder's `.fingerprints.json`) are
    not rewritten. Partitioned tables are written in their stored order (sorting the
    drivers by every column was two thirds of their export); the others sorted, so that
    their one file is the same for the same rows."""
    staging = exports.with_name(f".{exports.name}.{run_id}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows: dict[str, int] = {}
    unchanged = 0
    swaps: list[tuple[str, list[date] | None, dict]] = []  # (table, days or None = all, manifest)
    con = duckdb_connection.connect(str(serving), read_only=True)
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
            " and table_name != 'publish_log' order by 1"
        ).fetchall()
        for (table,) in tables:
            columns = _columns(con, _here(con), "main", table)
            target = staging / table
            relation = f'main."{table}"'
            if PARTITION_COLUMN in {c for c, _ in columns}:
                current = fingerprints(con, table, relation)
                recorded = _recorded(exports / table, columns)
                days = changed_days(recorded, current) if recorded else None
                selected = relation
                if days is not None:
                    unchanged += len(current) - len([d for d in days if d in current])
                    selected = f"(select * from {relation} where {days_in(days)})"
                if days is None or days:
                    con.execute(
                        f"copy (select * from {selected}) to '{target}'"
                        f" (format parquet, partition_by ({PARTITION_COLUMN}))"
                    )
                target.mkdir(exist_ok=True)
                manifest = {
                    "columns": [list(c) for c in columns],
                    "days": to_json(current),
                }
                swaps.append((table, days, manifest))
            else:
                target.mkdir()
                con.execute(
                    f"copy (select * from {relation} order by all)"
                    f" to '{target / (table + '.parquet')}' (format parquet)"
                )
                swaps.append((table, None, {}))
            row = con.execute(f"select count(*) from {relation}").fetchone()
            rows[table] = int(row[0]) if row else 0
    finally:
        con.close()
    files = sum(1 for _ in staging.rglob("*.parquet"))
    partitions = sum(1 for _ in staging.glob(f"*/{PARTITION_COLUMN}=*"))
    exports.mkdir(parents=True, exist_ok=True)
    for table, days, manifest in swaps:
        if manifest:
            (staging / table / FINGERPRINTS).write_text(json.dumps(manifest))
        if days is None:
            _swap(exports / table, staging / table)
            continue
        for day in days:
            name = f"{PARTITION_COLUMN}={day}"
            written = staging / table / name
            _swap(exports / table / name, written if written.exists() else None)
        os.replace(staging / table / FINGERPRINTS, exports / table / FINGERPRINTS)
    shutil.rmtree(staging, ignore_errors=True)
    return Exported(
        path=exports, rows=rows, files=files, partitions=partitions,
        unchanged_partitions=unchanged,
    )  # fmt: skip
