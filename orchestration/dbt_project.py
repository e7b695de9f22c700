"""The dbt project as Dagster sees it.

The manifest is prepared (`dbt parse`) by `prepare_manifest()` before the
definitions are imported (the command line and the tests do this), or on import under
`dagster dev` (DAGSTER_IS_DEV_CLI), where it re-parses only after the dbt files changed.
Otherwise importing never parses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from packaging import version

from customer_health.settings import DBT_PROJECT_DIR, SEEDS_DIR
from orchestration.defs.policies import DAILY_FRESHNESS, OWNERS

_BESIDE_PYTHON = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.is_file() else shutil.which("dbt") or "dbt"
"""The dbt installed beside this Python (the project's venv: the dbt-core this process
imports), else dbt from PATH."""

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=os.environ.get("HEALTH_DBT_TARGET", "duckdb"),
)


class HealthDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two costs it pays on every invocation for
    features this project does not use (~7 s a run, measured):

    - it runs `dbt --version` in a subprocess to learn the version: here it is the
      dbt-core installed in this environment (DBT_EXECUTABLE is the dbt beside this
      Python), read from the package metadata;
    - it loads dbt's adapter, profile and project into the Dagster process, which only
      `fetch_row_counts()` / `fetch_column_metadata()` need; neither is called here.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Any) -> None:
        return None


def dbt_resource() -> HealthDbtCliResource:
    """The dbt resource of the definitions (and of `prepare_manifest`)."""
    return HealthDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


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
            dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
            stamp.write_text(fingerprint)


DBT_TARGET_DIR = DBT_PROJECT_DIR / dbt_project.target_path
PARSE_STATE_DIR = DBT_TARGET_DIR / "parse_state"
PARSE_STATES_KEPT = 16
"""dbt parse states kept (the most recently written; one per warehouse and seed folder)."""
_ENV_VAR = re.compile(r"env_var\(\s*['\"]([A-Za-z0-9_]+)['\"]")


def parse_state_key(env: Mapping[str, str]) -> str:
    """Which parse state a dbt invocation can reuse.

    dbt re-parses the whole project (~8 s) unless its partial-parse file was written
    under the same profile connection (the warehouse path) and the same values of the
    environment variables dbt_project.yml reads (the seed folder). dagster-dbt keeps one
    file for the project, so two warehouses used in turn (test workers, a dev and a
    prod data folder) would make every build re-parse: keep one state per value of the
    variables profiles.yml and dbt_project.yml read, instead. dbt still checks every
    file it reuses, so a wrong match costs a parse, never a stale model.
    """
    names = sorted(
        {
            name
            for file in ("profiles.yml", "dbt_project.yml")
            for name in _ENV_VAR.findall((DBT_PROJECT_DIR / file).read_text())
        }
    )
    digest = hashlib.sha256(f"{dbt_project.target}\n".encode())
    for name in names:
        digest.update(f"{name}={env.get(name, os.environ.get(name))}\n".encode())
    return digest.hexdigest()[:16]


def invocation_target(name: str, run_id: str, env: Mapping[str, str]) -> Path:
    """A fresh target folder for one dbt invocation (named as dagster-dbt names its own),
    holding the parse state kept for this environment, if any. Folders of earlier
    invocations go once they are a day old and INVOCATIONS_KEPT newer ones exist (each
    holds a manifest and logs, ~10 MB)."""
    _prune_invocations(name)
    target = DBT_TARGET_DIR / f"{name}-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    kept = PARSE_STATE_DIR / f"{parse_state_key(env)}.msgpack"
    with contextlib.suppress(FileNotFoundError):  # else dagster-dbt copies the project's
        shutil.copyfile(kept, target / "partial_parse.msgpack")
    return target


INVOCATIONS_KEPT = 10


def _prune_invocations(name: str) -> None:
    folders = []
    for folder in DBT_TARGET_DIR.glob(f"{name}-*"):
        with contextlib.suppress(FileNotFoundError):  # another run pruned it meanwhile
            folders.append((folder.stat().st_mtime, folder))
    day_ago = time.time() - 86400
    for mtime, folder in sorted(folders)[:-INVOCATIONS_KEPT]:
        if mtime < day_ago:
            shutil.rmtree(folder, ignore_errors=True)


def keep_parse_state(target: Path, env: Mapping[str, str]) -> None:
    """Keep an invocation's parse state for the next one in the same environment
    (replaced atomically); the least recently written beyond PARSE_STATES_KEPT go."""
    source = target / "partial_parse.msgpack"
    if not source.is_file():
        return
    PARSE_STATE_DIR.mkdir(parents=True, exist_ok=True)
    destination = PARSE_STATE_DIR / f"{parse_state_key(env)}.msgpack"
    scratch = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, scratch)
    os.replace(scratch, destination)
    states = []
    for state in PARSE_STATE_DIR.glob("*.msgpack"):
        with contextlib.suppress(FileNotFoundError):
            states.append((state.stat().st_mtime_ns, state))
    for _, stale in sorted(states)[:-PARSE_STATES_KEPT]:
        stale.unlink(missing_ok=True)


MART_MODELS = (
    "fct_customer_health_daily",
    "fct_health_score_drivers",
    "dim_accounts",
    "mart_health_segment_daily",
    "mart_health_parent_daily",
    "mart_health_movers",
)
"""The marts: what the gate checks and publish copies."""


class HealthDbtTranslator(DagsterDbtTranslator):
    """dbt's nodes as Dagster assets, named and grouped as dbt says (dagster-dbt's
    defaults: the key is the model's schema and name, the group is its dbt group,
    models/_groups.yml), owned by the team; a model whose `meta` says `freshness: daily`
    is expected fresh every day."""

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return OWNERS

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or {}
        meta = node.get("config", {}).get("meta") or node.get("meta") or {}
        if meta.get("freshness") == "daily":
            spec = spec.replace_attributes(freshness_policy=DAILY_FRESHNESS)
        return spec


TRANSLATOR = HealthDbtTranslator()


@cache
def manifest() -> dict[str, Any]:
    """The parsed manifest (`prepare_manifest()` writes it), read once per process."""
    return json.loads(dbt_project.manifest_path.read_text())


def dbt_model_key(name: str) -> dg.AssetKey:
    """The asset key of the dbt model or seed `name`, as the dbt assets name it: what
    another stage depends on, without importing the dbt assets."""
    nodes = manifest()["nodes"]
    for unique_id, node in nodes.items():
        if node["resource_type"] in ("model", "seed") and node["name"] == name:
            return TRANSLATOR.get_asset_spec(manifest(), unique_id, dbt_project).key
    raise KeyError(f"no dbt model or seed named {name!r} in {dbt_project.manifest_path}")


if os.environ.get("DAGSTER_IS_DEV_CLI"):
    # Not `dbt_project.prepare_if_dev()`: that parses on every load of the code (each run
    # worker too) and runs the `dbt` found on PATH, which is missing when dagster is
    # started as .venv/bin/dagster without the venv activated.
    prepare_manifest()
