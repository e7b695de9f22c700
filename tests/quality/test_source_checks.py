"""Source-level door checks: their configuration, freshness and daily volume, on a real
DuckDB table and the real GX suite."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from customer_health.contract import ENTITIES
from customer_health.landing import utc_now
from customer_health.quality.gx_suites import validate_frames
from customer_health.quality.source_checks import (
    SOURCES_YML,
    VOLUME_SUITE,
    Freshness,
    SourceConfigError,
    Volume,
    daily_volume,
    freshness_record,
    load_source_checks,
    volume_parameters,
)

USAGE = ENTITIES["usage_events"]


def _sources(tmp_path: Path, tables: str, source_config: str = "") -> Path:
    path = tmp_path / "_raw__sources.yml"
    path.write_text(
        "version: 2\nsources:\n  - name: raw\n    schema: raw\n"
        + source_config
        + "    tables:\n"
        + tables
    )
    return path


def test_project_configures_usage_to_block_and_the_sparse_sources_to_warn() -> None:
    checks = load_source_checks(SOURCES_YML)
    assert set(checks) == set(ENTITIES)
    usage = checks["usage_events"]
    assert usage.freshness == Freshness("occurred_at", timedelta(days=2), timedelta(days=4))
    assert usage.volume == Volume(14, 20, 0.1, 10, "error")
    assert checks["accounts"].freshness is None and checks["accounts"].volume is None
    for name in ("invoices", "survey_responses", "support_tickets"):
        assert checks[name].freshness.severity == "warn"
        assert checks[name].volume.severity == "warn"
    # billing runs and survey campaigns spike on purpose: only drops are judged
    assert checks["invoices"].volume.max_ratio is None


def test_table_config_overrides_the_source_config(tmp_path: Path) -> None:
    path = _sources(
        tmp_path,
        "      - name: usage_events\n"
        "      - name: invoices\n"
        "        config:\n"
        "          loaded_at_field: issued_at\n"
        "          freshness:\n"
        "            error_after: {count: 36, period: hour}\n"
        "      - name: accounts\n"
        "        config:\n"
        "          freshness: null\n",
        source_config=(
            "    config:\n"
            "      loaded_at_field: _loaded_at\n"
            "      freshness:\n"
            "        warn_after: {count: 1, period: day}\n"
        ),
    )
    checks = load_source_checks(path)
    assert checks["usage_events"].freshness == Freshness("_loaded_at", timedelta(days=1), None)
    assert checks["invoices"].freshness == Freshness("issued_at", None, timedelta(hours=36))
    assert checks["accounts"].freshness is None


@pytest.mark.parametrize(
    ("table_config", "message"),
    [
        (
            (
                "          loaded_at_field: occurred_at\n"
                "          freshness:\n"
                "            warn_after: {count: 2, period: week}\n"
            ),
            "table usage_events warn_after: period 'week' is not one of",
        ),
        (
            "          freshness:\n            warn_after: {count: 2, period: day}\n",
            "table usage_events: freshness needs a loaded_at_field",
        ),
        (
            "          meta:\n            volume: {min_ratio: 0.1, max_drop: 0.9}\n",
            "table usage_events: meta.volume has unknown keys ['max_drop']",
        ),
        (
            "          meta:\n            volume: {severity: fatal}\n",
            "table usage_events: meta.volume.severity must be error or warn",
        ),
    ],
    ids=["bad_period", "no_loaded_at_field", "unknown_volume_key", "bad_severity"],
)
def test_bad_configuration_names_file_and_table(
    tmp_path: Path, table_config: str, message: str
) -> None:
    path = _sources(tmp_path, "      - name: usage_events\n        config:\n" + table_config)
    with pytest.raises(
        SourceConfigError, match="_raw__sources.yml, " + message.replace("[", r"\[")
    ):
        load_source_checks(path)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema raw")
    con.execute("create table raw.usage_events (event_id varchar, occurred_at timestamp)")
    yield con
    con.close()


def _events_per_day(con: duckdb.DuckDBPyConnection, counts: dict[date, int]) -> None:
    con.executemany(
        "insert into raw.usage_events values (?, ?)",
        [
            (f"{day}-{i}", datetime.combine(day, datetime.min.time()) + timedelta(minutes=i))
            for day, n in counts.items()
            for i in range(n)
        ],
    )


def utc(*parts: int) -> datetime:
    """A naive UTC timestamp, as the raw layer stores them."""
    return datetime(*parts, tzinfo=UTC).replace(tzinfo=None)


USAGE_FRESHNESS = Freshness("occurred_at", timedelta(days=2), timedelta(days=4))
END_OF_JUNE_10 = utc(2025, 6, 11)


@pytest.mark.parametrize(
    ("newest", "status", "severity"),
    [
        (utc(2025, 6, 10, 23), "pass", "error"),
        (utc(2025, 6, 8, 12), "warn", "warn"),  # 2.5 days old
        (utc(2025, 6, 6, 12), "fail", "error"),  # 4.5 days old
    ],
    ids=["fresh", "stale_warns", "stale_fails"],
)
def test_freshness_is_judged_as_of_the_end_of_the_last_scored_day(
    con, newest: datetime, status: str, severity: str
) -> None:
    con.execute(
        "insert into raw.usage_events values ('e1', ?), ('later', ?)",
        [newest, END_OF_JUNE_10 + timedelta(days=3)],
    )
    record = freshness_record(con, USAGE, USAGE_FRESHNESS, END_OF_JUNE_10, "2025-06-10..2025-06-10")
    assert (record.stage, record.check_name, record.status, record.severity) == (
        "freshness",
        "freshness_usage_events",
        status,
        severity,
    )
    # rows after the day (loaded by a later run) do not make a past day look fresh
    assert f"newest occurred_at {newest:%Y-%m-%d %H:%M}" in record.observed_value
    assert "before the end of 2025-06-10" in record.observed_value
    if status != "pass":
        assert record.evidence["newest"] == newest.isoformat(sep=" ")


def test_a_source_without_rows_is_not_in_use_rather_than_stale(con) -> None:
    record = freshness_record(con, USAGE, USAGE_FRESHNESS, END_OF_JUNE_10, "x")
    assert record.status == "skipped" and "not in use" in record.observed_value
    assert not record.blocks


def test_daily_volume_judges_each_day_against_its_trailing_average(con) -> None:
    start = date(2025, 6, 1)
    counts = {start + timedelta(days=i): 40 for i in range(20)}
    counts[date(2025, 6, 16)] = 3  # a 92.5% drop
    counts[date(2025, 6, 18)] = 500  # a spike (the drop lowers its average a little)
    del counts[date(2025, 6, 19)]  # a whole day missing
    _events_per_day(con, counts)
    volume = Volume(trailing_days=7, min_trailing_rows=20, min_ratio=0.1, max_ratio=10)

    frame = daily_volume(con, USAGE, volume, date(2025, 6, 3), date(2025, 6, 20))
    # days whose 7 trailing days reach before the first row (June 1) are not judged
    assert frame["day"].min() == "2025-06-08"
    assert frame["day"].max() == "2025-06-20"
    by_day = frame.set_index("day")
    assert by_day.loc["2025-06-16", "rows"] == 3
    assert by_day.loc["2025-06-16", "trailing_avg_rows"] == pytest.approx(40)
    assert by_day.loc["2025-06-19", "rows"] == 0

    suite = validate_frames(VOLUME_SUITE, [frame], volume_parameters(volume))
    assert not suite.success
    [failure] = suite.failures
    failed_days = sorted(row["day"] for row in failure["rows"])
    assert failed_days == ["2025-06-16", "2025-06-18", "2025-06-19"]


def test_days_with_too_few_rows_on_average_are_not_judged(con) -> None:
    _events_per_day(con, {date(2025, 6, 1) + timedelta(days=i): 5 for i in range(20)})
    volume = Volume(trailing_days=7, min_trailing_rows=20)
    assert daily_volume(con, USAGE, volume, date(2025, 6, 10), date(2025, 6, 20)).empty


def test_drop_only_volume_lets_a_spike_pass(con) -> None:
    counts = {date(2025, 6, 1) + timedelta(days=i): 30 for i in range(10)}
    counts[date(2025, 6, 10)] = 900
    _events_per_day(con, counts)
    volume = Volume(trailing_days=7, min_trailing_rows=20, min_ratio=0.1, max_ratio=None)
    frame = daily_volume(con, USAGE, volume, date(2025, 6, 10), date(2025, 6, 10))
    assert frame["ratio"].tolist() == [pytest.approx(30)]
    assert validate_frames(VOLUME_SUITE, [frame], volume_parameters(volume)).success


def test_today_is_a_partial_day_and_never_judged_as_a_volume_drop(con) -> None:
    """An export taken during the day holds part of today: 1 row against an average of 42
    must not block the run (it did: the volume check judged today)."""
    today = utc_now().date()
    counts = {today - timedelta(days=i): 42 for i in range(1, 12)}
    counts[today] = 1
    _events_per_day(con, counts)
    volume = Volume(trailing_days=7, min_trailing_rows=20, min_ratio=0.1, max_ratio=10)
    frame = daily_volume(con, USAGE, volume, today - timedelta(days=2), today)
    assert frame["day"].tolist() == [
        (today - timedelta(days=2)).isoformat(),
        (today - timedelta(days=1)).isoformat(),
    ]
    assert validate_frames(VOLUME_SUITE, [frame], volume_parameters(volume)).success


def test_the_default_last_day_is_the_last_complete_day_of_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One usage event dated today moved the default as-of day to today (a partial day)."""
    from customer_health.sample_data.generator import generate
    from customer_health.settings import Settings
    from orchestration.cli import last_complete_day, resolve_window

    today = utc_now().date()
    generate(
        tmp_path / "landing",
        accounts=5,
        start=today - timedelta(days=9),
        end=today - timedelta(days=1),
        seed=1,
        bad_rate=0,
    )
    early = utc_now().replace(hour=0, minute=0, second=1)
    (tmp_path / "landing" / "usage_events" / "today.csv").write_text(
        "event_id,account_id,user_id,event_name,occurred_at\n"
        f"today-1,ACC-000001,u1,login,{early:%Y-%m-%dT%H:%M:%SZ}\n"
    )
    monkeypatch.setenv("HEALTH_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.delenv("HEALTH_AS_OF", raising=False)
    window = resolve_window(Settings.from_env(), None, None)
    assert window.end == today - timedelta(days=1)
    # the rule itself: a day is complete once it has ended in UTC
    assert last_complete_day(today, today) == today - timedelta(days=1)
    assert last_complete_day(today - timedelta(days=5), today) == today - timedelta(days=5)
