"""The same dbt project on PostgreSQL (`--target postgres`) scores exactly as on DuckDB.

Runs against the Postgres server at HEALTH_PG_HOST:HEALTH_PG_PORT (127.0.0.1:5432 by
default) in a database of its own, created and dropped here. Locally the tests skip,
saying why, when no server answers; under CI (CI=true) they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.postgres import PostgresSettings, copy_schema
from customer_health.sample_data.generator import generate
from orchestration.dbt_project import MART_MODELS
from tests.postgres_server import fresh_database
from tests.warehouse import dbt_ok, load_landing

START, END = date(2025, 3, 1), date(2025, 5, 10)
DATABASE = "health_dbt_portability_test"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresSettings]:
    with fresh_database(DATABASE) as settings:
        yield settings


@pytest.fixture(scope="module")
def both_targets(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresSettings):
    """One dataset scored on DuckDB and on Postgres from the same raw rows."""
    root = tmp_path_factory.mktemp("portability")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, accounts=60, start=START, end=END, seed=5, bad_rate=0.01)
    load_landing(landing, warehouse, END)
    copy_schema(str(warehouse), postgres, "raw")
    args = ["build", "--exclude", "test_type:unit"]
    dbt_ok(args, root / "duckdb", END, HEALTH_WAREHOUSE_PATH=str(warehouse))
    dbt_ok(args, root / "postgres", END, HEALTH_DBT_TARGET="postgres",
           HEALTH_PG_DATABASE=DATABASE)  # fmt: skip
    return warehouse, postgres


def _rows(warehouse: Path, postgres: PostgresSettings, table: str) -> tuple[list, list]:
    duck = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = [
            name
            for (name,) in duck.execute(
                "select column_name from information_schema.columns where table_schema = 'marts'"
                " and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
        ]
        query = f"select {', '.join(columns)} from marts.{table} order by {', '.join(columns)}"
        on_duckdb = duck.execute(query).fetchall()
    finally:
        duck.close()
    with postgres.connect() as pg, pg.cursor() as cur:
        cur.execute(query)
        on_postgres = cur.fetchall()
    return on_duckdb, on_postgres


SERVING_MODELS = (
    "bi_current_health_by_segment", "bi_arr_at_risk", "bi_account_trend", "bi_band_migrations",
    "sync_account_health",
)  # fmt: skip
"""The BI views and the sync model: published and synced from the same marts."""


@pytest.mark.parametrize("table", [*MART_MODELS, *SERVING_MODELS])
def test_postgres_scores_exactly_like_duckdb(both_targets, table: str) -> None:
    on_duckdb, on_postgres = _rows(*both_targets, table)
    assert len(on_duckdb) > 0
    assert len(on_postgres) == len(on_duckdb)
    # every value equal, config_version included; doubles to 1e-9
    for duck_row, pg_row in zip(on_duckdb, on_postgres, strict=True):
        for duck_value, pg_value in zip(duck_row, pg_row, strict=True):
            if isinstance(duck_value, float) and isinstance(pg_value, float):
                assert pg_value == pytest.approx(duck_value, abs=1e-9)
            else:
                assert pg_value == duck_value, (duck_row, pg_row)
