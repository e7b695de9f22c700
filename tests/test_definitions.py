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


def test_definitions_hold_every_asset_and_blocking_check(dbt_manifest: Path) -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for entity in ENTITIES:
        assert f"raw/{entity}" in keys
    assert "marts/fct_customer_health_daily" in keys
    assert "serving/health_duckdb" in keys
    assert "scoring_config" in keys
    assert {"staging/stg_raw__accounts", "intermediate/int_account_days"} <= keys

    checks = {key.to_user_string(): key for key in graph.asset_check_keys}
    for entity in ENTITIES:
        name = f"raw/{entity}:raw_{entity}"
        assert name in checks, sorted(checks)
        assert graph.get_check_spec(checks[name]).blocking
    # source-level door checks as _raw__sources.yml configures them: usage blocks, the
    # sparse feeds warn, accounts and subscriptions are not checked
    assert graph.get_check_spec(checks["raw/usage_events:volume_usage_events"]).blocking
    assert graph.get_check_spec(checks["raw/usage_events:freshness_usage_events"]).blocking
    for entity in ("invoices", "survey_responses", "support_tickets"):
        assert not graph.get_check_spec(checks[f"raw/{entity}:volume_{entity}"]).blocking
        assert not graph.get_check_spec(checks[f"raw/{entity}:freshness_{entity}"]).blocking
    assert not any(k.startswith(("raw/accounts:volume", "raw/subscriptions:fresh")) for k in checks)
    # dbt tests become asset checks on the fact table, singular ones included
    assert any(k.startswith("marts/fct_customer_health_daily:") for k in checks)
    assert "marts/fct_health_score_drivers:assert_contributions_sum_to_score" in checks
    assert "marts/fct_health_score_drivers:assert_attributions_sum_to_changes" in checks

    # publishing waits for every mart it copies
    from orchestration.dbt_project import MART_MODELS

    serving = graph.get(dg.AssetKey(["serving", "health_duckdb"]))
    assert {"quality/gate", *(f"marts/{model}" for model in MART_MODELS)} <= {
        key.to_user_string() for key in serving.parent_keys
    }
    # the exit checks: a blocking suite and a drift flag on the fact table
    assert graph.get_check_spec(
        checks["marts/fct_customer_health_daily:fct_customer_health_daily"]
    ).blocking
    assert not graph.get_check_spec(
        checks["marts/fct_customer_health_daily:fct_customer_health_daily_drift"]
    ).blocking

    # grouped as an on-call engineer reads the graph, every asset described and owned
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"ingest", "transform", "quality", "publish", "sync"}
    # every sync destination of sync.yml is an asset downstream of the gate and the file
    for name in ("crm_postgres", "crm_webhook", "outbox"):
        parents = graph.get(dg.AssetKey(["sync", name])).parent_keys
        assert {
            dg.AssetKey(["quality", "gate"]),
            dg.AssetKey(["serving", "health_duckdb"]),
        } <= parents
    for key in graph.get_all_asset_keys():
        assert graph.get(key).owners == ["team:customer-health"], key
        if not key.to_user_string().startswith(("staging/", "intermediate/", "config/")):
            assert graph.get(key).description, key
    # the fact table and the serving file are expected fresh every day
    from orchestration.defs.policies import DAILY_FRESHNESS

    for name in ("marts/fct_customer_health_daily", "serving/health_duckdb"):
        node = graph.get(dg.AssetKey.from_user_string(name))
        assert node.freshness_policy == DAILY_FRESHNESS, name
    # transient failures retry with backoff where the warehouse is written
    from orchestration.defs.policies import TRANSIENT_RETRY

    job = defs.resolve_job_def("health_pipeline")
    for step in ("raw__usage_events", "health_dbt_models", "serving__health_duckdb"):
        assert job.graph.node_named(step).definition.retry_policy == TRANSIENT_RETRY, step
    # only ingest is partitioned by day; the rest scores the run's days (run_days)
    partitioned = {
        key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).is_partitioned
    }
    assert partitioned == {f"raw/{entity}" for entity in ENTITIES}
    for key in partitioned:  # a backfill of any range is one run
        assert (
            graph.get(dg.AssetKey.from_user_string(key)).backfill_policy
            == dg.BackfillPolicy.single_run()
        )

    job = defs.resolve_job_def("health_pipeline")
    assert job.partitions_def is not None
    assert isinstance(job.executor_def, dg.ExecutorDefinition)


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
