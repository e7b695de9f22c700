"""The asset keys one stage depends on and another defines: named here, so that no stage
imports another (the dbt models' keys come from the manifest, as the dbt assets name them)."""

import dagster as dg

from orchestration.dbt_project import MART_MODELS, dbt_model_key

SCORING_CONFIG_KEY = dg.AssetKey("scoring_config")
QUALITY_GATE_KEY = dg.AssetKey(["quality", "gate"])
SERVING_KEY = dg.AssetKey(["serving", "health_duckdb"])
EXPORTS_KEY = dg.AssetKey(["serving", "parquet_exports"])
POSTGRES_KEY = dg.AssetKey(["serving", "postgres"])
REPORT_KEY = dg.AssetKey(["serving", "health_report"])
BACKTEST_KEY = dg.AssetKey(["backtest", "backtest_results"])


def fact_key() -> dg.AssetKey:
    """`fct_customer_health_daily`, which the exit checks check."""
    return dbt_model_key("fct_customer_health_daily")


def mart_keys() -> list[dg.AssetKey]:
    """The marts: what the gate waits for and the serving file publishes."""
    return [dbt_model_key(model) for model in MART_MODELS]


def sync_model_key() -> dg.AssetKey:
    """`sync_account_health`, which every sync reads."""
    return dbt_model_key("sync_account_health")


def backtest_observations_key() -> dg.AssetKey:
    """`backtest_observations`, which the backtest judges."""
    return dbt_model_key("backtest_observations")
