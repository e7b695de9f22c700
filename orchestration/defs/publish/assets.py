"""The published serving file, downstream of every model and check of the run."""

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.defs.publish.serving import publish_serving_file
from orchestration.defs.quality.assets import MART_KEYS, QUALITY_GATE_KEY
from orchestration.defs.warehouse import WAREHOUSE_POOL, WarehouseResource


@dg.asset(
    key=dg.AssetKey(["serving", "health_duckdb"]),
    description=(
        "The published serving file ($HEALTH_DATA_DIR/serving/health.duckdb) that BI reads: "
        "the marts, swapped in atomically only after the quality gate passed."
    ),
    deps=[QUALITY_GATE_KEY, *MART_KEYS],
    group_name="publish",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
)
def serving_health_duckdb(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    settings = warehouse.settings()
    published = publish_serving_file(
        settings.warehouse_path, settings.serving_path, run_id=context.run_id
    )
    context.log.info(f"published {published.path} ({len(published.tables)} tables)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            **{f"rows_{name}": dg.MetadataValue.int(n) for name, n in published.tables.items()},
        }
    )
