"""Build a scored warehouse without Dagster: the real loader, then a real `dbt build`.

For tests about the scoring itself (its separation power, its portability), where the
orchestration is not under test and its per-run overhead would only cost time.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb

from customer_health.contract import ENTITIES
from customer_health.loader import load_entity
from customer_health.scoring_config import validate_config
from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT_DIR

RUN_ENV_NAMES = ("HEALTH_START_DATE", "HEALTH_DBT_SEED_PATH")


def load_landing(landing: Path, warehouse: Path, as_of: date) -> None:
    """Load every entity's landing files into the raw layer of `warehouse`."""
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    con = duckdb.connect(str(warehouse))
    try:
        for entity in ENTITIES.values():
            load_entity(
                con,
                entity,
                landing,
                load_id="test-load",
                as_of_time=end_of_day.replace(tzinfo=None),
            )
    finally:
        con.close()


def dbt(
    args: list[str], work_dir: Path, as_of: date, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run dbt with its target/ and logs/ under `work_dir`, given the version of the seeds it
    loads (as a run gives it); output captured, not checked."""
    environment = {name: value for name, value in os.environ.items() if name not in RUN_ENV_NAMES}
    seeds = DBT_PROJECT_DIR / env.get("HEALTH_DBT_SEED_PATH", "../seeds")
    environment.update(
        {
            "HEALTH_AS_OF": as_of.isoformat(),
            "HEALTH_CONFIG_VERSION": validate_config(seeds).config_version,
            **env,
        }
    )
    return subprocess.run(
        [
            str(DBT_EXECUTABLE),
            *args,
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(work_dir / "target"),
            "--log-path",
            str(work_dir / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def dbt_ok(args: list[str], work_dir: Path, as_of: date, **env: str) -> str:
    """`dbt` that must succeed; its output, or an AssertionError showing the failure."""
    result = dbt(args, work_dir, as_of, **env)
    assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}"
    return result.stdout
