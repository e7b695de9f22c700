"""dbt models, seeds and tests as Dagster assets and asset checks."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, timedelta
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.warehouse import DAILY, SINGLE_RUN, WAREHOUSE_POOL, WarehouseResource
from orchestration.settings import Settings


def dbt_environment(settings: Settings, score_from: str, score_to: str) -> dict[str, str]:
    """Environment for a dbt invocation: where the warehouse is and which days to score.

    Environment variables, not `--vars`: a changed `--vars` forces a full re-parse.
    """
    return {
        "HEALTH_WAREHOUSE_PATH": str(settings.warehouse_path),
        "HEALTH_SCORE_FROM": score_from,
        "HEALTH_SCORE_TO": score_to,
        "HEALTH_AS_OF": settings.as_of.isoformat() if settings.as_of else score_to,
    }


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (dbt inherits os.environ)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
)
def health_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` of the selected models for the run's partition window."""
    window = context.partition_time_window
    score_from = window.start.astimezone(UTC).date().isoformat()
    score_to = (window.end.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    env = dbt_environment(warehouse.settings(), score_from, score_to)
    context.log.info(f"dbt build for {score_from} .. {score_to}")
    with patched_environ(env):
        yield from dbt.cli(["build"], context=context).stream()
