"""One daily-partitioned Dagster asset per landing entity, each gated by its GX suite.

Every run records its door checks in quality.quality_check_results (the landing
contract per entity, the GX suite per entity) before it reports them, and renders the
suite's batches into the GX Data Docs site, failures included.
"""

import time
from collections.abc import Iterator
from datetime import UTC

import dagster as dg
import pandas as pd
from dagster import AssetExecutionContext

from orchestration.contract import ENTITIES, Entity
from orchestration.defs.config.assets import SCORING_CONFIG_KEY
from orchestration.defs.ingest.loader import (
    EntityLoad,
    load_entity,
    mark_validated,
    unvalidated_rows_sql,
)
from orchestration.defs.quality.data_docs import DataDocs
from orchestration.defs.quality.gx_suites import SuiteResult, validate_frames
from orchestration.defs.quality.results import (
    CheckRecord,
    partition_range,
    record_results,
    suite_record,
)
from orchestration.defs.warehouse import (
    DAILY,
    SINGLE_RUN,
    WAREHOUSE_POOL,
    WarehouseResource,
    window_days,
)

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


def _check_result(entity: Entity, suite: SuiteResult, docs: DataDocs) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=suite_name(entity),
        asset_key=dg.AssetKey(["raw", entity.name]),
        passed=suite.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_validated": dg.MetadataValue.int(suite.rows),
            "batches": dg.MetadataValue.int(suite.batches),
            "failed_expectations": dg.MetadataValue.json(suite.failures),
            "data_docs": dg.MetadataValue.path(str(docs.index_path)),
        },
    )


def build_ingest_asset(entity: Entity) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", entity.name])
    check = dg.AssetCheckSpec(
        suite_name(entity),
        asset=key,
        blocking=True,
        description=(
            f"GX suite expectations/{suite_name(entity)}.json on every batch in "
            f"raw.{entity.name} that has not passed it yet (this run's, and any that failed)."
        ),
    )

    @dg.asset(
        key=key,
        description=(
            f"Loads new or changed landing files of `{entity.name}` into raw.{entity.name} "
            "under the landing contract: bad rows to the quarantine table with a reason, one "
            "audit row per file, idempotent by file."
        ),
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        deps=[SCORING_CONFIG_KEY, ACCOUNTS_KEY] if entity.is_fact else [SCORING_CONFIG_KEY],
        check_specs=[check],
        group_name="ingest",
        kinds={"duckdb", "python"},
        pool=WAREHOUSE_POOL,
    )
    def ingest(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        settings = warehouse.settings()
        window_end = context.partition_time_window.end.astimezone(UTC).replace(tzinfo=None)
        partition = partition_range(*window_days(context.partition_time_window))
        with warehouse.connect() as con:
            result = load_entity(
                con,
                entity,
                settings.landing_dir,
                load_id=context.run_id,
                as_of_time=window_end,
                default_currency=settings.default_currency,
            )
            context.log.info(
                f"{entity.name}: {result.rows_loaded} rows loaded, "
                f"{result.rows_quarantined} quarantined, {result.rows_duplicate} duplicates "
                f"from {result.count('loaded')} new or changed files "
                f"({result.count('unchanged')} unchanged, {result.count('deferred')} deferred)"
            )
            record_results(con, context.run_id, [contract_record(entity, result, partition)])
            if result.failed:
                raise dg.Failure(
                    description="\n".join(f.error or f.source_file for f in result.failed),
                    metadata={"failed_files": [f.source_file for f in result.failed]},
                )
            reader = con.sql(unvalidated_rows_sql(entity)).to_arrow_reader(GX_BATCH_ROWS)
            frames = (batch.to_pandas() for batch in reader)
            docs = DataDocs(settings.data_dir, context.run_id, f"{entity.name}_{partition}")
            started = time.monotonic()
            with docs:  # the site is written when the suite is done, whatever the outcome
                try:
                    suite = validate_frames(suite_name(entity), _non_empty(frames), docs=docs)
                except Exception as exc:
                    record_results(con, context.run_id, [_error_record(entity, partition, exc)])
                    raise
                validated = time.monotonic()
            context.log.info(
                f"{suite.suite}: {suite.rows} rows, {len(suite.failures)} failed expectations "
                f"(validated in {validated - started:.1f} s); GX Data Docs written in "
                f"{time.monotonic() - validated:.1f} s: {docs.index_path}"
            )
            # recorded before the check is reported: a failed run keeps its evidence
            record = suite_record(
                suite,
                stage="door",
                target=f"raw.{entity.name}",
                severity="error",
                partition=partition,
            )
            record_results(con, context.run_id, [record])
            if suite.success:
                mark_validated(con, entity)
        yield dg.MaterializeResult(metadata=_load_metadata(result))
        yield _check_result(entity, suite, docs)

    return ingest


def _error_record(entity: Entity, partition: str, exc: Exception) -> CheckRecord:
    """The suite could not run at all (blocks, like a failure)."""
    return CheckRecord(
        stage="door",
        check_name=suite_name(entity),
        target=f"raw.{entity.name}",
        severity="error",
        status="error",
        partition=partition,
        evidence={"error": f"{type(exc).__name__}: {exc}"},
    )


def _non_empty(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    return (frame for frame in frames if len(frame))


ingest_assets = [build_ingest_asset(entity) for entity in ENTITIES.values()]
