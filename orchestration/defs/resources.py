"""The working DuckDB warehouse as a Dagster resource.

Resources read their settings when used, not at import.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb

from customer_health import duckdb_connection
from customer_health.settings import Settings

_LOCK_RETRIES = 5


class WarehouseResource(dg.ConfigurableResource):
    """The working warehouse and the folders around it.

    Empty fields fall back to the HEALTH_* environment variables (see .env.example).
    """

    data_dir: str = ""
    landing_dir: str = ""

    def settings(self) -> Settings:
        settings = Settings.from_env()
        if self.data_dir:
            settings = replace(settings, data_dir=Path(self.data_dir).resolve())
        if self.landing_dir:
            settings = replace(settings, landing_dir=Path(self.landing_dir).resolve())
        return settings

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, retried while another process holds the lock."""
        path = self.settings().warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(_LOCK_RETRIES):
            try:
                con = duckdb_connection.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(2**attempt)
        try:
            con.execute("set TimeZone = 'UTC'")
            yield con
        finally:
            con.close()
