"""The warehouse lock of `cli run`, and starting cleanly after a run that died holding it.

`cli run` holds `$HEALTH_DATA_DIR/.warehouse.lock` (an fcntl lock) for its whole run, and
the kernel frees that lock however the process ends, `kill -9` included. Three things the
kernel does not free, and each used to block every later run:

- the Dagster run record, left STARTED for ever;
- the slots its steps held in the `duckdb_warehouse` concurrency pool: a later run's
  first warehouse step waited on them for ever (at 100% CPU, deaf to SIGTERM);
- child processes that outlived it (dbt still writing the DuckDB file).

A `cli run` that has just taken the lock knows that no other `cli run` is alive (each holds
the lock until it ends), so every run the CLI started that is still marked as in progress
is dead. `reclaim_dead_runs` marks those failed and frees their pool slots and any slot of a
run that has ended; `stop_orphans` stops the processes the dead holder left behind, found
by the run token every process of a `cli run` inherits in its environment.

Runs launched from the UI or by the daemon take no warehouse lock; their slots are theirs
while they run. `wait_for_pool` waits for those, saying which run it waits for, and a
waiting run stops on Ctrl-C or SIGTERM like any other.

Recovering by hand, if ever needed, is in the README (Operations).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

CLI_RUN_TAG = "health/launched_by"
"""Run tag of every run `cli run` starts (value `cli`): in process, so only the CLI's
warehouse lock tells whether it is still alive."""

RUN_TOKEN_ENV = "HEALTH_RUN_TOKEN"
"""Set by `cli run` for itself and every process it starts (dbt), written in the lock file:
how the next run finds the processes a dead run left behind."""

_IN_PROGRESS = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


class WarehouseLock:
    """An exclusive advisory lock on a file (fcntl), naming its holder while others wait.

    `cli run` holds `$HEALTH_DATA_DIR/.warehouse.lock` for a whole run, taken before the
    run starts: a second `cli run` (cron, or a person) waits for the first to finish
    rather than interleaving its steps. Runs launched by Dagster queue on the run
    queue's `health/warehouse` limit instead (dagster.yaml); inside a run, every step
    that touches the warehouse is in the `duckdb_warehouse` pool (one at a time).

    The holder writes its pid and run token in the file and empties it on release: a
    file that still names a holder when the lock is taken was left by a process that
    died: `dead_holder` says who it was (pid, since when), `dead_holder_token` is its run
    token (both None after a clean release).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.token = uuid.uuid4().hex
        self.dead_holder: str | None = None
        self.dead_holder_token: str | None = None
        self._fh: IO[str] | None = None

    def acquire(self, timeout_seconds: float, log: Callable[[str], None]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        deadline = time.monotonic() + timeout_seconds
        waiting = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    fh.seek(0)
                    log(
                        f"waiting for the run holding the warehouse ({_holder(fh.read())});"
                        " Ctrl-C stops this run"
                    )
                    waiting = True
                if time.monotonic() > deadline:
                    fh.close()
                    raise TimeoutError(
                        f"another run has held the warehouse for over {timeout_seconds:.0f} s"
                        f" ({self.path}); wait for it to finish, or stop it"
                    ) from None
                time.sleep(1)
        fh.seek(0)
        left = fh.read()
        self.dead_holder = _holder(left) if left.strip() else None
        self.dead_holder_token = _field(left, "token")
        fh.seek(0)
        fh.truncate()
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        fh.write(f"pid {os.getpid()}, since {since} UTC, token {self.token}\n")
        fh.flush()
        if waiting:
            log("the warehouse is free: this run goes on")
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.flush()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _field(text: str, name: str) -> str | None:
    """A `name value` field of the lock file's line."""
    for part in text.strip().split(", "):
        key, _, value = part.partition(" ")
        if key == name and value:
            return value
    return None


def _holder(text: str) -> str:
    """The lock file's line without the token (which says nothing to a person)."""
    return ", ".join(p for p in text.strip().split(", ") if not p.startswith("token ")) or "?"


@dataclass(frozen=True)
class Reclaimed:
    """What the dead runs held, now freed."""

    runs: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.runs or self.slots)

    def describe(self) -> str:
        said = []
        if self.runs:
            ids = ", ".join(run_id[:8] for run_id in self.runs)
            said.append(f"marked run {ids} failed and freed its pool slots")
        if self.slots:
            said.append(f"freed pool slots held by ended runs ({', '.join(self.slots)})")
        return "; ".join(said)


def reclaim_dead_runs(instance: object, pools: Iterable[str]) -> Reclaimed:
    """Mark every dead in-progress run failed and free its pool slots; free the slots of
    runs that have ended or no longer exist. Call it only while holding the warehouse lock.

    Dead: a run `cli run` started (tagged `health/launched_by=cli`: we hold the lock it held
    while alive), or any other run executed in process whose process is gone (the pid of
    its "Executing steps in process" event; runs of an older CLI carry no tag). Runs the
    daemon launched are left to it."""
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(  # type: ignore[attr-defined]
        filters=RunsFilter(statuses=[DagsterRunStatus[name] for name in _IN_PROGRESS])
    )
    dead = []
    for run in runs:
        if run.tags.get(CLI_RUN_TAG) != "cli" and not _in_process_and_gone(instance, run):
            continue
        instance.report_run_failed(  # type: ignore[attr-defined]
            run,
            message=(
                "The process of this run died (killed, or the machine stopped) while it "
                "held the warehouse; marked failed by the next `cli run`."
            ),
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)  # type: ignore[attr-defined]
        dead.append(run.run_id)
    freed = []
    storage = instance.event_log_storage  # type: ignore[attr-defined]
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        holders = {slot.run_id for slot in info.claimed_slots} | {
            step.run_id for step in info.pending_steps
        }
        for run_id in sorted(holders):
            run = instance.get_run_by_id(run_id)  # type: ignore[attr-defined]
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
                freed.append(f"{pool} ({run_id[:8]})")
    return Reclaimed(tuple(dead), tuple(freed))


def _in_process_and_gone(instance: object, run: object) -> bool:
    """A run executed in process (no launcher origin) whose process no longer exists."""
    from dagster import DagsterEventType

    if run.remote_job_origin is not None:  # type: ignore[attr-defined]
        return False
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):  # type: ignore[attr-defined]
        pid = entry.dagster_event.engine_event_data.metadata.get("pid")
        if pid is not None:
            return not _alive(int(pid.value))
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def wait_for_pool(
    instance: object, pool: str, say: Callable[[str], None], poll_seconds: float = 2.0
) -> None:
    """Wait while a live run (launched from the UI or by the daemon) holds `pool`, naming it
    once. Interruptible: Ctrl-C and SIGTERM stop the wait."""
    storage = instance.event_log_storage  # type: ignore[attr-defined]
    waited_for: str | None = None
    while True:
        info = storage.get_concurrency_info(pool)
        if len(info.claimed_slots) < (info.limit or 1):
            if waited_for:
                say(f"pool {pool} is free: this run goes on")
            return
        holder = info.claimed_slots[0]
        if holder.run_id != waited_for:
            run = instance.get_run_by_id(holder.run_id)  # type: ignore[attr-defined]
            job = run.job_name if run is not None else "?"
            say(
                f"waiting for pool {pool}: held by run {holder.run_id[:8]} ({job}, step "
                f"{holder.step_key}); Ctrl-C stops this run"
            )
            waited_for = holder.run_id
        time.sleep(poll_seconds)


def processes_with_token(token: str, proc: Path = Path("/proc")) -> list[int]:
    """Pids of live processes whose environment carries `HEALTH_RUN_TOKEN=<token>` (Linux;
    an empty list where /proc is missing)."""
    needle = f"{RUN_TOKEN_ENV}={token}".encode()
    found = []
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def stop_orphans(token: str, grace_seconds: float = 5.0) -> list[int]:
    """Stop what a dead run left running: SIGTERM, then SIGKILL after `grace_seconds`."""
    pids = processes_with_token(token)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and processes_with_token(token):
        time.sleep(0.2)
    for pid in processes_with_token(token):
        _signal(pid, signal.SIGKILL)
    return pids


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # ended meanwhile
        os.kill(pid, sig)
