"""The middle checks: dbt's `run_results.json` of one `dbt build` as quality records.

Pure functions over the JSON artifacts (run results and manifest), so they are tested
on a captured fixture without running dbt. One record per data test, whatever its
status; unit tests are left out (pipeline runs exclude them). A model or seed that
failed to build gets an `error` record too: its tests were skipped because of it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from customer_health.quality.results import SEVERITIES, CheckRecord

STAGE = "middle"
BUILD_CHECK = "dbt_build"
"""check_name of a node that failed to build, and of a build that left no results."""

_STATUSES = {
    "pass": "pass",
    "fail": "fail",
    "warn": "warn",
    "error": "error",
    "skipped": "skipped",
}
"""dbt test status -> record status. Anything else (unknown to this code) is `error`."""


def dbt_test_records(
    run_results: Mapping[str, Any],
    manifest: Mapping[str, Any],
    *,
    partition: str | None = None,
    target_path: Path | None = None,
) -> list[CheckRecord]:
    """One record per dbt data test in `run_results`, plus one per node that errored.

    `manifest` supplies what run_results.json lacks: the test's name, severity and the
    node it tests. `target_path` (the invocation's target folder) locates compiled SQL.
    """
    nodes: Mapping[str, Any] = manifest.get("nodes", {})
    sources: Mapping[str, Any] = manifest.get("sources", {})
    records = []
    for result in run_results.get("results", []):
        unique_id = result["unique_id"]
        node = nodes.get(unique_id, {})
        resource_type = node.get("resource_type") or unique_id.split(".", 1)[0]
        evidence = _evidence(result, node, target_path)
        if resource_type == "test":
            records.append(
                CheckRecord(
                    stage=STAGE,
                    check_name=node.get("name") or unique_id.split(".")[2],
                    target=_tested(node, nodes, sources) or unique_id,
                    severity=_severity(node),
                    status=_STATUSES.get(result.get("status", ""), "error"),
                    partition=partition,
                    observed_value=(
                        None if result.get("failures") is None else str(result["failures"])
                    ),
                    evidence=evidence,
                )
            )
        elif resource_type != "unit_test" and result.get("status") == "error":
            records.append(
                CheckRecord(
                    stage=STAGE,
                    check_name=BUILD_CHECK,
                    target=_relation(node, unique_id),
                    severity="error",
                    status="error",
                    partition=partition,
                    evidence=evidence,
                )
            )
    return records


def missing_results_record(error: str, *, partition: str | None = None) -> CheckRecord:
    """The record of a dbt build that wrote no run_results.json (it failed before running)."""
    return CheckRecord(
        stage=STAGE,
        check_name=BUILD_CHECK,
        target="dbt_project",
        severity="error",
        status="error",
        partition=partition,
        evidence={"message": error},
    )


def _severity(node: Mapping[str, Any]) -> str:
    severity = str(node.get("config", {}).get("severity") or "error").lower()
    return severity if severity in SEVERITIES else "error"


def _tested(
    node: Mapping[str, Any], nodes: Mapping[str, Any], sources: Mapping[str, Any]
) -> str | None:
    """The relation(s) a test checks: its attached node, else the model its
    `meta.dagster.ref` names (singular tests), else everything it depends on."""
    ids: list[str] = []
    if node.get("attached_node"):
        ids = [node["attached_node"]]
    else:
        meta = node.get("config", {}).get("meta") or node.get("meta") or {}
        ref = (meta.get("dagster") or {}).get("ref") or {}
        ids = [
            unique_id
            for unique_id in node.get("depends_on", {}).get("nodes", [])
            if ref.get("name") and nodes.get(unique_id, {}).get("name") == ref["name"]
        ] or list(node.get("depends_on", {}).get("nodes", []))
    relations = [_relation(nodes.get(i) or sources.get(i) or {}, i) for i in ids]
    return ", ".join(relations) or None


def _relation(node: Mapping[str, Any], unique_id: str) -> str:
    """`schema.table` of a model, seed or source, as in the warehouse."""
    name = node.get("alias") or node.get("identifier") or node.get("name")
    if not node.get("schema") or not name:
        return unique_id
    return f"{node['schema']}.{name}"


def compiled_sql_path(node: Mapping[str, Any], target_path: Path | None = None) -> str | None:
    """Where dbt writes a node's compiled SQL (`<target>/compiled/<package>/<file>`), as dbt
    does: a file of its own keeps its path, a test defined in YAML goes under the YAML file."""
    original, path = node.get("original_file_path"), node.get("path")
    if not original or not path or not node.get("package_name"):
        return None
    if posixpath.basename(path) != posixpath.basename(original):
        original = posixpath.join(original, path)
    relative = posixpath.join("compiled", node["package_name"], original)
    return str(target_path / relative) if target_path is not None else relative


def _evidence(
    result: Mapping[str, Any], node: Mapping[str, Any], target_path: Path | None
) -> dict[str, Any]:
    evidence = {
        "dbt_status": result.get("status"),
        "message": result.get("message"),
        # a skipped node was never compiled
        "compiled_sql": (
            None if result.get("status") == "skipped" else compiled_sql_path(node, target_path)
        ),
        "unique_id": result["unique_id"],
    }
    return {key: value for key, value in evidence.items() if value is not None}
