"""End to end, in process: generated landing files -> one Dagster run -> published serving file.

Real DuckDB files, real dbt, real Dagster materializations (recorded in a
temporary Dagster instance), on small generated data.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import RunWindow, resolve_window, run_pipeline
from orchestration.sample_data.generator import generate
from orchestration.settings import Settings
from tests.conftest import sha256_of

START, END = date(2025, 5, 25), date(2025, 6, 14)
pytestmark = pytest.mark.slow


def _fact(serving: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _usage_events_on(settings: Settings, account_id: str, day: date) -> int:
    """Events dbt counted for an account-day (int_usage_daily is rebuilt by every dbt build)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        row = con.execute(
            "select coalesce(sum(events), 0) from intermediate.int_usage_daily"
            " where account_id = ? and activity_date = ?",
            [account_id, day],
        ).fetchone()
        return int(row[0])
    finally:
        con.close()


def _expected_account_days(landing: Path, first: date, last: date) -> int:
    """Account-days the fact must hold, computed from the landing files themselves."""
    con = duckdb.connect()
    row = con.execute(
        f"""
        with versions as (
            select account_id, cast(timezone('UTC', cast(created_at as timestamptz)) as date) as d,
                   row_number() over (partition by account_id order by updated_at desc) as rn
            from read_csv('{landing}/accounts/*.csv', all_varchar = true)
        )
        select sum(date_diff('day', greatest(d, date '{first}'), date '{last}') + 1)
        from versions where rn = 1 and d <= date '{last}'
        """
    ).fetchone()
    return int(row[0])


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path):
    """One generated dataset and a first successful run, shared by the tests in order."""
    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    landing, data = root / "landing", root / "data"
    mp.setenv("HEALTH_LANDING_DIR", str(landing))
    mp.setenv("HEALTH_DATA_DIR", str(data))
    mp.setenv("DAGSTER_HOME", str(data / "dagster"))
    mp.delenv("HEALTH_AS_OF", raising=False)
    generate(landing, accounts=40, start=START, end=END, seed=7, bad_rate=0.01)
    settings = Settings.from_env()
    window = resolve_window(settings, None, None)
    assert run_pipeline(settings, window)
    yield settings, window
    mp.undo()


def test_window_is_the_data_range(pipeline) -> None:
    _, window = pipeline
    assert window == RunWindow(START, END)


def test_fact_has_exactly_one_row_per_account_day(pipeline) -> None:
    settings, _ = pipeline
    rows, distinct, accounts = _fact(
        settings.serving_path,
        "select count(*), count(distinct (account_id, as_of_date)), count(distinct account_id)"
        " from fct_customer_health_daily",
    )[0]
    assert rows == distinct == _expected_account_days(settings.landing_dir, START, END)
    assert accounts == 40
    gaps = _fact(
        settings.serving_path,
        "select account_id from fct_customer_health_daily group by account_id"
        " having count(*) <> date_diff('day', min(as_of_date), max(as_of_date)) + 1"
        f" or max(as_of_date) <> date '{END}'",
    )
    assert gaps == []


def test_scores_are_in_range_and_versioned(pipeline) -> None:
    settings, _ = pipeline
    (bad_scores, null_versions, versions, bands) = _fact(
        settings.serving_path,
        """
        select
            count(*) filter (where health_score < 0 or health_score > 100
                             or engagement_score not between 0 and 100
                             or retention_score not between 0 and 100
                             or loyalty_score not between 0 and 100
                             or score_coverage not between 0 and 1),
            count(*) filter (where config_version is null),
            count(distinct config_version),
            list(distinct health_band order by health_band)
        from fct_customer_health_daily
        """,
    )[0]
    assert bad_scores == 0
    assert null_versions == 0
    assert versions == 1
    assert set(bands) <= {"green", "yellow", "red", "insufficient_data"}
    assert {"green", "red"} <= set(bands), "sample data should produce healthy and at-risk accounts"


def test_bad_rows_are_quarantined_and_counted(pipeline) -> None:
    settings, _ = pipeline
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        quarantined = con.execute("select count(*) from raw.usage_events__quarantine").fetchone()[0]
        unbalanced = con.execute(
            "select count(*) from raw._load_audit where status = 'loaded'"
            " and rows_read <> rows_loaded + rows_quarantined + rows_duplicate"
        ).fetchone()[0]
    finally:
        con.close()
    assert quarantined > 0
    assert unbalanced == 0


def test_second_run_leaves_scores_identical(pipeline) -> None:
    settings, window = pipeline
    query = "select * from fct_customer_health_daily order by account_id, as_of_date"
    before = _fact(settings.serving_path, query)
    assert run_pipeline(settings, window)
    assert _fact(settings.serving_path, query) == before


def test_failed_run_leaves_serving_file_untouched(pipeline, capsys) -> None:
    settings, window = pipeline
    before = sha256_of(settings.serving_path)
    bad = settings.landing_dir / "usage_events" / "broken.csv"
    bad.write_text("event_id,account_id,event_name\nX1,ACC-000001,login\n")
    try:
        assert not run_pipeline(settings, window)
        err = capsys.readouterr().err
        assert "usage_events/broken.csv" in err
        assert "occurred_at" in err
        assert sha256_of(settings.serving_path) == before
    finally:
        bad.unlink()
    # once the file is gone the next run passes and publishes again
    assert run_pipeline(settings, window)


def test_own_data_with_only_accounts_and_invoices(health_env, dbt_manifest, monkeypatch) -> None:
    landing = health_env["landing"]
    (landing / "accounts").mkdir()
    (landing / "invoices").mkdir()
    (landing / "accounts" / "accounts.csv").write_text(
        "account_id,name,segment,created_at\n"
        "C1,Shop One,b2c_webshop,2025-01-10T00:00:00Z\n"
        "C2,Shop Two,,2025-02-01T09:00:00+01:00\n"
    )
    (landing / "invoices" / "orders.csv").write_text(
        "invoice_id,account_id,issued_at,amount,status,paid_at\n"
        "I1,C1,2025-02-01T10:00:00Z,120.5,paid,2025-02-02T10:00:00Z\n"
        "I2,C1,2025-02-20T10:00:00Z,80,paid,2025-02-21T10:00:00Z\n"
        "I3,C2,2025-02-25T10:00:00Z,99,open,\n"
    )
    as_of = date(2025, 3, 10)
    monkeypatch.setenv("HEALTH_AS_OF", as_of.isoformat())
    settings = Settings.from_env()
    window = resolve_window(settings, None, None)
    assert window == RunWindow(date(2025, 2, 1), as_of)
    assert run_pipeline(settings, window)
    rows = _fact(
        settings.serving_path,
        "select account_id, count(*), min(as_of_date), max(as_of_date),"
        " count(engagement_score), count(retention_score), count(loyalty_score),"
        " max(score_coverage) from fct_customer_health_daily group by account_id order by 1",
    )
    days = (as_of - date(2025, 2, 1)).days + 1
    assert rows == [
        ("C1", days, date(2025, 2, 1), as_of, 0, 0, days, pytest.approx(0.33, abs=0.01)),
        ("C2", days, date(2025, 2, 1), as_of, 0, 0, days, pytest.approx(0.33, abs=0.01)),
    ]
    paid = _fact(
        settings.serving_path,
        "select health_score from fct_customer_health_daily"
        f" where account_id = 'C1' and as_of_date = date '{as_of - timedelta(days=1)}'",
    )
    assert paid[0][0] is not None and paid[0][0] > 0


def test_failed_blocking_check_stops_dbt_and_publish(
    pipeline, tmp_path, monkeypatch, capsys
) -> None:
    """A GX suite failure on a new batch is blocking: no dbt build, no publish."""
    import json

    from orchestration.defs.quality import gx_suites

    settings, window = pipeline
    strict = json.loads((gx_suites.EXPECTATIONS_DIR / "raw_usage_events.json").read_text())
    strict["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "event_name", "value_set": ["no_such_event"]},
        }
    )
    for suite in gx_suites.EXPECTATIONS_DIR.glob("*.json"):
        (tmp_path / suite.name).write_text(suite.read_text())
    (tmp_path / "raw_usage_events.json").write_text(json.dumps(strict))
    monkeypatch.setattr(gx_suites, "EXPECTATIONS_DIR", tmp_path)
    gx_suites._suite.cache_clear()
    before = sha256_of(settings.serving_path)
    events_before = _usage_events_on(settings, "ACC-000001", END)
    extra = settings.landing_dir / "usage_events" / "late-arrival.csv"
    extra.write_text(
        "event_id,account_id,event_name,occurred_at\n"
        f"LATE-1,ACC-000001,login,{END.isoformat()}T12:00:00Z\n"
    )
    try:
        assert not run_pipeline(settings, window)
        err = capsys.readouterr().err
        assert "FAILED check raw/usage_events:raw_usage_events" in err
        assert "expect_column_values_to_be_in_set" in err and "'column': 'event_name'" in err
        # the row was loaded, but dbt did not run: its count is not there yet
        assert _usage_events_on(settings, "ACC-000001", END) == events_before
        # a plain re-run checks the failed batch again: the gate cannot be bypassed
        assert not run_pipeline(settings, window)
        assert "FAILED check raw/usage_events:raw_usage_events" in capsys.readouterr().err
        assert sha256_of(settings.serving_path) == before
        assert sha256_of(settings.serving_path) == before
    finally:
        monkeypatch.undo()
        gx_suites._suite.cache_clear()
        extra.unlink()
    # with the suite restored the next run passes, and dbt now counts the late event
    assert run_pipeline(settings, window)
    assert _usage_events_on(settings, "ACC-000001", END) == events_before + 1
    assert sha256_of(settings.serving_path) != before
