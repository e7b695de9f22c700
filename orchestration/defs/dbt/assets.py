"""dbt models, seeds and tests as Dagster assets and asset checks."""

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)

from customer_health.build_chunks import build_chunks, chunk_account_days
from customer_health.quality.dbt_results import dbt_test_records, missing_results_record
from customer_health.quality.results import partition_range
from customer_health.settings import DBT_PROJECT_DIR, SEEDS_DIR, Settings, patched_environ
from customer_health.warehouse import open_warehouse
from orchestration.dbt_project import TRANSLATOR, dbt_project, invocation_target, keep_parse_state
from orchestration.defs.outcomes import checked_config
from orchestration.defs.partitions import scored_days
from orchestration.defs.policies import TRANSIENT_RETRY, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource

SEED_STAGING_DIR = DBT_PROJECT_DIR / "target" / "config_seeds"


def seed_path(config_dir: Path) -> str:
    """dbt's `seed-paths` entry (relative to dbt_project/) for a scoring configuration folder.

    The repo's seeds/ is read in place. Any other folder is copied under target/ first:
    dbt writes each seed's SQL to `<target>/run/<package>/<seed path>`, which for a
    folder outside the project lands outside target/ (and for an absolute path, over
    the seed file itself). The copy is named by its content, so dbt loads exactly the
    files that were validated.
    """
    if config_dir.resolve() == SEEDS_DIR.resolve():
        return "../seeds"
    files = sorted(config_dir.glob("*.csv"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    staged = SEED_STAGING_DIR / digest.hexdigest()[:16]
    if not staged.is_dir():
        scratch = staged.with_name(staged.name + f".{os.getpid()}.tmp")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        for file in files:
            shutil.copy2(file, scratch / file.name)
        try:
            scratch.rename(staged)
        except OSError:  # another process staged the same files first
            shutil.rmtree(scratch)
            if not staged.is_dir():
                raise
    return str(staged.relative_to(DBT_PROJECT_DIR))


def dbt_environment(settings: Settings, as_of: str, config_version: str) -> dict[str, str]:
    """Environment for a dbt invocation, which the profile and the models read: how the
    profile reaches the warehouse (its engine says: for DuckDB the file and the limits
    every connection of the pipeline has), where the seeds are, their configuration
    version (int_scoring_config) and the as-of date. The days to score are arguments
    (`window_arguments`).

    Tests are selected cautiously: a run that builds only some models (an asset-graph
    backfill launches the models whose parents are done, a run at a time) runs a test only
    when every model it reads is built in that run. dbt's default ("eager") would also run
    a test over a model built here and one not yet rebuilt, and fail it: the fact table
    against a newer account spine, say. A run of every model runs every test either way.
    """
    return {
        **open_warehouse(settings).dbt_profile_environment(),
        "DBT_INDIRECT_SELECTION": os.environ.get("DBT_INDIRECT_SELECTION", "cautious"),
        "HEALTH_DBT_SEED_PATH": seed_path(settings.config_dir),
        "HEALTH_CONFIG_VERSION": config_version,
        "HEALTH_AS_OF": settings.as_of.isoformat() if settings.as_of else as_of,
    }


def window_arguments(first_day: date, last_day: date) -> list[str]:
    """The run's days as dbt's event-time flags (the end exclusive), which
    int_scoring_window reads (macro run_window_date): explicit in the command line,
    unlike an environment variable, and with no re-parse, unlike `--vars`."""
    return [
        "--event-time-start",
        first_day.isoformat(),
        "--event-time-end",
        (last_day + timedelta(days=1)).isoformat(),
    ]


@dbt_assets(
    manifest=dbt_project.manifest_path,
    exclude="tag:backtest",  # backtest_dbt_models builds them, not the daily runs
    dagster_dbt_translator=TRANSLATOR,
    retry_policy=TRANSIENT_RETRY,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
)
def health_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` of the selected models for the run's days (`scored_days`).

    The scoring configuration is validated first, so that a run that selects only dbt
    stops on a broken seed file before dbt loads it. dbt unit tests check the SQL, not
    the data, so runs leave them out (`make test` runs them). Every test's result goes
    to quality.quality_check_results when the build ends, passed or failed.
    """
    settings = warehouse.settings()
    first_day, last_day = scored_days(context, settings)
    config = checked_config(settings.config_dir, as_of=last_day)
    env = dbt_environment(settings, last_day.isoformat(), config.config_version)
    chunks = build_chunks(first_day, last_day, _accounts(warehouse), chunk_account_days())
    for number, (start, end) in enumerate(chunks, 1):
        part = f" (part {number} of {len(chunks)})" if len(chunks) > 1 else ""
        context.log.info(f"dbt build for {start} .. {end}{part}")
        # only the last part reports its models and tests to Dagster (each asset is
        # materialized once per step); every part records its test results
        yield from _build(context, dbt, warehouse, env, start, end, report=number == len(chunks))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    select="tag:backtest",
    name="backtest_dbt_models",
    dagster_dbt_translator=TRANSLATOR,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
)
def backtest_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """`dbt build` of the backtest's models (models/backtest) over the scored history the
    marts hold: the `backtest` job runs it (`make backtest`), never a daily run."""
    settings = warehouse.settings()
    config = checked_config(settings.config_dir)
    today = datetime.now(UTC).date().isoformat()  # read by no backtest model
    env = dbt_environment(settings, today, config.config_version)
    target = invocation_target(context.op_execution_context.op.name, context.run_id, env)
    with patched_environ(env):
        invocation = dbt.cli(
            ["build", "--exclude", "test_type:unit"], context=context, target_path=target
        )
        try:
            yield from invocation.stream()
        finally:
            stop_if_running(context, invocation)
            keep_parse_state(invocation.target_path, env)


def _build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    env: Mapping[str, str],
    first_day: date,
    last_day: date,
    *,
    report: bool,
) -> Iterator[Any]:
    """One `dbt build` of the selected models for `first_day`..`last_day`."""
    target = invocation_target(context.op_execution_context.op.name, context.run_id, env)
    with patched_environ(env):
        invocation = dbt.cli(
            ["build", "--exclude", "test_type:unit", *window_arguments(first_day, last_day)],
            context=context,
            target_path=target,
        )
        try:
            if report:
                yield from invocation.stream()
            else:
                invocation.wait()
        except DagsterDbtCliRuntimeError as exc:
            if "lock" in str(exc).lower():
                raise  # the warehouse file was held by another process: worth a retry
            raise dg.Failure(  # a failed model or test fails again until fixed
                description=f"dbt build failed: {exc}", allow_retries=False
            ) from exc
        finally:
            stop_if_running(context, invocation)
            keep_parse_state(invocation.target_path, env)
            partition = partition_range(first_day, last_day)
            record_test_results(context, warehouse, invocation, partition)


def _accounts(warehouse: WarehouseResource) -> int:
    """Accounts in the raw layer (0 before any load): what a day of scoring costs."""
    with warehouse.engine().session() as session:
        return session.accounts()


def stop_if_running(context: AssetExecutionContext, invocation: DbtCliInvocation) -> None:
    """A step that fails while dbt still runs (an error handling its events, say) must not
    leave dbt writing the warehouse: a retry would start a second dbt on the same file."""
    if invocation.process.poll() is not None:
        return
    context.log.warning("the step failed while dbt was running: stopping dbt")
    invocation.process.terminate()
    try:
        invocation.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        invocation.process.kill()
        invocation.process.wait()


def record_test_results(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    invocation: DbtCliInvocation,
    partition: str,
) -> None:
    """Write one quality record per dbt test of the invocation (from its run_results.json);
    dbt has ended by now (`stop_if_running`)."""
    run_results = invocation.target_path / "run_results.json"
    if run_results.exists():
        records = dbt_test_records(
            invocation.get_artifact("run_results.json"),
            invocation.manifest,
            partition=partition,
            target_path=invocation.target_path,
        )
    else:
        error = invocation.get_error()
        records = [
            missing_results_record(
                f"dbt wrote no {run_results}" + (f": {error}" if error else ""),
                partition=partition,
            )
        ]
    with warehouse.engine().session() as session:
        session.record_results(context.run_id, records)
    not_passed = [
        f"{r.check_name} ({r.status})" for r in records if r.status in ("fail", "warn", "error")
    ]
    context.log.info(
        f"recorded {len(records)} dbt test results in quality.quality_check_results"
        + (f"; not passed: {', '.join(not_passed)}" if not_passed else "")
    )
