"""Runtime settings, read from environment variables with embedded-mode defaults.

Every setting is listed with its default in `.env.example`. Paths are resolved
against the current working directory when the settings are read, then passed
on as absolute paths (dbt runs in its own directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SEEDS_DIR = PROJECT_ROOT / "seeds"


def _parse_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a date; use YYYY-MM-DD.") from exc


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    data_dir: Path
    as_of: date | None
    partitions_start: date
    default_currency: str
    config_dir: Path

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def serving_path(self) -> Path:
        return self.data_dir / "serving" / "health.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @classmethod
    def from_env(cls) -> Settings:
        as_of = os.environ.get("HEALTH_AS_OF", "").strip()
        config_dir = os.environ.get("HEALTH_CONFIG_DIR", "").strip()
        return cls(
            landing_dir=Path(os.environ.get("HEALTH_LANDING_DIR", "data/landing")).resolve(),
            data_dir=Path(os.environ.get("HEALTH_DATA_DIR", "data")).resolve(),
            as_of=_parse_date("HEALTH_AS_OF", as_of) if as_of else None,
            partitions_start=_parse_date(
                "HEALTH_PARTITIONS_START", os.environ.get("HEALTH_PARTITIONS_START", "2020-01-01")
            ),
            default_currency=os.environ.get("HEALTH_DEFAULT_CURRENCY", "USD").strip().upper(),
            config_dir=Path(config_dir).resolve() if config_dir else SEEDS_DIR,
        )


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (dbt inherits os.environ)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
