"""Hostile input at the landing door (issue 13): file names, links, numbers and bytes.

Every input here ends one of three ways, and the test says which: its rows are stored
verbatim, a row is quarantined with a reason naming the column, or the file is refused
with a message naming it. None may crash the loader, read another file, or be executed.

CI runs this module as the "hostile-input loads" subset of the reliability matrix. The
tests stay at loader level (real DuckDB files, a few rows each, no dbt manifest), so the
module runs in seconds from a clean clone.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from customer_health.contract import ENTITIES
from customer_health.landing import discover_files, event_date_range, file_event_dates
from tests.ingest.loading import (
    AS_OF,
    USAGE_HEADER,
    Row,
    Warehouse,
    assert_failed,
    assert_file_counts,
    csv_text,
    only_file,
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

    with caplog.at_level("WARNING", logger="customer_health.loader"):
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
    expected = case.reason or f"{case.column}: '{case.value}' is not a finite number"
    assert wh.rows(
        f"select _source_row, _reason_codes, _reasons, {case.column}"
        f" from raw.{case.entity}__quarantine"
    ) == [(2, case.code, expected, case.value)]


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


# --- 4. malformed files get a message that says what is wrong ---------------------------


@pytest.mark.parametrize("name", ["bom.csv", "bom.csv.gz"])
def test_csv_starting_with_a_utf8_bom_loads(wh: Warehouse, name: str) -> None:
    text = "\ufeff" + csv_text(ACCOUNT_HEADER, [account("A1"), account("A2")])
    data = text.encode("utf-8")
    path = wh.landing / "accounts" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    result = wh.load("accounts")

    assert_file_counts(wh, result, f"accounts/{name}", 2, 2, 0, 0)
    assert wh.rows("select account_id, name from raw.accounts order by 1") == [
        ("A1", "Account A1"),
        ("A2", "Account A2"),
    ]


@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("name", ["bom.csv", "bom.jsonl"])
def test_utf8_bom_is_accepted_on_any_number_of_threads(
    tmp_path: Path, name: str, threads: int
) -> None:
    """DuckDB's JSON reader takes a BOM on one thread and refuses it on several: the
    loader must not depend on the machine it runs on."""
    landing = tmp_path / "landing"
    path = landing / "accounts" / name
    path.parent.mkdir(parents=True)
    if name.endswith(".csv"):
        text = csv_text(ACCOUNT_HEADER, [account("A1")])
    else:
        text = json.dumps(dict(zip(ACCOUNT_HEADER, account("A1"), strict=True))) + "\n"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), config={"threads": threads})
    try:
        result = Warehouse(con, landing).load("accounts")
        assert_file_counts(Warehouse(con, landing), result, f"accounts/{name}", 1, 1, 0, 0)
        assert con.execute("select account_id, name from raw.accounts").fetchall() == [
            ("A1", "Account A1")
        ]
    finally:
        con.close()


def test_jsonl_line_that_is_not_an_object_is_quarantined_saying_so(wh: Warehouse) -> None:
    good = {"account_id": "A1", "created_at": "2025-01-01"}
    lines = [
        json.dumps(good),
        "[1, 2]",
        '"just a string"',
        "null",
        "42",
        "true",
        json.dumps(good | {"account_id": "A2"}),
    ]
    (wh.landing / "accounts").mkdir()
    (wh.landing / "accounts/mixed.jsonl").write_text("\n".join(lines) + "\n")

    result = wh.load("accounts")

    assert_file_counts(wh, result, "accounts/mixed.jsonl", 7, 2, 5, 0)
    assert wh.rows("select account_id, _source_row from raw.accounts order by 1") == [
        ("A1", 1),
        ("A2", 7),
    ]
    rule = "each line of a .jsonl file must be one JSON object"
    assert wh.rows(
        "select _source_row, _reason_codes, _reasons, _extra, account_id"
        " from raw.accounts__quarantine order by _source_row"
    ) == [
        (2, "not_an_object", f"row 2: not a JSON object but an array; {rule}", "[1, 2]", None),
        (3, "not_an_object", f"row 3: not a JSON object but a string; {rule}", lines[2], None),
        (4, "not_an_object", f"row 4: not a JSON object but null; {rule}", "null", None),
        (5, "not_an_object", f"row 5: not a JSON object but a number; {rule}", "42", None),
        (6, "not_an_object", f"row 6: not a JSON object but a boolean; {rule}", "true", None),
    ]


NUL_REASON = (
    "{}: contains a NUL character (\\x00, shown as \u2400 here), which text columns cannot hold"
)


def test_nul_character_in_a_text_field_is_quarantined_naming_the_column(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header = [*USAGE_HEADER, "channel"]
    write_csv(
        wh.landing / "usage_events/nul.csv",
        header,
        [
            ["e1", "A1", "u1", "login", "2025-03-01", "1", "web"],
            ["e2", "A1", "u\x001", "login", "2025-03-01", "1", "web"],
            ["e3", "A1", "u1", "login", "2025-03-01", "1", "w\x00b"],
        ],
    )
    records = [
        {
            "event_id": "j1",
            "account_id": "A1",
            "event_name": "log\u0000in",
            "occurred_at": "2025-03-01",
        }
    ]
    (wh.landing / "usage_events/nul.jsonl").write_text(json.dumps(records[0]) + "\n")
    pq.write_table(
        pa.table(
            {
                "event_id": ["p1"],
                "account_id": ["A1"],
                "event_name": ["login"],
                "occurred_at": ["2025-03-01"],
                "user_id": ["\x00"],
            }
        ),
        wh.landing / "usage_events/nul.parquet",
    )

    result = wh.load("usage_events")

    assert_file_counts(wh, result, "usage_events/nul.csv", 3, 1, 2, 0)
    assert_file_counts(wh, result, "usage_events/nul.jsonl", 1, 0, 1, 0)
    assert_file_counts(wh, result, "usage_events/nul.parquet", 1, 0, 1, 0)
    assert wh.rows(
        "select event_id, _source_row, _reason_codes, _reasons, user_id, event_name"
        " from raw.usage_events__quarantine order by 1"
    ) == [
        ("e2", 2, "nul_character", NUL_REASON.format("user_id"), "u\u24001", "login"),
        ("e3", 3, "nul_character", NUL_REASON.format("channel"), "u1", "login"),
        ("j1", 1, "nul_character", NUL_REASON.format("event_name"), None, "log\u2400in"),
        ("p1", 1, "nul_character", NUL_REASON.format("user_id"), "\u2400", "login"),
    ]
    # no table of the raw layer holds a NUL: a copy to Postgres cannot choke on one
    assert all_text_values(wh) == []


# --- 5. the hostile-input matrix: verbatim, quarantined or refused ----------------------

SQL_TEXT = "x'); drop table raw.accounts; select ('"
JINJA_TEXT = "{{ run_query('drop table raw.accounts') }} {% do log('x') %} {# c #}"
SHELL_TEXT = "$(touch pwned) `touch pwned` ; rm -rf / && echo | cat > pwned"
QUOTES_TEXT = "a \"quoted\", 'single', back\\slash, \\N, NULL, \t tab"
MEGABYTE_TEXT = "m" * 1_000_000
MULTILINE_TEXT = "line one\nline two\r\nline three"
UNICODE_TEXT = "ünïcødé 日本語 \u202eRTL\u202c 🙂 \u200b"


def _csv(rows: Sequence[Row], header: Row = ACCOUNT_HEADER, newline: str = "\n") -> bytes:
    return csv_text(header, rows).replace("\n", newline).encode()


def _jsonl(*lines: Any) -> bytes:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()


def _parquet(columns: dict[str, list[Any]]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def _deep(levels: int) -> str:
    return '{"a": ' * levels + "1" + "}" * levels


@dataclass(frozen=True)
class Hostile:
    """One hostile accounts file and how the door must end it."""

    name: str
    content: bytes
    outcome: str  # verbatim | quarantined | refused
    names: dict[str, str | None] = field(default_factory=dict)
    """verbatim: account_id -> the exact `name` stored in raw.accounts."""
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    """verbatim: account_id -> the `_extra` object stored (None: the key is there, its
    value is checked elsewhere)."""
    codes: tuple[str, ...] = ()
    """quarantined: the reason codes of the quarantined rows, in row order."""
    error: tuple[str, ...] = ()
    """refused: fragments of the file's error."""


HOSTILE = [
    Hostile(
        "sql.csv",
        _csv([account("A1", name=SQL_TEXT)]),
        "verbatim",
        names={"A1": SQL_TEXT},
    ),
    Hostile(
        "jinja.csv",
        _csv([account("A1", name=JINJA_TEXT)]),
        "verbatim",
        names={"A1": JINJA_TEXT},
    ),
    Hostile(
        "shell.jsonl",
        _jsonl({"account_id": "A1", "name": SHELL_TEXT, "created_at": "2025-01-01"}),
        "verbatim",
        names={"A1": SHELL_TEXT},
    ),
    Hostile(
        "quotes.parquet",
        _parquet({"account_id": ["A1"], "name": [QUOTES_TEXT], "created_at": ["2025-01-01"]}),
        "verbatim",
        names={"A1": QUOTES_TEXT},
    ),
    Hostile(
        "multiline.csv",
        _csv([account("A1", name=MULTILINE_TEXT), account("A2")]),
        "verbatim",
        names={"A1": MULTILINE_TEXT, "A2": "Account A2"},
    ),
    Hostile(
        "unicode.jsonl",
        _jsonl({"account_id": "A1", "name": UNICODE_TEXT, "created_at": "2025-01-01"}),
        "verbatim",
        names={"A1": UNICODE_TEXT},
    ),
    Hostile(
        "one_megabyte_field.csv",
        _csv([account("A1", name=MEGABYTE_TEXT), account("A2")]),
        "verbatim",
        names={"A1": MEGABYTE_TEXT, "A2": "Account A2"},
    ),
    Hostile(
        "one_megabyte_field.jsonl",
        _jsonl({"account_id": "A1", "name": MEGABYTE_TEXT, "created_at": "2025-01-01"}),
        "verbatim",
        names={"A1": MEGABYTE_TEXT},
    ),
    Hostile(
        "crlf.csv",
        _csv([account("A1"), account("A2")], newline="\r\n"),
        "verbatim",
        names={"A1": "Account A1", "A2": "Account A2"},
    ),
    Hostile(
        "crlf.jsonl",
        _jsonl({"account_id": "A1", "created_at": "2025-01-01", "name": "n"}).replace(
            b"\n", b"\r\n"
        ),
        "verbatim",
        names={"A1": "n"},
    ),
    Hostile(
        "hostile_column_names.csv",
        _csv(
            [[*account("A1"), "1", "2", "3"]],
            header=[*ACCOUNT_HEADER, SQL_TEXT, JINJA_TEXT, '"; drop table x; --'],
        ),
        "verbatim",
        names={"A1": "Account A1"},
        extra={"A1": {SQL_TEXT: "1", JINJA_TEXT: "2", '"; drop table x; --': "3"}},
    ),
    Hostile(
        "deeply_nested.jsonl",
        _jsonl(
            '{"account_id": "A1", "created_at": "2025-01-01", "name": "n", "deep": '
            + _deep(5000)
            + "}"
        ),
        "verbatim",
        names={"A1": "n"},
        extra={"A1": {"deep": None}},
    ),
    Hostile(
        "not_objects.jsonl",
        _jsonl("[]", '"A1"', "null", {"account_id": "A1", "created_at": "2025-01-01"}),
        "quarantined",
        codes=("not_an_object", "not_an_object", "not_an_object"),
    ),
    Hostile(
        "nul_byte.csv",
        _csv([account("A1", name="a\x00b"), account("A2")]),
        "quarantined",
        codes=("nul_character",),
    ),
    Hostile(
        "huge_numbers.csv",
        _csv([["A1", "2025-01-01", "1e308"]], header=["account_id", "created_at", "arr"]),
        "verbatim",
        names={"A1": None},
        extra={"A1": {"arr": "1e308"}},
    ),
    Hostile(
        "latin1.csv",
        csv_text(ACCOUNT_HEADER, [account("A1", name="Café")]).encode("latin-1"),
        "refused",
        error=("not UTF-8",),
    ),
    Hostile(
        "broken.jsonl",
        b'{"account_id": "A1", "created_at": "2025-01-01"}\n{"account_id": \n',
        "refused",
        error=("cannot be read",),
    ),
    Hostile(
        "lone_surrogate.jsonl",
        b'{"account_id": "A1", "created_at": "2025-01-01", "name": "\\ud800"}\n',
        "refused",
        error=("cannot be read",),
    ),
    Hostile(
        "oversized_line.csv",
        _csv([account("A1", name="m" * 3_000_000)]),
        "refused",
        error=("CSV Error on Line: 2: Maximum line size of 2000000 bytes exceeded",),
    ),
    Hostile(
        "ragged.csv",
        _csv([account("A1")]) + b"A2,n,2025-01-01,2025-01-01,surplus\n",
        "refused",
        error=("CSV Error on Line: 3: Expected Number of Columns: 4 Found: 5",),
    ),
    Hostile(
        "nameless_column.csv",
        _csv([[*account("A1"), "x"]], header=[*ACCOUNT_HEADER, ""]),
        "refused",
        error=("a column has a blank name ('')",),
    ),
    Hostile(
        "blank_key.jsonl",
        _jsonl({"account_id": "A1", "created_at": "2025-01-01", " ": 1}),
        "refused",
        error=("a column has a blank name (' ')",),
    ),
    Hostile(
        "one_column_twice_by_case.csv",
        _csv([["A1", "2025-01-01", "A2"]], header=["account_id", "created_at", "Account_ID "]),
        "refused",
        error=("the columns 'account_id' and 'Account_ID ' are one column",),
    ),
    Hostile(
        "one_key_twice_by_case.jsonl",
        _jsonl({"account_id": "A1", "created_at": "2025-01-01", "ACCOUNT_ID": "A2"}),
        "refused",
        error=("are one column to the loader",),
    ),
    Hostile(
        "bom.jsonl",
        b"\xef\xbb\xbf" + _jsonl({"account_id": "A1", "created_at": "2025-01-01", "name": "n"}),
        "verbatim",
        names={"A1": "n"},
    ),
    Hostile(
        "nul_in_header.csv",
        _csv([["A1", "2025-01-01", "x"]], header=["account_id", "created_at", "a\x00b"]),
        "refused",
        error=("NUL",),
    ),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_hostile_input_is_stored_verbatim_quarantined_or_refused(
    wh: Warehouse, case: Hostile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a shell string that ran would leave ./pwned here
    path = wh.landing / "accounts" / case.name
    path.parent.mkdir(parents=True)
    path.write_bytes(case.content)
    source = f"accounts/{case.name}"

    result = wh.load("accounts")

    file_load = only_file(result, source)
    if case.outcome == "refused":
        error = assert_failed(wh, result, source, *case.error)
        assert tempfile.gettempdir() not in error  # the landing file is named, not a copy
    elif case.outcome == "verbatim":
        assert (file_load.status, file_load.error) == ("loaded", None)
        assert file_load.rows_read == file_load.rows_loaded == len(case.names)
        stored = {
            account_id: (name, json.loads(extra) if extra else None)
            for account_id, name, extra in wh.rows(
                "select account_id, name, _extra from raw.accounts"
            )
        }
        assert {k: name for k, (name, _) in stored.items()} == case.names
        for account_id, extra in case.extra.items():
            kept = stored[account_id][1]
            assert kept is not None and set(kept) == set(extra)
            for key, value in extra.items():
                if value is not None:
                    assert kept[key] == value
    else:
        assert file_load.status == "loaded"
        codes = wh.rows("select _reason_codes from raw.accounts__quarantine order by _source_row")
        assert tuple(c for (c,) in codes) == case.codes
        assert file_load.rows_quarantined == len(case.codes)
    assert wh.rows("select count(*) from raw.accounts") == [(file_load.rows_loaded,)]
    assert file_load.rows_read == (
        file_load.rows_loaded + file_load.rows_quarantined + file_load.rows_duplicate
    )
    assert all_text_values(wh) == []
    assert not (tmp_path / "pwned").exists()
    assert {t for (t,) in wh.rows("select table_name from information_schema.tables")} >= {
        "accounts",
        "_load_audit",
    }


def test_deeply_nested_jsonl_value_is_kept_as_its_json_text(wh: Warehouse) -> None:
    deep = _deep(5000)
    line = '{"account_id": "A1", "created_at": "2025-01-01", "deep": ' + deep + "}"
    (wh.landing / "accounts").mkdir()
    (wh.landing / "accounts/deep.jsonl").write_text(line + "\n")

    result = wh.load("accounts")

    assert_file_counts(wh, result, "accounts/deep.jsonl", 1, 1, 0, 0)
    [(extra,)] = wh.rows("select _extra from raw.accounts")
    assert json.loads(extra)["deep"] == deep.replace(" ", "")
