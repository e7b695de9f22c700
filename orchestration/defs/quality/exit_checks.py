"""The exit checks: every day of fct_customer_health_daily that a run wrote, validated
before anything is published.

- `fct_customer_health_daily` (blocking): one row per live account, keys unique, scores
  and components in range, bands the configured labels and consistent with the scores.
- `fct_customer_health_daily_drift` (warn): per day against the day before, the share of
  accounts that changed band, the move of the share in the lowest band, mean coverage.

The days are those of `intermediate.int_scoring_window` (what the dbt build just wrote).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from orchestration.defs.quality.data_docs import DataDocs
from orchestration.defs.quality.gx_suites import SuiteResult, validate_frames
from orchestration.defs.quality.results import CheckRecord

FACT = "marts.fct_customer_health_daily"
EXIT_SUITE = "fct_customer_health_daily"
DRIFT_SUITE = "fct_customer_health_daily_drift"
NO_DATA_BAND = "insufficient_data"


@dataclass
class ExitResult:
    first_day: date
    last_day: date
    suite: SuiteResult
    drift: SuiteResult
    records: list[CheckRecord]


def written_days(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """The days the last dbt build wrote into the fact table."""
    return con.execute(
        "select score_from_date, score_to_date from intermediate.int_scoring_window"
    ).fetchone()


def _day_frame(con: duckdb.DuckDBPyConnection, day: date) -> pd.DataFrame:
    return con.execute(
        f"""
        select
            fact.*,
            coalesce(
                case when fact.health_score is null then fact.health_band = '{NO_DATA_BAND}'
                    else fact.health_band = bands.band end,
                false
            ) as band_matches_cutoffs
        from {FACT} as fact
        left join config.scoring_bands as bands
            on fact.health_score >= bands.min_score
            and (fact.health_score < bands.max_score
                or (bands.max_score >= 100 and fact.health_score <= bands.max_score))
        where fact.as_of_date = ?
        """,
        [day],
    ).df()


def _active_accounts(con: duckdb.DuckDBPyConnection, day: date) -> int:
    return con.execute(
        "select count(*) from intermediate.int_account_days where as_of_date = ?", [day]
    ).fetchone()[0]


def drift_frame(con: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> pd.DataFrame:
    """One row per written day: band changes and lowest-band share against the day before.

    Days within the first usage window after the data start are left out: trailing
    windows are still filling then, and scores move for that reason alone.
    """
    settled = con.execute(
        "select scoring_window.data_start_date + settings.usage_window_days"
        " from intermediate.int_scoring_window as scoring_window"
        " cross join intermediate.int_scoring_settings as settings"
    ).fetchone()[0]
    return con.execute(
        f"""
        with lowest_band as (
            select band from config.scoring_bands order by min_score limit 1
        ),
        days as (
            select
                as_of_date,
                avg(case when health_band = (select band from lowest_band) then 1.0 else 0.0 end)
                    as lowest_band_share,
                avg(score_coverage) as mean_coverage
            from {FACT}
            where as_of_date between ? and ?
            group by as_of_date
        ),
        band_changes as (
            select
                today.as_of_date,
                avg(case when today.health_band <> yesterday.health_band then 1.0 else 0.0 end)
                    as band_change_share
            from {FACT} as today
            inner join {FACT} as yesterday
                on yesterday.account_id = today.account_id
                and yesterday.as_of_date = today.as_of_date - 1
            where today.as_of_date between ? and ?
            group by today.as_of_date
        ),
        changes as (
            select
                days.as_of_date,
                coalesce(band_changes.band_change_share, 0.0) as band_change_share,
                -- lag before filtering: the day before the first written day counts
                coalesce(
                    days.lowest_band_share
                        - lag(days.lowest_band_share) over (order by days.as_of_date),
                    0.0
                ) as lowest_band_share_change,
                days.mean_coverage
            from days
            left join band_changes using (as_of_date)
        )
        select * from changes
        where as_of_date >= ?
        order by as_of_date
        """,
        [first_day - timedelta(days=1), last_day, first_day, last_day, max(first_day, settled)],
    ).df()


def _record(result: SuiteResult, severity: str, partition: str) -> CheckRecord:
    return CheckRecord(
        stage="exit",
        check_name=result.suite,
        target=FACT,
        severity=severity,
        status="pass" if result.success else ("fail" if severity == "error" else "warn"),
        partition=partition,
        observed_value=f"{result.rows} rows, {len(result.failures)} failed expectations",
        evidence={"failed_expectations": result.failures} if result.failures else {},
    )


def run_exit_checks(con: duckdb.DuckDBPyConnection, docs: DataDocs | None = None) -> ExitResult:
    """Validate every written day (blocking suite, one record a day) and the drift (warn);
    with `docs`, every validation goes into the Data Docs site."""
    first_day, last_day = written_days(con)
    band_labels = [
        row[0] for row in con.execute("select band from config.scoring_bands").fetchall()
    ]
    parameters = {"band_labels": [*band_labels, NO_DATA_BAND]}
    merged = SuiteResult(suite=EXIT_SUITE)
    records = []
    day = first_day
    while day <= last_day:
        daily = validate_frames(
            EXIT_SUITE,
            _frames(con, day),
            parameters={**parameters, "active_accounts": _active_accounts(con, day)},
            docs=docs,
        )
        records.append(_record(daily, "error", day.isoformat()))
        merged.rows += daily.rows
        merged.batches += daily.batches
        merged.success &= daily.success
        merged.failures += [{"as_of_date": day.isoformat(), **f} for f in daily.failures]
        day += timedelta(days=1)
    drift = validate_frames(DRIFT_SUITE, [drift_frame(con, first_day, last_day)], docs=docs)
    records.append(_record(drift, "warn", f"{first_day}..{last_day}"))
    return ExitResult(first_day, last_day, merged, drift, records)


def _frames(con: duckdb.DuckDBPyConnection, day: date) -> Iterator[pd.DataFrame]:
    yield _day_frame(con, day)
