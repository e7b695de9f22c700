"""A sync whose destination drops a connection is retried by Dagster's retry policy, through
a real materialization of the sync asset against a real local HTTP server that closes a
connection unanswered. The retry sends only what the destination has not accepted yet:
every row arrives exactly once. What cannot pass on a retry (a config error, a constraint
violation) is not retried."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from customer_health.sync.config import Destination
from orchestration.defs.policies import TRANSIENT_RETRY
from orchestration.defs.resources import WarehouseResource
from tests.sync.source import create_sync_source

ACCOUNTS = 7
BATCH = 3
ALL = [f"ACC-{i:06d}" for i in range(1, ACCOUNTS + 1)]
FAST_RETRY = dg.RetryPolicy(max_retries=TRANSIENT_RETRY.max_retries, delay=0)
"""TRANSIENT_RETRY without its waits (5, 10, 20 s): the same retry mechanism, no sleeping."""


class FlakyServer(ThreadingHTTPServer):
    """Closes the connections numbered in `dropped` (1-based) without reading or answering
    them: the client sees the connection reset. Every other POST is accepted."""

    def __init__(self, dropped: set[int]) -> None:
        super().__init__(("127.0.0.1", 0), Accepting)
        self.dropped = dropped
        self.connections = 0
        self.received: list[dict] = []
        self.lock = threading.Lock()

    def verify_request(self, request, client_address) -> bool:
        with self.lock:
            self.connections += 1
            return self.connections not in self.dropped


class Accepting(BaseHTTPRequestHandler):
    server: FlakyServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.received += body["records"]
        payload = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


def serve(dropped: set[int]) -> tuple[FlakyServer, threading.Thread]:
    server = FlakyServer(dropped)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def warehouse(health_env: dict[str, Path]) -> Path:
    path = health_env["data"] / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    create_sync_source(con, ACCOUNTS, base_score=50)
    con.close()
    return path


@pytest.mark.parametrize("dropped", [1, 2], ids=["first-batch", "second-batch"])
def test_a_dropped_connection_is_retried_by_the_step_and_every_row_arrives_once(
    dropped: int, warehouse: Path, monkeypatch, dbt_manifest
) -> None:
    # imported here: the definitions need the parsed manifest (the dbt_manifest fixture)
    import orchestration.defs.sync.assets as sync_assets

    destination = Destination(
        name="flaky_hook",
        type="webhook",
        fields={"external_id": "account_id", "score": "health_score"},
        batch_size=BATCH,
        # no retries of the sender's own: the step's retry policy is what is under test
        options={"url_env": "TEST_HOOK_URL", "max_attempts": 1},
    )
    assert sync_assets.build_sync_asset(destination).op.retry_policy == TRANSIENT_RETRY
    monkeypatch.setattr(sync_assets, "TRANSIENT_RETRY", FAST_RETRY)
    asset = sync_assets.build_sync_asset(destination)

    server, thread = serve({dropped})
    url = f"http://127.0.0.1:{server.server_address[1]}/hook?secret=url-part"
    monkeypatch.setenv("TEST_HOOK_URL", url)
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize(
                [asset],
                instance=instance,
                resources={"warehouse": WarehouseResource()},
                raise_on_error=False,
            )
            logs = "\n".join(str(e.user_message) for e in instance.all_logs(result.run_id))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    steps = [e.event_type_value for e in result.all_events if e.step_key == asset.op.name]
    assert steps.count("STEP_UP_FOR_RETRY") == 1, steps
    assert steps.count("STEP_RESTARTED") == 1
    assert result.success
    assert sorted(r["external_id"] for r in server.received) == ALL  # each exactly once

    sent_first = BATCH * (dropped - 1)  # the batches before the dropped connection
    [materialization] = result.asset_materializations_for_node(asset.op.name)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["status"] == "ok"
    assert metadata["accepted"] == metadata["rows"] == ACCOUNTS - sent_first
    assert (metadata["upserts"], metadata["deletes"]) == (ACCOUNTS - sent_first, 0)

    con = duckdb.connect(str(warehouse), read_only=True)
    runs = con.execute("select status, accepted from sync.sync_runs order by started_at").fetchall()
    [(synced,)] = con.execute("select count(*) from sync.sync_state").fetchall()
    con.close()
    assert runs == [
        ("partial" if sent_first else "failed", sent_first),
        ("ok", ACCOUNTS - sent_first),
    ]
    assert synced == ACCOUNTS
    assert "url-part" not in logs and url not in logs


def test_a_config_error_is_not_retried(warehouse: Path, monkeypatch, dbt_manifest) -> None:
    """A webhook URL that is not an http(s) URL cannot pass on a retry: the step fails at
    once, reporting status failed, without the URL."""
    import orchestration.defs.sync.assets as sync_assets

    monkeypatch.setattr(sync_assets, "TRANSIENT_RETRY", FAST_RETRY)
    monkeypatch.setenv("TEST_HOOK_URL", "ftp://hooks.example/secret-path")
    destination = Destination(
        name="misconfigured",
        type="webhook",
        fields={"external_id": "account_id"},
        options={"url_env": "TEST_HOOK_URL"},
    )
    asset = sync_assets.build_sync_asset(destination)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"warehouse": WarehouseResource()},
            raise_on_error=False,
        )
    steps = [e for e in result.all_events if e.step_key == asset.op.name]
    assert "STEP_UP_FOR_RETRY" not in [e.event_type_value for e in steps]
    [failure] = [e for e in steps if e.event_type_value == "STEP_FAILURE"]
    metadata = {k: v.value for k, v in failure.step_failure_data.user_failure_data.metadata.items()}
    assert (metadata["status"], metadata["rows"], metadata["asset"]) == (
        "failed",
        0,
        "sync/misconfigured",
    )
    assert "TEST_HOOK_URL" in metadata["error"] and "secret-path" not in metadata["error"]
