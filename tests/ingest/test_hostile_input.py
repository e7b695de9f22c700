"""Hostile input at the landing door (issue 13): file names, links, numbers and bytes.

Every input here ends one of three ways, and the test says which: its rows are stored
verbatim, a row is quarantined with a reason naming the column, or the file is refused
with a message naming it. None may crash the loader, read another file, or be executed.

CI runs this module as the "hostile-input loads" subset of the reliability matrix. The
tests stay at loader level (real DuckDB files, a few rows each, no dbt manifest), so the
module runs in seconds from a clean clone.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contract import ENTITIES
from orchestration.landing import discover_files, event_date_range, file_event_dates
from tests.ingest.loading import (
    AS_OF,
    Warehouse,
    assert_file_counts,
    csv_text,
    write_csv,
)

ACCOUNT_HEADER = ["account_id", "name", "created_at", "updated_at"]
EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


def account(account_id: str, created: str = "2025-01-01", name: str | None = None) -> list[str]:
    return [account_id, name or f"Account {account_id}", created, "2025-02-01"]


def all_text_values(wh: Warehouse) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text value in the raw schema that holds a NUL."""
    found = []
    for table, column in wh.rows(
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'raw' and data_type = 'VARCHAR'"
    ):
        sql = f'select "{column}" from raw."{table}" where strpos("{column}", chr(0)) > 0'
        found += [(table, column, value) for (value,) in wh.rows(sql)]
    return found


# --- 1. a landing file's name is taken literally, never as a glob pattern ------------------

# Each neighbour is a file a glob made of the hostile name would also match.
NEIGHBOURS = {"base.csv": ["A1", "A2"], "x.csv": ["X1"], "what1.csv": ["W1"], "ab.csv": ["B1"]}

LITERAL_NAMES = [
    "*.csv",
    "**.csv",
    "[x].csv",
    "[!b]*.csv",
    "what?.csv",
    "with space.csv",
    "ünïcødé 日本.csv",
    "-leading-dash.csv",
    "it's; drop table raw.accounts; --.csv",
    "{{ run_query('select 1') }}.csv",
    "$(touch pwned).csv",
]


@pytest.mark.parametrize("name", LITERAL_NAMES)
def test_landing_file_name_is_read_literally_not_as_a_glob(
    wh: Warehouse, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a file name run as a shell command would leave ./pwned
    for neighbour, ids in NEIGHBOURS.items():
        write_csv(wh.landing / "accounts" / neighbour, ACCOUNT_HEADER, [account(i) for i in ids])
    write_csv(wh.landing / "accounts" / name, ACCOUNT_HEADER, [account("H1")])

    result = wh.load("accounts")

    hostile = f"accounts/{name}"
    assert_file_counts(wh, result, hostile, read=1, loaded=1, quarantined=0, duplicate=0)
    for neighbour, ids in NEIGHBOURS.items():
        assert_file_counts(wh, result, f"accounts/{neighbour}", len(ids), len(ids), 0, 0)
    # every row keeps the lineage of the one file it came from
    assert wh.rows("select account_id, _source_file, _source_row from raw.accounts order by 1") == [
        ("A1", "accounts/base.csv", 1),
        ("A2", "accounts/base.csv", 2),
        ("B1", "accounts/ab.csv", 1),
        ("H1", hostile, 1),
        ("W1", "accounts/what1.csv", 1),
        ("X1", "accounts/x.csv", 1),
    ]
    assert wh.count("raw.accounts__quarantine") == 0
    assert not (tmp_path / "pwned").exists()


def _write_format(path: Path, ids: Sequence[str]) -> None:
    rows = [account(i) for i in ids]
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".csv.gz"):
        path.write_bytes(gzip.compress(csv_text(ACCOUNT_HEADER, rows).encode()))
    elif name.endswith(".jsonl"):
        lines = [json.dumps(dict(zip(ACCOUNT_HEADER, row, strict=True))) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    elif name.endswith(".parquet"):
        columns = {c: [row[i] for row in rows] for i, c in enumerate(ACCOUNT_HEADER)}
        pq.write_table(pa.table(columns), path)
    else:
        raise ValueError(name)


@pytest.mark.parametrize("suffix", [".csv.gz", ".jsonl", ".parquet"])
def test_landing_file_name_is_read_literally_in_every_format(wh: Warehouse, suffix: str) -> None:
    _write_format(wh.landing / "accounts" / f"a{suffix}", ["A1", "A2"])
    _write_format(wh.landing / "accounts" / f"b{suffix}", ["B1"])
    _write_format(wh.landing / "accounts" / f"*{suffix}", ["H1"])

    result = wh.load("accounts")

    assert_file_counts(wh, result, f"accounts/*{suffix}", 1, 1, 0, 0)
    assert wh.rows("select account_id, _source_file from raw.accounts order by 1") == [
        ("A1", f"accounts/a{suffix}"),
        ("A2", f"accounts/a{suffix}"),
        ("B1", f"accounts/b{suffix}"),
        ("H1", f"accounts/*{suffix}"),
    ]


@pytest.mark.parametrize("name", ["*.csv", "[x].csv", "what?.csv", "-x y ü.csv"])
def test_event_dates_of_a_file_are_read_from_that_file_only(wh: Warehouse, name: str) -> None:
    write_csv(wh.landing / "accounts/x.csv", ACCOUNT_HEADER, [account("X1", "2024-06-01")])
    write_csv(wh.landing / "accounts/what1.csv", ACCOUNT_HEADER, [account("W1", "2024-07-01")])
    write_csv(wh.landing / "accounts" / name, ACCOUNT_HEADER, [account("H1", "2025-01-15")])
    [hostile] = [f for f in discover_files(wh.landing, ENTITIES["accounts"]) if f.path.name == name]

    assert file_event_dates(wh.con, hostile) == (date(2025, 1, 15), date(2025, 1, 15))
    assert event_date_range(wh.con, wh.landing, AS_OF) == (date(2024, 6, 1), date(2025, 1, 15))
