"""Shared fixtures: isolated landing and data folders per test, and a parsed dbt project."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """Parse the dbt project once per session (the definitions need the manifest)."""
    from orchestration.dbt_project import dbt_project, prepare_manifest

    prepare_manifest()
    return dbt_project.manifest_path


@pytest.fixture
def health_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """HEALTH_* settings pointing into tmp_path, restored after the test."""
    landing, data = tmp_path / "landing", tmp_path / "data"
    landing.mkdir()
    monkeypatch.setenv("HEALTH_LANDING_DIR", str(landing))
    monkeypatch.setenv("HEALTH_DATA_DIR", str(data))
    for name in ("HEALTH_AS_OF", "HEALTH_START_DATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster"))
    return {"landing": landing, "data": data}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
