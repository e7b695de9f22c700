"""The project's jobs: the whole pipeline, and ingestion alone (what the landing sensor
runs), both daily-partitioned (a run covers one day or a range of days); and the
backtest, over the whole scored history (`make backtest`)."""

import dagster as dg

from orchestration.defs.keys import SCORING_CONFIG_KEY
from orchestration.defs.partitions import DAILY

WRITES_WAREHOUSE = {"health/warehouse": "write"}
"""Run tag of every job that writes the warehouse: the run queue runs one at a time."""

BACKTEST_GROUP = "backtest"
"""The assets of the backtest: built by its own job, never by a daily run."""

health_pipeline = dg.define_asset_job(
    "health_pipeline",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(BACKTEST_GROUP),
    partitions_def=DAILY,
    tags=WRITES_WAREHOUSE,
    description=(
        "Validate the scoring configuration, ingest every landing entity, dbt build, check, "
        "and publish the serving file."
    ),
)

ingest_job = dg.define_asset_job(
    "ingest_landing_files",
    selection=dg.AssetSelection.groups("ingest") | dg.AssetSelection.assets(SCORING_CONFIG_KEY),
    partitions_def=DAILY,
    tags=WRITES_WAREHOUSE,
    description=(
        "Validate the scoring configuration and load new or changed landing files into the "
        "raw layer, with the door checks. Scores and publishes nothing."
    ),
)

backtest_job = dg.define_asset_job(
    "backtest",
    selection=dg.AssetSelection.groups(BACKTEST_GROUP),
    tags=WRITES_WAREHOUSE,
    description=(
        "Judge the score against churn over the scored history (models/backtest, "
        "customer_health/backtest.py): AUCs, lift, calibration and the baselines beside "
        "them, stored by config_version in the backtest schema, and suggested weights."
    ),
)

backtest_what_if_job = dg.define_asset_job(
    "backtest_what_if",
    selection=dg.AssetSelection.assets(SCORING_CONFIG_KEY)
    | dg.AssetSelection.groups("transform")
    | dg.AssetSelection.groups(BACKTEST_GROUP),
    partitions_def=DAILY,
    tags=WRITES_WAREHOUSE,
    description=(
        "A candidate configuration against history (`make backtest CONFIG=<folder>`): on a "
        "copy of the warehouse, score the days again under it (dbt) and judge them as the "
        "`backtest` job does. Ingests, checks, publishes and syncs nothing."
    ),
)
