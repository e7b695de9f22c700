"""`cli run` as a real process: started in its own session, watched, killed as a tree.

Each run is `python -m orchestration.cli run` with its own environment, started with
`start_new_session=True`, so the CLI and every process it starts (dbt, Dagster's helpers)
share one process group that `os.killpg` ends at once (SIGKILL: nothing gets to clean up).

The console shows Dagster's INFO events; a step's start (`STEP_START`) is a DEBUG event
and is not printed there. The run's own record has every event as it happens: the
SQLite event log `$DAGSTER_HOME/history/runs/<run_id>.db`, which `step_events` reads
while the run writes it. Stages too short to hit by the step's start alone are caught
by what the step writes or opens (`open_files`, `wait_for`).

Every run started here is registered; `stop_all` kills whatever is still alive (the
matrix calls it in a `finally`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from customer_health.settings import PROJECT_ROOT
from orchestration.warehouse_lock import processes_with_token

RUN_TIMEOUT_SECONDS = 1200
"""A run that takes longer is killed and reported (a small run takes about a minute)."""
STEP_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY")

_LIVE: set[CliRun] = set()
_LIVE_LOCK = threading.Lock()


def run_env(landing: Path, data: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any HEALTH_ or DAGSTER_ setting, then the run's:
    its landing and data folders (Dagster home inside), unbuffered output, and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTH_", "DAGSTER_"))}
    env.update(
        HEALTH_LANDING_DIR=str(landing),
        HEALTH_DATA_DIR=str(data),
        DAGSTER_HOME=str(data / "dagster"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class StepEvent:
    id: int
    kind: str
    step: str


@dataclass
class CliRun:
    """One `cli run` process. `lines` is its console (stdout and stderr, as printed), with
    the seconds since start of each line; `log` gets the same as it comes."""

    env: Mapping[str, str]
    args: tuple[str, ...] = ()
    log: Path | None = None
    process: subprocess.Popen[str] | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    started: float = 0.0
    returncode: int | None = None
    killed: bool = False
    _reader: threading.Thread | None = None
    _known_runs: frozenset[str] = frozenset()

    def __hash__(self) -> int:
        return id(self)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["HEALTH_DATA_DIR"])

    @property
    def runs_dir(self) -> Path:
        return Path(self.env["DAGSTER_HOME"]) / "history" / "runs"

    def start(self) -> CliRun:
        self._known_runs = frozenset(_run_ids(self.runs_dir))
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run", *self.args],
            cwd=PROJECT_ROOT,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        sink = self.log.open("a", encoding="utf-8") if self.log else None
        try:
            for line in self.process.stdout:
                at = time.monotonic() - self.started
                self.lines.append((at, line))
                if sink:
                    sink.write(f"{at:8.2f} {line}")
                    sink.flush()
        finally:
            if sink:
                sink.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def output(self) -> str:
        return "".join(line for _, line in self.lines)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout: float = RUN_TIMEOUT_SECONDS) -> int:
        """Wait for the run to end; a run past `timeout` is killed (and says so)."""
        assert self.process is not None
        try:
            self.returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            self.lines.append((time.monotonic() - self.started, f"[killed after {timeout} s]\n"))
        self._finish()
        assert self.returncode is not None
        return self.returncode

    def kill_tree(self) -> None:
        """SIGKILL the run's whole process group (the CLI and its children), and reap it."""
        assert self.process is not None
        self.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.returncode = self.process.wait(timeout=60)
        self._finish()

    def _finish(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=30)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    # --- the run's own record ----------------------------------------------------------

    def run_id(self) -> str | None:
        """The Dagster run this process started (its event log appears once it runs)."""
        new = sorted(set(_run_ids(self.runs_dir)) - self._known_runs)
        return new[0] if new else None

    def step_events(self) -> list[StepEvent]:
        run_id = self.run_id()
        return step_events(self.runs_dir / f"{run_id}.db") if run_id else []

    def token(self) -> str | None:
        """The run token in the warehouse lock file (what its children inherit)."""
        try:
            text = (self.data_dir / ".warehouse.lock").read_text()
        except OSError:
            return None
        for part in text.strip().split(", "):
            key, _, value = part.partition(" ")
            if key == "token" and value:
                return value
        return None

    def wait_for(
        self, condition: Callable[[], object], timeout: float = 900, interval: float = 0.005
    ) -> object | None:
        """Poll `condition` until it returns something true while the run is alive; that
        value, or None when the run ended (or `timeout` passed) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            if not self.alive():
                return condition() or None
            time.sleep(interval)
        return None

    def wait_for_step(self, step: str, timeout: float = 900) -> float | None:
        """Wait for the step's STEP_START in the run's event log: seconds since the run
        started, or None when the run ended without starting it."""
        found = self.wait_for(
            lambda: any(e.kind == "STEP_START" and e.step == step for e in self.step_events()),
            timeout,
            interval=0.02,
        )
        return time.monotonic() - self.started if found else None


def _run_ids(runs_dir: Path) -> Iterable[str]:
    if not runs_dir.is_dir():
        return []
    return [p.stem for p in runs_dir.glob("*.db") if p.stem != "index"]


def step_events(db: Path) -> list[StepEvent]:
    """The step events of a run's event log, read-only, while it may still be written."""
    if not db.is_file():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
        try:
            rows = con.execute(
                "select id, dagster_event_type, step_key from event_logs"
                f" where dagster_event_type in ({', '.join('?' for _ in STEP_EVENTS)})"
                " order by id",
                STEP_EVENTS,
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # created but not yet written, or locked for a moment
        return []
    return [StepEvent(int(i), str(kind), str(step or "")) for i, kind, step in rows]


def open_files(pid: int) -> set[str]:
    """The files a process has open (Linux: its /proc/<pid>/fd links, resolved)."""
    found = set()
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for entry in entries:
        with contextlib.suppress(OSError):
            found.add(os.path.realpath(os.readlink(f"/proc/{pid}/fd/{entry}")))
    return found


def survivors(token: str | None) -> list[int]:
    """Processes still carrying a run's token (children that left its process group)."""
    return processes_with_token(token) if token else []


def kill_pids(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_all() -> list[int]:
    """Kill every run started here that is still alive (their process groups); their pids."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    stopped = []
    for run in live:
        if run.process is not None and run.process.poll() is None:
            stopped.append(run.pid)
        with contextlib.suppress(Exception):
            run.kill_tree()
    return stopped
