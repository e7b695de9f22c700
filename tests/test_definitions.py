"""The Dagster definitions load, hold every asset and check, and import without side effects."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from customer_health.contract import ENTITIES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def defs(dbt_manifest: Path) -> dg.Definitions:
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def graph(defs: dg.Definitions):
    return defs.resolve_asset_graph()


@pytest.fixture(scope="module")
def checks(graph) -> dict[str, dg.AssetCheckKey]:
    return {key.to_user_string(): key for key in graph.asset_check_keys}


def _keys(graph) -> set[str]:
    return {key.to_user_string() for key in graph.get_all_asset_keys()}


def test_every_stage_has_its_assets(graph) -> None:
    keys = _keys(graph)
    assert {f"raw/{entity}" for entity in ENTITIES} <= keys
    assert {"scoring_config", "quality/gate", "serving/health_duckdb", "serving/health_report",
            "serving/parquet_exports", "serving/postgres"} <= keys  # fmt: skip
    assert {"staging/stg_raw__accounts", "intermediate/int_account_days",
            "marts/fct_customer_health_daily", "marts/dim_health_bands",
            "marts/mart_health_day_stats"} <= keys  # fmt: skip
    assert {"sync/crm_postgres", "sync/crm_webhook", "sync/outbox"} <= keys


@pytest.mark.parametrize(
    ("prefix", "group"),
    [("raw/", "ingest"), ("staging/", "transform"), ("intermediate/", "transform"),
     ("marts/", "transform"), ("config/", "transform"), ("quality/", "quality"),
     ("serving/", "publish"), ("sync/", "sync"), ("scoring_config", "transform")],
)  # fmt: skip
def test_each_asset_is_in_its_stage_s_group(graph, prefix: str, group: str) -> None:
    """dbt's nodes take their group from dbt (models/_groups.yml); the others from their
    stage."""
    found = {graph.get(k).group_name for k in graph.get_all_asset_keys()
             if k.to_user_string().startswith(prefix)}  # fmt: skip
    assert found == {group}, prefix


def test_every_asset_is_owned_and_described(graph) -> None:
    for key in graph.get_all_asset_keys():
        assert graph.get(key).owners == ["team:customer-health"], key
        if not key.to_user_string().startswith(("staging/", "intermediate/", "config/")):
            assert graph.get(key).description, key


def test_every_raw_entity_has_a_blocking_door_check(graph, checks) -> None:
    for entity in ENTITIES:
        name = f"raw/{entity}:raw_{entity}"
        assert name in checks, sorted(checks)
        assert graph.get_check_spec(checks[name]).blocking


def test_source_checks_block_or_warn_as_configured(graph, checks) -> None:
    """As _raw__sources.yml configures them: usage blocks, the sparse feeds warn,
    accounts and subscriptions are not checked."""
    assert graph.get_check_spec(checks["raw/usage_events:volume_usage_events"]).blocking
    assert graph.get_check_spec(checks["raw/usage_events:freshness_usage_events"]).blocking
    for entity in ("invoices", "survey_responses", "support_tickets"):
        assert not graph.get_check_spec(checks[f"raw/{entity}:volume_{entity}"]).blocking
        assert not graph.get_check_spec(checks[f"raw/{entity}:freshness_{entity}"]).blocking
    assert not any(k.startswith(("raw/accounts:volume", "raw/subscriptions:fresh")) for k in checks)


def test_dbt_tests_are_checks_on_the_models_they_test(checks) -> None:
    assert any(k.startswith("marts/fct_customer_health_daily:") for k in checks)
    assert "marts/fct_health_score_drivers:assert_contributions_sum_to_score" in checks
    assert "marts/fct_health_score_drivers:assert_attributions_sum_to_changes" in checks
    assert "marts/fct_customer_health_daily:assert_bands_match_cutoffs" in checks
    assert "marts/dim_health_bands:assert_band_order_follows_scores" in checks


def test_the_exit_suite_blocks_and_the_drift_check_warns(graph, checks) -> None:
    fact = "marts/fct_customer_health_daily"
    assert graph.get_check_spec(checks[f"{fact}:fct_customer_health_daily"]).blocking
    assert not graph.get_check_spec(checks[f"{fact}:fct_customer_health_daily_drift"]).blocking


def test_publishing_waits_for_the_gate_and_every_mart(graph) -> None:
    from orchestration.dbt_project import MART_MODELS

    serving = graph.get(dg.AssetKey(["serving", "health_duckdb"]))
    assert {"quality/gate", *(f"marts/{model}" for model in MART_MODELS)} <= {
        key.to_user_string() for key in serving.parent_keys
    }


def test_every_sync_waits_for_the_gate_and_the_serving_file(graph) -> None:
    for name in ("crm_postgres", "crm_webhook", "outbox"):
        parents = graph.get(dg.AssetKey(["sync", name])).parent_keys
        assert {
            dg.AssetKey(["quality", "gate"]),
            dg.AssetKey(["serving", "health_duckdb"]),
            dg.AssetKey(["marts", "sync_account_health"]),
        } <= parents


def test_the_daily_outputs_are_expected_fresh_every_day(graph) -> None:
    """The fact table (its dbt meta says `freshness: daily`) and the serving file; no
    other asset has a freshness policy."""
    from orchestration.defs.policies import DAILY_FRESHNESS

    fresh = {k.to_user_string() for k in graph.get_all_asset_keys()
             if graph.get(k).freshness_policy is not None}  # fmt: skip
    assert fresh == {"marts/fct_customer_health_daily", "serving/health_duckdb"}
    for name in fresh:
        assert graph.get(dg.AssetKey.from_user_string(name)).freshness_policy == DAILY_FRESHNESS


@pytest.mark.parametrize(
    "step",
    ["raw__usage_events", "health_dbt_models", "serving__health_duckdb", "serving__parquet_exports",
     "sync__outbox"],
)  # fmt: skip
def test_steps_that_write_retry_transient_failures(defs, step: str) -> None:
    from orchestration.defs.policies import TRANSIENT_RETRY

    job = defs.resolve_job_def("health_pipeline")
    assert job.graph.node_named(step).definition.retry_policy == TRANSIENT_RETRY, step


def test_only_ingest_is_partitioned_and_backfills_in_one_run(graph) -> None:
    """The rest scores the run's days (run_days)."""
    from orchestration.defs.partitions import DAILY

    partitioned = {k.to_user_string() for k in graph.get_all_asset_keys()
                   if graph.get(k).is_partitioned}  # fmt: skip
    assert partitioned == {f"raw/{entity}" for entity in ENTITIES}
    for key in partitioned:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.partitions_def == DAILY
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_both_jobs_are_daily_partitioned_and_write_one_at_a_time(defs) -> None:
    from orchestration.defs.jobs import WRITES_WAREHOUSE
    from orchestration.defs.partitions import DAILY

    for name in ("health_pipeline", "ingest_landing_files"):
        job = defs.resolve_job_def(name)
        assert job.partitions_def == DAILY, name
        assert WRITES_WAREHOUSE.items() <= job.tags.items(), name
    ingest = defs.resolve_job_def("ingest_landing_files")
    assert {n.name for n in ingest.graph.nodes} == {
        "scoring_config",
        *(f"raw__{entity}" for entity in ENTITIES),
    }


HEAVY_AT_RUN_TIME = ("pandas", "great_expectations", "psycopg", "psycopg2", "pyarrow")
"""Libraries only a step needs; importing any of them with the definitions costs the UI and
every launched run seconds (`make bench` measures the import)."""


def test_importing_definitions_touches_no_data(tmp_path: Path, dbt_manifest: Path) -> None:
    """Import does no file scan, no connection: the data folder is not even created, and no
    library that only a step needs is loaded."""
    data_dir = tmp_path / "never-created"
    env = {**os.environ, "HEALTH_DATA_DIR": str(data_dir), "HEALTH_LANDING_DIR": str(tmp_path)}
    probe = (
        "import sys, orchestration.definitions; "
        f"print(sorted(m for m in {HEAVY_AT_RUN_TIME!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert not data_dir.exists()
    assert loaded == "[]", f"imported with the definitions: {loaded}"


@pytest.mark.parametrize(
    ("tags", "days"),
    [
        (
            {
                "dagster/asset_partition_range_start": "2025-03-01",
                "dagster/asset_partition_range_end": "2025-03-07",
            },
            (date(2025, 3, 1), date(2025, 3, 7)),
        ),
        ({"dagster/partition": "2025-03-05"}, (date(2025, 3, 5), date(2025, 3, 5))),
        ({}, (date(2025, 2, 28), date(2025, 2, 28))),
    ],
    ids=["backfill_range", "one_partition", "no_partition_is_the_as_of_day"],
)
def test_run_days_come_from_the_runs_partition_tags(tags: dict, days: tuple) -> None:
    from customer_health.settings import Settings
    from orchestration.defs.partitions import run_days

    settings = Settings.from_env()
    settings = dataclasses.replace(settings, as_of=date(2025, 2, 28))
    assert run_days(tags, settings) == days
