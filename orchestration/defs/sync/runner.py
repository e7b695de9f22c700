"""One sync of one destination: plan the changes, send them in batches, advance the state
for what was accepted, and record the sync in sync.sync_runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.defs.sync.changes import RUNS_TABLE, Change, ensure_tables, plan, record_accepted
from orchestration.defs.sync.config import SOURCE_TABLE, Destination
from orchestration.defs.sync.destinations import FileOutbox, PostgresUpsert, Sender

DRY_RUN_SAMPLE = 5


@dataclass
class SyncResult:
    destination: str
    dry_run: bool
    planned_upserts: int = 0
    planned_deletes: int = 0
    accepted: int = 0
    rejected: dict[str, str] = field(default_factory=dict)
    sample: list[dict] = field(default_factory=list)
    error: str | None = None
    transient: bool = False
    """the error may pass on a retry of the step (a dropped connection, a locked file)"""

    @property
    def status(self) -> str:
        if self.dry_run:
            return "dry_run"
        if self.error:
            return "failed" if not self.accepted else "partial"
        return "rejected_rows" if self.rejected else "ok"

    def summary(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        text = (
            f"{self.destination}: {verb} {self.planned_upserts} upserts and "
            f"{self.planned_deletes} deletes"
        )
        if not self.dry_run:
            text += f"; accepted {self.accepted}, rejected {len(self.rejected)}"
        return text + (f"; error: {self.error}" if self.error else "")


def make_sender(
    destination: Destination, con: duckdb.DuckDBPyConnection, data_dir: Path, run_id: str
) -> Sender:
    if destination.type == "postgres":
        schema, table = SOURCE_TABLE.split(".")
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns"
                " where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        )
        return PostgresUpsert(destination, types)
    if destination.type == "file":
        return FileOutbox(destination, data_dir, run_id)
    if destination.type == "webhook":
        from orchestration.defs.sync.webhook import WebhookSender

        return WebhookSender(destination, run_id)
    raise ValueError(f"no sender for destination type {destination.type!r}")


def run_sync(
    con: duckdb.DuckDBPyConnection,
    destination: Destination,
    run_id: str,
    sender: Callable[[], Sender],
    *,
    dry_run: bool = False,
) -> SyncResult:
    """Sync `destination` from the warehouse behind `con`. A sender that fails part-way
    leaves the batches it delivered accepted (their state advanced) and the error in the
    result; the caller decides whether to fail the step."""
    ensure_tables(con)
    started = datetime.now(UTC).replace(tzinfo=None)
    changes = plan(con, destination)
    result = SyncResult(
        destination.name,
        dry_run,
        planned_upserts=len(changes.upserts),
        planned_deletes=len(changes.deletes),
    )
    if dry_run:
        result.sample = [{"_op": c.op, **c.payload} for c in changes.changes[:DRY_RUN_SAMPLE]]
    elif changes.changes:
        out = sender()
        try:
            for batch in _batches(changes.changes, out.batch_size):
                outcome = out.send(batch)
                con.execute("begin transaction")
                result.accepted += record_accepted(con, destination.name, run_id, outcome.accepted)
                con.execute("commit")
                result.rejected.update(outcome.rejected)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            out.close()
    con.execute(
        f"insert into {RUNS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            destination.name,
            run_id,
            started,
            datetime.now(UTC).replace(tzinfo=None),
            dry_run,
            result.planned_upserts,
            result.planned_deletes,
            result.accepted,
            len(result.rejected),
            result.status,
            json.dumps(result.rejected),
            result.error,
        ],
    )
    return result


def sync_destination(
    con: duckdb.DuckDBPyConnection,
    destination: Destination,
    run_id: str,
    data_dir: Path,
    *,
    dry_run: bool = False,
) -> SyncResult:
    """`run_sync` with the destination's own sender (what the assets and `cli sync` do)."""
    return run_sync(
        con,
        destination,
        run_id,
        lambda: make_sender(destination, con, data_dir, run_id),
        dry_run=dry_run,
    )


def _is_transient(exc: Exception) -> bool:
    """Worth retrying the step: a lost connection or an OS-level failure. Not: data the
    destination refused, or a webhook that already used up its own retries."""
    import psycopg2

    from orchestration.defs.sync.webhook import WebhookError

    if isinstance(exc, WebhookError):
        return False
    return isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError | OSError)


def _batches(changes: list[Change], size: int) -> list[list[Change]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]
