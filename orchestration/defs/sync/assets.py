"""One Dagster asset per sync destination (sync.yml), downstream of the quality gate and
the published serving file: a run that fails its checks sends nothing anywhere.

Destinations are separate steps: one that fails (its server down, say) fails its own
asset only; the others still sync. A destination whose environment variable is not set
is skipped with a note in its materialization.
"""

import os

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.dbt.assets import health_dbt_models
from orchestration.defs.publish.assets import serving_health_duckdb
from orchestration.defs.quality.assets import QUALITY_GATE_KEY
from orchestration.defs.sync.config import Destination, load_destinations
from orchestration.defs.sync.runner import sync_destination
from orchestration.defs.warehouse import OWNERS, TRANSIENT_RETRY, WAREHOUSE_POOL, WarehouseResource

SYNC_MODEL_KEY = get_asset_key_for_model([health_dbt_models], "sync_account_health")


class SyncConfig(dg.Config):
    dry_run: bool = False
    """Plan only: log what would be sent; send nothing and keep the state."""


def build_sync_asset(destination: Destination) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey(["sync", destination.name]),
        description=(
            f"Reverse-ETL sync to the {destination.type} destination `{destination.name}` "
            f"(sync.yml): the accounts whose {len(destination.fields)} mapped fields changed "
            f"since its last sync, deletes by `on_delete: {destination.on_delete}`."
        ),
        deps=[QUALITY_GATE_KEY, SYNC_MODEL_KEY, serving_health_duckdb.key],
        group_name="sync",
        owners=OWNERS,
        kinds={destination.type if destination.type != "file" else "csv"},
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
    )
    def _sync(
        context: AssetExecutionContext, config: SyncConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        missing = destination.missing_setting()
        if missing:
            context.log.warning(f"{destination.name}: {missing} is not set; skipped")
            return dg.MaterializeResult(metadata={"skipped": f"{missing} is not set"})
        dry_run = config.dry_run or os.environ.get("HEALTH_SYNC_DRY_RUN", "") == "true"
        settings = warehouse.settings()
        run_id = context.run.run_id
        with warehouse.connect() as con:
            result = sync_destination(con, destination, run_id, settings.data_dir, dry_run=dry_run)
        context.log.info(result.summary())
        for change in result.sample:
            context.log.info(f"would send: {change}")
        metadata = {
            "status": dg.MetadataValue.text(result.status),
            "planned_upserts": dg.MetadataValue.int(result.planned_upserts),
            "planned_deletes": dg.MetadataValue.int(result.planned_deletes),
            "accepted": dg.MetadataValue.int(result.accepted),
            "rejected": dg.MetadataValue.int(len(result.rejected)),
        }
        if result.rejected:
            metadata["rejections"] = dg.MetadataValue.json(dict(list(result.rejected.items())[:50]))
            context.log.warning(f"{destination.name}: {len(result.rejected)} records rejected")
        if result.error:
            # what was accepted is recorded: a retry, or the next run, sends only the rest
            raise dg.Failure(
                description=f"sync to {destination.name} stopped: {result.error}",
                metadata=metadata,
                allow_retries=result.transient,
            )
        return dg.MaterializeResult(metadata=metadata)

    return _sync


sync_assets = [build_sync_asset(destination) for destination in load_destinations()]
