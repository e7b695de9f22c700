"""Assembles the project's Dagster definitions; each stage lives in `defs/<stage>/`.

What importing them reads, and why (nothing else: no database, no landing file):

- the dbt manifest (`dbt_project/target/manifest.json`, prepared by `prepare_manifest()`
  before the import): the dbt assets, and the asset keys other stages depend on, are
  built from it;
- `sync.yml`: one asset per sync destination;
- `dbt_project/models/staging/raw/_raw__sources.yml`: the source checks each ingest
  asset declares (freshness, volume);
- the `HEALTH_*` settings that fix the shape of the graph (`HEALTH_START_DATE` for the
  daily partitions). Every other setting is read when a step runs.
"""

from __future__ import annotations

import dagster as dg

from orchestration.dbt_project import dbt_resource
from orchestration.defs.backtest.assets import backtest_results
from orchestration.defs.config.assets import scoring_config
from orchestration.defs.dbt.assets import backtest_dbt_models, health_dbt_models
from orchestration.defs.ingest.assets import ingest_assets
from orchestration.defs.jobs import (
    backtest_job,
    backtest_what_if_job,
    health_pipeline,
    ingest_job,
)
from orchestration.defs.operations.failure_sensor import run_failures
from orchestration.defs.operations.landing_sensor import landing_sensor
from orchestration.defs.operations.schedule import daily_schedule
from orchestration.defs.publish.assets import (
    health_report,
    parquet_exports,
    serving_health_duckdb,
    serving_postgres,
)
from orchestration.defs.quality.assets import fact_exit_checks, quality_gate
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.sync.assets import sync_assets

defs = dg.Definitions(
    assets=[
        scoring_config,
        *ingest_assets,
        health_dbt_models,
        quality_gate,
        serving_health_duckdb,
        parquet_exports,
        serving_postgres,
        health_report,
        *sync_assets,
        backtest_dbt_models,
        backtest_results,
    ],
    asset_checks=[fact_exit_checks],
    jobs=[health_pipeline, ingest_job, backtest_job, backtest_what_if_job],
    schedules=[daily_schedule],
    sensors=[landing_sensor, run_failures],
    resources={
        "warehouse": WarehouseResource(),
        "dbt": dbt_resource(),
    },
    # One writer at a time: the warehouse is a single DuckDB file.
    executor=dg.in_process_executor,
)
