"""Every DuckDB connection the pipeline opens, with the same resource limits.

Without a limit, each DuckDB connection may take 80% of the machine's memory before it
spills to disk, and an in-memory connection cannot spill at all: a publish copy or a
sorted Parquet export of a large table then grows the process far past the dbt profile's
budget. So every connection (the loader, the checks, publishing, exports, syncs, the
command line) opens through `connect`, and dbt's profile reads the same settings
(dbt_project/profiles.yml; the dbt asset passes them on, see `dbt_settings_environment`):

    HEALTH_DUCKDB_MEMORY_LIMIT  memory DuckDB may use per connection   (default 2.5GB)
    HEALTH_DUCKDB_THREADS       threads per connection                  (default 2)
    HEALTH_DUCKDB_TEMP_DIR      where DuckDB spills what does not fit   (default
                                $HEALTH_DATA_DIR/tmp/duckdb)

The defaults fit a 4 GB budget on a small machine (DuckDB wants about 1-2 GB per thread
for large joins and sorts); raise the limit and the threads together on a bigger one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

DEFAULT_MEMORY_LIMIT = "2.5GB"
DEFAULT_THREADS = 2


class DuckDBSettingsError(ValueError):
    """A HEALTH_DUCKDB_* setting DuckDB does not accept (names the variable)."""


def duckdb_settings() -> dict[str, str]:
    """memory_limit, threads and temp_directory, from the environment or the defaults."""
    threads = os.environ.get("HEALTH_DUCKDB_THREADS", "").strip() or str(DEFAULT_THREADS)
    if not threads.isdigit() or int(threads) < 1:
        raise DuckDBSettingsError(
            f"HEALTH_DUCKDB_THREADS={threads!r} is not a whole number of threads >= 1."
        )
    data_dir = Path(os.environ.get("HEALTH_DATA_DIR", "data")).resolve()
    temp_dir = os.environ.get("HEALTH_DUCKDB_TEMP_DIR", "").strip()
    spill = Path(temp_dir).resolve() if temp_dir else data_dir / "tmp" / "duckdb"
    return {
        "memory_limit": os.environ.get("HEALTH_DUCKDB_MEMORY_LIMIT", "").strip()
        or DEFAULT_MEMORY_LIMIT,
        "threads": threads,
        "temp_directory": str(spill),
    }


def dbt_settings_environment() -> dict[str, str]:
    """The HEALTH_DUCKDB_* variables dbt's profile reads, resolved as `connect` uses them."""
    settings = duckdb_settings()
    return {
        "HEALTH_DUCKDB_MEMORY_LIMIT": settings["memory_limit"],
        "HEALTH_DUCKDB_THREADS": settings["threads"],
        "HEALTH_DUCKDB_TEMP_DIR": settings["temp_directory"],
    }


def connect(
    database: str | Path = ":memory:", *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """`duckdb.connect` with the memory limit, threads and spill folder of the settings."""
    settings = duckdb_settings()
    Path(settings["temp_directory"]).mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(database), read_only=read_only, config=settings)
    except (duckdb.InvalidInputException, duckdb.ParserException) as exc:
        raise DuckDBSettingsError(
            f"HEALTH_DUCKDB_MEMORY_LIMIT={settings['memory_limit']!r} is not a memory size"
            f" DuckDB accepts (such as 4GB or 512MB): {exc}"
        ) from exc


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    replace: bool = False,
) -> int:
    """Insert `rows` (tuples in `columns` order) into `relation` in one statement, from an
    Arrow table (DuckDB's `executemany` inserts row by row: 27 s for 7,000 rows); with
    `replace`, rows whose primary key exists replace them. Values are cast to the
    columns' types by the insert. How many rows."""
    if not rows:
        return 0
    import pyarrow as pa  # here: importing the definitions loads no pyarrow

    frame = pa.table({name: pa.array([row[i] for row in rows]) for i, name in enumerate(columns)})
    view = f"_insert_rows_{id(frame)}"
    con.register(view, frame)
    try:
        verb = "insert or replace" if replace else "insert"
        names = ", ".join(columns)
        con.execute(f"{verb} into {relation} ({names}) select {names} from {view}")
    finally:
        con.unregister(view)
    return len(rows)
