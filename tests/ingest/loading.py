"""Writing small landing files and reading back what the loader made of them.

Shared by the loader's test modules: the writers produce each landing format from text
rows, `Warehouse` loads an entity from a real DuckDB file and reads the raw, quarantine
and audit tables, and the `assert_*` helpers check the exact per-file outcome.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from customer_health.contract import ENTITIES
from customer_health.loader import EntityLoad, FileLoad, load_entity

Row = Sequence[str | None]


def ts(iso: str) -> datetime:
    """A naive UTC timestamp, as the loader takes and the raw layer stores them."""
    return datetime.fromisoformat(iso)


AS_OF = ts("2025-03-02T00:00:00")  # the end of 2025-03-01
"""Rows dated after 2025-03-03T00:00:00 (as-of plus one day) are future-dated."""

USAGE_HEADER = ["event_id", "account_id", "user_id", "event_name", "occurred_at", "quantity"]


# --- writing landing files ---------------------------------------------------------------


def csv_text(header: Row, rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def write_csv(path: Path, header: Row, rows: Sequence[Row], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_text(header, rows).encode(encoding))
    return path


def write_csv_gz(path: Path, header: Row, rows: Sequence[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(csv_text(header, rows).encode("utf-8")))
    return path


def write_parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_rows(path: Path, header: Row, rows: Sequence[Row]) -> Path:
    """Write text rows in the format the file name asks for (None is an empty value)."""
    name = path.name
    if name.endswith(".csv.gz"):
        return write_csv_gz(path, header, rows)
    if name.endswith(".csv"):
        return write_csv(path, header, rows)
    if name.endswith(".jsonl"):
        return write_jsonl(path, [dict(zip(header, row, strict=True)) for row in rows])
    if name.endswith(".parquet"):
        columns = {c: pa.array([row[i] for row in rows], pa.string()) for i, c in enumerate(header)}
        return write_parquet(path, pa.table(columns))
    raise ValueError(name)


def write_accounts(
    landing: Path, ids: Sequence[str] = ("A1", "A2"), name: str = "base.csv"
) -> Path:
    rows = [[a, f"Account {a}", "2025-01-01T00:00:00", "2025-02-01T00:00:00"] for a in ids]
    return write_csv(
        landing / "accounts" / name, ["account_id", "name", "created_at", "updated_at"], rows
    )


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


# --- loading and reading back ------------------------------------------------------------


@dataclass
class Warehouse:
    con: duckdb.DuckDBPyConnection
    landing: Path

    def load(
        self,
        entity: str,
        load_id: str = "load-1",
        as_of: datetime = AS_OF,
        default_currency: str = "USD",
    ) -> EntityLoad:
        return load_entity(
            self.con,
            ENTITIES[entity],
            self.landing,
            load_id=load_id,
            as_of_time=as_of,
            default_currency=default_currency,
        )

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def count(self, table: str, source_file: str | None = None) -> int:
        if source_file is None:
            return self.rows(f"select count(*) from {table}")[0][0]
        sql = f"select count(*) from {table} where _source_file = ?"
        return self.rows(sql, [source_file])[0][0]

    def audit(self, source_file: str) -> list[dict[str, Any]]:
        return self.dicts(
            "select * from raw._load_audit where source_file = ? order by rowid", [source_file]
        )


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse file; one thread is plenty for these few rows and keeps the module quick."""
    return duckdb.connect(str(path), config={"threads": 1})


def only_file(result: EntityLoad, source_file: str) -> FileLoad:
    matches = [f for f in result.files if f.source_file == source_file]
    assert len(matches) == 1, result.files
    return matches[0]


def assert_file_counts(
    wh: Warehouse,
    result: EntityLoad,
    source_file: str,
    read: int,
    loaded: int,
    quarantined: int,
    duplicate: int,
) -> None:
    """Exact counts in the returned FileLoad and in the file's latest audit row; they reconcile."""
    file_load = only_file(result, source_file)
    assert file_load.status == "loaded", file_load
    assert file_load.error is None
    got = (
        file_load.rows_read,
        file_load.rows_loaded,
        file_load.rows_quarantined,
        file_load.rows_duplicate,
    )
    assert got == (read, loaded, quarantined, duplicate)
    assert read == loaded + quarantined + duplicate
    audit = wh.audit(source_file)[-1]
    assert audit["status"] == "loaded"
    assert audit["entity"] == result.entity
    assert audit["load_id"] == result.load_id
    assert audit["error"] is None
    assert (
        audit["rows_read"],
        audit["rows_loaded"],
        audit["rows_quarantined"],
        audit["rows_duplicate"],
    ) == (read, loaded, quarantined, duplicate)


def assert_failed(wh: Warehouse, result: EntityLoad, source_file: str, *fragments: str) -> str:
    """The file failed as a whole: error names it, audit says so, nothing of it was written."""
    file_load = only_file(result, source_file)
    assert file_load.status == "failed"
    assert file_load.error is not None
    assert file_load.error.startswith(source_file)
    for fragment in fragments:
        assert fragment in file_load.error
    assert (
        file_load.rows_read,
        file_load.rows_loaded,
        file_load.rows_quarantined,
        file_load.rows_duplicate,
    ) == (0, 0, 0, 0)
    audit = wh.audit(source_file)[-1]
    assert audit["status"] == "failed"
    assert audit["error"] == file_load.error
    assert audit["rows_read"] == audit["rows_loaded"] == audit["rows_quarantined"] == 0
    table = f"raw.{result.entity}"
    assert wh.count(table, source_file) == 0
    assert wh.count(f"{table}__quarantine", source_file) == 0
    return file_load.error
