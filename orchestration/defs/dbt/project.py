"""The dbt project as Dagster sees it.

The manifest is prepared (`dbt parse`) by `prepare_manifest()` before the
definitions are imported (the command line and the tests do this), or by
`prepare_if_dev()` under `dagster dev`; importing never parses by itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR

DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
"""dbt from PATH, else the one installed beside this Python (the project's venv)."""

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=os.environ.get("HEALTH_DBT_TARGET", "duckdb"),
)
dbt_project.prepare_if_dev()


def prepare_manifest() -> None:
    """Parse the dbt project so that `target/manifest.json` matches the code."""
    from dagster_dbt import DbtCliResource

    dbt = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
    dbt.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()


MART_MODELS = (
    "fct_customer_health_daily",
    "fct_health_score_drivers",
    "dim_accounts",
    "mart_health_segment_daily",
    "mart_health_parent_daily",
    "mart_health_movers",
)
"""The marts: what the gate checks and publish copies."""
