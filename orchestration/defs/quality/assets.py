"""The exit checks on the fact table and the gate every publish and sync waits for.

The gate reads `quality.quality_check_results` for its run: whatever path a failure
took (a raw batch, a dbt test, the exit suite, a check that could not run), a blocking
result there stops everything downstream of the gate.
"""

from collections.abc import Iterator

import dagster as dg
from dagster import AssetCheckExecutionContext, AssetExecutionContext

from customer_health.quality.data_docs import DataDocs
from customer_health.quality.exit_checks import DRIFT_SUITE, EXIT_SUITE
from orchestration.defs.keys import QUALITY_GATE_KEY, fact_key, mart_keys
from orchestration.defs.outcomes import asset_check_result
from orchestration.defs.partitions import scored_days
from orchestration.defs.policies import OWNERS, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource

FACT_KEY = fact_key()


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            EXIT_SUITE,
            asset=FACT_KEY,
            blocking=True,
            description=(
                f"GX suite expectations/{EXIT_SUITE}.json on every day the run wrote: one row "
                "per live account, scores and components in range, bands among the published "
                "ones (the band rule itself is a dbt test). Blocking."
            ),
        ),
        dg.AssetCheckSpec(
            DRIFT_SUITE,
            asset=FACT_KEY,
            description=(
                f"GX suite expectations/{DRIFT_SUITE}.json: accounts changing band day over "
                "day, the move of the worst band's share, mean coverage. Flags, does not block."
            ),
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def fact_exit_checks(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    run_id = context.run.run_id
    settings = warehouse.settings()
    first_day, last_day = scored_days(context.op_execution_context, settings)
    docs = DataDocs(settings.data_dir, run_id, "fct_customer_health_daily")
    with warehouse.engine().session() as session, docs:
        result = session.exit_checks(first_day, last_day, docs)
        session.record_results(run_id, result.records)
    days = dg.MetadataValue.text(f"{result.first_day} .. {result.last_day}")
    suite_record, drift_record = result.records
    yield asset_check_result(
        suite_record,
        FACT_KEY,
        {
            "days": days,
            "data_docs": dg.MetadataValue.path(str(docs.index_path)),
            "rows_validated": dg.MetadataValue.int(result.suite.rows),
        },
    )
    yield asset_check_result(drift_record, FACT_KEY, {"days": days})


@dg.asset(
    key=QUALITY_GATE_KEY,
    description=(
        "The gate before publish and every sync: fails when any check of this run recorded "
        "a blocking result in quality.quality_check_results (door, middle, exit), naming "
        "each with its evidence."
    ),
    deps=mart_keys(),
    group_name="quality",
    owners=OWNERS,
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
)
def quality_gate(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.engine().session() as session:
        blocking = session.blocking_results(context.run_id)
        counts = session.result_counts(context.run_id)
    if blocking:
        lines = [
            f"{stage} check {name} on {target}"
            + (f" [{partition}]" if partition else "")
            + f": {status}, {observed or ''} {evidence or ''}".rstrip()
            for stage, name, target, partition, status, observed, evidence in blocking
        ]
        raise dg.Failure(
            description="blocking quality checks failed:\n" + "\n".join(lines),
            metadata={"blocking_results": dg.MetadataValue.int(len(blocking))},
            allow_retries=False,
        )
    return dg.MaterializeResult(
        metadata={f"checks_{status}": dg.MetadataValue.int(n) for status, n in counts}
    )
