"""Two runs launched together against one warehouse: the second waits for the first, and
both succeed (real processes, real DuckDB file, real Dagster instance); each date range
runs as one run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.sample_data.generator import generate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_two_runs_launched_together_queue_and_both_succeed(tmp_path: Path) -> None:
    landing, data = tmp_path / "landing", tmp_path / "data"
    generate(
        landing, accounts=20, start=date(2025, 3, 1), end=date(2025, 3, 12), seed=3, bad_rate=0
    )
    env = {
        **os.environ,
        "HEALTH_LANDING_DIR": str(landing),
        "HEALTH_DATA_DIR": str(data),
        "DAGSTER_HOME": str(data / "dagster"),
    }
    env.pop("HEALTH_AS_OF", None)
    windows = [("2025-03-01", "2025-03-06"), ("2025-03-07", "2025-03-12")]
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration.cli",
                "run",
                "--ingest-only",
                "--from",
                first,
                "--to",
                last,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for first, last in windows
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
    # exactly one of them found the warehouse held, waited, then went on
    waited = [output for output in outputs if "waiting for the run holding the warehouse" in output]
    assert len(waited) == 1, outputs
    assert "the warehouse is free: this run goes on" in waited[0]
    # both runs' files are loaded once, none twice
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        loads = con.execute(
            "select count(*), count(distinct source_file) from raw._load_audit"
            " where entity = 'usage_events' and status = 'loaded'"
        ).fetchone()
    finally:
        con.close()
    assert loads == (12, 12)
    # each range ran as one run (single-run backfill), materializing every day of it
    import dagster as dg

    with dg.DagsterInstance.from_config(str(data / "dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        for run in runs:
            materialized = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(["raw", "usage_events"]), storage_ids=None
                ),
                limit=100,
            ).records
            days = sorted(r.partition_key for r in materialized if r.run_id == run.run_id)
            first = run.tags["dagster/asset_partition_range_start"]
            last = run.tags["dagster/asset_partition_range_end"]
            assert (days[0], days[-1], len(days)) == (first, last, 6)
