"""Publishing to Postgres for BI tools that speak it: every table of the serving file in a
configurable schema on the real server, replaced on each publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from customer_health.postgres import PostgresSettings
from orchestration.defs.resources import WarehouseResource
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


def _fact_rows(conn, schema: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            f"select account_id, as_of_date, health_score from {schema}.fct_customer_health_daily"
            " order by 1, 2"
        )
        return [(a, d.isoformat(), s) for a, d, s in cur.fetchall()]


def test_a_publication_replaces_only_the_days_that_changed(tmp_path, postgres) -> None:
    """Per day, the fingerprint recorded in Postgres says what changed: the days whose
    rows differ are deleted and copied again, nothing else is written; new columns or a
    table dropped by hand make it replaced whole. The rows always equal DuckDB's."""
    from customer_health.postgres import PUBLISHED_DAYS, publish_table

    serving = duckdb.connect(str(tmp_path / "serving.duckdb"))
    serving.execute(
        "create table fct_customer_health_daily as select printf('ACC-%03d', a) as account_id,"
        " date '2026-02-28' + d::integer as as_of_date, cast(40 + a + d as double)"
        " as health_score from range(1, 4) t(a), range(1, 4) s(d)"
    )

    def publish():
        conn = postgres.connect()
        try:
            published = publish_table(serving, conn, "main", "fct_customer_health_daily", "inc")
            expected = [
                (a, d.isoformat(), s)
                for a, d, s in serving.execute(
                    "select account_id, as_of_date, health_score from fct_customer_health_daily"
                    " order by 1, 2"
                ).fetchall()
            ]
            assert _fact_rows(conn, "inc") == expected
            return published
        finally:
            conn.close()

    first = publish()
    assert (first.rows, first.days) == (9, None)  # nothing recorded yet: whole
    serving.execute(
        "update fct_customer_health_daily set health_score = 99 where as_of_date = '2026-03-02';"
        " delete from fct_customer_health_daily where as_of_date = '2026-03-01';"
        " insert into fct_customer_health_daily values ('ACC-001', '2026-03-04', 10)"
    )
    second = publish()
    assert (second.rows, second.days) == (4, 3)  # day 2's 3 rows, day 4's 1; day 1 deleted
    third = publish()
    assert (third.rows, third.days) == (0, 0)

    serving.execute("alter table fct_customer_health_daily add column note varchar")
    assert publish().days is None
    conn = postgres.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("drop table inc.fct_customer_health_daily")
            cur.execute(f"select count(*) from inc.{PUBLISHED_DAYS}")
            assert cur.fetchone() == (1,)  # the record stays, the table is gone
    finally:
        conn.close()
    assert publish().days is None
