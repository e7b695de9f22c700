"""The file outbox (one file per sync run, JSON lines or CSV, with tombstones) and the
command-line sync with `--dry-run`, on a real warehouse file."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from customer_health.sync.config import Destination, SyncConfigError, load_destinations
from customer_health.sync.runner import make_sender, run_sync
from tests.sync.source import create_sync_source

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def warehouse(health_env: dict[str, Path]) -> Path:
    path = health_env["data"] / "warehouse.duckdb"
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    create_sync_source(con, 3, base_score=60)
    con.close()
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_outbox_writes_one_file_per_sync_with_tombstones(warehouse: Path, fmt: str) -> None:
    destination = Destination(
        name=f"box_{fmt}",
        type="file",
        fields={"id": "account_id", "score": "health_score", "band": "health_band"},
        on_delete="tombstone",
        options={"format": fmt},
    )
    data_dir = warehouse.parent
    con = duckdb.connect(str(warehouse))
    try:
        for run_id in ("run-aaaaaaaa", "run-bbbbbbbb"):
            if run_id == "run-bbbbbbbb":
                con.execute("delete from marts.sync_account_health where account_id = 'ACC-000002'")
            result = run_sync(
                con,
                destination,
                run_id,
                lambda r=run_id: make_sender(destination, con, data_dir, r),
            )
            assert result.error is None
    finally:
        con.close()
    files = sorted((data_dir / "outbox" / destination.name).iterdir())
    assert [f.suffix for f in files] == [f".{fmt}", f".{fmt}"]  # no scratch file left
    if fmt == "jsonl":
        first = [json.loads(line) for line in files[0].read_text().splitlines()]
        second = [json.loads(line) for line in files[1].read_text().splitlines()]
    else:
        first = list(csv.DictReader(files[0].open()))
        second = list(csv.DictReader(files[1].open()))
    assert [(r["_op"], r["id"]) for r in first] == [
        ("upsert", "ACC-000001"), ("upsert", "ACC-000002"), ("upsert", "ACC-000003"),
    ]  # fmt: skip
    assert [(r["_op"], r["id"]) for r in second] == [("delete", "ACC-000002")]
    assert str(second[0]["score"]) == "62.0"  # a tombstone carries the last values sent


def test_cli_dry_run_prints_what_would_be_sent_and_changes_nothing(warehouse: Path) -> None:
    env = {**os.environ}
    env.pop("HEALTH_SYNC_WEBHOOK_URL", None)
    env.pop("HEALTH_SYNC_POSTGRES", None)
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "sync", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "outbox: would send 3 upserts and 0 deletes" in out
    assert '"_op": "upsert", "account_id": "ACC-000001"' in out
    assert "crm_webhook: skipped, HEALTH_SYNC_WEBHOOK_URL is not set" in out
    assert "crm_postgres: skipped, HEALTH_SYNC_POSTGRES is not set" in out
    assert not (warehouse.parent / "outbox").exists()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        assert con.execute("select count(*) from sync.sync_state").fetchone() == (0,)
        assert con.execute("select distinct status from sync.sync_runs").fetchall() == [
            ("dry_run",)
        ]
    finally:
        con.close()


def test_a_broken_sync_file_names_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "sync.yml"
    config.write_text(
        "destinations:\n"
        "  crm:\n"
        "    type: salesforce\n"
        "    on_delete: purge\n"
        "    fields: {id: account_key, score: health_score}\n"
    )
    with pytest.raises(SyncConfigError) as raised:
        load_destinations(config)
    message = str(raised.value)
    assert f"{config}, destination 'crm': type 'salesforce' is not one of" in message
    assert "unknown columns ['account_key']" in message
    assert "one field must map to account_id" in message
    assert "on_delete 'purge' is not one of delete, tombstone, ignore" in message


def test_the_shipped_sync_file_is_valid() -> None:
    names = {d.name: d.type for d in load_destinations(ROOT / "sync.yml")}
    assert names == {"crm_postgres": "postgres", "crm_webhook": "webhook", "outbox": "file"}


def test_sync_assets_report_skipped_and_dry_run(warehouse: Path, monkeypatch, dbt_manifest) -> None:
    """By the output contract: a destination whose variable is unset materializes with
    status skipped and the reason; a dry run with status dry_run and the rows it would
    send, writing nothing."""
    import dagster as dg

    from orchestration.defs.resources import WarehouseResource
    from orchestration.defs.sync.assets import build_sync_asset

    monkeypatch.delenv("TEST_UNSET_URL", raising=False)
    unset = build_sync_asset(
        Destination(
            name="no_url",
            type="webhook",
            fields={"id": "account_id"},
            options={"url_env": "TEST_UNSET_URL"},
        )
    )
    planned = build_sync_asset(Destination(name="plan", type="file", fields={"id": "account_id"}))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [unset, planned],
            instance=instance,
            resources={"warehouse": WarehouseResource()},
            run_config={"ops": {planned.op.name: {"config": {"dry_run": True}}}},
        )
    [skipped] = result.asset_materializations_for_node(unset.op.name)
    [dry] = result.asset_materializations_for_node(planned.op.name)
    skipped_meta = {k: v.value for k, v in skipped.metadata.items()}
    dry_meta = {k: v.value for k, v in dry.metadata.items()}
    assert (skipped_meta["status"], skipped_meta["rows"]) == ("skipped", 0)
    assert skipped_meta["reason"] == "TEST_UNSET_URL is not set"
    assert (dry_meta["status"], dry_meta["rows"], dry_meta["upserts"]) == ("dry_run", 3, 3)
    assert dry_meta["accepted"] == 0
    assert not (warehouse.parent / "outbox").exists()
