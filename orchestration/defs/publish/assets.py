"""The published serving file, downstream of every model and check of the run."""

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.dbt.assets import health_dbt_models
from orchestration.defs.publish.serving import publish_serving_file
from orchestration.defs.warehouse import WAREHOUSE_POOL, WarehouseResource

PUBLISHED_MODELS = (
    "fct_customer_health_daily",
    "fct_health_score_drivers",
    "dim_accounts",
    "mart_health_segment_daily",
    "mart_health_parent_daily",
    "mart_health_movers",
)
MART_KEYS = [get_asset_key_for_model([health_dbt_models], model) for model in PUBLISHED_MODELS]


@dg.asset(
    key=dg.AssetKey(["serving", "health_duckdb"]),
    description=(
        "The published serving file ($HEALTH_DATA_DIR/serving/health.duckdb) that BI reads: "
        "the marts, swapped in atomically only after every blocking check of the run passed."
    ),
    deps=MART_KEYS,
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
