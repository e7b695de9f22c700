"""The daily partitions, and the days a run scores.

Only the ingest assets are daily-partitioned: they load the landing files of their
days. The dbt models, the checks and publishing are not: they rebuild and check the
run's days, which `run_days` reads from the run's partition (range) tags (or, in an
asset backfill, from the backfill: `scored_days`). Dagster
records one event per asset and partition, so partitioning the 47 dbt assets too would
cost a 120-day run some 11,000 event-log writes (minutes on SQLite) for no extra
information: every mart holds all days, and the run's days are in each check record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from customer_health.settings import Settings

DAILY = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start.isoformat(),
    end_offset=1,
    timezone="UTC",
)

# Dagster's run tags for a run's partition and partition range, and the backfill it
# belongs to (set by `dagster` itself; spelled here so that no private module is imported).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"
BACKFILL_ID_TAG = "dagster/backfill"


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


def scored_days(
    context: dg.AssetExecutionContext | dg.OpExecutionContext, settings: Settings
) -> tuple[date, date]:
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
