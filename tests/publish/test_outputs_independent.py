"""The outputs of a publication succeed or fail on their own. In one real Dagster
materialization of the serving file and its outputs over a small prepared warehouse, a
webhook that is down (its own retries and the step's used up) and a Postgres copy to a
database that does not exist fail, each reported with status failed and its error, while
the serving file is published, the Parquet exports are written and the outbox sync
writes every row. Every output reports by the contract of defs/publish/assets.py. And
in the project's real definitions, no output depends on another."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from customer_health.postgres import PostgresSettings
from customer_health.sync.config import Destination
from orchestration.defs.policies import TRANSIENT_RETRY
from orchestration.defs.resources import WarehouseResource
from tests.conftest import sha256_of
from tests.postgres_server import fresh_database
from tests.sync.source import create_sync_source

pytestmark = pytest.mark.postgres
ACCOUNTS = 5
DAYS = 2
PG_PASSWORD = "pg-password-for-tests"
MISSING_DATABASE = "health_outputs_missing"
FAST_RETRY = dg.RetryPolicy(max_retries=TRANSIENT_RETRY.max_retries, delay=0)
"""TRANSIENT_RETRY without its waits: the down webhook is retried as often, at once."""


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresSettings]:
    with fresh_database("health_outputs_test") as settings:
        yield settings


@pytest.fixture
def warehouse(health_env: dict[str, Path]) -> Path:
    """The marts the publication copies: the sync model, and a fact table of DAYS days."""
    path = health_env["data"] / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    create_sync_source(con, ACCOUNTS, base_score=60)
    con.execute(
        """
        create table marts.fct_customer_health_daily as
        select printf('ACC-%06d', a) as account_id, date '2025-05-31' + d::integer
            as as_of_date, cast(50 + a as double) as health_score, 'watch' as health_band,
            'v1' as config_version
        from range(1, ? + 1) as t(a), range(1, ? + 1) as s(d)
        """,
        [ACCOUNTS, DAYS],
    )
    con.close()
    return path


def outputs(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """What a run summary reads: per output asset, the metadata of its materialization, or
    of its final failure (a `dagster.Failure` names its asset)."""
    found: dict[str, dict] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.step_materialization_data.materialization
            found[materialization.asset_key.to_user_string()] = {
                k: v.value for k, v in materialization.metadata.items()
            }
        elif event.event_type_value == "STEP_FAILURE":
            failure = event.step_failure_data.user_failure_data
            metadata = {k: v.value for k, v in failure.metadata.items()}
            found[metadata["asset"]] = metadata
    return found


def test_a_down_destination_and_a_failing_postgres_copy_stop_no_other_output(
    warehouse: Path, postgres: PostgresSettings, health_env, monkeypatch, dbt_manifest
) -> None:
    # imported here: the definitions need the parsed manifest (the dbt_manifest fixture)
    import orchestration.defs.sync.assets as sync_assets
    from orchestration.defs.outcomes import STATUSES
    from orchestration.defs.publish.assets import (
        parquet_exports,
        serving_health_duckdb,
        serving_postgres,
    )

    monkeypatch.setattr(sync_assets, "TRANSIENT_RETRY", FAST_RETRY)
    monkeypatch.setenv("HEALTH_PUBLISH_POSTGRES", "true")
    monkeypatch.setenv("HEALTH_PG_HOST", postgres.host)
    monkeypatch.setenv("HEALTH_PG_PORT", str(postgres.port))
    monkeypatch.setenv("HEALTH_PG_DATABASE", MISSING_DATABASE)
    monkeypatch.setenv("HEALTH_PG_PASSWORD", PG_PASSWORD)
    monkeypatch.setenv("TEST_HOOK_URL", "http://127.0.0.1:9/down-secret-path")
    outbox = sync_assets.build_sync_asset(
        Destination(
            name="outbox",
            type="file",
            fields={"account_id": "account_id", "health_score": "health_score"},
        )
    )
    down = sync_assets.build_sync_asset(
        Destination(
            name="down_hook",
            type="webhook",
            fields={"external_id": "account_id"},
            options={"url_env": "TEST_HOOK_URL", "backoff_seconds": 0.01, "max_attempts": 2},
        )
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [serving_health_duckdb, parquet_exports, serving_postgres, outbox, down],
            instance=instance,
            resources={"warehouse": WarehouseResource()},
            raise_on_error=False,
        )
        logs = "\n".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_SKIPPED" not in kinds
    retried = [e.step_key for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == [down.op.name] * FAST_RETRY.max_retries  # the copy's error cannot pass
    found = outputs(result)
    assert all(found[name]["status"] in STATUSES for name in found)
    assert {name: found[name]["status"] for name in found} == {
        "serving/health_duckdb": "published",
        "serving/parquet_exports": "ok",
        "serving/postgres": "failed",
        "sync/outbox": "ok",
        "sync/down_hook": "failed",
    }

    settings = WarehouseResource().settings()
    published = found["serving/health_duckdb"]
    fact_rows = ACCOUNTS * DAYS
    assert published["path"] == str(settings.serving_path)
    assert published["checksum"] == sha256_of(settings.serving_path)
    assert published["rows"] == ACCOUNTS + fact_rows

    exports = found["serving/parquet_exports"]
    assert (exports["files"], exports["partitions"]) == (DAYS + 1, DAYS)
    assert exports["rows"] == ACCOUNTS + fact_rows

    synced = found["sync/outbox"]
    assert (synced["rows"], synced["accepted"], synced["upserts"]) == (ACCOUNTS,) * 3
    [written] = (health_env["data"] / "outbox" / "outbox").glob("*.jsonl")
    assert len([json.loads(line) for line in written.read_text().splitlines()]) == ACCOUNTS

    down_hook = found["sync/down_hook"]
    assert (down_hook["rows"], down_hook["accepted"], down_hook["upserts"]) == (0, 0, ACCOUNTS)
    assert "webhook (TEST_HOOK_URL) did not take a batch" in down_hook["error"]

    copy = found["serving/postgres"]
    assert f'database "{MISSING_DATABASE}" does not exist' in copy["error"]
    assert (copy["rows"], copy["tables"]) == (0, 0)
    assert copy["target"].endswith(f"/{MISSING_DATABASE}")

    everything = logs + json.dumps(found, default=str)
    for secret in (PG_PASSWORD, "down-secret-path"):
        assert secret not in everything


def test_no_output_depends_on_another(dbt_manifest) -> None:
    """In the real definitions each output hangs off the serving file (a sync also off the
    gate and its model), and no output is upstream of another: a failed or retried output
    skips none of its siblings."""
    from orchestration.definitions import defs
    from orchestration.defs.keys import EXPORTS_KEY, POSTGRES_KEY, REPORT_KEY, SERVING_KEY

    graph = defs.resolve_asset_graph()
    syncs = {key for key in graph.get_all_asset_keys() if key.path[0] == "sync"}
    assert {key.path[1] for key in syncs} == {"crm_postgres", "crm_webhook", "outbox"}
    outputs = {EXPORTS_KEY, POSTGRES_KEY, REPORT_KEY, *syncs}
    for key in outputs:
        assert SERVING_KEY in graph.get(key).parent_keys, key
        assert not graph.get_ancestor_asset_keys(key) & outputs, key
