"""Benchmark: the whole pipeline (`cli run`) at a size, as a user runs it.

    make bench                       (BENCH_ACCOUNTS=100000 BENCH_DAYS=365 by default)
    .venv/bin/python bench/pipeline.py --accounts 2000 --days 90 --repeat 3

Generated data (`--seed`, no bad rows, ending `--end`) is cached by size under
bench/cache/ (never committed). The last day is held back: the full build scores every
day before it, then that day runs alone, as a nightly run would.

Measured, each in a fresh process tree (wall time, and the peak of the summed resident
memory of every process of the tree, sampled from /proc every 0.1 s):

  full_build        an empty warehouse, ingest through publish, up to the day before the end
  incremental_day   the held-back day alone, after the full build (each repetition starts
                    from a copy of the warehouse the full build left)
  incremental_day_history2x
                    the same day with twice the history (`--days` x 2), to show that a day
                    costs what a day costs, not what the history costs

Min and median of `--repeat` runs (the full builds: `--full-repeat`). Writes
bench/results/latest.json and bench/results/latest.md (the table the README shows).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's package beside it

from orchestration.reliability.runs import run_env  # noqa: E402

CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"
SAMPLE_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    seconds: float
    peak_rss_bytes: int
    exit_code: int


@dataclass
class Measure:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        print(
            f"  {self.name} #{len(self.samples)}: {sample.seconds:.1f} s, "
            f"{sample.peak_rss_bytes / 2**30:.2f} GiB, exit {sample.exit_code}",
            flush=True,
        )

    def summary(self) -> dict[str, object]:
        seconds = [s.seconds for s in self.samples]
        rss = [s.peak_rss_bytes for s in self.samples]
        return {
            "runs": len(self.samples),
            "seconds_min": round(min(seconds), 2),
            "seconds_median": round(statistics.median(seconds), 2),
            "peak_rss_gib_max": round(max(rss) / 2**30, 3),
            "exit_codes": sorted({s.exit_code for s in self.samples}),
            "samples": [asdict(s) for s in self.samples],
        }


def _children(pid: int) -> list[int]:
    """Direct children of a process (every thread's children, from /proc)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(child) for child in fh.read().split()]
        except OSError:
            continue
    return found


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants now."""
    total, pending, seen = 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * PAGE
        except OSError:
            continue
        pending += _children(pid)
    return total


def measured(command: list[str], env: dict[str, str], log: Path) -> Sample:
    """Run a command, its output to `log`; its wall time and the peak RSS of its tree."""
    peak = 0
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(process.pid))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        done.set()
        sampler.join()
    return Sample(round(time.perf_counter() - started, 3), peak, code)


def landing(accounts: int, days: int, end: date, seed: int) -> Path:
    """Generated landing files of this size (cached)."""
    folder = CACHE / f"landing-{accounts}x{days}-seed{seed}-to{end}"
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"generating {accounts:,} accounts x {days} days into {folder}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "orchestration.sample_data", "--out", str(folder),
         "--accounts", str(accounts), "--days", str(days), "--end", end.isoformat(),
         "--seed", str(seed), "--bad-rate", "0"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    (folder / ".complete").touch()
    return folder


def _env(landing_dir: Path, data_dir: Path, end: date) -> dict[str, str]:
    return run_env(landing_dir, data_dir, HEALTH_AS_OF=end.isoformat())


def _cli(first: date | None, last: date) -> list[str]:
    command = [sys.executable, "-m", "orchestration.cli", "run", "--to", last.isoformat()]
    return command + (["--from", first.isoformat()] if first else [])


def bench_size(
    name: str, accounts: int, days: int, end: date, seed: int, repeat: int, full_repeat: int
) -> tuple[Measure, Measure]:
    """Full builds up to the day before `end`, then `end` alone from a copy of the result."""
    land = landing(accounts, days, end, seed)
    work = CACHE / f"work-{accounts}x{days}"
    full, day = Measure(f"full_build{name}"), Measure(f"incremental_day{name}")
    built = work / "built"
    work.mkdir(parents=True, exist_ok=True)
    for n in range(full_repeat):
        shutil.rmtree(built, ignore_errors=True)
        sample = measured(
            _cli(None, end - timedelta(days=1)), _env(land, built, end), work / f"full-{n}.log"
        )
        full.add(sample)
        if sample.exit_code != 0:
            raise SystemExit(f"the full build failed: see {work / f'full-{n}.log'}")
    for n in range(repeat):
        copy = work / "day"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(built, copy)
        sample = measured(_cli(end, end), _env(land, copy, end), work / f"day-{n}.log")
        day.add(sample)
    return full, day


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as fh:
        kib = int(fh.readline().split()[1])
    return round(kib / 2**20, 1)


def markdown(report: dict) -> str:
    rows = [
        "| measure | runs | min s | median s | peak RSS GiB |",
        "|---|---|---|---|---|",
    ]
    for name, m in report["measures"].items():
        rows.append(
            f"| {name} | {m['runs']} | {m['seconds_min']} | {m['seconds_median']} "
            f"| {m['peak_rss_gib_max']} |"
        )
    size = report["size"]
    machine = report["machine"]
    head = (
        f"Pipeline benchmark, {size['accounts']:,} accounts x {size['days']} days "
        f"(history x2: {size['days'] * 2} days), {report['date']}, "
        f"{machine['cores']} cores / {machine['memory_gib']} GiB, commit {report['commit'][:10]}."
    )
    return head + "\n\n" + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get
    parser.add_argument("--accounts", type=int, default=int(env("BENCH_ACCOUNTS", 100_000)))
    parser.add_argument("--days", type=int, default=int(env("BENCH_DAYS", 365)))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=int(env("BENCH_REPEAT", 3)))
    parser.add_argument("--full-repeat", type=int, default=int(env("BENCH_FULL_REPEAT", 1)))
    parser.add_argument("--no-history2x", action="store_true", help="skip the 2x history size")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    measures: dict[str, Measure] = {}
    full, day = bench_size(
        "", args.accounts, args.days, args.end, args.seed, args.repeat, args.full_repeat
    )
    measures[full.name], measures[day.name] = full, day
    if not args.no_history2x:
        _, day2 = bench_size(
            "_history2x", args.accounts, 2 * args.days, args.end, args.seed, args.repeat, 1
        )
        measures[day2.name] = day2
    report = {
        "date": datetime.now(UTC).date().isoformat(),
        "commit": _git_commit(),
        "machine": {"cores": os.cpu_count(), "memory_gib": _memory_gib()},
        "size": {"accounts": args.accounts, "days": args.days, "seed": args.seed,
                 "end": args.end.isoformat()},
        "measures": {name: m.summary() for name, m in measures.items()},
    }  # fmt: skip
    if "incremental_day_history2x" in measures:
        report["ratios"] = {
            "incremental_day_history2x_over_history1x": round(
                measures["incremental_day_history2x"].summary()["seconds_median"]  # type: ignore[operator]
                / measures["incremental_day"].summary()["seconds_median"],  # type: ignore[operator]
                3,
            )
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
