"""The webhook sync against a real local HTTP server, through a real Dagster materialization
of the sync asset: the server fails the first attempts with 503 (the very first after it
had already stored the batch), then accepts, and rejects one record with 422. Every
accepted record arrives once, the rejected one is reported, the state advances only for
what was accepted, and neither the URL nor the token shows in any log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from customer_health.sync.config import Destination
from orchestration.defs.resources import WarehouseResource
from tests.sync.source import create_sync_source

TOKEN = "s3cret-token-for-tests"
ACCOUNTS = 7
BAD = "ACC-000004"


class Receiver(BaseHTTPRequestHandler):
    """A CRM endpoint: bearer auth, dedup by Idempotency-Key, 503 on the first two POSTs
    (the first after storing its batch: the reply was lost), 422 naming BAD."""

    posts: list[str] = []
    stored: dict[str, list[dict]] = {}

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        type(self).posts.append(key)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"error": "unauthorized"})
        records = body["records"]
        if any(r["external_id"] == BAD for r in records):
            return self._reply(422, {"rejected": [{"key": BAD, "reason": "owner unknown"}]})
        if key not in self.stored:
            self.stored[key] = records
        if len(self.posts) <= 2:
            return self._reply(503, {"error": "try again"})
        return self._reply(200, {"accepted": len(records)})

    def _reply(self, status: int, document: dict) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.posts, Receiver.stored = [], {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/health?secret=url-part"
    server.shutdown()
    server.server_close()


@pytest.fixture
def warehouse(health_env: dict[str, Path]) -> Path:
    path = health_env["data"] / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    create_sync_source(con, ACCOUNTS, base_score=50)
    con.close()
    return path


def _sync_asset(destination: Destination) -> dg.AssetsDefinition:
    # imported here: the definitions need the parsed manifest (the dbt_manifest fixture)
    from orchestration.defs.sync.assets import build_sync_asset

    return build_sync_asset(destination)


def test_webhook_delivers_each_accepted_record_once_and_reports_the_rejected(
    receiver: str, warehouse: Path, monkeypatch, capsys, dbt_manifest
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver)
    monkeypatch.setenv("TEST_HOOK_TOKEN", TOKEN)
    destination = Destination(
        name="crm_hook",
        type="webhook",
        fields={"external_id": "account_id", "score": "health_score", "band": "health_band"},
        on_delete="tombstone",
        batch_size=3,
        options={
            "url_env": "TEST_HOOK_URL",
            "token_env": "TEST_HOOK_TOKEN",
            "backoff_seconds": 0.05,
            "max_attempts": 4,
        },
    )
    asset = _sync_asset(destination)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], instance=instance, resources={"warehouse": WarehouseResource()}
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node(asset.op.name)
        logs = "\n".join(str(event.user_message) for event in instance.all_logs(result.run_id))
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["accepted"] == ACCOUNTS - 1
    assert metadata["rejected"] == 1
    assert metadata["rejections"] == {BAD: "owner unknown"}
    assert (metadata["status"], metadata["rows"]) == ("ok", ACCOUNTS - 1)  # the rest accepted

    # every accepted record delivered once: one stored batch per idempotency key, and
    # the batch whose first reply was lost was not stored twice
    delivered = [r["external_id"] for batch in Receiver.stored.values() for r in batch]
    assert sorted(delivered) == [f"ACC-{i:06d}" for i in range(1, ACCOUNTS + 1) if i != 4]
    assert len(Receiver.posts) > len(Receiver.stored)  # retries happened
    assert Receiver.posts[0] == Receiver.posts[1]  # a retry repeats its key

    con = duckdb.connect(str(warehouse), read_only=True)
    synced = [
        k for (k,) in con.execute("select record_key from sync.sync_state order by 1").fetchall()
    ]
    con.close()
    assert synced == sorted(delivered)  # the rejected record is not marked as synced

    output = capsys.readouterr()
    for secret in (TOKEN, "url-part", receiver):
        assert secret not in logs and secret not in output.out + output.err

    # a second sync sends only the record that was rejected (still unsynced)
    Receiver.posts.clear()
    with dg.DagsterInstance.ephemeral() as instance:
        again = dg.materialize(
            [asset], instance=instance, resources={"warehouse": WarehouseResource()}
        )
    [second] = again.asset_materializations_for_node(asset.op.name)
    assert second.metadata["upserts"].value == 1
    assert second.metadata["rejected"].value == 1


def test_webhook_that_stays_down_fails_its_asset_and_keeps_earlier_batches(
    warehouse: Path, monkeypatch, dbt_manifest
) -> None:
    """A refused connection on every attempt: after the webhook's own retries the error
    is transient, so the step's retry policy (here without its waits) tries again; when
    those are used up too the step fails with status failed, naming the variable, not the
    URL, and nothing is marked as synced."""
    import orchestration.defs.sync.assets as sync_assets

    retries = 2
    monkeypatch.setattr(sync_assets, "TRANSIENT_RETRY", dg.RetryPolicy(max_retries=retries))
    monkeypatch.setenv("TEST_HOOK_URL", "http://127.0.0.1:9/unreachable-secret-path")
    destination = Destination(
        name="down_hook",
        type="webhook",
        fields={"external_id": "account_id", "score": "health_score"},
        batch_size=3,
        options={"url_env": "TEST_HOOK_URL", "backoff_seconds": 0.01, "max_attempts": 2},
    )
    asset = sync_assets.build_sync_asset(destination)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"warehouse": WarehouseResource()},
            raise_on_error=False,
        )
        assert not result.success
        logs = "\n".join(str(event.user_message) for event in instance.all_logs(result.run_id))
    steps = [e.event_type_value for e in result.all_events if e.step_key == asset.op.name]
    assert steps.count("STEP_UP_FOR_RETRY") == retries
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    reported = failure.step_failure_data.user_failure_data  # the last attempt's Failure
    assert "TEST_HOOK_URL" in reported.description
    assert "unreachable-secret-path" not in reported.description + logs
    metadata = {k: v.value for k, v in reported.metadata.items()}
    assert (metadata["status"], metadata["asset"], metadata["rows"]) == (
        "failed",
        "sync/down_hook",
        0,
    )
    assert (metadata["upserts"], metadata["accepted"]) == (ACCOUNTS, 0)
    assert "did not take a batch of 3 records after 2 attempts" in metadata["error"]
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from sync.sync_state").fetchone() == (0,)
    assert con.execute("select status from sync.sync_runs").fetchall() == [("failed",)] * (
        retries + 1
    )
    con.close()


def test_a_wrong_token_fails_the_sync_at_once(
    receiver: str, warehouse: Path, monkeypatch, dbt_manifest
) -> None:
    """401 means the token is wrong, not the records: the step fails with status failed,
    no retry of the step, nothing marked as synced, and the token not in the error."""
    import orchestration.defs.sync.assets as sync_assets

    monkeypatch.setattr(sync_assets, "TRANSIENT_RETRY", dg.RetryPolicy(max_retries=2))
    monkeypatch.setenv("TEST_HOOK_URL", receiver)
    monkeypatch.setenv("TEST_HOOK_TOKEN", "wrong-token-value")
    destination = Destination(
        name="bad_token",
        type="webhook",
        fields={"external_id": "account_id"},
        options={"url_env": "TEST_HOOK_URL", "token_env": "TEST_HOOK_TOKEN"},
    )
    asset = sync_assets.build_sync_asset(destination)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"warehouse": WarehouseResource()},
            raise_on_error=False,
        )
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in kinds and len(Receiver.posts) == 1
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    metadata = {k: v.value for k, v in failure.step_failure_data.user_failure_data.metadata.items()}
    assert (metadata["status"], metadata["accepted"], metadata["rejected"]) == ("failed", 0, 0)
    assert "HTTP 401" in metadata["error"] and "wrong-token-value" not in metadata["error"]
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from sync.sync_state").fetchone() == (0,)
    con.close()
