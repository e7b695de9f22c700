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
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contract import ENTITIES
from orchestration.landing import discover_files, event_date_range, file_event_dates
from tests.ingest.loading import (
    AS_OF,
    USAGE_HEADER,
    Warehouse,
    assert_failed,
    assert_file_counts,
    csv_text,
    write_accounts,
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


# --- 2. symbolic links are never followed --------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the landing folder, holding a valid accounts file."""
    folder = tmp_path / "outside"
    write_csv(folder / "secret.csv", ACCOUNT_HEADER, [account("S1", "2020-01-01")])
    return folder


def test_symlinked_file_pointing_outside_the_landing_folder_is_refused(
    wh: Warehouse, outside: Path
) -> None:
    write_accounts(wh.landing)
    (wh.landing / "accounts" / "linked.csv").symlink_to(outside / "secret.csv")

    result = wh.load("accounts")

    error = assert_failed(
        wh, result, "accounts/linked.csv", "symbolic link", "outside the landing folder"
    )
    assert os.path.realpath(outside / "secret.csv") in error
    assert_file_counts(wh, result, "accounts/base.csv", 2, 2, 0, 0)
    assert wh.rows("select account_id from raw.accounts order by 1") == [("A1",), ("A2",)]


def test_symlinked_folder_pointing_outside_the_landing_folder_is_refused(
    wh: Warehouse, outside: Path
) -> None:
    write_accounts(wh.landing)
    (wh.landing / "accounts" / "more").symlink_to(outside, target_is_directory=True)

    result = wh.load("accounts")

    error = assert_failed(
        wh, result, "accounts/more", "symbolic link", "outside the landing folder"
    )
    assert "folder" in error
    assert wh.rows("select account_id from raw.accounts order by 1") == [("A1",), ("A2",)]


def test_symlinked_entity_folder_is_refused(wh: Warehouse, outside: Path) -> None:
    (wh.landing / "accounts").symlink_to(outside, target_is_directory=True)

    result = wh.load("accounts")

    assert_failed(wh, result, "accounts", "symbolic link", "outside the landing folder")
    assert wh.count("raw.accounts") == 0


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_symlink_staying_inside_the_landing_folder_is_refused_too(wh: Warehouse, kind: str) -> None:
    """Links inside the folder are refused as well: followed, a linked file would load
    twice, or under another entity's name."""
    write_accounts(wh.landing)
    write_csv(wh.landing / "accounts/2025/b.csv", ACCOUNT_HEADER, [account("B1")])
    target = wh.landing / "accounts" / ("base.csv" if kind == "file" else "2025")
    link = wh.landing / "accounts" / ("copy.csv" if kind == "file" else "copy")
    link.symlink_to(target, target_is_directory=kind == "folder")

    result = wh.load("accounts")

    error = assert_failed(wh, result, f"accounts/{link.name}", "symbolic link", "not followed")
    assert "inside the landing folder" in error
    assert target.relative_to(wh.landing).as_posix() in error
    assert [(f.source_file, f.status) for f in result.files if f.status == "loaded"] == [
        ("accounts/2025/b.csv", "loaded"),
        ("accounts/base.csv", "loaded"),
    ]
    assert wh.rows("select account_id, _source_file from raw.accounts order by 1") == [
        ("A1", "accounts/base.csv"),
        ("A2", "accounts/base.csv"),
        ("B1", "accounts/2025/b.csv"),
    ]


def test_dangling_symlink_is_refused(wh: Warehouse, tmp_path: Path) -> None:
    write_accounts(wh.landing)
    (wh.landing / "accounts" / "gone.csv").symlink_to(tmp_path / "nowhere.csv")

    result = wh.load("accounts")

    assert_failed(wh, result, "accounts/gone.csv", "symbolic link", "does not exist")


def test_landing_folder_itself_may_be_reached_through_a_symlink(
    wh: Warehouse, tmp_path: Path
) -> None:
    """HEALTH_LANDING_DIR is configuration, not a dropped file: it may be a link."""
    write_accounts(wh.landing)
    alias = tmp_path / "landing-alias"
    alias.symlink_to(wh.landing, target_is_directory=True)

    result = Warehouse(wh.con, alias).load("accounts")

    assert_file_counts(wh, result, "accounts/base.csv", 2, 2, 0, 0)


def test_window_scan_does_not_read_through_symlinks(wh: Warehouse, outside: Path) -> None:
    write_csv(wh.landing / "accounts/a.csv", ACCOUNT_HEADER, [account("A1", "2025-01-10")])
    (wh.landing / "accounts" / "old.csv").symlink_to(outside / "secret.csv")
    (wh.landing / "accounts" / "old").symlink_to(outside, target_is_directory=True)

    assert [f.rel_path for f in discover_files(wh.landing, ENTITIES["accounts"])] == [
        "accounts/a.csv"
    ]
    assert event_date_range(wh.con, wh.landing, AS_OF) == (date(2025, 1, 10), date(2025, 1, 10))


def test_pipe_named_like_a_landing_file_is_refused_not_read(wh: Warehouse) -> None:
    """Reading a pipe would wait forever for a writer; it is refused unopened."""
    write_accounts(wh.landing)
    os.mkfifo(wh.landing / "accounts" / "pipe.csv")

    result = wh.load("accounts")

    assert_failed(wh, result, "accounts/pipe.csv", "not a regular file")
    assert_file_counts(wh, result, "accounts/base.csv", 2, 2, 0, 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list any folder")
def test_folder_that_cannot_be_listed_is_refused(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    locked = wh.landing / "accounts" / "locked"
    write_csv(locked / "hidden.csv", ACCOUNT_HEADER, [account("L1")])
    locked.chmod(0)
    try:
        result = wh.load("accounts")
    finally:
        locked.chmod(0o755)

    assert_failed(wh, result, "accounts/locked", "cannot be listed")


def test_refused_link_is_logged_and_fails_the_door_contract_check(
    wh: Warehouse, outside: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The run says it: a warning per refused link, and the contract check (recorded in
    quality_check_results, and the reason the ingest asset fails its run) names the link."""
    from orchestration.defs.ingest.assets import contract_record

    write_accounts(wh.landing)
    (wh.landing / "accounts" / "linked.csv").symlink_to(outside / "secret.csv")

    with caplog.at_level("WARNING", logger="orchestration.defs.ingest.loader"):
        result = wh.load("accounts")

    [refused] = result.failed
    assert [r.getMessage() for r in caplog.records] == [refused.error]
    record = contract_record(ENTITIES["accounts"], result, "2025-03-01")
    assert record.status == "fail"
    assert record.evidence == {
        "rejected_files": [{"file": "accounts/linked.csv", "error": refused.error}]
    }


# --- 3. numbers have a plausible range; nothing downstream can overflow -----------------

DECIMAL_38_12_LIMIT = 1e26
"""The largest magnitude a DECIMAL(38, 12) holds (dbt's round_to casts to it)."""
ROWS_ONE_SUM_MAY_ADD = 1e9
"""Rows one aggregate (an account's or a segment's total) could add up, generously."""


def test_every_number_column_has_a_range_no_sum_can_overflow_decimal_38_12() -> None:
    for entity in ENTITIES.values():
        for column in entity.columns:
            if column.kind != "number":
                continue
            where = f"{entity.name}.{column.name}"
            assert column.min_value is not None and column.max_value is not None, where
            assert math.isfinite(column.min_value) and math.isfinite(column.max_value), where
            assert column.min_value < column.max_value, where
            largest = max(abs(column.min_value), abs(column.max_value))
            # times 12: ARR is MRR times twelve
            assert largest * ROWS_ONE_SUM_MAY_ADD * 12 < DECIMAL_38_12_LIMIT, where


def test_gx_suites_state_the_contract_ranges() -> None:
    """The suites are the independent check on the loader: they restate each range, and
    must restate it exactly (a wider suite range would let a loader bug through)."""
    for entity in ENTITIES.values():
        suite = json.loads((EXPECTATIONS / f"raw_{entity.name}.json").read_text())
        ranges = {
            e["kwargs"]["column"]: (e["kwargs"].get("min_value"), e["kwargs"].get("max_value"))
            for e in suite["expectations"]
            if e["type"] == "expect_column_values_to_be_between"
        }
        declared = {
            c.name: (c.min_value, c.max_value) for c in entity.columns if c.kind == "number"
        }
        assert ranges == declared, entity.name


@dataclass(frozen=True)
class NumberCase:
    entity: str
    column: str
    value: str
    code: str
    reason: str


NUMBER_CASES = {
    "mrr_1e308": NumberCase(
        "subscriptions",
        "mrr",
        "1e308",
        "out_of_range",
        "mrr: '1e308' is above 1000000000 (allowed 0 to 1000000000)",
    ),
    "quantity_1e308": NumberCase(
        "usage_events",
        "quantity",
        "1e308",
        "out_of_range",
        "quantity: '1e308' is above 1000000000 (allowed 0 to 1000000000)",
    ),
    "amount_1e308": NumberCase(
        "invoices",
        "amount",
        "1e308",
        "out_of_range",
        "amount: '1e308' is above 10000000000 (allowed -10000000000 to 10000000000)",
    ),
    "amount_minus_1e308": NumberCase(
        "invoices",
        "amount",
        "-1e308",
        "out_of_range",
        "amount: '-1e308' is below -10000000000 (allowed -10000000000 to 10000000000)",
    ),
    "amount_past_double": NumberCase(
        "invoices", "amount", "1e309", "bad_number", "amount: '1e309' is not a finite number"
    ),
    "mrr_just_above_its_range": NumberCase(
        "subscriptions",
        "mrr",
        "1000000000.01",
        "out_of_range",
        "mrr: '1000000000.01' is above 1000000000 (allowed 0 to 1000000000)",
    ),
    "mrr_nan": NumberCase("subscriptions", "mrr", "NaN", "bad_number", ""),
    "mrr_plus_infinity": NumberCase("subscriptions", "mrr", "+Infinity", "bad_number", ""),
    "amount_minus_infinity": NumberCase("invoices", "amount", "-Infinity", "bad_number", ""),
    "quantity_infinity": NumberCase("usage_events", "quantity", "Infinity", "bad_number", ""),
    "score_1e308": NumberCase(
        "survey_responses",
        "score",
        "1e308",
        "out_of_range",
        "score: 1e+308 is outside the range of a nps answer (allowed 0 to 10)",
    ),
    "satisfaction_1e308": NumberCase(
        "support_tickets",
        "satisfaction",
        "1e308",
        "out_of_range",
        "satisfaction: '1e308' is above 5 (allowed 1 to 5)",
    ),
}

NUMBER_TEMPLATES: dict[str, tuple[list[str], Callable[[str], list[str]]]] = {
    "usage_events": (USAGE_HEADER, lambda i: [i, "A1", "u1", "login", "2025-03-01", "2"]),
    "subscriptions": (
        ["subscription_id", "account_id", "mrr", "status", "started_at"],
        lambda i: [i, "A1", "100", "active", "2025-01-01"],
    ),
    "invoices": (
        ["invoice_id", "account_id", "issued_at", "amount", "status"],
        lambda i: [i, "A1", "2025-02-01", "120.5", "paid"],
    ),
    "survey_responses": (
        ["response_id", "account_id", "survey_type", "score", "responded_at"],
        lambda i: [i, "A1", "nps", "9", "2025-02-15"],
    ),
    "support_tickets": (
        ["ticket_id", "account_id", "opened_at", "satisfaction"],
        lambda i: [i, "A1", "2025-02-20", "4"],
    ),
}


@pytest.mark.parametrize("case", NUMBER_CASES.values(), ids=NUMBER_CASES.keys())
def test_implausible_number_is_quarantined_with_its_range(wh: Warehouse, case: NumberCase) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header, make_row = NUMBER_TEMPLATES[case.entity]
    bad = make_row("k2")
    bad[header.index(case.column)] = case.value
    source = f"{case.entity}/batch.csv"
    write_csv(wh.landing / source, header, [make_row("k1"), bad])

    result = wh.load(case.entity)

    assert_file_counts(wh, result, source, read=2, loaded=1, quarantined=1, duplicate=0)
    [(row, code, reason, shown)] = wh.rows(
        f"select _source_row, _reason_codes, _reasons, {case.column}"
        f" from raw.{case.entity}__quarantine"
    )
    reason = case.reason or f"{case.column}: '{case.value}' is not a finite number"
    assert (row, code, reason, shown) == (2, case.code, reason, case.value)


def test_numbers_in_typed_files_are_range_checked_too(wh: Warehouse) -> None:
    """Parquet doubles and JSON numbers meet the same ranges as CSV text."""
    write_accounts(wh.landing)
    wh.load("accounts")
    header = ["subscription_id", "account_id", "mrr", "status", "started_at"]
    mrr = [100.0, 1e308, math.inf, -math.inf, math.nan, -0.0]
    ids = [f"s{i}" for i in range(len(mrr))]
    columns: dict[str, Any] = {
        "subscription_id": ids,
        "account_id": ["A1"] * len(mrr),
        "mrr": pa.array(mrr, pa.float64()),
        "status": ["active"] * len(mrr),
        "started_at": ["2025-01-01"] * len(mrr),
    }
    path = wh.landing / "subscriptions/typed.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(columns), path)
    lines = [
        json.dumps(dict(zip(header, ["j0", "A1", 1e308, "active", "2025-01-01"], strict=True))),
        json.dumps(dict(zip(header, ["j1", "A1", 50, "active", "2025-01-01"], strict=True))),
        # NaN is no JSON, but exporters write it; the reader passes it on as a number
        json.dumps(dict(zip(header, ["j2", "A1", math.nan, "active", "2025-01-01"], strict=True))),
    ]
    (wh.landing / "subscriptions/typed.jsonl").write_text("\n".join(lines) + "\n")

    result = wh.load("subscriptions")

    assert_file_counts(wh, result, "subscriptions/typed.parquet", 6, 2, 4, 0)
    assert_file_counts(wh, result, "subscriptions/typed.jsonl", 3, 1, 2, 0)
    assert wh.rows(
        "select subscription_id, _reason_codes from raw.subscriptions__quarantine order by 1"
    ) == [
        ("j0", "out_of_range"),
        ("j2", "bad_number"),
        ("s1", "out_of_range"),
        ("s2", "bad_number"),
        ("s3", "bad_number"),
        ("s4", "bad_number"),
    ]
    loaded = wh.rows("select subscription_id, mrr from raw.subscriptions order by 1")
    assert loaded == [("j1", 50.0), ("s0", 100.0), ("s5", 0.0)]


def test_negative_zero_is_loaded_as_zero(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header, make_row = NUMBER_TEMPLATES["invoices"]
    rows = [make_row("i1"), make_row("i2"), make_row("i3")]
    for row, text in zip(rows, ["-0", "-0.0", "-0e5"], strict=True):
        row[header.index("amount")] = text
    write_csv(wh.landing / "invoices/zero.csv", header, rows)

    result = wh.load("invoices")

    assert_file_counts(wh, result, "invoices/zero.csv", 3, 3, 0, 0)
    amounts = [a for (a,) in wh.rows("select amount from raw.invoices order by invoice_id")]
    assert amounts == [0.0, 0.0, 0.0]
    assert [math.copysign(1.0, a) for a in amounts] == [1.0, 1.0, 1.0]
