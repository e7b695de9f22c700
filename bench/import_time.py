"""Benchmark: what importing the definitions costs on top of dagster and dagster_dbt.

    make bench        (or: .venv/bin/python bench/import_time.py [--repeat N])

Each import runs in a fresh interpreter (as `dagster dev` and every launched run do);
the median of N runs is reported. Target (issue 6): under one second more than
`import dagster, dagster_dbt` alone. Needs a parsed manifest (run `make run` or
`python -c "from orchestration.defs.dbt.project import prepare_manifest; prepare_manifest()"`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0


def import_seconds(statement: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", statement],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script: the project root is not on the path
    from orchestration.defs.dbt.project import prepare_manifest

    prepare_manifest()
    baseline = import_seconds("import dagster, dagster_dbt", args.repeat)
    project = import_seconds("import orchestration.definitions", args.repeat)
    extra = project - baseline
    print(f"import dagster, dagster_dbt         {baseline:6.2f} s (median of {args.repeat})")
    print(f"import orchestration.definitions   {project:6.2f} s")
    verdict = "within" if extra < TARGET_SECONDS else "OVER"
    target = f"{verdict} the {TARGET_SECONDS:.0f} s target"
    print(f"the project's own cost             {extra:6.2f} s ({target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
