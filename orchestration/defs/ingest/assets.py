"""One daily-partitioned Dagster asset per landing entity, each gated by its GX suite.

Every run records its door checks in quality.quality_check_results (the landing
contract per entity, the GX suite per entity) before it reports them, and renders the
suite's batches into the GX Data Docs site, failures included.
"""

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING

import dagster as dg
from dagster import AssetExecutionContext

from customer_health.contract import ENTITIES, Entity
from customer_health.loader import EntityLoad
from customer_health.quality.data_docs import DataDocs
from customer_health.quality.gx_suites import validate_frames
from customer_health.quality.results import CheckRecord, partition_range, suite_record
from customer_health.quality.source_checks import (
    VOLUME_SUITE,
    Freshness,
    Volume,
    checks_for,
    volume_parameters,
)
from customer_health.warehouse import WarehouseSession
from orchestration.defs.keys import SCORING_CONFIG_KEY
from orchestration.defs.outcomes import asset_check_result
from orchestration.defs.partitions import DAILY, window_days
from orchestration.defs.policies import OWNERS, SINGLE_RUN, TRANSIENT_RETRY, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource

if TYPE_CHECKING:
    import pandas as pd  # imported by duckdb when a batch is fetched; slow to import

GX_BATCH_ROWS = 1_000_000
"""Rows per pandas batch handed to GX (bounds memory on large backfills)."""

ACCOUNTS_KEY = dg.AssetKey(["raw", "accounts"])


def suite_name(entity: Entity) -> str:
    return f"raw_{entity.name}"


def _load_metadata(result: EntityLoad) -> dict[str, dg.MetadataValue]:
    return {
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
        "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
        "rows_duplicate": dg.MetadataValue.int(result.rows_duplicate),
        "rows_readmitted": dg.MetadataValue.int(result.rows_readmitted),
        "files_loaded": dg.MetadataValue.int(result.count("loaded")),
        "files_unchanged": dg.MetadataValue.int(result.count("unchanged")),
        "files_deferred": dg.MetadataValue.int(result.count("deferred")),
        "files_failed": dg.MetadataValue.int(len(result.failed)),
    }


def contract_record(entity: Entity, result: EntityLoad, partition: str) -> CheckRecord:
    """The landing contract of one load: fails when a file was rejected as a whole (a
    missing required column, an unreadable file); rejected rows are quarantined, not failed."""
    failed = [{"file": f.source_file, "error": f.error} for f in result.failed]
    return CheckRecord(
        stage="door",
        check_name=f"contract_{entity.name}",
        target=f"raw.{entity.name}",
        severity="error",
        status="fail" if failed else "pass",
        partition=partition,
        observed_value=(
            f"{result.count('loaded')} files loaded, {len(failed)} rejected; "
            f"{result.rows_loaded} rows loaded, {result.rows_quarantined} quarantined"
        ),
        evidence={"rejected_files": failed} if failed else {},
    )


def _check_specs(entity: Entity, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The door checks of one raw table: its GX suite, and the source-level volume and
    freshness checks its `_raw__sources.yml` entry configures. Error severity blocks."""
    specs = [
        dg.AssetCheckSpec(
            suite_name(entity),
            asset=key,
            blocking=True,
            description=(
                f"GX suite expectations/{suite_name(entity)}.json on every batch in "
                f"raw.{entity.name} that has not passed it yet (this run's, and any that "
                "failed): keys, required values, types, value sets, ranges, timestamps "
                "within the run's window."
            ),
        )
    ]
    configured = checks_for(entity)
    if configured.volume is not None:
        volume = configured.volume
        bounds = " and ".join(
            text
            for text in (
                volume.min_ratio is not None and f"at least {volume.min_ratio:g}",
                volume.max_ratio is not None and f"at most {volume.max_ratio:g}",
            )
            if text
        )
        specs.append(
            dg.AssetCheckSpec(
                volume_check_name(entity),
                asset=key,
                blocking=volume.severity == "error",
                description=(
                    f"Rows per scored day (by {entity.event_time}) are {bounds} times the "
                    f"average of the {volume.trailing_days} days before (days averaging "
                    f"under {volume.min_trailing_rows:g} rows are not judged). Severity "
                    f"{volume.severity}; set in _raw__sources.yml meta.volume."
                ),
            )
        )
    if configured.freshness is not None:
        freshness = configured.freshness
        specs.append(
            dg.AssetCheckSpec(
                freshness_check_name(entity),
                asset=key,
                blocking=freshness.error_after is not None,
                description=(
                    f"Age of the newest {freshness.loaded_at_field} at the end of the run's "
                    "last day against the source's freshness in _raw__sources.yml "
                    f"(warn after {freshness.warn_after}, error after {freshness.error_after})."
                ),
            )
        )
    return specs


def volume_check_name(entity: Entity) -> str:
    return f"volume_{entity.name}"


def freshness_check_name(entity: Entity) -> str:
    return f"freshness_{entity.name}"


def build_ingest_asset(entity: Entity) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", entity.name])

    @dg.asset(
        key=key,
        description=(
            f"Loads new or changed landing files of `{entity.name}` into raw.{entity.name} "
            "under the landing contract: bad rows to the quarantine table with a reason, one "
            "audit row per file, idempotent by file. Symbolic links are refused, never "
            "followed; a refused or unreadable file fails the run."
        ),
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        deps=[SCORING_CONFIG_KEY, ACCOUNTS_KEY] if entity.is_fact else [SCORING_CONFIG_KEY],
        check_specs=_check_specs(entity, key),
        group_name="ingest",
        owners=OWNERS,
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
    )
    def ingest(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        settings = warehouse.settings()
        window_end = context.partition_time_window.end.astimezone(UTC).replace(tzinfo=None)
        first_day, last_day = window_days(context.partition_time_window)
        partition = partition_range(first_day, last_day)
        docs = DataDocs(settings.data_dir, context.run_id, f"{entity.name}_{partition}")
        with warehouse.engine().session() as session, docs:  # docs: written whatever happens
            result = session.load_entity(entity, load_id=context.run_id, as_of_time=window_end)
            context.log.info(
                f"{entity.name}: {result.rows_loaded} rows loaded, "
                f"{result.rows_quarantined} quarantined, {result.rows_duplicate} duplicates "
                f"from {result.count('loaded')} new or changed files "
                f"({result.count('unchanged')} unchanged, {result.count('deferred')} deferred, "
                f"{len(result.failed)} refused)"
            )
            session.record_results(context.run_id, [contract_record(entity, result, partition)])
            for failed in result.failed:  # each says what is wrong with the file (or link)
                context.log.error(failed.error or failed.source_file)
            if result.failed:
                raise dg.Failure(  # bad files fail again until they are fixed
                    description="\n".join(f.error or f.source_file for f in result.failed),
                    metadata={"failed_files": [f.source_file for f in result.failed]},
                    allow_retries=False,
                )
            checks: dict[str, Check] = {}
            for check_name, run in _door_checks(
                session, entity, window_end, (first_day, last_day), partition, docs
            ):
                try:
                    checks[check_name] = run()
                except Exception as exc:  # a check that cannot run blocks, like a failure
                    error = _error_record(entity, check_name, partition, exc)
                    session.record_results(context.run_id, [error])
                    raise
            # recorded before the checks are reported: a failed run keeps its evidence
            session.record_results(context.run_id, [record for record, _ in checks.values()])
            row_suite, _ = checks[suite_name(entity)]
            if row_suite.status == "pass":  # its rows need no validation again
                session.mark_validated(entity)
        yield dg.MaterializeResult(metadata=_load_metadata(result))
        for record, metadata in checks.values():
            yield asset_check_result(
                record, key, {**metadata, "data_docs": dg.MetadataValue.path(str(docs.index_path))}
            )

    return ingest


Check = tuple[CheckRecord, dict[str, dg.MetadataValue]]


def _door_checks(
    session: WarehouseSession,
    entity: Entity,
    window_end: datetime,
    days: tuple[date, date],
    partition: str,
    docs: DataDocs,
) -> list[tuple[str, Callable[[], Check]]]:
    """The checks to run after a load, by name: the row suite, then volume and freshness
    where `_raw__sources.yml` configures them."""
    configured = checks_for(entity)
    checks = [(suite_name(entity), partial(_row_suite, session, entity, partition, docs))]
    if configured.volume is not None:
        checks.append(
            (
                volume_check_name(entity),
                partial(_volume_check, session, entity, configured.volume, days, partition, docs),
            )
        )
    if configured.freshness is not None:
        checks.append(
            (
                freshness_check_name(entity),
                partial(
                    _freshness_check, session, entity, configured.freshness, window_end, partition
                ),
            )
        )
    return checks


def _row_suite(
    session: WarehouseSession,
    entity: Entity,
    partition: str,
    docs: DataDocs,
) -> Check:
    """The entity's GX suite over every batch not yet validated."""
    frames = session.unvalidated_frames(entity, GX_BATCH_ROWS)
    suite = validate_frames(suite_name(entity), _non_empty(frames), docs=docs)
    record = suite_record(
        suite, stage="door", target=f"raw.{entity.name}", severity="error", partition=partition
    )
    return record, {
        "rows_validated": dg.MetadataValue.int(suite.rows),
        "batches": dg.MetadataValue.int(suite.batches),
    }


def _volume_check(
    session: WarehouseSession,
    entity: Entity,
    volume: Volume,
    days: tuple[date, date],
    partition: str,
    docs: DataDocs,
) -> Check:
    """Each scored day's rows against its trailing average (GX suite raw_daily_volume)."""
    frame = session.daily_volume(entity, volume, *days)
    suite = validate_frames(
        VOLUME_SUITE, _non_empty(iter([frame])), volume_parameters(volume), docs=docs
    )
    record = suite_record(
        suite,
        stage="door",
        target=f"raw.{entity.name}",
        severity=volume.severity,
        partition=partition,
        check_name=volume_check_name(entity),
    )
    if len(frame):
        observed = f"{len(frame)} days judged, {len(suite.failures)} failed expectations"
        record = replace(record, observed_value=observed)
    else:
        observed = (
            f"no day judged: under {volume.min_trailing_rows:g} rows a day on average, "
            f"or under {volume.trailing_days} days of history before it"
        )
        record = replace(record, status="skipped", observed_value=observed)
    return record, {"days_judged": dg.MetadataValue.int(len(frame))}


def _freshness_check(
    session: WarehouseSession,
    entity: Entity,
    freshness: Freshness,
    as_of: datetime,
    partition: str,
) -> Check:
    return session.freshness_record(entity, freshness, as_of, partition), {}


def _error_record(entity: Entity, check_name: str, partition: str, exc: Exception) -> CheckRecord:
    """The check could not run at all (blocks, like a failure)."""
    return CheckRecord(
        stage="freshness" if check_name == freshness_check_name(entity) else "door",
        check_name=check_name,
        target=f"raw.{entity.name}",
        severity="error",
        status="error",
        partition=partition,
        evidence={"error": f"{type(exc).__name__}: {exc}"},
    )


def _non_empty(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
    return (frame for frame in frames if len(frame))


ingest_assets = [build_ingest_asset(entity) for entity in ENTITIES.values()]
