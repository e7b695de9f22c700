"""The backtest: does the score see churn coming, against simple baselines?

One asset outside the daily path (the `backtest` job, `make backtest`): it judges the
observations dbt built (backtest_observations) with customer_health.backtest and stores
the figures by config_version in the backtest schema, and writes the suggested weights
as a ready scoring_weights.csv under $HEALTH_DATA_DIR/backtest/<config_version>/ (a
suggestion: nothing applies it).
"""

import dagster as dg
from dagster import AssetExecutionContext

from customer_health.scoring_config import WEIGHTS, load_catalog
from orchestration.defs.jobs import BACKTEST_GROUP
from orchestration.defs.keys import BACKTEST_KEY, backtest_observations_key
from orchestration.defs.outcomes import checked_config, skipped_metadata
from orchestration.defs.policies import OWNERS, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource


@dg.asset(
    key=BACKTEST_KEY,
    deps=[backtest_observations_key()],
    description=(
        "Per scorecard and overall, out of time: ROC and PR AUC of the score, of each "
        "component and of the baselines (days since activity, days since purchase, RFM "
        "rank, a logistic regression on RFM), churn per band and lift, calibration per "
        "decile, and suggested weights (backtest.backtest_* tables, by config_version)."
    ),
    group_name=BACKTEST_GROUP,
    owners=OWNERS,
    kinds={"python", "scikitlearn"},
    pool=WAREHOUSE_POOL,
)
def backtest_results(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from customer_health.backtest import current_weights, weights_csv

    settings = warehouse.settings()
    config = checked_config(settings.config_dir)
    components = load_catalog().components
    current = current_weights(settings.config_dir / WEIGHTS)
    with warehouse.engine().session() as session:
        judged = session.backtest(config.config_version, components, current)
    if judged is None:
        reason = (
            "no as-of date of the scored history has a whole churn horizon after it"
            " (seeds/scoring_churn.csv horizon_days): score a longer history first"
        )
        context.log.warning(f"backtest skipped: {reason}")
        return dg.MaterializeResult(metadata=skipped_metadata(reason))
    folder = settings.data_dir / "backtest" / config.config_version
    folder.mkdir(parents=True, exist_ok=True)
    suggested = folder / WEIGHTS
    suggested.write_text(weights_csv(judged.weights, current))
    figures = {
        "score_auc": judged.figure("health_score"),
        "days_since_last_activity_auc": judged.figure("baseline:days_since_last_activity"),
        "days_since_last_purchase_auc": judged.figure("baseline:days_since_last_purchase"),
        "rfm_rank_auc": judged.figure("baseline:rfm_rank"),
        "rfm_logistic_auc": judged.figure("learned:rfm_logistic"),
        "suggested_weights_auc": judged.figure("learned:suggested_weights"),
        "lift_worst_over_best": judged.figure("health_score", "lift_worst_over_best"),
    }
    context.log.info(
        f"backtest of {config.config_version}: {judged.observations} observations, judged on"
        f" {judged.first_as_of} .. {judged.last_as_of}; "
        + ", ".join(f"{k} {v:.3f}" for k, v in figures.items() if v is not None)
    )
    return dg.MaterializeResult(
        metadata={
            "config_version": dg.MetadataValue.text(config.config_version),
            "observations": dg.MetadataValue.int(judged.observations),
            "judged_from": dg.MetadataValue.text(str(judged.first_as_of)),
            "judged_to": dg.MetadataValue.text(str(judged.last_as_of)),
            "suggested_weights": dg.MetadataValue.path(str(suggested)),
            **{k: dg.MetadataValue.float(round(v, 4)) for k, v in figures.items() if v is not None},
        }
    )
