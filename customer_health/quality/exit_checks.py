"""The exit checks: every day of fct_customer_health_daily that a run wrote, validated
before anything is published.

- `fct_customer_health_daily` (blocking): one row per live account each day, keys unique, scores
  and components in range, bands the configured labels and consistent with the scores.
- `fct_customer_health_daily_drift` (warn): per day against the day before, the share of
  accounts that changed band, the move of the share in the lowest band, mean coverage.

The days are those of `intermediate.int_scoring_window` (what the dbt build just wrote).
They are validated in batches of whole days of at most `BATCH_ROWS` rows (one day when a
day alone is larger), each against its own expected row count: a full build of years of
history holds one batch in memory, not the whole fact table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import duckdb

from customer_health.quality.data_docs import DataDocs
from customer_health.quality.gx_suites import SuiteResult, validate_batches, validate_frames
from customer_health.quality.results import CheckRecord, partition_range, suite_record

if TYPE_CHECKING:
    import pandas as pd

FACT = "marts.fct_customer_health_daily"
EXIT_SUITE = "fct_customer_health_daily"
DRIFT_SUITE = "fct_customer_health_daily_drift"
NO_DATA_BAND = "insufficient_data"
BATCH_ROWS = 500_000


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


def written_rows(con: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> pd.DataFrame:
    """The fact rows of the written days, with two derived columns the suite checks:
    whether the row's band is the one its score falls in, and whether its day holds as
    many rows as the spine has live accounts that day."""
    return con.execute(
        f"""
        with live_accounts as (
            select as_of_date, count(*) as live_accounts
            from intermediate.int_account_days
            where as_of_date between ? and ?
            group by as_of_date
        )
        select
            fact.*,
            coalesce(
                case when fact.health_score is null then fact.health_band = '{NO_DATA_BAND}'
                    else fact.health_band = bands.band end,
                false
            ) as band_matches_cutoffs,
            count(*) over (partition by fact.as_of_date) = live_accounts.live_accounts
                as day_has_every_live_account
        from {FACT} as fact
        left join live_accounts
            on live_accounts.as_of_date = fact.as_of_date
        left join config.scoring_bands as bands
            on fact.health_score >= bands.min_score
            and (fact.health_score < bands.max_score
                or (bands.max_score >= 100 and fact.health_score <= bands.max_score))
        where fact.as_of_date between ? and ?
        """,
        [first_day, last_day, first_day, last_day],
    ).df()


def live_accounts_per_day(
    con: duckdb.DuckDBPyConnection, first_day: date, last_day: date
) -> dict[date, int]:
    """The spine's live accounts on each day of the range (days without any are absent)."""
    rows = con.execute(
        "select as_of_date, count(*) from intermediate.int_account_days"
        " where as_of_date between ? and ? group by as_of_date",
        [first_day, last_day],
    ).fetchall()
    return dict(rows)


def day_batches(
    live_accounts: dict[date, int], first_day: date, last_day: date, batch_rows: int = BATCH_ROWS
) -> list[tuple[date, date, int]]:
    """Consecutive runs of whole days, each (first, last, live account-days) of at most
    `batch_rows` live account-days unless one day alone has more; every day of the range
    is in exactly one batch, days without live accounts included."""
    batches: list[tuple[date, date, int]] = []
    start, rows, day = first_day, 0, first_day
    while day <= last_day:
        count = live_accounts.get(day, 0)
        if rows and rows + count > batch_rows:
            batches.append((start, day - timedelta(days=1), rows))
            start, rows = day, 0
        rows += count
        day += timedelta(days=1)
    if first_day <= last_day:
        batches.append((start, last_day, rows))
    return batches


def _exit_batches(
    con: duckdb.DuckDBPyConnection, first_day: date, last_day: date, band_labels: list[str]
) -> Iterator[tuple[pd.DataFrame, dict[str, object]]]:
    live_accounts = live_accounts_per_day(con, first_day, last_day)
    for start, end, rows in day_batches(live_accounts, first_day, last_day, BATCH_ROWS):
        parameters = {"band_labels": band_labels, "live_account_days": rows}
        yield written_rows(con, start, end), parameters


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


def run_exit_checks(con: duckdb.DuckDBPyConnection, docs: DataDocs | None = None) -> ExitResult:
    """Validate the written days (blocking, in day batches) and their drift (warn, one
    batch); with `docs`, every validation goes into the Data Docs site."""
    first_day, last_day = written_days(con)
    band_labels = [
        row[0] for row in con.execute("select band from config.scoring_bands").fetchall()
    ]
    days = partition_range(first_day, last_day)
    suite = validate_batches(
        EXIT_SUITE,
        _exit_batches(con, first_day, last_day, [*band_labels, NO_DATA_BAND]),
        docs=docs,
    )
    drift = validate_frames(DRIFT_SUITE, [drift_frame(con, first_day, last_day)], docs=docs)
    records = [
        suite_record(suite, stage="exit", target=FACT, severity="error", partition=days),
        suite_record(drift, stage="exit", target=FACT, severity="warn", partition=days),
    ]
    return ExitResult(first_day, last_day, suite, drift, records)
