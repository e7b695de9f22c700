"""The scoring configuration in seeds/, validated as the first step of every run.

Every ingest asset depends on `scoring_config`, so an invalid configuration stops
the run before any raw table changes; the dbt asset validates again itself, for a
run that selects only dbt.
"""

from datetime import date
from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.defs.warehouse import OWNERS, scored_days
from orchestration.scoring_config import ConfigSummary, ScoringConfigError, validate_config
from orchestration.settings import Settings

SCORING_CONFIG_KEY = dg.AssetKey("scoring_config")


def checked_config(config_dir: Path, as_of: date | None = None) -> ConfigSummary:
    """`validate_config`, with an invalid configuration raised as a `dagster.Failure`.

    The failure's description lists every problem (file, line, column, rule, fix);
    retrying cannot help, so the retry policy is bypassed.
    """
    try:
        return validate_config(config_dir, as_of=as_of)
    except ScoringConfigError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={
                "config_dir": dg.MetadataValue.path(str(config_dir)),
                "problems": dg.MetadataValue.int(len(exc.problems)),
            },
            allow_retries=False,
        ) from exc


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
        data_version=dg.DataVersion(summary.sha256),
        metadata={
            "config_dir": dg.MetadataValue.path(str(summary.config_dir)),
            "sha256": dg.MetadataValue.text(summary.sha256),
            "scorecards": dg.MetadataValue.json(list(summary.scorecards)),
            "measure_rows": dg.MetadataValue.int(summary.measure_rows),
            "overrides": dg.MetadataValue.int(summary.overrides),
            "overrides_active": dg.MetadataValue.int(summary.overrides_active),
            "overrides_active_on": dg.MetadataValue.text(summary.as_of.isoformat()),
        },
    )
