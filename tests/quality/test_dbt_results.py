"""dbt's run_results.json (captured from a real build, see fixtures/README.md) as records."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import duckdb
import pytest

from customer_health.quality.dbt_results import (
    compiled_sql_path,
    dbt_test_records,
    missing_results_record,
)
from customer_health.quality.results import blocking_results, record_results

FIXTURES = Path(__file__).parent / "fixtures"
TARGET = Path("/runs/dbt/target/health_dbt_models-abc")
PARTITION = "2025-05-01..2025-05-20"


@pytest.fixture(scope="module")
def artifacts() -> tuple[dict, dict]:
    run_results = json.loads((FIXTURES / "dbt_run_results_excerpt.json").read_text())
    manifest = json.loads((FIXTURES / "dbt_manifest_excerpt.json").read_text())
    return run_results, manifest


def _by_name(artifacts: tuple[dict, dict]) -> dict:
    run_results, manifest = artifacts
    records = dbt_test_records(run_results, manifest, partition=PARTITION, target_path=TARGET)
    return {r.check_name: r for r in records}


def test_one_record_per_test_with_its_status_and_severity(artifacts) -> None:
    records = _by_name(artifacts)
    # six tests; the model and seed results (success, skipped) are not checks
    assert {name: (r.status, r.severity) for name, r in records.items()} == {
        "unique_stg_raw__accounts_account_id": ("pass", "error"),
        "not_null_stg_raw__accounts_created_at": ("fail", "error"),
        "relationships_stg_raw__usage_events_account_id__account_id__ref_stg_raw__accounts_": (
            "warn",
            "warn",
        ),
        "assert_broken_sql": ("error", "error"),
        "assert_fact_has_every_account_day": ("skipped", "error"),
        "accepted_values_dim_accounts_trend_30d__improving__declining__stable": (
            "skipped",
            "error",
        ),
    }
    assert {r.stage for r in records.values()} == {"middle"}
    assert {r.partition for r in records.values()} == {PARTITION}
    blocking = sorted(name for name, r in records.items() if r.blocks)
    assert blocking == ["assert_broken_sql", "not_null_stg_raw__accounts_created_at"]


def test_target_is_the_tested_relation(artifacts) -> None:
    records = _by_name(artifacts)
    assert records["not_null_stg_raw__accounts_created_at"].target == "staging.stg_raw__accounts"
    assert (
        records["accepted_values_dim_accounts_trend_30d__improving__declining__stable"].target
        == "marts.dim_accounts"
    )
    # a singular test over three models belongs to the one its meta.dagster.ref names
    assert records["assert_fact_has_every_account_day"].target == "marts.fct_customer_health_daily"


def test_observed_value_and_evidence(artifacts) -> None:
    records = _by_name(artifacts)
    failed = records["not_null_stg_raw__accounts_created_at"]
    assert failed.observed_value == "1"
    assert failed.evidence["message"] == "Got 1 result, configured to fail if != 0"
    assert failed.evidence["dbt_status"] == "fail"
    assert failed.evidence["unique_id"].startswith("test.customer_health.not_null_stg_raw__")
    assert failed.evidence["compiled_sql"] == str(
        TARGET
        / "compiled/customer_health/models/staging/raw/_raw__models.yml"
        / "not_null_stg_raw__accounts_created_at.sql"
    )
    assert records["unique_stg_raw__accounts_account_id"].observed_value == "0"
    errored = records["assert_broken_sql"]
    assert errored.observed_value is None
    assert "no_such_column" in errored.evidence["message"]
    skipped = records["assert_fact_has_every_account_day"]
    assert skipped.observed_value is None and "compiled_sql" not in skipped.evidence


def test_compiled_path_is_where_dbt_wrote_it(artifacts) -> None:
    _, manifest = artifacts
    nodes = [n for n in manifest["nodes"].values() if n.get("compiled_path")]
    assert len(nodes) >= 3  # a YAML test, a YAML test with a hashed file name, a singular one
    for node in nodes:
        assert compiled_sql_path(node) == node["compiled_path"]


def test_a_node_that_failed_to_build_is_an_error(artifacts) -> None:
    run_results, manifest = copy.deepcopy(artifacts)
    for result in run_results["results"]:
        if result["unique_id"] == "model.customer_health.fct_customer_health_daily":
            result.update(
                status="error", message="Runtime Error in model fct_customer_health_daily"
            )
        if (
            result["unique_id"]
            == "test.customer_health.unique_stg_raw__accounts_account_id.0dfd61a8c1"
        ):
            result["status"] = "no-such-status"
    records = dbt_test_records(run_results, manifest, partition=PARTITION)
    [build] = [r for r in records if r.check_name == "dbt_build"]
    assert (build.target, build.status, build.blocks) == (
        "marts.fct_customer_health_daily",
        "error",
        True,
    )
    assert build.evidence["message"].startswith("Runtime Error in model")
    # a status this code does not know is not taken for a pass
    [unknown] = [r for r in records if r.check_name == "unique_stg_raw__accounts_account_id"]
    assert unknown.status == "error"


def test_no_run_results_is_one_blocking_error() -> None:
    record = missing_results_record("dbt wrote no run_results.json", partition=PARTITION)
    assert (record.stage, record.check_name, record.status, record.blocks) == (
        "middle",
        "dbt_build",
        "error",
        True,
    )


def test_records_round_trip_through_the_warehouse(artifacts, tmp_path: Path) -> None:
    run_results, manifest = artifacts
    records = dbt_test_records(run_results, manifest, partition=PARTITION, target_path=TARGET)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        assert record_results(con, "run-1", records) == 6
        blocking = blocking_results(con, "run-1")
    finally:
        con.close()
    assert [(name, target, status) for _, name, target, _, status, _, _ in blocking] == [
        ("assert_broken_sql", "staging.stg_raw__accounts", "error"),
        ("not_null_stg_raw__accounts_created_at", "staging.stg_raw__accounts", "fail"),
    ]
    assert json.loads(blocking[1][6])["message"] == "Got 1 result, configured to fail if != 0"
