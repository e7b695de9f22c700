"""Where the syncs send: a Postgres table (upsert), and a file outbox.

Each sender takes batches of changes and says which it accepted (and which it rejected,
with the reason); a batch it cannot deliver raises, and what earlier batches delivered
stays accepted.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from customer_health.sync.changes import Change
from customer_health.sync.config import Destination


@dataclass
class BatchOutcome:
    accepted: list[Change] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    """record key -> the destination's reason"""


class Sender(Protocol):
    batch_size: int

    def send(self, batch: list[Change]) -> BatchOutcome: ...

    def close(self) -> None: ...


class PostgresUpsert:
    """`INSERT … ON CONFLICT (key) DO UPDATE` into `schema.table`, a transaction per batch.

    The table is created when missing, typed from the sync model, keyed on the account
    field. Deleted accounts are deleted (`on_delete: delete`) or kept with `_deleted`
    set (`tombstone`). `_synced_at` says when each row was last written.
    """

    def __init__(self, destination: Destination, column_types: dict[str, str]) -> None:
        from psycopg2 import sql

        from customer_health.postgres import PostgresSettings, postgres_type

        self.destination = destination
        self.batch_size = destination.batch_size
        dsn_env = destination.options.get("dsn_env")
        if dsn_env and os.environ.get(dsn_env):
            import psycopg2

            self.connection = psycopg2.connect(os.environ[dsn_env], connect_timeout=5)
        else:
            self.connection = PostgresSettings.from_env().connect()
        schema = destination.options.get("schema", "public")
        self.table = sql.Identifier(schema, destination.options["table"])
        self.fields = list(destination.fields)
        key = sql.Identifier(destination.key_field)
        columns = [
            sql.SQL("{} {}").format(
                sql.Identifier(dest), sql.SQL(postgres_type(column_types[source]))
            )
            for dest, source in destination.fields.items()
        ]
        columns.append(sql.SQL("_synced_at timestamptz not null"))
        if destination.on_delete == "tombstone":
            columns.append(sql.SQL("_deleted boolean not null default false"))
        with self.connection, self.connection.cursor() as cur:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
            cur.execute(
                sql.SQL("create table if not exists {} ({}, primary key ({}))").format(
                    self.table, sql.SQL(", ").join(columns), key
                )
            )
        names = [*self.fields, "_synced_at"]
        updates = [n for n in names if n != destination.key_field]
        if destination.on_delete == "tombstone":
            names.append("_deleted")
            updates.append("_deleted")
        self._upsert = sql.SQL(
            "insert into {} ({}) values %s on conflict ({}) do update set {}"
        ).format(
            self.table,
            sql.SQL(", ").join(map(sql.Identifier, names)),
            key,
            sql.SQL(", ").join(
                sql.SQL("{} = excluded.{}").format(sql.Identifier(n), sql.Identifier(n))
                for n in updates
            ),
        )
        if destination.on_delete == "tombstone":
            self._delete = sql.SQL(
                "update {} set _deleted = true, _synced_at = %s where {} = any(%s)"
            ).format(self.table, key)
        else:
            self._delete = sql.SQL("delete from {} where {} = any(%s)").format(self.table, key)

    def send(self, batch: list[Change]) -> BatchOutcome:
        from psycopg2.extras import execute_values

        now = datetime.now(UTC)
        upserts = [c for c in batch if c.op == "upsert"]
        deletes = [c.key for c in batch if c.op == "delete"]
        tombstone = self.destination.on_delete == "tombstone"
        with self.connection, self.connection.cursor() as cur:  # one transaction per batch
            if upserts:
                rows = [
                    (*(c.payload[f] for f in self.fields), now, *((False,) if tombstone else ()))
                    for c in upserts
                ]
                execute_values(cur, self._upsert.as_string(cur), rows, page_size=len(rows))
            if deletes:
                cur.execute(self._delete, (now, deletes) if tombstone else (deletes,))
        return BatchOutcome(accepted=list(batch))

    def close(self) -> None:
        self.connection.close()


class FileOutbox:
    """One file per sync run under `<data>/outbox/<name>/`, JSON lines or CSV, each record
    with `_op` (upsert or delete). Written aside and renamed, so a tool picking files up
    never sees half a file; the whole run is one batch."""

    batch_size = 1_000_000_000

    def __init__(self, destination: Destination, data_dir: Path, run_id: str) -> None:
        self.destination = destination
        self.format = destination.options.get("format", "jsonl")
        self.folder = data_dir / "outbox" / destination.name
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.path = self.folder / f"{stamp}-{run_id[:8]}.{self.format}"

    def send(self, batch: list[Change]) -> BatchOutcome:
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(f".{self.path.name}.tmp")
        fields = ["_op", *self.destination.fields]
        with scratch.open("w", newline="", encoding="utf-8") as out:
            if self.format == "csv":
                writer = csv.DictWriter(out, fieldnames=fields)
                writer.writeheader()
                for change in batch:
                    writer.writerow({"_op": change.op, **change.payload})
            else:
                for change in batch:
                    out.write(json.dumps({"_op": change.op, **change.payload}) + "\n")
        os.replace(scratch, self.path)
        return BatchOutcome(accepted=list(batch))

    def close(self) -> None:
        pass
