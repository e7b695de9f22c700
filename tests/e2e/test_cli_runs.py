"""`cli run` as cron and people run it, in real processes: a run killed with SIGKILL during
dbt, the next run recovering on its own, and a run whose sync destination refuses.

The data is a purchase-and-usage history from 1997, scored with HEALTH_AS_OF and no other
setting (the partitions start in 2020 by default). Three runs share it:

- `killed`: SIGKILL of the CLI process while dbt builds; dbt and Dagster's log tails
  are left running as orphans, the run record STARTED and its pool slot held;
- `recovered`: the next `cli run` on the same warehouse, with no manual step;
- `reference`: an uninterrupted run in its own folder, its webhook destination answering
  401 to every request.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.sample_data.generator import generate
from orchestration.warehouse_lock import RUN_TOKEN_ENV, processes_with_token

ROOT = Path(__file__).resolve().parents[2]
START, AS_OF = date(1997, 8, 1), date(1997, 9, 30)
pytestmark = pytest.mark.slow


@dataclass
class CliRun:
    returncode: int
    output: str


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A CRM endpoint whose credentials were revoked: 401 to every batch."""

    posts = 0

    def do_POST(self) -> None:
        type(self).posts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _env(landing: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HEALTH_", "DAGSTER_"))
    }
    env.update(
        HEALTH_LANDING_DIR=str(landing),
        HEALTH_DATA_DIR=str(data),
        DAGSTER_HOME=str(data / "dagster"),
        HEALTH_AS_OF=AS_OF.isoformat(),
        **extra,
    )
    return env


def _start_cli_run(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], marker: str) -> str:
    """The process's output up to and including the first line holding `marker`."""
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if marker in line:
            break
    return "".join(lines)


def _finish(process: subprocess.Popen[str], head: str = "") -> CliRun:
    output, _ = process.communicate(timeout=900)
    return CliRun(process.returncode, head + output)


def _kill_during_dbt(env: dict[str, str]) -> tuple[str, str]:
    """Start a run, SIGKILL its CLI process once dbt has built for a few seconds; its output
    and the run token its orphans carry."""
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    output, deadline, dbt_started = [], time.monotonic() + 600, None
    while time.monotonic() < deadline:
        if dbt_started is not None and time.monotonic() > dbt_started + 4:
            break
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if dbt_started is None and "Running dbt command" in line:
                dbt_started = time.monotonic()
    assert dbt_started is not None and process.poll() is None, "".join(output)[-3000:]
    # the token the run's child processes inherited (the CLI wrote it in the lock file)
    lock_line = (Path(env["HEALTH_DATA_DIR"]) / ".warehouse.lock").read_text()
    token = lock_line.split("token ")[1].strip()
    assert processes_with_token(token), f"no process carries {RUN_TOKEN_ENV}={token}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    return "".join(output), token


def _fact(serving: Path) -> list[tuple]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(
            "select * from fct_customer_health_daily order by account_id, as_of_date"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("cli_runs")
    landing = root / "landing"
    generate(landing, accounts=12, start=START, end=AS_OF, seed=11, bad_rate=0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    crashed = _env(landing, root / "data")
    killed_output, token = _kill_during_dbt(crashed)
    orphans_after_kill = processes_with_token(token)
    recovering = _start_cli_run(crashed)
    # the recovery is done before the run starts ("==> Running ..."); from there the
    # reference, in its own folder and instance, runs beside it
    head = _read_until(recovering, "==> Running")
    reference_run = _start_cli_run(
        _env(
            landing,
            root / "reference",
            HEALTH_SYNC_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/crm",
        )
    )
    recovered = _finish(recovering, head)
    orphans_after_recovery = processes_with_token(token)
    reference = _finish(reference_run)
    server.shutdown()
    yield {
        "root": root,
        "killed_output": killed_output,
        "orphans_after_kill": orphans_after_kill,
        "orphans_after_recovery": orphans_after_recovery,
        "recovered": recovered,
        "reference": reference,
    }
    for pid in orphans_after_recovery:  # never leave a process behind, even on failure
        os.kill(pid, signal.SIGKILL)


def test_the_run_after_a_killed_one_recovers_on_its_own_and_publishes(runs: dict) -> None:
    # the killed run left processes running (at least Dagster's log tails, often dbt)
    assert runs["orphans_after_kill"], runs["killed_output"][-2000:]
    recovered = runs["recovered"]
    assert recovered.returncode == 0, recovered.output[-4000:]
    [line] = [
        line
        for line in recovered.output.splitlines()
        if "Recovered from a run that died holding the warehouse" in line
    ]
    assert "pid " in line and "marked run " in line and "failed and freed its pool slots" in line
    # those still running when it started are stopped and named; they may all have ended
    # on their own meanwhile (dbt's scoped tests finish fast): nothing is left either way
    if " it left running" in line:
        assert "stopped " in line
    assert runs["orphans_after_recovery"] == []
    # the recovered run publishes exactly what an uninterrupted run publishes
    root = runs["root"]
    recovered_fact = _fact(root / "data" / "serving" / "health.duckdb")
    assert recovered_fact and recovered_fact == _fact(
        root / "reference" / "serving" / "health.duckdb"
    )
    assert max(row[1] for row in recovered_fact) == AS_OF


def test_the_killed_run_is_recorded_as_failed_and_holds_no_pool_slot(runs: dict) -> None:
    from dagster import DagsterInstance, DagsterRunStatus

    home = runs["root"] / "data" / "dagster"
    with DagsterInstance.from_config(str(home)) as instance:
        statuses = sorted(run.status.value for run in instance.get_runs())
        info = instance.event_log_storage.get_concurrency_info("duckdb_warehouse")
    assert statuses == sorted([DagsterRunStatus.FAILURE.value, DagsterRunStatus.SUCCESS.value])
    assert info.claimed_slots == [] and info.pending_steps == []


def test_history_from_1997_scores_with_no_setting_but_the_as_of_day(runs: dict) -> None:
    output = runs["reference"].output
    assert "partitions start on 1997-08-01 for this run" in output
    assert "HEALTH_PARTITIONS_START=1997-08-01" in output  # what to set for the UI


def test_a_refusing_sync_destination_is_named_and_the_publication_reported(runs: dict) -> None:
    reference = runs["reference"]
    assert reference.returncode == 3, reference.output[-4000:]
    lines = {
        line.split()[0]: line
        for line in reference.output.splitlines()
        if line.startswith("  serving/") or line.startswith("  sync/")
    }
    assert lines["serving/health_duckdb"].split()[1] == "published"
    assert lines["sync/crm_webhook"].split()[1] == "failed"
    assert "401" in lines["sync/crm_webhook"]
    assert lines["sync/outbox"].split()[1] == "ok"
    assert lines["serving/parquet_exports"].split()[1] == "ok"
    assert lines["serving/postgres"].split()[1] == "skipped"
    assert "Run FAILED after publishing (exit 3" in reference.output
    assert "nothing was published" not in reference.output
    assert "sync/crm_webhook did not go through" in reference.output
    # the failed run raised one alert, written once
    alerts = (runs["root"] / "reference" / "alerts" / "run_failures.jsonl").read_text()
    [record] = [json.loads(line) for line in alerts.splitlines()]
    assert [step["step"] for step in record["failed_steps"]] == ["sync__crm_webhook"]
