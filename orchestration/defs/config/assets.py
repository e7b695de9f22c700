"""The scoring configuration in seeds/, validated as the first step of every run.

Every ingest asset depends on `scoring_config`, so an invalid configuration stops
the run before any raw table changes; the dbt asset validates again itself, for a
run that selects only dbt.
"""

import dagster as dg
from dagster import AssetExecutionContext

from customer_health.settings import Settings
from orchestration.defs.keys import SCORING_CONFIG_KEY
from orchestration.defs.outcomes import checked_config
from orchestration.defs.partitions import scored_days
from orchestration.defs.policies import OWNERS


@dg.asset(
    key=SCORING_CONFIG_KEY,
    description=(
        "Validates the scoring configuration ($HEALTH_CONFIG_DIR, default seeds/) against the "
        "catalog in dbt_project.yml before anything is written: weights, measures, bands, "
        "settings and overrides. A broken file fails the run naming its file, line and rule."
    ),
    group_name="transform",
    owners=OWNERS,
    kinds={"python"},
)
def scoring_config(context: AssetExecutionContext) -> dg.MaterializeResult:
    settings = Settings.from_env()
    _, last_day = scored_days(context, settings)
    summary = checked_config(settings.config_dir, as_of=last_day)
    context.log.info(f"scoring configuration OK: {summary}")
    return dg.MaterializeResult(
        # the configuration's version, and the overrides (which change scores, not the version)
        data_version=dg.DataVersion(
            "+".join(filter(None, (summary.config_version, summary.overrides_digest)))
        ),
        metadata={
            "config_dir": dg.MetadataValue.path(str(summary.config_dir)),
            "config_version": dg.MetadataValue.text(summary.config_version),
            "scorecards": dg.MetadataValue.json(list(summary.scorecards)),
            "measure_rows": dg.MetadataValue.int(summary.measure_rows),
            "overrides": dg.MetadataValue.int(summary.overrides),
            "overrides_active": dg.MetadataValue.int(summary.overrides_active),
            "overrides_active_on": dg.MetadataValue.text(summary.as_of.isoformat()),
        },
    )
