"""Backfills launched as the UI launches them (the webserver's GraphQL API) and executed by
the real Dagster daemon: a date range of the pipeline job is one run; a backfill of the
asset graph scores exactly the chosen days."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from customer_health.sample_data.generator import generate
from customer_health.settings import Settings
from orchestration.cli import open_instance
from tests.dagster_ui import LOCATION, dagster_ui, graphql

pytestmark = pytest.mark.slow
START, END = date(2025, 5, 25), date(2025, 6, 14)
BACKFILL_TIMEOUT_SECONDS = 600
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      error { message }
      runs(limit: 50) { runId status tags { key value } }
    }
  }
}
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path):
    """Generated landing files, an empty warehouse, and the webserver and daemon over it."""
    root = tmp_path_factory.mktemp("backfill")
    mp = pytest.MonkeyPatch()
    mp.setenv("HEALTH_LANDING_DIR", str(root / "landing"))
    mp.setenv("HEALTH_DATA_DIR", str(root / "data"))
    mp.delenv("HEALTH_AS_OF", raising=False)
    generate(root / "landing", accounts=25, start=START, end=END, seed=11, bad_rate=0)
    settings = Settings.from_env()
    with open_instance(settings):  # the project's dagster.yaml and the instance's tables
        pass
    try:
        with dagster_ui(settings.dagster_home, settings.data_dir, daemon=True) as port:
            yield settings, port
    finally:
        mp.undo()


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _every_asset_key(port: int) -> list[dict]:
    """Every asset of the daily pipeline (the backtest's are judged over the whole history,
    by their own job, not by day)."""
    nodes = graphql(port, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    return [node["assetKey"] for node in nodes if node["groupName"] != "backtest"]


def _backfill(port: int, params: dict) -> list[dict]:
    """Launch a backfill, wait until the daemon is done with it; its runs, oldest first."""
    launched = graphql(port, LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + BACKFILL_TIMEOUT_SECONDS
    while True:
        backfill = graphql(port, STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        if backfill["status"] in DONE:
            break
        assert time.monotonic() < deadline, backfill
        time.sleep(2)
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    runs = [
        {**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}}
        for run in reversed(backfill["runs"])
    ]
    assert runs and all(run["status"] == "SUCCESS" for run in runs), runs
    return runs


def _fact_days(settings: Settings) -> list[str]:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        rows = con.execute(
            "select distinct as_of_date from fct_customer_health_daily order by 1"
        ).fetchall()
    finally:
        con.close()
    return [day.isoformat() for (day,) in rows]


def _materialized_in(settings: Settings, run_id: str, key: list[str]) -> list[str | None]:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key)), limit=1000
        ).records
    return sorted((r.partition_key for r in records if r.run_id == run_id), key=str)


def test_job_backfill_of_n_days_is_one_run(ui) -> None:
    """A backfill of the `health_pipeline` job (the UI's job page: Materialize all, a range
    of days): one run for the range, ingest through publish, every day materialized."""
    settings, port = ui
    days = _days(date(2025, 6, 1), date(2025, 6, 3))
    runs = _backfill(
        port,
        {
            "selector": {
                "partitionSetName": "health_pipeline_partition_set",
                "repositorySelector": {
                    "repositoryName": "__repository__",
                    "repositoryLocationName": LOCATION,
                },
            },
            "assetSelection": _every_asset_key(port),
            "partitionNames": days,
        },
    )
    assert len(runs) == 1, runs
    [run] = runs
    assert run["tags"]["dagster/asset_partition_range_start"] == days[0]
    assert run["tags"]["dagster/asset_partition_range_end"] == days[-1]
    for entity in ("accounts", "usage_events", "invoices"):
        assert _materialized_in(settings, run["runId"], ["raw", entity]) == days
    assert _materialized_in(settings, run["runId"], ["serving", "health_duckdb"]) == [None]
    scored = _fact_days(settings)  # a first build also scores the days before the range
    assert set(days) <= set(scored) and scored[-1] == days[-1]


def test_asset_graph_backfill_scores_exactly_its_days(ui) -> None:
    """A backfill of every asset from the asset graph (no job) is split by Dagster by
    partitioning: the days are loaded in one run, and the unpartitioned assets (dbt, the
    gate, publishing) run after it without partition tags. Those take their days from the
    backfill, so the fact gains exactly the chosen days (not "yesterday")."""
    settings, port = ui
    before = _fact_days(settings)
    days = _days(date(2025, 6, 4), date(2025, 6, 5))
    runs = _backfill(port, {"assetSelection": _every_asset_key(port), "partitionNames": days})
    loading = [run for run in runs if "dagster/asset_partition_range_start" in run["tags"]]
    assert len(loading) == 1, runs
    assert _materialized_in(settings, loading[0]["runId"], ["raw", "usage_events"]) == days
    assert _fact_days(settings) == sorted(before + days)
