"""The published serving file, downstream of every model and check of the run."""

import time

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.defs.publish.serving import publish_serving_file, score_summary
from orchestration.defs.quality.assets import MART_KEYS, QUALITY_GATE_KEY
from orchestration.defs.warehouse import (
    DAILY_FRESHNESS,
    OWNERS,
    TRANSIENT_RETRY,
    WAREHOUSE_POOL,
    WarehouseResource,
)


@dg.asset(
    key=dg.AssetKey(["serving", "health_duckdb"]),
    description=(
        "The published serving file ($HEALTH_DATA_DIR/serving/health.duckdb) that BI reads: "
        "the marts, swapped in atomically only after the quality gate passed."
    ),
    deps=[QUALITY_GATE_KEY, *MART_KEYS],
    group_name="publish",
    owners=OWNERS,
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    freshness_policy=DAILY_FRESHNESS,
)
def serving_health_duckdb(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.monotonic()
    settings = warehouse.settings()
    published = publish_serving_file(
        settings.warehouse_path, settings.serving_path, run_id=context.run_id
    )
    context.log.info(f"published {published.path} ({len(published.tables)} tables)")
    metadata: dict[str, dg.MetadataValue] = {
        "path": dg.MetadataValue.path(str(published.path)),
        "publish_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
        **{f"rows_{name}": dg.MetadataValue.int(n) for name, n in published.tables.items()},
    }
    summary = score_summary(published.path)
    if summary is not None:
        metadata.update(
            {
                "as_of_date": dg.MetadataValue.text(summary.as_of_date),
                "accounts": dg.MetadataValue.int(summary.accounts),
                "band_counts": dg.MetadataValue.json(summary.bands),
                "score_mean": dg.MetadataValue.float(summary.mean or 0.0),
                "score_p10_p50_p90": dg.MetadataValue.text(
                    f"{summary.p10} / {summary.median} / {summary.p90}"
                ),
                "config_version": dg.MetadataValue.text(", ".join(summary.config_versions)),
            }
        )
    return dg.MaterializeResult(metadata=metadata)
