"""Benchmark: what importing the definitions costs on top of dagster and dagster_dbt.

    make bench        (or: .venv/bin/python bench/import_time.py [--repeat N])

Each repetition is a fresh interpreter (as `dagster dev` and every launched run start):
it imports `dagster` and `dagster_dbt`, then `orchestration.definitions`, and reports
how long each took. The project's own cost is the second import: the same quantity as
the difference of the two whole-process times, without the start-up and teardown noise
that dominates process timings on a shared machine. The medians of N repetitions are
reported. Target (issue 6): under one second. Needs a parsed manifest (run `make run` or
`python -c "from orchestration.dbt_project import prepare_manifest; prepare_manifest()"`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0

PROBE = """
import json, time
started = time.perf_counter()
import dagster, dagster_dbt
baseline = time.perf_counter()
import orchestration.definitions
done = time.perf_counter()
print(json.dumps({"baseline": baseline - started, "project": done - baseline}))
"""


def probe() -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PROBE],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # run as a script: the project root is not on the path
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    samples = [probe() for _ in range(args.repeat)]
    baseline = statistics.median(s["baseline"] for s in samples)
    project = statistics.median(s["project"] for s in samples)
    spread = max(s["project"] for s in samples) - min(s["project"] for s in samples)
    verdict = "within" if project < TARGET_SECONDS else "OVER"
    print(
        f"import dagster, dagster_dbt                  {baseline:6.2f} s (median of {args.repeat})"
    )
    print(
        f"then import orchestration.definitions       {project:6.2f} s"
        f" ({verdict} the {TARGET_SECONDS:.0f} s target; spread {spread:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
