"""quality.quality_check_results: record validation, what blocks, and the round trip."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.quality.results import (
    TABLE,
    CheckRecord,
    blocking_results,
    partition_range,
    record_results,
)


def _record(**overrides: object) -> CheckRecord:
    values: dict = {
        "stage": "door",
        "check_name": "raw_accounts",
        "target": "raw.accounts",
        "severity": "error",
        "status": "pass",
    }
    values.update(overrides)
    return CheckRecord(**values)


@pytest.mark.parametrize(
    ("field", "value"),
    [("stage", "entry"), ("severity", "ERROR"), ("severity", "info"), ("status", "failed")],
)
def test_record_rejects_unknown_values(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=repr(value)):
        _record(**{field: value})


@pytest.mark.parametrize(
    ("severity", "status", "blocks"),
    [
        ("error", "pass", False),
        ("error", "fail", True),
        ("error", "error", True),
        ("error", "skipped", False),
        ("error", "warn", False),
        ("warn", "warn", False),
        ("warn", "fail", False),
        ("warn", "error", True),  # a check that could not run blocks whatever its severity
    ],
)
def test_what_blocks(severity: str, status: str, blocks: bool) -> None:
    assert _record(severity=severity, status=status).blocks is blocks


def test_partition_range() -> None:
    assert partition_range(date(2025, 5, 25), date(2025, 6, 14)) == "2025-05-25..2025-06-14"


def test_round_trip_keeps_runs_apart_and_returns_only_blocking(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        evidence = {"failed_expectations": [{"column": "mrr", "sample": ["-5.0"]}]}
        written = record_results(
            con,
            "run-a",
            [
                _record(partition="2025-06-01..2025-06-02", observed_value="10 rows"),
                _record(
                    check_name="raw_invoices",
                    target="raw.invoices",
                    status="fail",
                    observed_value="10 rows, 1 failed expectations",
                    evidence=evidence,
                ),
                _record(stage="middle", check_name="unique_x", severity="warn", status="warn"),
                _record(stage="exit", check_name="fct", target="marts.fct", status="error"),
            ],
        )
        assert written == 4
        record_results(con, "run-b", [_record(status="fail")])
        assert record_results(con, "run-c", []) == 0

        blocking = blocking_results(con, "run-a")
        assert [(stage, name, status) for stage, name, _, _, status, _, _ in blocking] == [
            ("door", "raw_invoices", "fail"),
            ("exit", "fct", "error"),
        ]
        door = blocking[0]
        assert door[2] == "raw.invoices" and door[5] == "10 rows, 1 failed expectations"
        assert json.loads(door[6]) == evidence
        assert blocking_results(con, "run-c") == []

        rows = con.execute(
            f"select run_id, count(*), count(distinct checked_at), count(evidence)"
            f" from {TABLE} group by run_id order by run_id"
        ).fetchall()
        # one timestamp per call; no evidence is stored as null, not '{}'
        assert rows == [("run-a", 4, 1, 1), ("run-b", 1, 1, 0)]
        [(partition,)] = con.execute(
            f"select partition from {TABLE} where observed_value = '10 rows'"
        ).fetchall()
        assert partition == "2025-06-01..2025-06-02"
    finally:
        con.close()


def test_suite_record_fails_or_warns_by_severity() -> None:
    from customer_health.quality.gx_suites import SuiteResult
    from customer_health.quality.results import suite_record

    failed = SuiteResult(suite="s", success=False, rows=3, failures=[{"expectation": "x"}])
    as_error = suite_record(failed, stage="exit", target="t", severity="error", partition="p")
    as_warn = suite_record(failed, stage="exit", target="t", severity="warn", partition="p")
    assert (as_error.status, as_error.blocks) == ("fail", True)
    assert (as_warn.status, as_warn.blocks) == ("warn", False)
    assert as_error.observed_value == "3 rows, 1 failed expectations"
    assert as_error.evidence == {"failed_expectations": [{"expectation": "x"}]}
    passed = suite_record(
        SuiteResult(suite="s", rows=3), stage="door", target="t", severity="error", partition="p"
    )
    assert (passed.status, passed.evidence) == ("pass", {})


@pytest.mark.parametrize(
    ("severity", "status", "passed", "dagster_severity"),
    [
        ("error", "pass", True, "WARN"),
        ("error", "skipped", True, "WARN"),
        ("error", "fail", False, "ERROR"),
        ("error", "error", False, "ERROR"),
        ("warn", "warn", False, "WARN"),
        ("warn", "error", False, "ERROR"),  # a check that could not run blocks
    ],
)
def test_asset_check_result_blocks_only_what_the_record_blocks(
    severity: str, status: str, passed: bool, dagster_severity: str
) -> None:
    """A failed check with ERROR severity stops a blocking check's downstream assets: it
    must be exactly the records that block the gate (a warn-severity check never does)."""
    import dagster as dg

    from orchestration.defs.outcomes import asset_check_result

    record = _record(
        severity=severity,
        status=status,
        observed_value="3 rows",
        evidence={"failed_expectations": [{"column": "x"}]} if status != "pass" else {},
    )
    result = asset_check_result(record, dg.AssetKey(["raw", "accounts"]), {"extra": 1})
    assert result.passed is passed
    assert result.severity == getattr(dg.AssetCheckSeverity, dagster_severity)
    assert (not result.passed and result.severity == dg.AssetCheckSeverity.ERROR) == (record.blocks)
    assert result.metadata["observed"].value == "3 rows"
    assert result.metadata["extra"].value == 1
    if status != "pass":
        assert result.metadata["failed_expectations"].value == [{"column": "x"}]
