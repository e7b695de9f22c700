"""The raw loader against real DuckDB files and small hand-written landing files.

Every test builds its own landing folder under tmp_path, loads accounts first (the
orphan check reads raw.accounts) and asserts exact outcomes: row counts per file in
the returned FileLoad and in raw._load_audit, reason codes and reasons, lineage.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from customer_health.contract import ENTITIES
from tests.ingest.loading import (
    AS_OF,
    USAGE_HEADER,
    Row,
    Warehouse,
    assert_failed,
    assert_file_counts,
    connect,
    csv_text,
    only_file,
    set_mtime,
    ts,
    write_accounts,
    write_csv,
    write_csv_gz,
    write_jsonl,
    write_parquet,
    write_rows,
)

# --- 1. one bad row among good ones, per class of bad row --------------------------------


TEMPLATES: dict[str, tuple[list[str], Any]] = {
    "accounts": (
        ["account_id", "name", "created_at", "updated_at"],
        lambda i: [f"A{i}", f"Account {i}", "2025-01-01T00:00:00", "2025-02-01T00:00:00"],
    ),
    "usage_events": (
        USAGE_HEADER,
        lambda i: [f"e{i}", "A1", "u1", "login", "2025-03-01T10:00:00", "2"],
    ),
    "subscriptions": (
        [
            *("subscription_id", "account_id", "plan", "mrr", "currency", "status"),
            *("started_at", "canceled_at", "updated_at"),
        ],
        lambda i: [
            *(f"s{i}", f"A{1 + i % 2}", "pro", "100", "USD", "active"),
            *("2025-01-01", None, "2025-02-01"),
        ],
    ),
    "invoices": (
        ["invoice_id", "account_id", "issued_at", "amount", "currency", "status"],
        lambda i: [f"i{i}", "A2", "2025-02-01T00:00:00", "120.50", "USD", "paid"],
    ),
    "survey_responses": (
        ["response_id", "account_id", "survey_type", "score", "responded_at"],
        lambda i: [f"r{i}", "A1", "nps", "9", "2025-02-15T12:00:00"],
    ),
    "support_tickets": (
        ["ticket_id", "account_id", "opened_at", "priority", "satisfaction"],
        lambda i: [f"t{i}", "A1", "2025-02-20T08:00:00", "normal", "4"],
    ),
}


@dataclass(frozen=True)
class BadRow:
    entity: str
    overrides: dict[str, str]
    code: str
    """The exact _reason_codes of the quarantined row."""
    reason: str
    """The exact _reasons: it starts with the column's name."""
    shown: dict[str, str | None] = field(default_factory=dict)
    """Quarantine keeps the text as read (trimmed; empty is NULL)."""


BAD_ROWS = {
    "blank_identifier": BadRow(
        "usage_events",
        {"event_id": "   "},
        "missing_value",
        "event_id: required value is empty",
        {"event_id": None},
    ),
    "empty_account_id": BadRow(
        "accounts",
        {"account_id": ""},
        "missing_value",
        "account_id: required value is empty",
        {"account_id": None},
    ),
    "missing_required_text": BadRow(
        "usage_events",
        {"event_name": ""},
        "missing_value",
        "event_name: required value is empty",
        {"event_name": None},
    ),
    "missing_required_number": BadRow(
        "subscriptions", {"mrr": " "}, "missing_value", "mrr: required value is empty"
    ),
    "missing_required_timestamp": BadRow(
        "survey_responses",
        {"responded_at": ""},
        "missing_value",
        "responded_at: required value is empty",
    ),
    "unparseable_timestamp": BadRow(
        "usage_events",
        {"occurred_at": "01/03/2025 10:00"},
        "unparseable_timestamp",
        "occurred_at: '01/03/2025 10:00' is not an ISO-8601 timestamp",
        {"occurred_at": "01/03/2025 10:00"},
    ),
    "unparseable_optional_timestamp": BadRow(
        "subscriptions",
        {"canceled_at": "2025-02-30"},
        "unparseable_timestamp",
        "canceled_at: '2025-02-30' is not an ISO-8601 timestamp",
    ),
    "text_in_number": BadRow(
        "usage_events",
        {"quantity": "two"},
        "bad_number",
        "quantity: 'two' is not a finite number",
        {"quantity": "two"},
    ),
    "decimal_comma": BadRow(
        "invoices", {"amount": "12,50"}, "bad_number", "amount: '12,50' is not a finite number"
    ),
    "infinite_number": BadRow(
        "usage_events", {"quantity": "inf"}, "bad_number", "quantity: 'inf' is not a finite number"
    ),
    "nan_number": BadRow(
        "subscriptions", {"mrr": "nan"}, "bad_number", "mrr: 'nan' is not a finite number"
    ),
    "negative_quantity": BadRow(
        "usage_events",
        {"quantity": "-1"},
        "out_of_range",
        "quantity: '-1' is below 0 (allowed 0 to 1000000000)",
    ),
    "negative_mrr": BadRow(
        "subscriptions",
        {"mrr": "-10.5"},
        "out_of_range",
        "mrr: '-10.5' is below 0 (allowed 0 to 1000000000)",
    ),
    "satisfaction_above_5": BadRow(
        "support_tickets",
        {"satisfaction": "6"},
        "out_of_range",
        "satisfaction: '6' is above 5 (allowed 1 to 5)",
    ),
    "nps_11": BadRow(
        "survey_responses",
        {"survey_type": "nps", "score": "11"},
        "out_of_range",
        "score: 11.0 is outside the range of a nps answer (allowed 0 to 10)",
    ),
    "csat_0": BadRow(
        "survey_responses",
        {"survey_type": "csat", "score": "0"},
        "out_of_range",
        "score: 0.0 is outside the range of a csat answer (allowed 1 to 5)",
    ),
    "ces_8": BadRow(
        "survey_responses",
        {"survey_type": "CES", "score": "8"},
        "out_of_range",
        "score: 8.0 is outside the range of a ces answer (allowed 1 to 7)",
    ),
    "invalid_status": BadRow(
        "subscriptions",
        {"status": "paused"},
        "invalid_value",
        "status: 'paused' is not one of trialing/active/past_due/canceled",
        {"status": "paused"},
    ),
    "invalid_invoice_status": BadRow(
        "invoices",
        {"status": "settled"},
        "invalid_value",
        "status: 'settled' is not one of draft/open/paid/void/uncollectible",
    ),
    "invalid_survey_type": BadRow(
        "survey_responses",
        {"survey_type": "csi"},
        "invalid_value",
        "survey_type: 'csi' is not one of nps/csat/ces",
    ),
    "future_dated_event": BadRow(
        "usage_events",
        {"occurred_at": "2025-03-03T00:00:01"},
        "future_timestamp",
        "occurred_at: '2025-03-03T00:00:01' is after the as-of time plus one day",
    ),
    "future_dated_account": BadRow(
        "accounts",
        {"created_at": "2025-03-04"},
        "future_timestamp",
        "created_at: '2025-03-04' is after the as-of time plus one day",
    ),
    "orphan_account": BadRow(
        "usage_events",
        {"account_id": "A9"},
        "orphan_account",
        "account_id: A9 matches no account",
        {"account_id": "A9"},
    ),
    "orphan_subscription": BadRow(
        "subscriptions",
        {"account_id": "nobody"},
        "orphan_account",
        "account_id: nobody matches no account",
    ),
}


@pytest.mark.parametrize("case", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_single_bad_row_is_quarantined_with_reason(wh: Warehouse, case: BadRow) -> None:
    entity = ENTITIES[case.entity]
    header, make_row = TEMPLATES[case.entity]
    rows = [make_row(i) for i in (1, 2, 3)]
    for column, value in case.overrides.items():
        rows[1][header.index(column)] = value
    source = f"{case.entity}/batch.csv"
    if entity.is_fact:
        write_accounts(wh.landing)
        assert wh.load("accounts").count("loaded") == 1
    write_csv(wh.landing / source, header, rows)

    result = wh.load(case.entity)

    assert_file_counts(wh, result, source, read=3, loaded=2, quarantined=1, duplicate=0)
    pk = entity.primary_key
    raw = wh.rows(
        f"select {pk}, _source_file, _source_row, _load_id from raw.{case.entity} order by all"
    )
    good_ids = [rows[0][header.index(pk)], rows[2][header.index(pk)]]
    assert raw == [(good_ids[0], source, 1, "load-1"), (good_ids[1], source, 3, "load-1")]
    quarantined = wh.dicts(f"select * from raw.{case.entity}__quarantine")
    assert len(quarantined) == 1
    bad = quarantined[0]
    assert bad["_reason_codes"] == case.code
    assert bad["_reasons"] == case.reason
    assert (bad["_source_file"], bad["_source_row"], bad["_load_id"]) == (source, 2, "load-1")
    for column, value in case.shown.items():
        assert bad[column] == value


# --- 1b. values that are accepted, normalised or defaulted -------------------------------


def test_survey_scores_at_the_edges_of_their_range_are_accepted(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header = ["response_id", "account_id", "survey_type", "score", "responded_at"]
    rows = [
        ["r1", "A1", "nps", "10", "2025-02-15"],
        ["r2", "A1", "nps", "0", "2025-02-15"],
        ["r3", "A1", "csat", "1", "2025-02-15"],
        ["r4", "A1", "CSAT", "5", "2025-02-15"],
        ["r5", "A2", "ces", "7", "2025-02-15"],
        ["r6", "A2", "nps", "10.5", "2025-02-15"],
    ]
    write_csv(wh.landing / "survey_responses/s.csv", header, rows)

    result = wh.load("survey_responses")

    assert_file_counts(wh, result, "survey_responses/s.csv", 6, 5, 1, 0)
    assert wh.rows(
        "select response_id, survey_type, score from raw.survey_responses order by 1"
    ) == [
        ("r1", "nps", 10.0),
        ("r2", "nps", 0.0),
        ("r3", "csat", 1.0),
        ("r4", "csat", 5.0),
        ("r5", "ces", 7.0),
    ]
    assert wh.rows("select response_id, _reason_codes from raw.survey_responses__quarantine") == [
        ("r6", "out_of_range")
    ]


def test_enum_values_are_accepted_case_insensitively(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header = ["invoice_id", "account_id", "issued_at", "amount", "status"]
    rows = [
        ["i1", "A1", "2025-02-01", "10", "Paid"],
        ["i2", "A1", "2025-02-01", "10", " OPEN "],
        ["i3", "A1", "2025-02-01", "10", "Uncollectible"],
    ]
    write_csv(wh.landing / "invoices/i.csv", header, rows)

    result = wh.load("invoices")

    assert_file_counts(wh, result, "invoices/i.csv", 3, 3, 0, 0)
    assert wh.rows("select invoice_id, status from raw.invoices order by 1") == [
        ("i1", "paid"),
        ("i2", "open"),
        ("i3", "uncollectible"),
    ]


def test_timestamps_with_an_offset_are_converted_to_utc(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    rows = [
        ["e1", "A1", "u1", "login", "2025-03-01T10:00:00+02:00", "1"],
        ["e2", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
        ["e3", "A1", "u1", "login", "2025-03-01T10:00:00Z", "1"],
        ["e4", "A1", "u1", "login", "2025-03-01 23:30:00-05:00", "1"],
        ["e5", "A1", "u1", "login", "2025-03-01", "1"],
        # Exactly as-of plus one day is not after it: accepted.
        ["e6", "A1", "u1", "login", "2025-03-03T00:00:00", "1"],
    ]
    write_csv(wh.landing / "usage_events/u.csv", USAGE_HEADER, rows)

    result = wh.load("usage_events")

    assert_file_counts(wh, result, "usage_events/u.csv", 6, 6, 0, 0)
    assert wh.rows("select event_id, occurred_at from raw.usage_events order by 1") == [
        ("e1", ts("2025-03-01T08:00:00")),
        ("e2", ts("2025-03-01T10:00:00")),
        ("e3", ts("2025-03-01T10:00:00")),
        ("e4", ts("2025-03-02T04:30:00")),
        ("e5", ts("2025-03-01T00:00:00")),
        ("e6", ts("2025-03-03T00:00:00")),
    ]


def test_empty_quantity_defaults_to_one_and_absent_currency_to_the_configured_one(
    wh: Warehouse,
) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/u.csv",
        USAGE_HEADER,
        [
            ["e1", "A1", None, "login", "2025-03-01", ""],
            ["e2", "A1", "", "login", "2025-03-01", "3"],
        ],
    )
    # One subscriptions file has the column with an empty value, the other lacks it.
    write_csv(
        wh.landing / "subscriptions/a.csv",
        ["subscription_id", "account_id", "mrr", "currency", "status", "started_at"],
        [
            ["s1", "A1", "50", "", "active", "2025-01-01"],
            ["s2", "A2", "60", "GBP", "active", "2025-01-01"],
        ],
    )
    write_csv(
        wh.landing / "subscriptions/b.csv",
        ["subscription_id", "account_id", "mrr", "status", "started_at"],
        [["s3", "A2", "70", "trialing", "2025-01-01"]],
    )

    usage = wh.load("usage_events")
    subs = wh.load("subscriptions", default_currency="EUR")

    assert_file_counts(wh, usage, "usage_events/u.csv", 2, 2, 0, 0)
    assert_file_counts(wh, subs, "subscriptions/a.csv", 2, 2, 0, 0)
    assert_file_counts(wh, subs, "subscriptions/b.csv", 1, 1, 0, 0)
    assert wh.rows("select event_id, user_id, quantity from raw.usage_events order by 1") == [
        ("e1", None, 1.0),
        ("e2", None, 3.0),
    ]
    assert wh.rows("select subscription_id, currency from raw.subscriptions order by 1") == [
        ("s1", "EUR"),
        ("s2", "GBP"),
        ("s3", "EUR"),
    ]


# --- 1c. duplicate keys within a file ----------------------------------------------------


def test_duplicate_account_keeps_the_latest_updated_at(wh: Warehouse) -> None:
    header = ["account_id", "name", "created_at", "updated_at"]
    rows = [
        ["A1", "Acme (new)", "2025-01-01", "2025-03-01T00:00:00"],
        ["A2", "Beta", "2025-01-01", "2025-02-01T00:00:00"],
        ["A1", "Acme (old)", "2025-01-01", "2025-02-01T00:00:00"],
    ]
    write_csv(wh.landing / "accounts/a.csv", header, rows)

    result = wh.load("accounts")

    assert_file_counts(wh, result, "accounts/a.csv", read=3, loaded=2, quarantined=0, duplicate=1)
    assert wh.rows("select account_id, name, _source_row from raw.accounts order by 1") == [
        ("A1", "Acme (new)", 1),
        ("A2", "Beta", 2),
    ]
    assert wh.rows(
        "select account_id, name, _source_row, _reason_codes, _reasons"
        " from raw.accounts__quarantine"
    ) == [
        (
            "A1",
            "Acme (old)",
            3,
            "duplicate_key",
            "account_id: A1 appears again in this file; a later or newer row was kept",
        )
    ]


def test_duplicate_usage_event_keeps_the_last_row_read(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    rows = [
        ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
        ["e2", "A1", "u1", "login", "2025-03-01T11:00:00", "1"],
        ["e1", "A1", "u1", "logout", "2025-03-01T09:00:00", "1"],
    ]
    write_csv(wh.landing / "usage_events/u.csv", USAGE_HEADER, rows)

    result = wh.load("usage_events")

    assert_file_counts(wh, result, "usage_events/u.csv", 3, 2, 0, 1)
    assert wh.rows("select event_id, event_name, _source_row from raw.usage_events order by 1") == [
        ("e1", "logout", 3),
        ("e2", "login", 2),
    ]
    assert wh.rows(
        "select event_id, event_name, _source_row, _reason_codes from raw.usage_events__quarantine"
    ) == [("e1", "login", 1, "duplicate_key")]


# --- 3. extra columns --------------------------------------------------------------------


def test_extra_columns_are_kept_as_json(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    header = [*USAGE_HEADER, "channel", "session_seconds"]
    rows = [
        ["e1", "A1", "u1", "login", "2025-03-01", "1", "web", "42"],
        ["e2", "A1", "u1", "login", "2025-03-01", "x", "mobile", ""],
    ]
    write_csv(wh.landing / "usage_events/u.csv", header, rows)
    write_jsonl(
        wh.landing / "usage_events/v.jsonl",
        [
            {"event_id": "e3", "account_id": "A2", "event_name": "login"}
            | {"occurred_at": "2025-03-01", "campaign": "spring", "clicks": 3}
        ],
    )

    result = wh.load("usage_events")

    assert_file_counts(wh, result, "usage_events/u.csv", 2, 1, 1, 0)
    assert_file_counts(wh, result, "usage_events/v.jsonl", 1, 1, 0, 0)
    raw = {r[0]: json.loads(r[1]) for r in wh.rows("select event_id, _extra from raw.usage_events")}
    assert raw == {
        "e1": {"channel": "web", "session_seconds": "42"},
        "e3": {"campaign": "spring", "clicks": "3"},
    }
    (extra,) = wh.rows("select _extra from raw.usage_events__quarantine")[0]
    # An empty CSV field is read as null, in extras as in contract columns.
    assert json.loads(extra) == {"channel": "mobile", "session_seconds": None}
    # The contract columns are unaffected by the extras.
    assert [c for c, *_ in wh.rows("describe raw.usage_events")][:6] == USAGE_HEADER


# --- 4. idempotency ----------------------------------------------------------------------


def _snapshot(wh: Warehouse) -> tuple:
    return (
        wh.rows("select * from raw.usage_events order by event_id"),
        wh.rows("select * from raw.usage_events__quarantine order by _source_file, _source_row"),
    )


def test_loading_the_same_folder_twice_loads_nothing_the_second_time(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/a.csv",
        USAGE_HEADER,
        [
            ["e1", "A1", "u1", "login", "2025-03-01", "1"],
            ["e2", "A9", "u1", "login", "2025-03-01", "1"],
        ],
    )
    write_rows(
        wh.landing / "usage_events/b.parquet",
        USAGE_HEADER,
        [
            ["e3", "A2", "u2", "login", "2025-03-01", "-4"],
            ["e4", "A2", "u2", "login", "2025-03-01", "2"],
        ],
    )
    first = wh.load("usage_events")
    assert_file_counts(wh, first, "usage_events/a.csv", 2, 1, 1, 0)
    assert_file_counts(wh, first, "usage_events/b.parquet", 2, 1, 1, 0)
    before = _snapshot(wh)
    audit_rows = wh.count("raw._load_audit")

    second = wh.load("usage_events", load_id="load-2")
    again = wh.load("accounts", load_id="load-2")

    assert [(f.source_file, f.status) for f in second.files] == [
        ("usage_events/a.csv", "unchanged"),
        ("usage_events/b.parquet", "unchanged"),
    ]
    assert [f.status for f in again.files] == ["unchanged"]
    assert (second.rows_read, second.rows_loaded, second.rows_quarantined) == (0, 0, 0)
    assert second.rows_readmitted == 0
    assert _snapshot(wh) == before
    assert wh.count("raw._load_audit") == audit_rows
    assert wh.rows("select distinct _load_id from raw.usage_events") == [("load-1",)]

    # A new modification time with the same content is still the same file.
    for path in (wh.landing / "usage_events").iterdir():
        set_mtime(path, path.stat().st_mtime + 3600)
    third = wh.load("usage_events", load_id="load-3")

    assert [f.status for f in third.files] == ["unchanged", "unchanged"]
    assert _snapshot(wh) == before
    assert wh.count("raw._load_audit") == audit_rows


# --- 5. a corrected file replaces what it loaded -----------------------------------------


def test_corrected_file_replaces_what_its_predecessor_loaded(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    path = write_csv(
        wh.landing / "usage_events/day.csv",
        USAGE_HEADER,
        [
            ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
            ["e2", "A1", "u1", "login", "2025-03-01T11:00:00", "1"],
            ["e3", "A2", "u2", "report_run", "2025-03-01T12:00:00", "many"],
            ["e4", "A2", "u2", "login", "2025-03-01T13:00:00", "1"],
        ],
    )
    write_csv(
        wh.landing / "usage_events/other.csv",
        USAGE_HEADER,
        [
            ["k1", "A1", "u1", "login", "2025-03-01", "1"],
            ["k2", "A7", "u1", "login", "2025-03-01", "1"],
        ],
    )
    first = wh.load("usage_events")
    assert_file_counts(wh, first, "usage_events/day.csv", 4, 3, 1, 0)
    mtime = path.stat().st_mtime

    # The corrected export: fewer rows, and e3 fixed.
    write_csv(
        path,
        USAGE_HEADER,
        [
            ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
            ["e3", "A2", "u2", "report_run", "2025-03-01T12:00:00", "5"],
        ],
    )
    set_mtime(path, mtime + 60)
    second = wh.load("usage_events", load_id="load-2")

    assert_file_counts(wh, second, "usage_events/day.csv", 2, 2, 0, 0)
    assert only_file(second, "usage_events/other.csv").status == "unchanged"
    assert wh.rows(
        "select event_id, quantity, _source_row, _load_id from raw.usage_events"
        " where _source_file = 'usage_events/day.csv' order by 1"
    ) == [("e1", 1.0, 1, "load-2"), ("e3", 5.0, 2, "load-2")]
    assert wh.count("raw.usage_events__quarantine", "usage_events/day.csv") == 0
    # The other file of the entity is untouched.
    assert wh.rows(
        "select event_id, _load_id from raw.usage_events"
        " where _source_file = 'usage_events/other.csv'"
    ) == [("k1", "load-1")]
    assert wh.rows(
        "select event_id, _reason_codes from raw.usage_events__quarantine"
        " where _source_file = 'usage_events/other.csv'"
    ) == [("k2", "orphan_account")]
    assert wh.count("raw.usage_events") == 3
    assert [a["status"] for a in wh.audit("usage_events/day.csv")] == ["loaded", "loaded"]


# --- 5b. the current version of each key --------------------------------------------------


def _current(wh: Warehouse, table: str, key: str) -> list[tuple]:
    """(key, source file) of every current version; a key with none or two fails."""
    rows = wh.rows(
        f"select {key}, _source_file, count(*) over (partition by {key}) from raw.{table}"
        f" where _is_current order by 1"
    )
    assert all(n == 1 for *_, n in rows), rows
    assert wh.rows(f"select count(*) from raw.{table} where _is_current is null") == [(0,)]
    keys = wh.rows(f"select count(distinct {key}) from raw.{table}")[0][0]
    assert len(rows) == keys, f"{keys - len(rows)} keys of raw.{table} have no current version"
    return [tuple(row[:2]) for row in rows]


def test_current_version_is_decided_at_load_and_again_when_its_file_is_replaced(
    wh: Warehouse,
) -> None:
    """Staging reads `_is_current`: the latest updated_at, then the latest load, then the
    last file of a load; replacing a file decides again among the versions left."""
    header = ["account_id", "name", "created_at", "updated_at"]
    old = [["A1", "old", "2025-01-01", "2025-02-01"], ["A2", "Beta", "2025-01-01", "2025-02-01"]]
    write_csv(wh.landing / "accounts/b_old.csv", header, old)
    new = [["A1", "new", "2025-01-01", "2025-03-01"]]
    write_csv(wh.landing / "accounts/a_new.csv", header, new)
    wh.load("accounts")
    # updated_at decides over the file name
    assert _current(wh, "accounts", "account_id") == [
        ("A1", "accounts/a_new.csv"), ("A2", "accounts/b_old.csv")
    ]  # fmt: skip

    day = [["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"]]
    write_csv(wh.landing / "usage_events/x.csv", USAGE_HEADER, day)
    write_csv(wh.landing / "usage_events/y.csv", USAGE_HEADER, day)
    wh.load("usage_events")  # one batch: the last file wins
    assert _current(wh, "usage_events", "event_id") == [("e1", "usage_events/y.csv")]

    time.sleep(1.1)  # _loaded_at has whole seconds: within one, the file name decides
    later = write_csv(wh.landing / "usage_events/a_later.csv", USAGE_HEADER,
                      [*day, ["e2", "A2", "u2", "login", "2025-03-01T11:00:00", "1"]])  # fmt: skip
    wh.load("usage_events", load_id="load-2")  # a later load wins whatever its file's name
    assert _current(wh, "usage_events", "event_id") == [
        ("e1", "usage_events/a_later.csv"), ("e2", "usage_events/a_later.csv")
    ]  # fmt: skip

    mtime = later.stat().st_mtime
    write_csv(later, USAGE_HEADER, [["e2", "A2", "u2", "login", "2025-03-01T11:00:00", "1"]])
    set_mtime(later, mtime + 60)
    wh.load("usage_events", load_id="load-3")  # e1 left the file: y.csv's version is back
    assert _current(wh, "usage_events", "event_id") == [
        ("e1", "usage_events/y.csv"), ("e2", "usage_events/a_later.csv")
    ]  # fmt: skip
    assert wh.count("raw.usage_events") == 3


def test_a_raw_table_from_before_current_versions_gets_them(wh: Warehouse) -> None:
    """A warehouse loaded before `_is_current` existed: the next load adds the column and
    decides every key's current version."""
    write_accounts(wh.landing, ["A1"])
    wh.load("accounts")
    day = [["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"]]
    write_csv(wh.landing / "usage_events/x.csv", USAGE_HEADER, day)
    write_csv(wh.landing / "usage_events/y.csv", USAGE_HEADER, day)
    wh.load("usage_events")
    wh.con.execute("alter table raw.usage_events drop column _is_current")

    result = wh.load("usage_events", load_id="load-2")

    assert [f.status for f in result.files] == ["unchanged", "unchanged"]
    assert _current(wh, "usage_events", "event_id") == [("e1", "usage_events/y.csv")]


# --- 6. a missing required column fails the file -----------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_missing_required_column_fails_only_that_file(wh: Warehouse, suffix: str) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/a.csv",
        USAGE_HEADER,
        [["e1", "A1", "u1", "login", "2025-03-01", "1"]],
    )
    broken = f"usage_events/b{suffix}"
    no_time = ["event_id", "account_id", "user_id", "event_name", "quantity"]
    write_rows(wh.landing / broken, no_time, [["e2", "A1", "u1", "login", "1"]])

    result = wh.load("usage_events")

    error = assert_failed(wh, result, broken, "column 'occurred_at'", "required column missing")
    assert error.startswith(f"{broken}, column 'occurred_at': ")
    assert_file_counts(wh, result, "usage_events/a.csv", 1, 1, 0, 0)
    assert wh.rows("select event_id from raw.usage_events") == [("e1",)]

    # Fixed: the next load loads it, and only it.
    (wh.landing / broken).unlink()
    write_rows(wh.landing / broken, USAGE_HEADER, [["e2", "A1", "u1", "login", "2025-03-01", "1"]])
    fixed = wh.load("usage_events", load_id="load-2")

    assert only_file(fixed, "usage_events/a.csv").status == "unchanged"
    assert_file_counts(wh, fixed, broken, 1, 1, 0, 0)
    assert wh.rows("select event_id, _source_file, _load_id from raw.usage_events order by 1") == [
        ("e1", "usage_events/a.csv", "load-1"),
        ("e2", broken, "load-2"),
    ]
    assert [a["status"] for a in wh.audit(broken)] == ["failed", "loaded"]


# --- 7. files that cannot be read --------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.csv", "empty.csv.gz", "empty.parquet", "empty.jsonl"])
def test_empty_file_fails_naming_the_file(wh: Warehouse, name: str) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/good.csv",
        USAGE_HEADER,
        [["e1", "A1", "u1", "login", "2025-03-01", "1"]],
    )
    (wh.landing / "usage_events" / name).write_bytes(b"")

    result = wh.load("usage_events")

    assert_failed(wh, result, f"usage_events/{name}", "the file is empty")
    assert_file_counts(wh, result, "usage_events/good.csv", 1, 1, 0, 0)


@pytest.mark.parametrize("bad_row_index", [1, 5000], ids=["near_start", "past_first_block"])
def test_latin1_csv_fails_naming_the_file(wh: Warehouse, bad_row_index: int) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    rows: list[Row] = [[f"e{i}", "A1", "u1", "login", "2025-03-01", "1"] for i in range(5001)]
    rows[bad_row_index][3] = "café_opened"
    write_csv(wh.landing / "usage_events/latin.csv", USAGE_HEADER, rows, encoding="latin-1")

    result = wh.load("usage_events")

    assert_failed(wh, result, "usage_events/latin.csv", "UTF-8")
    assert wh.count("raw.usage_events") == 0


def test_latin1_in_a_data_row_is_not_blamed_on_the_header(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    rows = [
        ["e1", "A1", "u1", "login", "2025-03-01", "1"],
        ["e2", "A1", "u1", "café", "2025-03-01", "1"],
    ]
    write_csv(wh.landing / "usage_events/latin.csv", USAGE_HEADER, rows, encoding="latin-1")

    result = wh.load("usage_events")

    error = assert_failed(wh, result, "usage_events/latin.csv", "UTF-8")
    assert "header" not in error


@pytest.mark.parametrize(
    "ragged",
    [
        ["e2", "A1", "u1", "login", "2025-03-01", "1", "surplus"],
        ["e2", "A1", "u1", "login", "2025-03-01"],
    ],
    ids=["too_many_fields", "too_few_fields"],
)
def test_ragged_csv_row_fails_the_file(wh: Warehouse, ragged: list[str]) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    path = wh.landing / "usage_events/ragged.csv"
    good = ["e1", "A1", "u1", "login", "2025-03-01", "1"]
    after = ["e3", "A1", "u1", "login", "2025-03-01", "1"]
    path.parent.mkdir(parents=True)
    path.write_text(
        csv_text(USAGE_HEADER, [good]) + ",".join(ragged) + "\n" + ",".join(after) + "\n"
    )

    result = wh.load("usage_events")

    # The second data row is line 3 of the file.
    assert_failed(wh, result, "usage_events/ragged.csv", "Line: 3")
    assert wh.count("raw.usage_events") == 0

    write_csv(path, USAGE_HEADER, [good])
    set_mtime(path, path.stat().st_mtime + 60)
    fixed = wh.load("usage_events", load_id="load-2")
    assert_file_counts(wh, fixed, "usage_events/ragged.csv", 1, 1, 0, 0)


# --- 8. quarantined rows are re-checked ----------------------------------------------------


def test_orphan_is_readmitted_once_its_account_arrives(wh: Warehouse) -> None:
    write_accounts(wh.landing, ["A1"])
    wh.load("accounts")
    header = [*USAGE_HEADER, "channel"]
    write_csv(
        wh.landing / "usage_events/u.csv",
        header,
        [
            ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1", "web"],
            ["e2", "A2", "u2", "login", "2025-03-01T11:00:00+01:00", "", "app"],
            ["e3", "A2", "u2", "login", "2025-03-01T12:00:00", "lots", "app"],
        ],
    )
    first = wh.load("usage_events")
    assert_file_counts(wh, first, "usage_events/u.csv", 3, 1, 2, 0)
    assert wh.rows(
        "select event_id, _reason_codes from raw.usage_events__quarantine order by 1"
    ) == [("e2", "orphan_account"), ("e3", "bad_number,orphan_account")]

    # Nothing changes while the account is still missing.
    still = wh.load("usage_events", load_id="load-2")
    assert still.rows_readmitted == 0
    assert wh.count("raw.usage_events__quarantine") == 2

    write_accounts(wh.landing, ["A2"], name="late.csv")
    assert_file_counts(wh, wh.load("accounts", load_id="load-3"), "accounts/late.csv", 1, 1, 0, 0)
    result = wh.load("usage_events", load_id="load-3")

    assert result.rows_readmitted == 1
    assert [f.status for f in result.files] == ["unchanged"]
    assert (result.rows_loaded, result.rows_quarantined) == (1, -1)
    assert wh.dicts(
        "select event_id, account_id, occurred_at, quantity, _extra, _source_file, _source_row,"
        " _load_id, _is_current from raw.usage_events where event_id = 'e2'"
    ) == [
        {
            "event_id": "e2",
            "account_id": "A2",
            "occurred_at": ts("2025-03-01T10:00:00"),
            "quantity": 1.0,
            "_extra": '{"channel":"app"}',
            "_source_file": "usage_events/u.csv",
            "_source_row": 2,
            "_load_id": "load-3",
            "_is_current": True,
        }
    ]
    # A row with another problem besides the orphan stays quarantined.
    assert wh.rows("select event_id, _reason_codes from raw.usage_events__quarantine") == [
        ("e3", "bad_number,orphan_account")
    ]
    readmitted = [a for a in wh.audit("usage_events/u.csv") if a["status"] == "readmitted"]
    assert len(readmitted) == 1
    audit = readmitted[0]
    assert (audit["load_id"], audit["rows_read"], audit["rows_loaded"]) == ("load-3", 0, 1)
    assert audit["rows_quarantined"] == -1
    assert audit["rows_read"] == (
        audit["rows_loaded"] + audit["rows_quarantined"] + audit["rows_duplicate"]
    )

    # Readmission happens once.
    after = wh.load("usage_events", load_id="load-4")
    assert after.rows_readmitted == 0
    assert wh.count("raw.usage_events") == 2


def test_future_dated_row_is_readmitted_when_as_of_time_passes_it(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/u.csv",
        USAGE_HEADER,
        [
            ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
            ["e2", "A1", "u1", "login", "2025-03-10T09:00:00+02:00", "1"],
        ],
    )
    first = wh.load("usage_events")
    assert_file_counts(wh, first, "usage_events/u.csv", 2, 1, 1, 0)
    assert wh.rows("select event_id, _reason_codes from raw.usage_events__quarantine") == [
        ("e2", "future_timestamp")
    ]

    # 07:00 UTC on the 10th is still more than a day after the 8th: stays quarantined.
    early = wh.load("usage_events", load_id="load-2", as_of=ts("2025-03-09T06:59:59"))
    assert early.rows_readmitted == 0
    later = wh.load("usage_events", load_id="load-3", as_of=ts("2025-03-09T07:00:00"))

    assert later.rows_readmitted == 1
    assert wh.count("raw.usage_events__quarantine") == 0
    assert wh.rows(
        "select event_id, occurred_at, _source_row, _load_id from raw.usage_events order by 1"
    ) == [
        ("e1", ts("2025-03-01T10:00:00"), 1, "load-1"),
        ("e2", ts("2025-03-10T07:00:00"), 2, "load-3"),
    ]
    assert [a["status"] for a in wh.audit("usage_events/u.csv")] == ["loaded", "readmitted"]


def test_duplicate_orphans_are_readmitted_once(wh: Warehouse) -> None:
    write_accounts(wh.landing, ["A1"])
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/u.csv",
        USAGE_HEADER,
        [
            ["e1", "A2", "u1", "login", "2025-03-01T10:00:00", "1"],
            ["e1", "A2", "u1", "logout", "2025-03-01T10:00:00", "1"],
        ],
    )
    wh.load("usage_events")
    write_accounts(wh.landing, ["A2"], name="late.csv")
    wh.load("accounts", load_id="load-2")

    wh.load("usage_events", load_id="load-2")
    wh.load("usage_events", load_id="load-3")

    # The last row read wins, once; the first is a duplicate, not an orphan any more.
    assert wh.rows("select event_id, event_name, _source_row from raw.usage_events") == [
        ("e1", "logout", 2)
    ]
    assert wh.rows("select _reason_codes from raw.usage_events__quarantine") != [
        ("orphan_account",)
    ]


def test_readmitted_orphan_does_not_duplicate_a_loaded_key(wh: Warehouse) -> None:
    write_accounts(wh.landing, ["A1"])
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events/u.csv",
        USAGE_HEADER,
        [
            ["e1", "A1", "u1", "login", "2025-03-01T10:00:00", "1"],
            ["e1", "A2", "u1", "login", "2025-03-01T10:00:00", "1"],
        ],
    )
    first = wh.load("usage_events")
    assert_file_counts(wh, first, "usage_events/u.csv", 2, 1, 1, 0)
    write_accounts(wh.landing, ["A2"], name="late.csv")
    wh.load("accounts", load_id="load-2")

    wh.load("usage_events", load_id="load-2")

    assert wh.rows("select count(*), count(distinct event_id) from raw.usage_events") == [(1, 1)]


# --- 9. every format loads the same rows -------------------------------------------------

USAGE_TEXT_ROWS: list[Row] = [
    ["e1", "A1", "u1", "login", "2025-03-01T10:00:00+02:00", "2"],
    ["e2", "A1", None, "report_run", "2025-03-01T09:30:00", None],
    ["e3", "A2", "u2", "feature_x_used", "2025-03-01T23:15:00Z", "0.5"],
    ["e4", "A9", "u3", "login", "2025-03-01T08:00:00", "1"],
]


def _typed_usage_table() -> pa.Table:
    """The same rows as a Parquet export would type them: UTC timestamps, float quantity."""
    return pa.table(
        {
            "event_id": ["e1", "e2", "e3", "e4"],
            "account_id": ["A1", "A1", "A2", "A9"],
            "user_id": ["u1", None, "u2", "u3"],
            "event_name": ["login", "report_run", "feature_x_used", "login"],
            "occurred_at": pa.array(
                [
                    datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
                    datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
                    datetime(2025, 3, 1, 23, 15, tzinfo=UTC),
                    datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "quantity": pa.array([2.0, None, 0.5, 1.0], pa.float64()),
        }
    )


def _typed_usage_records() -> list[dict[str, Any]]:
    """The same rows as a JSON export would type them: numbers as numbers, null for empty."""
    records = []
    for row in USAGE_TEXT_ROWS:
        record: dict[str, Any] = dict(zip(USAGE_HEADER, row, strict=True))
        quantity = record["quantity"]
        record["quantity"] = None if quantity is None else float(quantity)
        if record["quantity"] is not None and record["quantity"].is_integer():
            record["quantity"] = int(record["quantity"])
        records.append(record)
    return records


def test_all_four_formats_load_the_same_rows(tmp_path: Path) -> None:
    writers = {
        "u.csv": lambda p: write_csv(p, USAGE_HEADER, USAGE_TEXT_ROWS),
        "u.csv.gz": lambda p: write_csv_gz(p, USAGE_HEADER, USAGE_TEXT_ROWS),
        "u.parquet": lambda p: write_parquet(p, _typed_usage_table()),
        "u.jsonl": lambda p: write_jsonl(p, _typed_usage_records()),
    }
    contract = ", ".join(ENTITIES["usage_events"].column_names)
    results = {}
    for name, write in writers.items():
        folder = tmp_path / name.replace(".", "_")
        landing = folder / "landing"
        write_accounts(landing)
        write(landing / "usage_events" / name)
        con = connect(folder / "warehouse.duckdb")
        wh = Warehouse(con, landing)
        wh.load("accounts")
        result = wh.load("usage_events")
        assert_file_counts(wh, result, f"usage_events/{name}", 4, 3, 1, 0)
        results[name] = (
            wh.rows(f"select {contract}, _extra, _source_row from raw.usage_events order by 1"),
            wh.rows(
                "select event_id, _reason_codes, _source_row from raw.usage_events__quarantine"
            ),
        )
        con.close()

    expected_raw = [
        ("e1", "A1", "u1", "login", ts("2025-03-01T08:00:00"), 2.0, None, 1),
        ("e2", "A1", None, "report_run", ts("2025-03-01T09:30:00"), 1.0, None, 2),
        ("e3", "A2", "u2", "feature_x_used", ts("2025-03-01T23:15:00"), 0.5, None, 3),
    ]
    for name, (raw, quarantined) in results.items():
        assert raw == expected_raw, name
        assert quarantined == [("e4", "orphan_account", 4)], name


# --- 10. files dated after the as-of date wait ---------------------------------------------


def test_files_dated_after_the_as_of_date_are_deferred(wh: Warehouse) -> None:
    write_accounts(wh.landing)
    wh.load("accounts")
    for day in ("2025-03-01", "2025-03-02", "2025-03-05"):
        write_csv(
            wh.landing / f"usage_events/{day}.csv",
            USAGE_HEADER,
            [[f"e-{day}", "A1", "u1", "login", f"{day}T12:00:00", "1"]],
        )

    result = wh.load("usage_events", as_of=ts("2025-03-02T12:00:00"))

    assert [(f.source_file, f.status) for f in result.files] == [
        ("usage_events/2025-03-01.csv", "loaded"),
        ("usage_events/2025-03-02.csv", "loaded"),
        ("usage_events/2025-03-05.csv", "deferred"),
    ]
    deferred = only_file(result, "usage_events/2025-03-05.csv")
    assert (deferred.rows_read, deferred.rows_loaded, deferred.rows_quarantined) == (0, 0, 0)
    assert wh.audit("usage_events/2025-03-05.csv") == []
    assert wh.rows("select event_id from raw.usage_events order by 1") == [
        ("e-2025-03-01",),
        ("e-2025-03-02",),
    ]
    assert wh.count("raw.usage_events__quarantine") == 0

    still = wh.load("usage_events", load_id="load-2", as_of=ts("2025-03-04T23:59:59"))
    assert only_file(still, "usage_events/2025-03-05.csv").status == "deferred"

    reached = wh.load("usage_events", load_id="load-3", as_of=ts("2025-03-05T00:00:00"))

    assert [f.status for f in reached.files] == ["unchanged", "unchanged", "loaded"]
    assert_file_counts(wh, reached, "usage_events/2025-03-05.csv", 1, 1, 0, 0)
    assert wh.rows("select _load_id from raw.usage_events where event_id = 'e-2025-03-05'") == [
        ("load-3",)
    ]


# --- the audit's notion of "the last loaded version" ---------------------------------------


def test_file_corrected_within_the_same_second_is_unchanged_afterwards(wh: Warehouse) -> None:
    path = write_csv(
        wh.landing / "accounts/a.csv",
        ["account_id", "created_at"],
        [["A1", "2025-01-01"], ["A2", "2025-01-01"]],
    )
    time.sleep(1 - time.time() % 1)  # start at the top of a second
    wh.load("accounts")
    write_csv(path, ["account_id", "created_at"], [["A1", "2025-01-01"]])
    set_mtime(path, path.stat().st_mtime + 60)
    wh.load("accounts", load_id="load-2")
    stamps = {a["loaded_at"] for a in wh.audit("accounts/a.csv")}
    if len(stamps) != 1:
        pytest.skip("the two loads fell into different seconds; the tie did not happen")

    third = wh.load("accounts", load_id="load-3")

    assert [f.status for f in third.files] == ["unchanged"]


def test_door_suite_catches_a_row_after_the_loading_runs_window_naming_file_and_row(
    wh: Warehouse,
) -> None:
    """The GX suite is the independent check on the loader: a row dated after the as-of
    time (+1 day) of the run that loaded it fails it, with its file and row as evidence."""
    from customer_health.loader import unvalidated_rows_sql
    from customer_health.quality.gx_suites import validate_frames

    write_accounts(wh.landing)
    wh.load("accounts")
    write_csv(
        wh.landing / "usage_events" / "day.csv",
        ["event_id", "account_id", "event_name", "occurred_at"],
        [["E1", "A1", "login", "2025-03-01T10:00:00"], ["E2", "A1", "login", "2025-03-01T11:00"]],
    )
    wh.load("usage_events", load_id="load-2")
    sql = unvalidated_rows_sql(ENTITIES["usage_events"])
    frame = wh.con.sql(sql).df()
    assert set(frame["_latest_allowed_at"]) == {AS_OF + timedelta(days=1)}
    assert validate_frames("raw_usage_events", [frame]).success
    # a loader bug lets a row from beyond the window through
    wh.con.execute(
        "update raw.usage_events set occurred_at = timestamp '2025-03-09 00:00:00'"
        " where event_id = 'E2'"
    )
    suite = validate_frames("raw_usage_events", [wh.con.sql(sql).df()])
    assert not suite.success
    [failure] = suite.failures
    assert failure["expectation"] == "expect_column_pair_values_a_to_be_greater_than_b"
    assert failure["rows"] == [
        {
            "_source_file": "usage_events/day.csv",
            "_source_row": "2",
            "_latest_allowed_at": str(AS_OF + timedelta(days=1)),
            "occurred_at": "2025-03-09 00:00:00",
        }
    ]
