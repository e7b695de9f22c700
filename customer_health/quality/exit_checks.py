"""The exit checks: every day of fct_customer_health_daily that a run wrote, validated
before anything is published.

- `fct_customer_health_daily` (blocking): one row per live account each day, keys unique,
  scores and components in range, bands among the published ones (dim_health_bands).
  Whether each band is the one its score falls in is the dbt test
  assert_bands_match_cutoffs, by the one band rule (dbt_project/macros/bands.sql).
- `fct_customer_health_daily_drift` (warn): per day against the day before, the share of
  accounts that changed band, the move of the share in the worst band, mean coverage.

Everything is read from published marts: the fact, `dim_health_bands` and
`mart_health_day_stats` (the live accounts and the day-over-day moves, derived in dbt).
The days are the run's, given by the caller. They are validated in batches of whole
days of at most `BATCH_ROWS` rows (one day when a day alone is larger), each against its
own expected row count: a full build of years of history holds one batch in memory,
not the whole fact table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import duckdb

from customer_health.quality.gx_suites import (
    SuiteResult,
    ValidationSink,
    validate_batches,
    validate_frames,
)
from customer_health.quality.results import CheckRecord, partition_range, suite_record

if TYPE_CHECKING:
    import pandas as pd

FACT = "marts.fct_customer_health_daily"
BANDS = "marts.dim_health_bands"
DAY_STATS = "marts.mart_health_day_stats"
EXIT_SUITE = "fct_customer_health_daily"
DRIFT_SUITE = "fct_customer_health_daily_drift"
BATCH_ROWS = 500_000


@dataclass
class ExitResult:
    first_day: date
    last_day: date
    suite: SuiteResult
    drift: SuiteResult
    records: list[CheckRecord]


def written_rows(con: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> pd.DataFrame:
    """The fact rows of the days, with whether each day holds as many rows as the spine
    has live accounts that day (a derived column the suite checks)."""
    return con.execute(
        f"""
        select
            fact.*,
            count(*) over (partition by fact.as_of_date) = coalesce(stats.live_accounts, 0)
                as day_has_every_live_account
        from {FACT} as fact
        left join {DAY_STATS} as stats
            on stats.as_of_date = fact.as_of_date
        where fact.as_of_date between ? and ?
        """,
        [first_day, last_day],
    ).df()


def live_accounts_per_day(
    con: duckdb.DuckDBPyConnection, first_day: date, last_day: date
) -> dict[date, int]:
    """The spine's live accounts on each day of the range (days without any are absent)."""
    rows = con.execute(
        f"select as_of_date, live_accounts from {DAY_STATS}"
        " where as_of_date between ? and ? and live_accounts > 0",
        [first_day, last_day],
    ).fetchall()
    return dict(rows)


def band_labels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every band a row may have: the configured ones and the no-data band."""
    return [band for (band,) in con.execute(f"select band from {BANDS} order by band").fetchall()]


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
    """One row per settled day of the range: band changes, the worst band's share move and
    the mean coverage against the day before (mart_health_day_stats)."""
    return con.execute(
        "select as_of_date, band_change_share, worst_band_share_change, mean_coverage"
        f" from {DAY_STATS} where as_of_date between ? and ? and is_settled order by as_of_date",
        [first_day, last_day],
    ).df()


def run_exit_checks(
    con: duckdb.DuckDBPyConnection,
    first_day: date,
    last_day: date,
    docs: ValidationSink | None = None,
) -> ExitResult:
    """Validate the days `first_day`..`last_day` (blocking, in day batches) and their drift
    (warn, one batch); with `docs`, every validation goes into the Data Docs site."""
    days = partition_range(first_day, last_day)
    suite = validate_batches(
        EXIT_SUITE, _exit_batches(con, first_day, last_day, band_labels(con)), docs=docs
    )
    drift = validate_frames(DRIFT_SUITE, [drift_frame(con, first_day, last_day)], docs=docs)
    records = [
        suite_record(suite, stage="exit", target=FACT, severity="error", partition=days),
        suite_record(drift, stage="exit", target=FACT, severity="warn", partition=days),
    ]
    return ExitResult(first_day, last_day, suite, drift, records)
