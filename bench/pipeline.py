"""Benchmark: the whole pipeline (`cli run`) at a size, as a user runs it.

    make bench                       (BENCH_ACCOUNTS=100000 BENCH_DAYS=365 by default)
    .venv/bin/python bench/pipeline.py --accounts 2000 --days 90 --repeat 3

Generated data (`--seed`, no bad rows, ending `--end`) is cached by size under
bench/cache/ (never committed). The last day is held back: the full build loads the
landing files of every day before it and scores those days, then that day's files
arrive and it runs alone, as a nightly run would.

Measured, each in a fresh process tree (wall time, and the peak of the summed resident
memory of every process of the tree, sampled from /proc every 0.1 s):

  full_build        an empty warehouse, ingest through publish, up to the day before the end
  incremental_day   the held-back day alone, after the full build (each repetition starts
                    from a copy of the warehouse the full build left)
  full_build_history2x / incremental_day_history2x
                    the same with twice the history (`--days` x 2), to show that a day
                    costs what a day costs, not what the history costs
  baseline_full_build / baseline_incremental_day
                    bench/baseline.sql, the same fact rows written by hand in one DuckDB
                    script with no orchestration, for the same days from the same raw
                    tables (the raw layer each pipeline run loaded): what the pipeline's
                    time is divided by. It starts from loaded raw tables, so the full
                    build's ratio includes the pipeline's ingest of the landing files;
                    DuckDB gets BENCH_BASELINE_MEMORY_LIMIT (default 16GB) for it, and
                    the peak-memory target applies to the pipeline's runs.

Min and median of `--repeat` runs (the full builds: `--full-repeat`). Writes
bench/results/latest.json (sizes, every figure, the ratios, the targets met or not,
machine, commit) and bench/results/latest.md (the tables the README shows), rewritten
after every run: a benchmark stopped part-way leaves its figures so far, marked incomplete.
`--resume` keeps the measures of the report already in `--out` (same size, seed and end)
that have all their runs, and runs only the sizes still missing: a default-size benchmark
takes longer than one sitting. Each measure records the commit it ran at, and the report
lists the files that differ between those commits and this one (`resumed_from`), so a
reader can see whether the code measured was the same.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the project's package beside it

from customer_health.duckdb_connection import DEFAULT_MEMORY_LIMIT  # noqa: E402
from orchestration.reliability.runs import run_env  # noqa: E402

CACHE = ROOT / "bench" / "cache"
BASELINE_MEMORY_LIMIT = os.environ.get("BENCH_BASELINE_MEMORY_LIMIT", "16GB")
"""DuckDB's memory for the baseline: what the machine can give, not the pipeline's budget
(the baseline scores every day in one query, which at 100,000 accounts x 365 days runs
out of 2.5 GB), so the ratios compare with DuckDB at its fastest here."""
RESULTS = ROOT / "bench" / "results"
SAMPLE_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sample:
    seconds: float
    peak_rss_bytes: int
    exit_code: int
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per Dagster step of the run: its seconds and the peak RSS of the tree while it ran
    (`step_profile`), so a peak or a slow run names its step."""


@dataclass
class Measure:
    name: str
    samples: list[Sample] = field(default_factory=list)
    commit: str = ""
    """The commit it was measured at (a resumed benchmark keeps earlier measures)."""

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
            "commit": self.commit or _git_commit(),
            "samples": [asdict(s) for s in self.samples],
        }

    @classmethod
    def from_summary(cls, name: str, summary: dict, commit: str) -> Measure:
        """A measure of an earlier report (`commit`: the report's, when the measure has none)."""
        samples = [Sample(**{"steps": {}, **sample}) for sample in summary["samples"]]
        return cls(name, samples, summary.get("commit", commit))


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


def measured(
    command: list[str], env: dict[str, str], log: Path, data_dir: Path | None = None
) -> Sample:
    """Run a command, its output to `log`; its wall time and the peak RSS of its tree,
    and, when it ran the pipeline on `data_dir`, the same per Dagster step."""
    peak = 0
    series: list[tuple[float, int]] = []  # (epoch seconds, tree RSS)
    started, wall_start = time.perf_counter(), time.time()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                rss = tree_rss(process.pid)
                peak = max(peak, rss)
                series.append((time.time(), rss))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        done.set()
        sampler.join()
    steps = step_profile(data_dir, wall_start, series) if data_dir else {}
    return Sample(round(time.perf_counter() - started, 3), peak, code, steps)


def step_profile(
    data_dir: Path, since: float, series: list[tuple[float, int]]
) -> dict[str, dict[str, float]]:
    """Seconds and peak tree RSS (GiB) of each step of the Dagster run that started after
    `since` on `data_dir` (its SQLite event log), from the RSS samples taken meanwhile."""
    import sqlite3

    runs = data_dir / "dagster" / "history" / "runs"
    logs = [
        path
        for path in (runs.glob("*.db") if runs.is_dir() else ())
        if path.name != "index.db" and path.stat().st_mtime >= since
    ]
    steps: dict[str, dict[str, float]] = {}
    for path in logs:
        con = sqlite3.connect(path)
        try:
            rows = con.execute(
                "select step_key, dagster_event_type, timestamp from event_logs"
                " where dagster_event_type in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE')"
                " order by id"
            ).fetchall()
        finally:
            con.close()
        began: dict[str, float] = {}
        for step, kind, stamp in rows:
            at = datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC).timestamp()
            if kind == "STEP_START":
                began[step] = at
            elif step in began:
                inside = [rss for t, rss in series if began[step] <= t <= at]
                steps[step] = {
                    "seconds": round(at - began[step], 1),
                    "peak_rss_gib": round(max(inside, default=0) / 2**30, 3),
                }
    return steps


def landing(accounts: int, days: int, end: date, seed: int) -> Path:
    """Generated landing files of this size (cached)."""
    folder = CACHE / f"landing-{accounts}x{days}-seed{seed}-to{end}"
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    print(f"generating {accounts:,} accounts x {days} days into {folder}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "customer_health.sample_data", "--out", str(folder),
         "--accounts", str(accounts), "--days", str(days), "--end", end.isoformat(),
         "--seed", str(seed), "--bad-rate", "0"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    (folder / ".complete").touch()
    return folder


def held_back(land: Path, end: date) -> Path:
    """The landing folder without the files of day `end` (hard links, cached): what the
    landing folder held the night before. The full build loads this; the day's run then
    finds that day's files new, as a nightly run does."""
    folder = land.with_name(f"{land.name}-without-{end}")
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    for file in sorted(land.rglob("*")):
        if file.is_file() and file.name != ".complete" and file.stem != end.isoformat():
            linked = folder / file.relative_to(land)
            linked.parent.mkdir(parents=True, exist_ok=True)
            os.link(file, linked)
    (folder / ".complete").touch()
    return folder


def _env(landing_dir: Path, data_dir: Path, end: date) -> dict[str, str]:
    return run_env(landing_dir, data_dir, HEALTH_AS_OF=end.isoformat())


def _cli(first: date | None, last: date) -> list[str]:
    command = [sys.executable, "-m", "orchestration.cli", "run", "--to", last.isoformat()]
    return command + (["--from", first.isoformat()] if first else [])


def _baseline(warehouse: Path, out: Path, first: date, last: date, as_of: date) -> list[str]:
    return [sys.executable, str(ROOT / "bench" / "baseline.py"), "--warehouse", str(warehouse),
            "--out", str(out), "--from", first.isoformat(), "--to", last.isoformat(),
            "--as-of", as_of.isoformat()]  # fmt: skip


@dataclass
class SizeResult:
    full: Measure
    day: Measure
    baseline_full: Measure
    baseline_day: Measure


def bench_size(
    name: str,
    accounts: int,
    days: int,
    end: date,
    seed: int,
    repeat: int,
    full_repeat: int,
    *,
    baselines: bool = True,
    progress: Callable[[Measure], None] = lambda measure: None,
) -> SizeResult:
    """Full builds up to the day before `end`, then `end` alone from a copy of the result,
    restored each time at the full build's path: a nightly run finds its warehouse where
    the night before left it (dbt reuses its parse state, which is kept per warehouse
    path); the hand-written baseline (bench/baseline.sql) for the same days from the
    same raw tables: the full build's days from the full build's raw layer, `end` from
    the raw layer the day's run left (unless `baselines` is false). `progress` is called
    with a measure after each of its runs."""
    land = landing(accounts, days, end, seed)
    before_end = held_back(land, end)
    work = CACHE / f"work-{accounts}x{days}"
    result = SizeResult(
        Measure(f"full_build{name}"),
        Measure(f"incremental_day{name}"),
        Measure(f"baseline_full_build{name}"),
        Measure(f"baseline_incremental_day{name}"),
    )
    data, full_built = work / "data", work / "full-build"
    work.mkdir(parents=True, exist_ok=True)
    for n in range(full_repeat):
        shutil.rmtree(data, ignore_errors=True)
        log = work / f"full-{n}.log"
        sample = measured(
            _cli(None, end - timedelta(days=1)), _env(before_end, data, end), log, data
        )
        result.full.add(sample)
        progress(result.full)
        if sample.exit_code != 0:
            raise SystemExit(f"the full build failed: see {log}")
    shutil.rmtree(full_built, ignore_errors=True)
    data.rename(full_built)
    for n in range(repeat):
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(full_built, data)
        log = work / f"day-{n}.log"
        sample = measured(_cli(end, end), _env(land, data, end), log, data)
        result.day.add(sample)
        progress(result.day)
        if sample.exit_code != 0:
            raise SystemExit(f"the incremental day failed: see {log}")
    first, day_before = end - timedelta(days=days - 1), end - timedelta(days=1)
    runs = (
        (result.baseline_full, full_built, first, day_before, full_repeat),
        (result.baseline_day, data, end, end, repeat),
    )
    for measure, source, first_day, last_day, times in runs if baselines else ():
        for n in range(times):
            out = work / "baseline.duckdb"
            out.unlink(missing_ok=True)
            log = work / f"{measure.name}-{n}.log"
            command = _baseline(source / "warehouse.duckdb", out, first_day, last_day, end)
            env = _env(land, work / "baseline-data", end)
            env["HEALTH_DUCKDB_MEMORY_LIMIT"] = BASELINE_MEMORY_LIMIT
            sample = measured(command, env, log)
            measure.add(sample)
            progress(measure)
            if sample.exit_code != 0:
                raise SystemExit(f"the baseline failed: see {log}")
    return result


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _memory_gib() -> float:
    with open("/proc/meminfo") as fh:
        kib = int(fh.readline().split()[1])
    return round(kib / 2**20, 1)


TARGETS = {
    "full_build_over_baseline": 1.5,
    "incremental_day_seconds": 10.0,
    "incremental_day_history2x_over_history1x": 1.2,
    "peak_rss_gib": 4.0,
}


def _median(report: dict, name: str) -> float | None:
    measure = report["measures"].get(name)
    return measure["seconds_median"] if measure else None


def ratios(report: dict) -> dict[str, float]:
    """Pipeline over baseline for the full build and the day; the day at 2x history over
    the day at 1x (each from medians)."""
    found = {}
    pairs = {
        "full_build_over_baseline": ("full_build", "baseline_full_build"),
        "incremental_day_over_baseline": ("incremental_day", "baseline_incremental_day"),
        "incremental_day_history2x_over_history1x": (
            "incremental_day_history2x",
            "incremental_day",
        ),
    }
    for ratio, (top, bottom) in pairs.items():
        a, b = _median(report, top), _median(report, bottom)
        if a is not None and b:
            found[ratio] = round(a / b, 3)
    return found


def target_checks(report: dict) -> dict[str, dict[str, object]]:
    """Each target of the scale issue: its bound, the measured figure, met or not."""
    peak = max(
        m["peak_rss_gib_max"]
        for name, m in report["measures"].items()
        if not name.startswith("baseline")  # the pipeline's peak; the baseline may use more
    )
    measured_values = {
        "full_build_over_baseline": report["ratios"].get("full_build_over_baseline"),
        "incremental_day_seconds": _median(report, "incremental_day"),
        "incremental_day_history2x_over_history1x": report["ratios"].get(
            "incremental_day_history2x_over_history1x"
        ),
        "peak_rss_gib": peak,
    }
    checks = {}
    for name, bound in TARGETS.items():
        value = measured_values[name]
        checks[name] = {
            "bound": bound,
            "measured": value,
            "met": value is not None and value <= bound,
        }
    return checks


def markdown(report: dict) -> str:
    rows = [
        "| measure | runs | min s | median s | peak RSS GiB | commit |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in report["measures"].items():
        rows.append(
            f"| {name} | {m['runs']} | {m['seconds_min']} | {m['seconds_median']} "
            f"| {m['peak_rss_gib_max']} | {m['commit'][:10]} |"
        )
    size = report["size"]
    machine = report["machine"]
    history = f"history x2: {size['days'] * 2} days" if size["history2x"] else "no 2x history"
    head = (
        f"Pipeline benchmark, {size['accounts']:,} accounts x {size['days']} days "
        f"({history}), {report['date']}, "
        f"{machine['cores']} cores / {machine['memory_gib']} GiB, commit {report['commit'][:10]}."
        f" DuckDB memory: the pipeline {report['memory']['pipeline']},"
        f" the baseline {report['memory']['baseline']}."
    )
    for commit, files in report.get("resumed_from", {}).items():
        head += (
            f" Resumed: measures at {commit[:10]}, whose files differ from this commit's"
            f" in {', '.join(files) or 'none'}."
        )
    if not report["complete"]:
        head += " Incomplete: the runs so far (the benchmark is running or was stopped)."

    step_rows = ["| measure | slowest steps (median run) | step at the peak |", "|---|---|---|"]
    for name, m in report["measures"].items():
        runs = [sample for sample in m["samples"] if sample.get("steps")]
        if not runs:
            continue
        median = sorted(runs, key=lambda sample: sample["seconds"])[len(runs) // 2]
        slowest = sorted(median["steps"].items(), key=lambda kv: -kv[1]["seconds"])[:3]
        peak = max(
            ((step, v["peak_rss_gib"]) for r in runs for step, v in r["steps"].items()),
            key=lambda kv: kv[1],
        )
        shown = ", ".join(f"{step} {v['seconds']:g} s" for step, v in slowest)
        step_rows.append(f"| {name} | {shown} | {peak[0]} {peak[1]:g} GiB |")
    ratio_rows = ["| ratio | value |", "|---|---|"] + [
        f"| {name} | {value} |" for name, value in report["ratios"].items()
    ]
    target_rows = ["| target | bound | measured | met |", "|---|---|---|---|"] + [
        f"| {name} | {t['bound']} | {t['measured']} | {'yes' if t['met'] else 'no'} |"
        for name, t in report["targets"].items()
    ]
    return (
        "\n\n".join(
            [
                head,
                "\n".join(rows),
                *(["\n".join(step_rows)] if len(step_rows) > 2 else []),
                "\n".join(ratio_rows),
                "\n".join(target_rows),
            ]
        )
        + "\n"
    )


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
    parser.add_argument("--resume", action="store_true", help="keep the finished measures in --out")
    args = parser.parse_args()

    measures = resumed(args) if args.resume else {}

    def progress(measure: Measure) -> None:
        measures[measure.name] = measure
        write_report(args, measures, complete=False)

    if not _finished(measures, "", args.repeat, args.full_repeat, baselines=True):
        bench_size(
            "", args.accounts, args.days, args.end, args.seed, args.repeat, args.full_repeat,
            progress=progress,
        )  # fmt: skip
    if not args.no_history2x and not _finished(
        measures, "_history2x", args.repeat, 1, baselines=False
    ):
        bench_size(
            "_history2x",
            args.accounts,
            2 * args.days,
            args.end,
            args.seed,
            args.repeat,
            1,
            baselines=False,  # its full build and incremental day
            progress=progress,
        )
    print(markdown(write_report(args, measures, complete=True)))
    return 0


def _size(args: argparse.Namespace) -> dict[str, object]:
    return {"accounts": args.accounts, "days": args.days, "seed": args.seed,
            "end": args.end.isoformat(), "history2x": not args.no_history2x}  # fmt: skip


def resumed(args: argparse.Namespace) -> dict[str, Measure]:
    """The measures of the report in `--out` when it is of this size, seed and end."""
    path = args.out / "latest.json"
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text())
    keys = ("accounts", "days", "seed", "end")
    if any(earlier["size"].get(key) != _size(args)[key] for key in keys):
        print(f"--resume: {path} is of another size, starting afresh", flush=True)
        return {}
    kept = {
        name: Measure.from_summary(name, m, earlier["commit"])
        for name, m in earlier["measures"].items()
    }
    print(f"--resume: keeping {', '.join(kept)} from {path}", flush=True)
    return kept


def _finished(
    measures: dict[str, Measure], name: str, repeat: int, full_repeat: int, *, baselines: bool
) -> bool:
    """Whether a size's measures are all there with all their runs."""
    wanted = {f"full_build{name}": full_repeat, f"incremental_day{name}": repeat}
    if baselines:
        wanted |= {f"baseline_full_build{name}": full_repeat,
                   f"baseline_incremental_day{name}": repeat}  # fmt: skip
    return all(
        len(measures[m].samples) >= runs if m in measures else False for m, runs in wanted.items()
    )


def _changed_since(commits: set[str]) -> dict[str, list[str]]:
    """For each earlier commit a resumed report holds: the files that differ from HEAD."""
    changed = {}
    for commit in sorted(commits - {_git_commit()}):
        done = subprocess.run(["git", "diff", "--name-only", commit, "HEAD"], cwd=ROOT,
                              capture_output=True, text=True)  # fmt: skip
        changed[commit] = done.stdout.split() if done.returncode == 0 else ["unknown commit"]
    return changed


def write_report(args: argparse.Namespace, measures: dict[str, Measure], *, complete: bool) -> dict:
    """latest.json and latest.md from the runs so far: rewritten after every run, so a
    benchmark stopped part-way (a long size, a session's end) leaves what it measured,
    marked incomplete."""
    report = {
        "date": datetime.now(UTC).date().isoformat(),
        "commit": _git_commit(),
        "complete": complete,
        "machine": {"cores": os.cpu_count(), "memory_gib": _memory_gib()},
        "size": _size(args),
        "measures": {name: m.summary() for name, m in measures.items()},
        # run_env leaves HEALTH_* out: the pipeline runs with the defaults
        "memory": {"pipeline": DEFAULT_MEMORY_LIMIT, "baseline": BASELINE_MEMORY_LIMIT},
    }  # fmt: skip
    commits = {m["commit"] for m in report["measures"].values()}
    if len(commits) > 1 or commits - {report["commit"]}:
        report["resumed_from"] = _changed_since(commits)
    report["ratios"] = ratios(report)
    report["targets"] = target_checks(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(main())
