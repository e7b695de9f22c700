"""The `wh` fixture: an empty landing folder and a warehouse file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest.loading import Warehouse, connect


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    landing = tmp_path / "landing"
    landing.mkdir()
    con = connect(tmp_path / "warehouse.duckdb")
    yield Warehouse(con, landing)
    con.close()
