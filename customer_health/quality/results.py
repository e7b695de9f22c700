"""Every check of a run, at the door, in the middle and at the exit, as rows of
`quality.quality_check_results` in the warehouse (published with the marts), so BI can
show data-quality status next to the scores and the gate can read one table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from customer_health.duckdb_connection import insert_rows
from customer_health.quality.gx_suites import SuiteResult

SCHEMA = "quality"
TABLE = f"{SCHEMA}.quality_check_results"
COLUMNS = (
    "run_id", "checked_at", "stage", "check_name", "target", "partition", "severity", "status",
    "observed_value", "evidence",
)  # fmt: skip

STAGES = ("door", "middle", "exit", "freshness")
"""door: raw batches (GX); middle: dbt tests; exit: new fact partitions (GX);
freshness: dbt source freshness."""
SEVERITIES = ("error", "warn")
STATUSES = ("pass", "fail", "warn", "error", "skipped")
"""fail: an error-severity check failed (blocks); warn: a warn-severity check failed
(does not block); error: the check itself could not run (blocks)."""


@dataclass(frozen=True)
class CheckRecord:
    stage: str
    check_name: str
    target: str
    severity: str
    status: str
    partition: str | None = None
    observed_value: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage {self.stage!r} is not one of {STAGES}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    @property
    def blocks(self) -> bool:
        """Whether this result stops publishing and syncing."""
        return self.status == "error" or (self.status == "fail" and self.severity == "error")


def suite_record(
    suite: SuiteResult,
    *,
    stage: str,
    target: str,
    severity: str,
    partition: str,
    check_name: str | None = None,
) -> CheckRecord:
    """The record of one GX suite run (named after the suite unless `check_name` is given):
    a failure is `fail` for an error-severity suite (blocks) and `warn` for a warn-severity
    one; failed expectations are the evidence."""
    return CheckRecord(
        stage=stage,
        check_name=check_name or suite.suite,
        target=target,
        severity=severity,
        status="pass" if suite.success else ("fail" if severity == "error" else "warn"),
        partition=partition,
        observed_value=f"{suite.rows} rows, {len(suite.failures)} failed expectations",
        evidence={"failed_expectations": suite.failures} if suite.failures else {},
    )


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"""
        create table if not exists {TABLE} (
            run_id varchar not null,
            checked_at timestamp not null,
            stage varchar not null,
            check_name varchar not null,
            target varchar not null,
            partition varchar,
            severity varchar not null,
            status varchar not null,
            observed_value varchar,
            evidence varchar
        )
        """
    )


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, records: Iterable[CheckRecord]
) -> int:
    """Append the records of one run (checked now, UTC); returns how many were written."""
    ensure_table(con)
    checked_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            run_id,
            checked_at,
            r.stage,
            r.check_name,
            r.target,
            r.partition,
            r.severity,
            r.status,
            None if r.observed_value is None else str(r.observed_value),
            json.dumps(r.evidence, default=str, sort_keys=True) if r.evidence else None,
        )
        for r in records
    ]
    return insert_rows(con, TABLE, COLUMNS, rows)


def blocking_results(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """(stage, check_name, target, partition, status, observed_value, evidence) of every
    result of the run that blocks publishing."""
    ensure_table(con)
    return con.execute(
        f"""
        select stage, check_name, target, partition, status, observed_value, evidence
        from {TABLE}
        where run_id = ? and (status = 'error' or (status = 'fail' and severity = 'error'))
        order by stage, check_name, target, partition
        """,
        [run_id],
    ).fetchall()


def result_counts(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int]]:
    """(status, results) of the run, by status."""
    ensure_table(con)
    return con.execute(
        f"select status, count(*) from {TABLE} where run_id = ? group by status order by status",
        [run_id],
    ).fetchall()


def partition_range(first: date, last: date) -> str:
    """The days a run checked, as stored in `partition`: `YYYY-MM-DD..YYYY-MM-DD`."""
    return f"{first.isoformat()}..{last.isoformat()}"
