"""The working DuckDB warehouse as a Dagster resource, the daily partitions, and the
days a run scores.

Only the ingest assets are daily-partitioned: they load the landing files of their
days. The dbt models, the checks and publishing are not: they rebuild and check the
run's days, which `run_days` reads from the run's partition (range) tags (or, in an
asset backfill, from the backfill: `scored_days`). Dagster
records one event per asset and partition, so partitioning the 47 dbt assets too would
cost a 120-day run some 11,000 event-log writes (minutes on SQLite) for no extra
information: every mart holds all days, and the run's days are in each check record.

Resources read their settings when used, not at import, so importing the
definitions touches no file and no database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
    PARTITION_NAME_TAG,
)

from orchestration import duckdb_connection
from orchestration.settings import Settings

OWNERS = ["team:customer-health"]
"""Owners of every asset (shown in the UI; the on-call rotation's team)."""

DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=30), warn_window=timedelta(hours=26)
)
"""The fact table and the serving file are rebuilt daily: late after 26 hours, failed
after 30 (the daily schedule plus time for a retry or a re-run)."""

WAREHOUSE_POOL = "duckdb_warehouse"
"""Every asset that writes the warehouse runs in this pool (limit 1: one writer)."""

DAILY = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start.isoformat(),
    end_offset=1,
    timezone="UTC",
)
SINGLE_RUN = dg.BackfillPolicy.single_run()

TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
"""Retries for what may pass on a second try (a locked file, a flaky disk or network):
5, 10, 20 s, with jitter. What cannot pass on a retry (bad data, a broken configuration,
a failed check, a failed dbt model or test) raises `dagster.Failure(allow_retries=False)`
and fails at once."""

_LOCK_RETRIES = 5


class WarehouseResource(dg.ConfigurableResource):
    """The working warehouse and the folders around it.

    Empty fields fall back to the HEALTH_* environment variables (see .env.example).
    """

    data_dir: str = ""
    landing_dir: str = ""

    def settings(self) -> Settings:
        settings = Settings.from_env()
        if self.data_dir:
            settings = replace(settings, data_dir=Path(self.data_dir).resolve())
        if self.landing_dir:
            settings = replace(settings, landing_dir=Path(self.landing_dir).resolve())
        return settings

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, retried while another process holds the lock."""
        path = self.settings().warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(_LOCK_RETRIES):
            try:
                con = duckdb_connection.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(2**attempt)
        try:
            con.execute("set TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


RANGE_START_TAG = ASSET_PARTITION_RANGE_START_TAG
RANGE_END_TAG = ASSET_PARTITION_RANGE_END_TAG
PARTITION_TAG = PARTITION_NAME_TAG


def run_days(tags: Mapping[str, str], settings: Settings) -> tuple[date, date]:
    """The first and last day a run scores: its partition range (a backfill, or
    `cli run --from --to`), else its partition (a schedule tick), else the latest day
    (HEALTH_AS_OF, or yesterday in UTC), as when one asset is materialized from the UI."""
    if tags.get(RANGE_START_TAG) and tags.get(RANGE_END_TAG):
        return date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG])
    if tags.get(PARTITION_TAG):
        day = date.fromisoformat(tags[PARTITION_TAG])
        return day, day
    day = settings.as_of or datetime.now(UTC).date() - timedelta(days=1)
    return day, day


def scored_days(context: dg.AssetExecutionContext, settings: Settings) -> tuple[date, date]:
    """The days a step scores: `run_days`, except in a run of an asset backfill that has no
    partition tags. Selecting assets on the asset graph and backfilling days splits the work
    by partitioning: one run loads the days (the partitioned ingest assets), and later runs
    materialize the unpartitioned assets (the configuration, dbt, the gate, publishing)
    with no partition tags. Those runs score the days the backfill targets. (A backfill of
    the `health_pipeline` job is one run with a partition range, and needs none of this.)"""
    tags = context.run.tags
    if tags.get(BACKFILL_ID_TAG) and not (tags.get(RANGE_START_TAG) or tags.get(PARTITION_TAG)):
        days = backfill_days(context.instance, tags[BACKFILL_ID_TAG], context.repository_def)
        if days is not None:
            return days
    return run_days(tags, settings)


def backfill_days(
    instance: dg.DagsterInstance, backfill_id: str, repository: dg.RepositoryDefinition
) -> tuple[date, date] | None:
    """First and last day an asset backfill targets (None for a job backfill, or when the
    backfill is gone). Days between separate selected days are included: re-scoring a
    loaded day gives the same rows."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or not backfill.is_asset_backfill:
        return None
    targets = backfill.get_asset_backfill_data(repository.asset_graph).target_subset
    keys = sorted({t.partition_key for t in targets.iterate_asset_partitions() if t.partition_key})
    if not keys:
        return None
    return date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])


def window_days(window: dg.TimeWindow) -> tuple[date, date]:
    """The first and last day (UTC) of a run's partition window (its end is exclusive)."""
    return (
        window.start.astimezone(UTC).date(),
        (window.end.astimezone(UTC) - timedelta(days=1)).date(),
    )
