"""One Dagster asset per sync destination (sync.yml), downstream of the quality gate and
the published serving file: a run that fails its checks sends nothing anywhere.

Destinations are separate steps, and depend on no other output (not the Postgres copy,
not the exports): one that fails (its server down, say) fails its own asset only; the
others still sync. An error that may pass (a dropped connection, a webhook answering 5xx
after its own retries) is retried by the step's retry policy, which sends only what the
destination has not accepted yet; one that cannot (a config error, refused data) fails
at once. A destination whose environment variable is not set is skipped.

Each sync reports by the output contract of defs/publish/assets.py: `status` (`ok`,
`skipped`, `failed`, `dry_run`), `rows`, `upserts`, `deletes`, `accepted`, `rejected`,
and `reason` or `error`.
"""

import os

import dagster as dg
from dagster import AssetExecutionContext

from customer_health.sync.config import Destination, load_destinations
from customer_health.sync.runner import secret_values
from orchestration.defs.keys import QUALITY_GATE_KEY, SERVING_KEY, sync_model_key
from orchestration.defs.outcomes import failure, output_failure, skipped_metadata
from orchestration.defs.policies import OWNERS, TRANSIENT_RETRY, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource


class SyncConfig(dg.Config):
    dry_run: bool = False
    """Plan only: log what would be sent; send nothing and keep the state."""


def build_sync_asset(destination: Destination) -> dg.AssetsDefinition:
    key = dg.AssetKey(["sync", destination.name])

    @dg.asset(
        key=key,
        description=(
            f"Reverse-ETL sync to the {destination.type} destination `{destination.name}` "
            f"(sync.yml): the accounts whose {len(destination.fields)} mapped fields changed "
            f"since its last sync, deletes by `on_delete: {destination.on_delete}`."
        ),
        deps=[QUALITY_GATE_KEY, sync_model_key(), SERVING_KEY],
        group_name="sync",
        owners=OWNERS,
        kinds={destination.type if destination.type != "file" else "csv"},
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
    )
    def _sync(
        context: AssetExecutionContext, config: SyncConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        counts = {"upserts": 0, "deletes": 0, "accepted": 0, "rejected": 0}
        kind = {"destination_type": destination.type}
        missing = destination.missing_setting()
        if missing:
            reason = f"{missing} is not set"
            context.log.warning(f"{destination.name}: {reason}; skipped")
            return dg.MaterializeResult(metadata=skipped_metadata(reason, **kind, **counts))
        dry_run = config.dry_run or os.environ.get("HEALTH_SYNC_DRY_RUN", "") == "true"
        run_id = context.run.run_id
        try:
            with warehouse.engine().session() as session:
                result = session.sync(destination, run_id, dry_run=dry_run)
        except Exception as exc:  # before sending: the warehouse, the plan
            raise output_failure(
                key,
                f"sync to {destination.name}",
                exc,
                secrets=secret_values(destination),
                **kind,
                **counts,
            ) from None
        context.log.info(result.summary())
        for change in result.sample:
            context.log.info(f"would send: {change}")
        sent: dict[str, object] = {
            **kind,
            "upserts": result.planned_upserts,
            "deletes": result.planned_deletes,
            "accepted": result.accepted,
            "rejected": len(result.rejected),
        }
        if result.rejected:
            sent["rejections"] = dg.MetadataValue.json(dict(list(result.rejected.items())[:50]))
            context.log.warning(f"{destination.name}: {len(result.rejected)} records rejected")
        if result.error:
            # what was accepted is recorded: a retry, or the next run, sends only the rest
            raise failure(
                key,
                f"sync to {destination.name} stopped: {result.error}",
                result.error,  # redacted by run_sync
                rows=result.accepted,
                allow_retries=result.transient,
                **sent,
            )
        planned = result.planned_upserts + result.planned_deletes
        return dg.MaterializeResult(
            metadata={
                "status": result.output_status,
                "rows": planned if dry_run else result.accepted,
                **sent,
            }
        )

    return _sync


sync_assets = [build_sync_asset(destination) for destination in load_destinations()]
