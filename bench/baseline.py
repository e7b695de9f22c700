"""The benchmark's baseline: bench/baseline.sql, one hand-written DuckDB script that computes
marts.fct_customer_health_daily from a warehouse's raw tables, in one process, no dbt.

    .venv/bin/python bench/baseline.py --warehouse W.duckdb --out OUT.duckdb \\
        --from 2025-01-01 --to 2025-06-30 --as-of 2025-06-30 [--seeds DIR]

The warehouse is attached read-only; the fact table is written to OUT (replaced). The
connection takes the pipeline's resource limits (HEALTH_DUCKDB_MEMORY_LIMIT, _THREADS,
_TEMP_DIR: customer_health/duckdb_connection.py), so both are measured under the same budget.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's package beside it

from customer_health.duckdb_connection import connect  # noqa: E402

BASELINE_SQL = Path(__file__).with_name("baseline.sql")
SEEDS_DIR = ROOT / "seeds"


def run_baseline(
    warehouse: Path,
    out: Path,
    first: date,
    last: date,
    as_of: date,
    seeds_dir: Path = SEEDS_DIR,
) -> int:
    """Score `first`..`last` as of `as_of` from `warehouse`'s raw tables and the seeds in
    `seeds_dir` into `out`'s main.fct_customer_health_daily; the number of rows written."""
    con = connect(out)
    try:
        con.execute("set preserve_insertion_order = false")  # as dbt's profile
        for name, value in (
            ("score_from", first.isoformat()),
            ("score_to", last.isoformat()),
            ("as_of", as_of.isoformat()),
            ("seeds_dir", str(Path(seeds_dir).resolve())),
        ):
            con.execute(f"set variable {name} = ?", [value])
        con.execute("attach ? as wh (read_only)", [str(warehouse)])
        con.execute(BASELINE_SQL.read_text())
        (rows,) = con.execute("select count(*) from main.fct_customer_health_daily").fetchone()
        return rows
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="pipeline warehouse")
    parser.add_argument("--out", type=Path, required=True, help="DuckDB file to write")
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--seeds", type=Path, default=SEEDS_DIR, help="scoring seeds folder")
    args = parser.parse_args(argv)
    if not args.warehouse.is_file():
        parser.error(f"--warehouse {args.warehouse}: no such file")
    started = time.perf_counter()
    rows = run_baseline(args.warehouse, args.out, args.first, args.last, args.as_of, args.seeds)
    print(f"{rows} rows in {time.perf_counter() - started:.2f} s -> {args.out}")


if __name__ == "__main__":
    main()
