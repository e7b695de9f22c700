"""A long build in bounded chunks: what one dbt invocation may score at a time.

A model's working set is the account-days it scores (times its measures, its trailing
windows): a first build of a year at 100,000 accounts is 36 M account-days, which no
4 GB budget holds at once, while a nightly run is one day. So the dbt asset splits the
run's days into consecutive chunks of at most HEALTH_BUILD_CHUNK_ACCOUNT_DAYS account-days
(accounts x days) and builds them in order; each chunk is an ordinary run of those days
(incremental models append or replace them), so the result is the one a single build
gives. Small warehouses stay one chunk.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

DEFAULT_CHUNK_ACCOUNT_DAYS = 2_000_000
"""Measured: 5,000 accounts x 365 days (1.8 M account-days) build within DuckDB's
2.5 GB default memory limit; 100,000 accounts x 365 days in one build run out of it."""


class BuildChunkSettingError(ValueError):
    """HEALTH_BUILD_CHUNK_ACCOUNT_DAYS is not a whole number >= 1."""


def chunk_account_days() -> int:
    """HEALTH_BUILD_CHUNK_ACCOUNT_DAYS, else the default."""
    value = os.environ.get("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS", "").strip()
    if not value:
        return DEFAULT_CHUNK_ACCOUNT_DAYS
    if not value.isdigit() or int(value) < 1:
        raise BuildChunkSettingError(
            f"HEALTH_BUILD_CHUNK_ACCOUNT_DAYS={value!r} is not a whole number >= 1"
            " (account-days one dbt build may score at a time)."
        )
    return int(value)


def build_chunks(
    first: date, last: date, accounts: int, account_days: int
) -> list[tuple[date, date]]:
    """`first`..`last` in consecutive chunks of equal length (the last may be shorter),
    each at most `account_days` / `accounts` days long, and at least one day."""
    days_per_chunk = max(1, account_days // max(accounts, 1))
    chunks = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=days_per_chunk - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks
