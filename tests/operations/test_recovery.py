"""Recovering from a run that died holding the warehouse, on a real Dagster instance and a
real lock file; and a waiting `cli run` that SIGTERM stops. (The whole kill-and-recover
story, with dbt killed mid-build, is tests/e2e/test_cli_runs.py.)"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from customer_health.sample_data.generator import generate
from orchestration.warehouse_lock import (
    CLI_RUN_TAG,
    RUN_TOKEN_ENV,
    WarehouseLock,
    processes_with_token,
    reclaim_dead_runs,
    stop_orphans,
)

ROOT = Path(__file__).resolve().parents[2]
POOL = "duckdb_warehouse"


@dg.op
def _noop() -> None:
    pass


@dg.job
def _some_job() -> None:
    _noop()


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    """A run record left STARTED, holding a slot of the pool, as a killed process leaves it."""
    run = instance.create_run_for_job(_some_job, tags=tags)
    instance.handle_new_event(
        dg.EventLogEntry(
            error_info=None,
            level="debug",
            user_message="",
            run_id=run.run_id,
            timestamp=time.time(),
            dagster_event=dg.DagsterEvent(
                dg.DagsterEventType.RUN_START.value, job_name=run.job_name
            ),
        )
    )
    status = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, "_noop")
    assert status.is_claimed
    return run.run_id


def test_dead_cli_runs_are_marked_failed_and_their_slots_freed(tmp_path: Path) -> None:
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        dead = _started_run(instance, {CLI_RUN_TAG: "cli"})
        # a run the daemon launched (not ours, not in process) is left alone
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.STARTED

        reclaimed = reclaim_dead_runs(instance, [POOL])

        assert reclaimed.runs == (dead,)
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert info.claimed_slots == [] and info.pending_steps == []
        assert reclaim_dead_runs(instance, [POOL]).runs == ()  # nothing left to do


def test_a_slot_held_by_a_run_that_has_ended_is_freed(tmp_path: Path) -> None:
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        ended = _started_run(instance, {})
        instance.report_run_failed(instance.get_run_by_id(ended))
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots

        reclaimed = reclaim_dead_runs(instance, [POOL])

        assert reclaimed.runs == () and reclaimed.slots == (f"{POOL} ({ended[:8]})",)
        assert instance.event_log_storage.get_concurrency_info(POOL).claimed_slots == []


def test_the_lock_file_names_a_dead_holder_and_a_clean_release_leaves_none(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".warehouse.lock"
    first = WarehouseLock(path)
    first.acquire(5, print)
    assert f"pid {os.getpid()}" in path.read_text() and first.token in path.read_text()
    first.release()
    second = WarehouseLock(path)
    second.acquire(5, print)
    assert second.dead_holder is None and second.dead_holder_token is None
    # a holder that never released (its process died): the file still names it
    second._fh = None  # as if the process had died holding it; the kernel frees the lock
    third = WarehouseLock(path)
    third.acquire(5, print)
    assert third.dead_holder_token == second.token
    assert third.dead_holder is not None and "token" not in third.dead_holder
    third.release()


def test_orphans_are_found_by_their_run_token_and_stopped() -> None:
    token = "test-orphan-token"
    ignores_sigterm = (
        "import signal, time; signal.signal(15, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(600)"
    )
    orphan = subprocess.Popen(
        [sys.executable, "-c", ignores_sigterm],
        env={**os.environ, RUN_TOKEN_ENV: token},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert orphan.stdout is not None and orphan.stdout.readline() == "ready\n"
        assert processes_with_token(token) == [orphan.pid]
        # it ignores SIGTERM: stopped with SIGKILL after the grace period
        assert stop_orphans(token, grace_seconds=1) == [orphan.pid]
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert processes_with_token(token) == []
    finally:
        orphan.kill()


@pytest.mark.slow
def test_a_run_waiting_for_the_warehouse_says_so_and_sigterm_stops_it(
    tmp_path: Path, dbt_manifest: Path
) -> None:
    """A waiting run hung for minutes and ignored SIGTERM; now it names what it waits for
    and SIGTERM ends it at once."""
    landing, data = tmp_path / "landing", tmp_path / "data"
    generate(landing, accounts=3, start=date(2025, 3, 1), end=date(2025, 3, 3), seed=1, bad_rate=0)
    holder = WarehouseLock(data / ".warehouse.lock")
    holder.acquire(5, print)
    env = {
        **os.environ,
        "HEALTH_LANDING_DIR": str(landing),
        "HEALTH_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster"),
    }
    waiting = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "run", "--ingest-only"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert waiting.stdout is not None
        output, deadline = [], time.monotonic() + 300
        while time.monotonic() < deadline and waiting.poll() is None:
            if select.select([waiting.stdout], [], [], 1)[0]:
                output.append(waiting.stdout.readline())
                if "waiting for the run holding the warehouse" in output[-1]:
                    break
        said = output[-1]
        assert f"pid {os.getpid()}" in said and "Ctrl-C stops this run" in said, output
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait(timeout=20) == 130
        assert "stopped (Ctrl-C or SIGTERM)" in waiting.stdout.read()
    finally:
        waiting.kill()
        holder.release()
