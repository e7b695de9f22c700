"""The dbt project as Dagster sees it.

The manifest is prepared (`dbt parse`) by `prepare_manifest()` before the
definitions are imported (the command line and the tests do this), or on import under
`dagster dev` (DAGSTER_IS_DEV_CLI), where it re-parses only after the dbt files changed.
Otherwise importing never parses.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR, SEEDS_DIR

DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
"""dbt from PATH, else the one installed beside this Python (the project's venv)."""

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=os.environ.get("HEALTH_DBT_TARGET", "duckdb"),
)


PARSE_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")
"""What `dbt parse` reads in dbt_project/ (with the seed file names)."""


def project_fingerprint() -> str:
    """Names, sizes and modification times of every file the parse reads, and the target."""
    digest = hashlib.sha256(f"{dbt_project.target}\n".encode())
    for name in PARSE_INPUTS:
        path = DBT_PROJECT_DIR / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            relative = file.relative_to(DBT_PROJECT_DIR)
            digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for seed in sorted(SEEDS_DIR.glob("*.csv")):
        digest.update(f"seed {seed.name}\n".encode())
    return digest.hexdigest()


def prepare_manifest() -> None:
    """Parse the dbt project so that `target/manifest.json` matches the code.

    Skipped when the manifest was parsed from exactly these files (a fingerprint is kept
    beside it): a parse costs several seconds, and each run would pay it.
    """
    from dagster_dbt import DbtCliResource

    stamp = dbt_project.manifest_path.with_name("manifest.fingerprint")
    fingerprint = project_fingerprint()
    if dbt_project.manifest_path.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return
    stamp.parent.mkdir(parents=True, exist_ok=True)
    # one parse at a time (`dagster dev` loads the code in several processes at once, and
    # so do parallel test workers); whoever waited finds the manifest fresh
    with stamp.with_name(".parse.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_text() == fingerprint):
            dbt = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
            dbt.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
            stamp.write_text(fingerprint)


MART_MODELS = (
    "fct_customer_health_daily",
    "fct_health_score_drivers",
    "dim_accounts",
    "mart_health_segment_daily",
    "mart_health_parent_daily",
    "mart_health_movers",
)
"""The marts: what the gate checks and publish copies."""


if os.environ.get("DAGSTER_IS_DEV_CLI"):
    # Not `dbt_project.prepare_if_dev()`: that parses on every load of the code (each run
    # worker too) and runs the `dbt` found on PATH, which is missing when dagster is
    # started as .venv/bin/dagster without the venv activated.
    prepare_manifest()
