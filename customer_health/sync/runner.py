"""One sync of one destination: plan the changes, send them in batches, advance the state
for what was accepted, and record the sync in sync.sync_runs.

An error while sending is classified (`is_transient`): one that may pass on a retry of the
step (a refused or reset connection, a timeout, a webhook still failing with 5xx after its
own retries, a Postgres connection failure) lets the asset's retry policy try again, and
the retry sends only what was not accepted yet. One that cannot (a 4xx, a constraint
violation, a configuration error) fails the step at once. Error texts are redacted
(`redact`): no URL, token, DSN or password of the destination in them."""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from customer_health.sync.changes import RUNS_TABLE, Change, ensure_tables, plan, record_accepted
from customer_health.sync.config import SOURCE_TABLE, Destination
from customer_health.sync.destinations import FileOutbox, PostgresUpsert, Sender

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
        """The status recorded in sync.sync_runs (finer than `output_status`)."""
        if self.dry_run:
            return "dry_run"
        if self.error:
            return "failed" if not self.accepted else "partial"
        return "rejected_rows" if self.rejected else "ok"

    @property
    def output_status(self) -> str:
        """The status of the output contract (defs/publish/assets.py): `dry_run`, `failed`
        (also part-way: `accepted` says how far) or `ok` (rejected records are counted in
        `rejected`, the rest was accepted)."""
        if self.dry_run:
            return "dry_run"
        return "failed" if self.error else "ok"

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
        from customer_health.sync.webhook import WebhookSender

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
        out: Sender | None = None
        try:
            out = sender()  # a Postgres sender connects here: its failure is a sending one
            for batch in _batches(changes.changes, out.batch_size):
                outcome = out.send(batch)
                con.execute("begin transaction")
                result.accepted += record_accepted(con, destination.name, run_id, outcome.accepted)
                con.execute("commit")
                result.rejected.update(outcome.rejected)
        except Exception as exc:
            result.error = redact(f"{type(exc).__name__}: {exc}", secret_values(destination))
            result.transient = is_transient(exc)
        finally:
            if out is not None:
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


_TRANSIENT_ERRNOS = {
    errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.EIO, errno.ETIMEDOUT, errno.ECONNREFUSED,
    errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.EHOSTUNREACH, errno.ENETUNREACH,
    errno.ENETDOWN, errno.ENFILE, errno.EMFILE, errno.ESTALE,
}  # fmt: skip
"""OS errors that may pass on a retry: a busy or locked file, a flaky disk or network."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the step: a refused, reset or timed-out connection, a webhook still
    failing with 5xx (or 408, 429) after its own retries, a Postgres connection failure
    or deadlock, a locked file. Not: a 4xx, a constraint violation or other data the
    destination refused, a configuration error, a bug."""
    import http.client
    import urllib.error

    from customer_health.sync.config import SyncConfigError
    from customer_health.sync.webhook import WebhookError

    if isinstance(exc, WebhookError):
        return exc.transient
    if isinstance(exc, SyncConfigError):
        return False
    psycopg2 = sys.modules.get("psycopg2")  # a psycopg2 error means it was imported
    if psycopg2 is not None and isinstance(exc, psycopg2.Error):
        from customer_health.postgres import is_transient_error

        return is_transient_error(exc)
    if isinstance(exc, duckdb.IOException):
        return True  # a lock held by another process, a flaky disk
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return isinstance(reason, BaseException) and is_transient(reason)
    if isinstance(exc, http.client.InvalidURL):
        return False
    if isinstance(exc, TimeoutError | ConnectionError | http.client.HTTPException):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    return False


_USERINFO = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
HIDDEN = "***"


def secret_values(destination: Destination) -> list[str]:
    """The values a destination's error text must never show: its URL, token and DSN, and
    the Postgres password."""
    names = [destination.options.get(k) for k in ("url_env", "token_env", "dsn_env")]
    names.append("HEALTH_PG_PASSWORD")
    return [os.environ[n] for n in names if n and os.environ.get(n)]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values, nor a password in a URL or a DSN."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    text = _USERINFO.sub(rf"\1{HIDDEN}@", text)
    return _PASSWORD.sub(rf"\1{HIDDEN}", text)


def _batches(changes: list[Change], size: int) -> list[list[Change]]:
    return [changes[i : i + size] for i in range(0, len(changes), size)]
