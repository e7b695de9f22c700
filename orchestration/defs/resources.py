"""The warehouse as a Dagster resource: its settings, and the engine every stage reaches
it through (customer_health.warehouse, the one seam to the database).

Resources read their settings when used, not at import.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg

from customer_health.settings import Settings
from customer_health.warehouse import Warehouse, open_warehouse


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

    def engine(self) -> Warehouse:
        """The warehouse these settings name: sessions for a step's operations, and the
        publication (customer_health.warehouse)."""
        return open_warehouse(self.settings())
