"""Tests of the sample-data generator: determinism, contract conformance, bad rows, story, CLI.

Files are read back with DuckDB, the way a loader would, and checked against
`customer_health.contract`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from customer_health.contract import ENTITIES, ENTITY_NAMES, SURVEY_RANGES
from customer_health.sample_data import BAD_CLASSES, GenerationSummary, generate
from customer_health.sample_data.__main__ import main
from customer_health.sample_data.generator import FILE_EXTENSIONS, SEGMENTS

START, END = date(2025, 1, 1), date(2025, 6, 30)
END_TS = f"TIMESTAMPTZ '{END} 23:59:59+00'"
VERSIONED = ("accounts", "subscriptions")
FUTURE_BY_NATURE = {("invoices", "due_at")}
"""Columns that may lie after `end` in clean data: an invoice can fall due later."""
FILE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(csv|csv\.gz|parquet|jsonl)$")


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary, Path]:
    root = tmp_path_factory.mktemp("clean")
    truth = root / "truth.parquet"
    summary = generate(
        root / "landing", accounts=600, start=START, end=END, seed=7, truth_path=truth
    )
    return root / "landing", summary, truth


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("dirty") / "landing"
    summary = generate(root, accounts=250, start=date(2025, 4, 1), end=END, bad_rate=0.05)
    return root, summary


@pytest.fixture(scope="module")
def clean_db(clean) -> duckdb.DuckDBPyConnection:
    con = _load(clean[0])
    con.execute(f"CREATE TABLE truth AS SELECT * FROM '{clean[2]}'")
    return con


@pytest.fixture(scope="module")
def dirty_db(dirty) -> duckdb.DuckDBPyConnection:
    return _load(dirty[0])


def _load(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database with one table per entity; text files read as text."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for entity in ENTITY_NAMES:
        pattern = str(root / entity / f"*.{FILE_EXTENSIONS[entity]}")
        con.execute(f"CREATE TABLE {entity} AS SELECT * FROM {_reader(entity, pattern)}")
    return con


def _reader(entity: str, pattern: str) -> str:
    extension = FILE_EXTENSIONS[entity]
    if extension == "parquet":
        return f"read_parquet('{pattern}', filename = true)"
    if extension == "jsonl":
        columns = ", ".join(f"{c}: 'VARCHAR'" for c in ENTITIES[entity].column_names)
        return (
            f"read_json('{pattern}', format = 'newline_delimited', columns = {{{columns}}},"
            " filename = true)"
        )
    return f"read_csv('{pattern}', header = true, all_varchar = true, filename = true)"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def _ts(column: str) -> str:
    return f"try_cast({column} AS TIMESTAMPTZ)"


def _file_columns(path: Path) -> list[str]:
    """Column names of one landing file, read without DuckDB."""
    name = path.name
    if name.endswith(".parquet"):
        return pq.read_schema(path).names
    if name.endswith(".jsonl"):
        keys = {tuple(json.loads(line)) for line in path.read_text().splitlines()}
        assert len(keys) == 1, f"{path}: rows with different keys"
        return list(keys.pop())
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    return next(csv.reader(io.StringIO(raw.decode("utf-8"))))


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------------------
# (1) Determinism
# --------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    args = {"accounts": 120, "start": date(2025, 5, 1), "end": END, "bad_rate": 0.02}
    generate(tmp_path / "a", seed=1, **args)
    generate(tmp_path / "b", seed=1, **args)
    generate(tmp_path / "c", seed=2, **args)
    first, again, other = (_hashes(tmp_path / name) for name in "abc")
    assert {Path(p).parts[0] for p in first} == set(ENTITY_NAMES)
    assert first == again
    common = set(first) & set(other)
    assert common and all(first[p] != other[p] for p in common if p.startswith("usage_events"))


# --------------------------------------------------------------------------------------
# (2) Contract conformance of clean data
# --------------------------------------------------------------------------------------


def test_clean_summary_counts_rows_and_no_bad_rows(clean, clean_db) -> None:
    _, summary, _ = clean
    assert summary.bad_rows == dict.fromkeys(BAD_CLASSES, 0)
    assert (summary.start, summary.end) == (START, END)
    con = clean_db
    for entity in ENTITY_NAMES:
        assert summary.rows[entity] > 0, entity
        assert _one(con, f"SELECT count(*) FROM {entity}") == summary.rows[entity], entity


def test_every_file_is_dated_named_and_has_the_contract_columns(clean) -> None:
    root, _, _ = clean
    for entity in ENTITY_NAMES:
        files = sorted((root / entity).iterdir())
        assert files, entity
        for path in files:
            match = FILE_NAME.match(path.name)
            assert match, path
            assert START <= date.fromisoformat(match[1]) <= END, path
            assert path.name.endswith(FILE_EXTENSIONS[entity]), path
            assert _file_columns(path) == list(ENTITIES[entity].column_names), path


def test_usage_events_parquet_is_typed(clean) -> None:
    root, _, _ = clean
    schema = pq.read_schema(next((root / "usage_events").glob("*.parquet")))
    assert str(schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("quantity").type) == "double"
    assert all(str(schema.field(c).type) == "string" for c in ("event_id", "account_id"))


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_values_respect_the_contract(clean_db, entity: str) -> None:
    con = clean_db
    spec = ENTITIES[entity]
    for column in spec.columns:
        name = column.name
        text = f"trim(CAST({name} AS VARCHAR))"
        if column.required:
            assert _one(con, f"SELECT count(*) FROM {entity} WHERE coalesce({text}, '') = ''") == 0
        if column.kind == "enum":
            allowed = ", ".join(f"'{v}'" for v in column.values)
            bad = f"SELECT count(*) FROM {entity} WHERE lower({text}) NOT IN ({allowed})"
            assert _one(con, bad) == 0, name
        if column.kind == "number":
            value = f"try_cast({name} AS DOUBLE)"
            low = -1e300 if column.min_value is None else column.min_value
            high = 1e300 if column.max_value is None else column.max_value
            bad = (
                f"{name} IS NOT NULL AND ({value} IS NULL OR {value} NOT BETWEEN {low} AND {high})"
            )
            assert _one(con, f"SELECT count(*) FROM {entity} WHERE {bad}") == 0, name
        if column.kind == "timestamp":
            bad = f"{name} IS NOT NULL AND {_ts(name)} IS NULL"
            if (entity, name) not in FUTURE_BY_NATURE:
                bad += f" OR {_ts(name)} > {END_TS}"
            assert _one(con, f"SELECT count(*) FROM {entity} WHERE {bad}") == 0, name


def test_survey_scores_lie_in_the_range_of_their_type(clean_db) -> None:
    con = clean_db
    for kind, (low, high) in SURVEY_RANGES.items():
        rows = con.execute(
            "SELECT min(score::DOUBLE), max(score::DOUBLE), count(*) FROM survey_responses"
            f" WHERE survey_type = '{kind}'"
        ).fetchone()
        assert rows[2] > 0 and low <= rows[0] and rows[1] <= high, (kind, rows)
        assert all(float(v).is_integer() for v in rows[:2])


@pytest.mark.parametrize("entity", [e for e in ENTITY_NAMES if e != "accounts"])
def test_fact_rows_reference_existing_accounts(clean_db, entity: str) -> None:
    con = clean_db
    orphans = (
        f"SELECT count(*) FROM {entity} WHERE account_id NOT IN (SELECT account_id FROM accounts)"
    )
    assert _one(con, orphans) == 0


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_primary_keys_are_unique(clean_db, entity: str) -> None:
    con = clean_db
    key = ENTITIES[entity].primary_key
    if entity in VERSIONED:
        key += ", updated_at"
    assert _one(con, f"SELECT count(*) - count(DISTINCT ({key})) FROM {entity}") == 0


@pytest.mark.parametrize("entity", ENTITY_NAMES)
def test_rows_sit_in_the_file_of_their_day(clean_db, entity: str) -> None:
    """Facts by event time; versioned entities by change time, history in the first file."""
    con = clean_db
    column = "updated_at" if entity in VERSIONED else ENTITIES[entity].event_time
    day = f"greatest(CAST({_ts(column)} AS DATE), DATE '{START}')"
    file_day = "CAST(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})', 1) AS DATE)"
    assert _one(con, f"SELECT count(*) FROM {entity} WHERE {day} <> {file_day}") == 0


def test_timestamps_are_mostly_utc_with_a_few_other_offsets(clean_db) -> None:
    con = clean_db
    shares = con.execute(
        "SELECT avg((opened_at LIKE '%Z' OR opened_at LIKE '%+00:00')::INT) FROM support_tickets"
        " UNION ALL SELECT avg((issued_at LIKE '%Z')::INT) FROM invoices"
    ).fetchall()
    assert 0.9 <= shares[0][0] < 1.0
    assert 0.6 <= shares[1][0] < 0.95


def test_accounts_history_parents_and_churn_versions(clean_db) -> None:
    con = clean_db
    first_file = f"filename LIKE '%{START}.csv'"
    history = f"churned_at IS NULL AND {_ts('created_at')} < TIMESTAMPTZ '{START} 00:00:00+00'"
    assert _one(con, f"SELECT count(*) FROM accounts WHERE {history} AND NOT {first_file}") == 0
    assert _one(con, "SELECT count(*) FROM accounts WHERE updated_at IS NULL") == 0
    parents = _one(con, "SELECT avg((parent_account_id IS NOT NULL)::INT) FROM accounts")
    assert 0.05 < parents < 0.15
    dangling = (
        "SELECT count(*) FROM accounts WHERE parent_account_id IS NOT NULL"
        " AND parent_account_id NOT IN (SELECT account_id FROM accounts)"
    )
    assert _one(con, dangling) == 0
    churn_rows = "SELECT count(*) FROM accounts WHERE churned_at IS NOT NULL"
    assert _one(con, churn_rows) == _one(con, f"{churn_rows} AND updated_at = churned_at") > 0


def test_tickets_respond_and_resolve_after_opening(clean_db) -> None:
    con = clean_db
    opened, first, resolved = _ts("opened_at"), _ts("first_response_at"), _ts("resolved_at")
    unanswered = f"({resolved} IS NOT NULL AND {first} IS NULL)"
    bad = f"{first} < {opened} OR {resolved} < {first} OR {unanswered}"
    assert _one(con, f"SELECT count(*) FROM support_tickets WHERE {bad}") == 0
    assert _one(con, "SELECT count(*) FROM support_tickets WHERE resolved_at IS NULL") > 0


# --------------------------------------------------------------------------------------
# (3) Bad rows
# --------------------------------------------------------------------------------------


def _found_bad_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    facts = [e for e in ENTITY_NAMES if e != "accounts"]
    known = "SELECT account_id FROM accounts"
    event_time = {e: ENTITIES[e].event_time for e in facts}
    text_facts = [e for e in facts if e != "usage_events"]
    return {
        "duplicate_key": _one(con, "SELECT count(*) - count(DISTINCT event_id) FROM usage_events"),
        "orphan_account": sum(
            _one(con, f"SELECT count(*) FROM {e} WHERE account_id NOT IN ({known})") for e in facts
        ),
        "future_timestamp": sum(
            _one(con, f"SELECT count(*) FROM {e} WHERE {_ts(event_time[e])} > {END_TS}")
            for e in facts
        ),
        "unparseable_timestamp": sum(
            _one(con, f"SELECT count(*) FROM {e} WHERE {_ts(event_time[e])} IS NULL")
            for e in text_facts
        ),
        "bad_number": _one(
            con, "SELECT count(*) FROM invoices WHERE try_cast(amount AS DOUBLE) IS NULL"
        ),
        "out_of_range": _one(con, "SELECT count(*) FROM survey_responses WHERE score::DOUBLE = 11")
        + _one(con, "SELECT count(*) FROM subscriptions WHERE mrr::DOUBLE < 0"),
        "empty_id": _one(
            con, "SELECT count(*) FROM support_tickets WHERE trim(coalesce(ticket_id, '')) = ''"
        ),
    }


def test_bad_rows_are_counted_per_class_and_found_in_the_files(dirty, dirty_db) -> None:
    _, summary = dirty
    assert set(summary.bad_rows) == set(BAD_CLASSES)
    assert all(count > 0 for count in summary.bad_rows.values()), summary.bad_rows
    assert _found_bad_rows(dirty_db) == summary.bad_rows


def test_bad_rows_are_a_small_share_and_spread_over_files(dirty, dirty_db) -> None:
    summary = dirty[1]
    facts = sum(n for e, n in summary.rows.items() if e != "accounts")
    assert 0.03 < sum(summary.bad_rows.values()) / facts < 0.07
    con = dirty_db
    files = _one(
        con,
        "SELECT count(DISTINCT filename) FROM usage_events WHERE account_id LIKE 'ACC-ORPHAN-%'",
    )
    assert files > 10
    assert _one(con, "SELECT count(*) FROM accounts WHERE account_id LIKE 'ACC-ORPHAN-%'") == 0


def test_duplicates_are_exact_copies_within_a_file(dirty, dirty_db) -> None:
    con = dirty_db
    copies = (
        "SELECT count(*) FROM (SELECT event_id FROM usage_events GROUP BY event_id"
        " HAVING count(*) > 1 AND count(DISTINCT (account_id, user_id, event_name, occurred_at,"
        " quantity, filename)) = 1)"
    )
    assert _one(con, copies) == dirty[1].bad_rows["duplicate_key"]


# --------------------------------------------------------------------------------------
# (4) The story in the data
# --------------------------------------------------------------------------------------


def test_declining_accounts_churn_far_more_than_healthy_ones(clean) -> None:
    _, _, truth = clean
    rates = dict(
        duckdb.sql(
            f"SELECT archetype, avg((churned_at IS NOT NULL)::INT) FROM '{truth}' GROUP BY 1"
        ).fetchall()
    )
    assert set(rates) == {"healthy", "declining", "recovering", "steady_low"}
    assert rates["declining"] > 0.3
    assert rates["declining"] > 4 * rates["healthy"]
    assert rates["healthy"] > 0  # some noise, so a score is not trivially perfect


def test_truth_matches_the_accounts(clean_db) -> None:
    con = clean_db
    assert _one(con, "SELECT count(*) FROM truth") == _one(
        con, "SELECT count(DISTINCT account_id) FROM accounts"
    )
    mismatched = (
        "SELECT count(*) FROM truth t JOIN accounts a USING (account_id)"
        f" WHERE a.churned_at IS NOT NULL AND {_ts('a.churned_at')} <> t.churned_at"
    )
    assert _one(con, mismatched) == 0


def test_segments_and_billing_models(clean_db) -> None:
    con = clean_db
    segments = {row[0] for row in con.execute("SELECT DISTINCT segment FROM accounts").fetchall()}
    assert set(SEGMENTS) <= segments
    assert None in segments and segments - set(SEGMENTS) - {None}  # empty and unknown ones
    without_subscriptions = (
        "SELECT count(*) FROM subscriptions s JOIN accounts a USING (account_id)"
        " WHERE a.segment IN ('b2c_webshop', 'charity')"
    )
    assert _one(con, without_subscriptions) == 0
    webshop_invoices = (
        "SELECT count(*), count(subscription_id) FROM invoices i"
        " JOIN (SELECT DISTINCT account_id, segment FROM accounts) a USING (account_id)"
        " WHERE a.segment = 'b2c_webshop'"
    )
    orders, with_subscription = con.execute(webshop_invoices).fetchone()
    assert orders > 0 and with_subscription == 0
    currencies = dict(con.execute("SELECT currency, count(*) FROM invoices GROUP BY 1").fetchall())
    assert set(currencies) == {"USD", "EUR"} and currencies["USD"] > 5 * currencies["EUR"]


def test_health_shows_in_usage_surveys_tickets_and_payments(clean_db) -> None:
    con = clean_db

    def by_archetype(sql: str) -> dict[str, float]:
        return dict(con.execute(sql).fetchall())

    usage = by_archetype(
        "SELECT archetype, count(*) / count(DISTINCT account_id) FROM usage_events"
        " JOIN truth USING (account_id) GROUP BY 1"
    )
    nps = by_archetype(
        "SELECT archetype, avg(score::DOUBLE) FROM survey_responses JOIN truth USING (account_id)"
        " WHERE survey_type = 'nps' GROUP BY 1"
    )
    tickets = by_archetype(
        "SELECT archetype, avg((priority IN ('high', 'urgent'))::INT) FROM support_tickets"
        " JOIN truth USING (account_id) GROUP BY 1"
    )
    unpaid = by_archetype(
        "SELECT archetype, avg((status IN ('open', 'uncollectible'))::INT) FROM invoices"
        " JOIN truth USING (account_id) GROUP BY 1"
    )
    assert usage["healthy"] > 1.5 * usage["steady_low"]
    assert nps["healthy"] > nps["declining"] + 1.5
    assert tickets["steady_low"] > tickets["healthy"]
    assert unpaid["steady_low"] > unpaid["healthy"]


def test_no_usage_after_churn(clean_db) -> None:
    con = clean_db
    after = (
        "SELECT count(*) FROM usage_events e JOIN accounts a USING (account_id)"
        f" WHERE a.churned_at IS NOT NULL AND e.occurred_at > {_ts('a.churned_at')}"
    )
    assert _one(con, after) == 0


# --------------------------------------------------------------------------------------
# (5) API and command line
# --------------------------------------------------------------------------------------


def test_truth_file_may_not_sit_in_an_entity_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="truth"):
        generate(
            tmp_path, accounts=5, start=END, end=END, truth_path=tmp_path / "accounts" / "t.pq"
        )


def test_cli_refuses_a_non_empty_folder_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    args = ["--out", str(tmp_path), "--accounts", "20", "--days", "30", "--end", str(END)]
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

    assert main([*args, "--force"]) == 0
    assert main([*args, "--force", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert all(f"{entity} " in printed for entity in ENTITY_NAMES)
    assert keep.read_text() == "not ours"
    assert {p.name for p in tmp_path.iterdir()} == {"notes.txt", *ENTITY_NAMES}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "2025-02-30"], "not a date"),
        (["--accounts", "0"], "at least 1"),
        (["--start", "2025-07-01", "--end", "2025-06-01"], "after"),
        (["--bad-rate", "2"], "between 0 and 0.5"),
    ],
)
def test_cli_rejects_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as rejected:
        main(["--out", str(tmp_path / "out"), *extra])
    assert rejected.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
