"""Publishing to Postgres for BI tools that speak it: every table of the serving file in a
configurable schema on the real server, replaced on each publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.warehouse import WarehouseResource
from orchestration.postgres import PostgresSettings
from tests.postgres_server import fresh_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresSettings]:
    with fresh_database("health_publish_test") as settings:
        yield settings


def _serve(serving: Path, accounts: int) -> None:
    serving.parent.mkdir(parents=True, exist_ok=True)
    serving.unlink(missing_ok=True)
    con = duckdb.connect(str(serving))
    con.execute(
        "create table dim_accounts as select printf('ACC-%06d', i) as account_id,"
        " 50.5::double as health_score, date '2025-06-01' as scored_at from range(?) t(i)",
        [accounts],
    )
    con.execute("create table publish_log as select 'run-1' as run_id")
    con.close()


def _publish(monkeypatch, postgres: PostgresSettings) -> dg.MaterializeResult:
    # imported here: the definitions need the parsed manifest (the dbt_manifest fixture)
    from orchestration.defs.publish.assets import serving_postgres

    monkeypatch.setenv("HEALTH_PG_DATABASE", postgres.database)
    result = dg.materialize([serving_postgres], resources={"warehouse": WarehouseResource()})
    assert result.success
    [materialization] = result.asset_materializations_for_node(serving_postgres.op.name)
    return materialization


def test_serving_tables_are_published_to_the_configured_schema(
    health_env, postgres, monkeypatch, dbt_manifest
) -> None:
    serving = health_env["data"] / "serving" / "health.duckdb"
    monkeypatch.setenv("HEALTH_PUBLISH_POSTGRES", "true")
    monkeypatch.setenv("HEALTH_PG_SERVING_SCHEMA", "bi_health")
    _serve(serving, 5)
    first = _publish(monkeypatch, postgres)
    assert first.metadata["rows_dim_accounts"].value == 5
    assert (first.metadata["status"].value, first.metadata["rows"].value) == ("ok", 6)
    assert first.metadata["schema"].value == "bi_health"
    _serve(serving, 8)  # the next publication replaces the table
    _publish(monkeypatch, postgres)
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*), max(health_score), max(scored_at) from bi_health.dim_accounts"
        )
        count, score, day = cur.fetchone()
    assert (count, score, day.isoformat()) == (8, 50.5, "2025-06-01")


def test_without_the_switch_nothing_is_published(
    health_env, postgres, monkeypatch, dbt_manifest
) -> None:
    monkeypatch.delenv("HEALTH_PUBLISH_POSTGRES", raising=False)
    skipped = {k: v.value for k, v in _publish(monkeypatch, postgres).metadata.items()}
    assert (skipped["status"], skipped["rows"]) == ("skipped", 0)
    assert "HEALTH_PUBLISH_POSTGRES" in skipped["reason"]
