"""The Postgres upsert sync against the real server: every row once, nothing when nothing
changed, exactly the changed account when one changes, deletes by configuration, and
state that advances only for the batches Postgres committed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.postgres import PostgresSettings
from customer_health.sync.config import Destination
from customer_health.sync.runner import make_sender, run_sync
from tests.postgres_server import fresh_database
from tests.sync.source import create_sync_source

DATABASE = "health_sync_test"
pytestmark = pytest.mark.postgres
ACCOUNTS = 7
FIELDS = {
    "account_id": "account_id",
    "owner": "csm_owner",
    "health_score": "health_score",
    "health_band": "health_band",
    "config_version": "config_version",
    "scored_at": "scored_at",
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresSettings]:
    with fresh_database(DATABASE) as settings:
        yield settings


@pytest.fixture
def warehouse(tmp_path: Path, postgres: PostgresSettings, monkeypatch) -> duckdb.DuckDBPyConnection:
    """A warehouse whose sync model holds ACCOUNTS scored accounts; the sync's Postgres
    connection goes to the test database."""
    for name, value in {
        "HEALTH_PG_HOST": postgres.host,
        "HEALTH_PG_PORT": str(postgres.port),
        "HEALTH_PG_USER": postgres.user,
        "HEALTH_PG_DATABASE": postgres.database,
    }.items():
        monkeypatch.setenv(name, value)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    create_sync_source(con, ACCOUNTS, base_score=40)
    yield con
    con.close()


def _destination(table: str, on_delete: str = "delete", batch_size: int = 3) -> Destination:
    return Destination(
        name=f"pg_{table}",
        type="postgres",
        fields=FIELDS,
        on_delete=on_delete,
        batch_size=batch_size,
        options={"schema": "crm", "table": table},
    )


def _sync(con: duckdb.DuckDBPyConnection, destination: Destination, run_id: str):
    return run_sync(
        con, destination, run_id, lambda: make_sender(destination, con, Path("."), run_id)
    )


def _rows(postgres: PostgresSettings, table: str) -> dict[str, tuple]:
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(f"select account_id, health_score, _synced_at, * from crm.{table}")
        return {row[0]: row for row in cur.fetchall()}


def test_first_sync_writes_every_row_once_and_an_unchanged_second_sends_nothing(
    warehouse, postgres
) -> None:
    destination = _destination("first_sync")
    first = _sync(warehouse, destination, "run-1")
    assert (first.error, first.planned_upserts, first.accepted) == (None, ACCOUNTS, ACCOUNTS)
    rows = _rows(postgres, "first_sync")
    assert len(rows) == ACCOUNTS  # the primary key holds: each account once
    assert rows["ACC-000003"][1] == 43.0

    # a new day scored with no other change: scored_at alone sends nothing
    warehouse.execute("update marts.sync_account_health set scored_at = date '2025-06-02'")
    second = _sync(warehouse, destination, "run-2")
    assert (second.planned_upserts, second.planned_deletes, second.accepted) == (0, 0, 0)
    assert _rows(postgres, "first_sync") == rows  # not even _synced_at moved
    assert warehouse.execute(
        "select status, accepted from sync.sync_runs where run_id = 'run-2'"
    ).fetchone() == ("ok", 0)


def test_a_changed_score_sends_exactly_that_account(warehouse, postgres) -> None:
    destination = _destination("one_change")
    _sync(warehouse, destination, "run-1")
    before = _rows(postgres, "one_change")
    warehouse.execute(
        "update marts.sync_account_health set health_score = 12.5, health_band = 'at_risk'"
        " where account_id = 'ACC-000005'"
    )
    result = _sync(warehouse, destination, "run-2")
    assert (result.planned_upserts, result.accepted) == (1, 1)
    after = _rows(postgres, "one_change")
    assert after["ACC-000005"][1] == 12.5
    changed = {key for key in before if after[key] != before[key]}
    assert changed == {"ACC-000005"}
    state = warehouse.execute(
        "select record_key from sync.sync_state where destination = ? and run_id = 'run-2'",
        [destination.name],
    ).fetchall()
    assert state == [("ACC-000005",)]


@pytest.mark.parametrize("on_delete", ["delete", "tombstone"])
def test_an_account_that_disappears_is_deleted_or_tombstoned(
    warehouse, postgres, on_delete
) -> None:
    destination = _destination(f"gone_{on_delete}", on_delete=on_delete)
    _sync(warehouse, destination, "run-1")
    warehouse.execute("delete from marts.sync_account_health where account_id = 'ACC-000002'")
    result = _sync(warehouse, destination, "run-2")
    assert (result.planned_upserts, result.planned_deletes, result.accepted) == (0, 1, 1)
    with postgres.connect() as conn, conn.cursor() as cur:
        if on_delete == "delete":
            cur.execute(f"select count(*) from crm.gone_{on_delete}")
            assert cur.fetchone() == (ACCOUNTS - 1,)
        else:
            cur.execute(f"select account_id from crm.gone_{on_delete} where _deleted")
            assert cur.fetchall() == [("ACC-000002",)]
    # sent once: the next sync has nothing to delete
    assert _sync(warehouse, destination, "run-3").planned_deletes == 0


def test_state_advances_only_for_the_batches_postgres_committed(warehouse, postgres) -> None:
    """A batch Postgres refuses (here a CHECK constraint) rolls back alone: the batches
    before it stay synced, and the next sync sends only what is still missing."""
    destination = _destination("partial", batch_size=3)
    sender = make_sender(destination, warehouse, Path("."), "setup")  # creates the table
    sender.close()
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("alter table crm.partial add constraint in_range check (health_score <= 100)")
    # ACC-000004 is in the second batch (accounts 4..6): it breaks the constraint
    warehouse.execute(
        "update marts.sync_account_health set health_score = 400 where account_id = 'ACC-000004'"
    )
    result = _sync(warehouse, destination, "run-1")
    assert result.error is not None and "in_range" in result.error
    assert (result.accepted, result.status, result.output_status) == (3, "partial", "failed")
    assert not result.transient  # refused data: a retry of the step would be refused again
    assert sorted(_rows(postgres, "partial")) == ["ACC-000001", "ACC-000002", "ACC-000003"]
    assert warehouse.execute("select count(*) from sync.sync_state").fetchone() == (3,)

    warehouse.execute(
        "update marts.sync_account_health set health_score = 44 where account_id = 'ACC-000004'"
    )
    retry = _sync(warehouse, destination, "run-2")
    rest = ACCOUNTS - 3
    assert (retry.error, retry.planned_upserts, retry.accepted) == (None, rest, rest)
    assert len(_rows(postgres, "partial")) == ACCOUNTS


def test_dry_run_sends_nothing_and_keeps_the_state(warehouse, postgres) -> None:
    destination = _destination("dry")
    result = run_sync(
        warehouse, destination, "run-1", lambda: pytest.fail("a dry run opened a sender"),
        dry_run=True,
    )  # fmt: skip
    assert (result.status, result.planned_upserts, result.accepted) == ("dry_run", ACCOUNTS, 0)
    assert result.sample[0] == {
        "_op": "upsert",
        "account_id": "ACC-000001",
        "owner": "csm1",
        "health_score": 41.0,
        "health_band": "watch",
        "config_version": "v1",
        "scored_at": date(2025, 6, 1).isoformat(),
    }
    assert warehouse.execute("select count(*) from sync.sync_state").fetchone() == (0,)


@pytest.mark.parametrize("case", ["refused", "no_such_database"])
def test_a_lost_server_is_transient_and_a_wrong_database_is_not(
    warehouse, postgres, monkeypatch, case
) -> None:
    """Nothing listening at the port may pass on a retry of the step; a database that does
    not exist will not. Either way the sync fails with nothing accepted, and neither the
    password nor the DSN shows in the error it records."""
    port, database = (9, "crm") if case == "refused" else (postgres.port, "no_such_database")
    dsn = f"postgresql://{postgres.user}:hunter2-secret@{postgres.host}:{port}/{database}"
    monkeypatch.setenv("TEST_SYNC_DSN", dsn)
    destination = Destination(
        name=f"pg_{case}",
        type="postgres",
        fields=FIELDS,
        options={"schema": "crm", "table": case, "dsn_env": "TEST_SYNC_DSN"},
    )
    result = _sync(warehouse, destination, "run-1")
    assert (result.output_status, result.accepted) == ("failed", 0)
    assert result.transient is (case == "refused")
    assert "OperationalError" in result.error
    [(recorded,)] = warehouse.execute(
        "select error from sync.sync_runs where destination = ?", [destination.name]
    ).fetchall()
    for text in (result.error, recorded):
        assert "hunter2-secret" not in text and dsn not in text
