"""Change detection for the syncs: what to send to a destination, and what it accepted.

State is kept in the warehouse, per destination and account: the hash of the fields last
accepted, the fields themselves, and whether the record was deleted there. A sync sends
the accounts whose hash differs (new or changed) and, by `on_delete`, the accounts that
are no longer in the source. State advances only for what the destination accepted, in
the same transaction per batch, so a failure part-way leaves the rest to the next sync.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from customer_health.duckdb_connection import insert_rows
from customer_health.sync.config import SOURCE_TABLE, Destination

STATE_TABLE = "sync.sync_state"
RUNS_TABLE = "sync.sync_runs"

DDL = f"""
create schema if not exists sync;
create table if not exists {STATE_TABLE} (
    destination varchar not null,
    record_key varchar not null,
    row_hash varchar not null,
    payload json not null,
    deleted boolean not null,
    synced_at timestamp not null,
    run_id varchar not null,
    primary key (destination, record_key)
);
create table if not exists {RUNS_TABLE} (
    destination varchar not null,
    run_id varchar not null,
    started_at timestamp not null,
    finished_at timestamp,
    dry_run boolean not null,
    planned_upserts integer not null,
    planned_deletes integer not null,
    accepted integer not null,
    rejected integer not null,
    status varchar not null,
    rejections json,
    error varchar
);
"""


@dataclass(frozen=True)
class Change:
    key: str
    op: str  # "upsert" or "delete"
    payload: dict[str, Any]
    row_hash: str


@dataclass
class Plan:
    destination: str
    upserts: list[Change] = field(default_factory=list)
    deletes: list[Change] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return self.upserts + self.deletes


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return round(float(value), 6)
    return value


def mapped(destination: Destination, row: Mapping[str, Any]) -> dict[str, Any]:
    """A source row in the destination's field names (JSON-ready values)."""
    return {dest: _json_value(row[source]) for dest, source in destination.fields.items()}


def row_hash(destination: Destination, payload: Mapping[str, Any]) -> str:
    """Hash of the fields whose change is worth sending (not `ignore_for_change`)."""
    compared = {k: v for k, v in payload.items() if k not in destination.ignore_for_change}
    return hashlib.sha256(json.dumps(compared, sort_keys=True, default=str).encode()).hexdigest()


def plan(con: duckdb.DuckDBPyConnection, destination: Destination) -> Plan:
    """What the next sync of `destination` sends: new and changed accounts, and (unless
    on_delete is `ignore`) the accounts that left the source since they were sent."""
    ensure_tables(con)
    cursor = con.execute(f"select * from {SOURCE_TABLE} order by account_id")
    columns = [d[0] for d in cursor.description]
    current = {}
    for values in cursor.fetchall():
        payload = mapped(destination, dict(zip(columns, values, strict=True)))
        current[str(payload[destination.key_field])] = payload
    state = {
        key: (hash_, deleted, payload)
        for key, hash_, deleted, payload in con.execute(
            f"select record_key, row_hash, deleted, payload from {STATE_TABLE}"
            " where destination = ?",
            [destination.name],
        ).fetchall()
    }
    result = Plan(destination.name)
    for key, payload in current.items():
        new_hash = row_hash(destination, payload)
        known = state.get(key)
        if known is None or known[1] or known[0] != new_hash:
            result.upserts.append(Change(key, "upsert", payload, new_hash))
    if destination.on_delete != "ignore":
        for key, (_, deleted, payload) in sorted(state.items()):
            if key not in current and not deleted:
                last = json.loads(payload) if isinstance(payload, str) else payload
                result.deletes.append(Change(key, "delete", last, "deleted"))
    return result


def record_accepted(
    con: duckdb.DuckDBPyConnection, destination: str, run_id: str, accepted: Iterable[Change]
) -> int:
    """Advance the state for the changes the destination accepted; how many."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (destination, c.key, c.row_hash, json.dumps(c.payload), c.op == "delete", now, run_id)
        for c in accepted
    ]
    columns = ("destination", "record_key", "row_hash", "payload", "deleted", "synced_at", "run_id")
    return insert_rows(con, STATE_TABLE, columns, rows, replace=True)
