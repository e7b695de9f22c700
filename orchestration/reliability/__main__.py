"""Run the reliability matrix and write docs/reliability.md.

    python -m orchestration.reliability [--only crash,hostile,...] [--keep] [--work DIR]
                                        [--no-write]

Prints progress per scenario, then one table; writes the table and the evidence behind
each row to docs/reliability.md (with the date, the machine and the git commit). Exit
status 0 when every scenario came out as required, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from customer_health.settings import PROJECT_ROOT
from orchestration.reliability.report import render_markdown, render_table
from orchestration.reliability.scenarios import (
    HostileResult,
    Matrix,
    Row,
    make_secrets,
    run_hostile_and_secrets,
    say,
)

GROUPS = ("crash", "hostile", "secrets", "full-disk", "failing-outputs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.reliability")
    parser.add_argument(
        "--only", default=",".join(GROUPS), help=f"comma-separated subset of {', '.join(GROUPS)}"
    )
    parser.add_argument(
        "--crash",
        default="",
        help="only these crash points (comma-separated name prefixes: landing, dbt, exit,"
        " publish, parquet, between)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temporary one)")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "docs" / "reliability.md", help="the report"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no report")
    args = parser.parse_args(argv)
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    unknown = only - set(GROUPS)
    if unknown:
        parser.error(f"unknown scenario groups: {', '.join(sorted(unknown))}")

    # SIGTERM (a CI timeout, `kill`) stops the matrix as Ctrl-C does: through the finally
    # that kills its runs and unmounts its filesystems
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    when = datetime.now(UTC)
    root = args.work or Path(tempfile.mkdtemp(prefix="health-reliability-"))
    root.mkdir(parents=True, exist_ok=True)
    say(f"==> Reliability matrix in {root} (logs in {root / 'logs'})")
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()  # once, before any run (they would each check it)
    matrix = Matrix(root, keep=args.keep)
    rows: list[Row] = []
    hostile: HostileResult | None = None
    cleanup: list[str] = []

    def record(row: Row) -> Row:
        mark = "ok  " if row.ok else "FAIL"
        say(f"    [{mark}] {row.scenario}: {row.outcome} ({row.seconds:.0f} s)")
        for detail in row.details:
            say(f"           - {detail}")
        rows.append(row)
        return row

    try:
        matrix.prepare()
        assert matrix.endpoint is not None
        secrets = make_secrets(matrix.endpoint, matrix.url_tokens)
        needs_baseline = only & {"crash", "full-disk", "failing-outputs"}
        if needs_baseline:
            say("==> baseline run (the old serving file)")
            base = record(matrix.baseline())
            if base.ok:
                say("==> reference run (uninterrupted)")
                record(matrix.make_reference())
        ready = matrix.reference is not None
        if "crash" in only and ready:
            points = {p.strip() for p in args.crash.split(",") if p.strip()}
            for row in matrix.crash_scenarios(points or None):
                record(row)
        hits = []
        if only & {"hostile", "secrets"}:
            say("==> hostile input and secrets: two whole runs")
            t = time.monotonic()
            hostile = run_hostile_and_secrets(
                root / "hostile", matrix.endpoint, secrets, log_dir=root / "logs"
            )
            elapsed = time.monotonic() - t
            record(hostile_row(hostile, elapsed))
            hits += hostile.hits
        if "full-disk" in only and ready:
            say("==> full disk: publishing onto a filesystem too small")
            record(matrix.full_disk())
        failing_hits = None
        if "failing-outputs" in only and ready:
            say("==> failing outputs")
            row, failing_hits = matrix.failing_outputs(secrets)
            record(row)
        if hostile is not None:
            record(secrets_row(hostile, failing_hits, secrets.values))
    finally:
        cleanup = matrix.close()
        for line in cleanup:
            say(f"    cleanup: {line}")
        if not args.keep and args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - started
    say("")
    say(render_table(rows))
    say(f"\n{sum(r.ok for r in rows)} of {len(rows)} as required; {elapsed / 60:.1f} minutes")
    if not args.no_write:
        args.out.write_text(
            render_markdown(rows, hostile, machine(), when, elapsed, sorted(only)), encoding="utf-8"
        )
        say(f"written to {args.out}")
    return 0 if all(r.ok for r in rows) else 1


def hostile_row(result: HostileResult, seconds: float) -> Row:
    code_a, code_b = result.codes
    failed = [v for v in result.verdicts if not v.ok]
    counts: dict[str, int] = {}
    for verdict in result.verdicts:
        for outcome in verdict.outcome.split(" / "):
            counts[outcome] = counts.get(outcome, 0) + 1
    shown = ", ".join(f"{n} {o}" for o, n in sorted(counts.items(), key=lambda x: -x[1]))
    outcome = (
        f"run A exit {code_a} ({len(result.refused_files)} files refused), run B exit {code_b};"
        f" {len(result.verdicts) - len(failed)} of {len(result.verdicts)} cases as required"
    )
    details = [*result.notes, f"outcomes: {shown}"]
    details += [f"FAILED {v.case}: {v.outcome}: {v.detail[:400]}" for v in failed]
    ok = not failed and code_a == 1 and code_b == 0
    if code_a != 1:
        details.append(f"run A should fail on the refused files (exit 1), got exit {code_a}")
    if code_b != 0:
        details.append(f"run B should publish everything (exit 0), got exit {code_b}")
    return Row(
        "hostile input: every case in one landing folder (run A), refused files removed (run B)",
        outcome,
        str(sum(v.lost for v in result.verdicts)),
        "run A: unchanged (none) -> run B: new" if code_b in (0, 3) else "none published",
        "n/a",
        ok,
        details,
        seconds,
    )


def secrets_row(result: HostileResult, failing_hits: list | None, values: dict[str, str]) -> Row:
    hits = list(result.hits) + list(failing_hits or [])
    details = [
        f"{name}: {result.exercised.get(name, 'NOT exercised by the hostile runs')}"
        for name in sorted(values)
    ]
    details.append(
        f"searched: {result.scanned_files} files under the hostile runs' data folder and dbt's "
        "target/ and logs/ (bytes, and the text of every DuckDB, SQLite, Parquet and gzip "
        "file), both consoles"
        + (
            ", and the failing-outputs run's data folder and console"
            if failing_hits is not None
            else ""
        )
    )
    details += [f"HIT {h.secret} in {h.where} ({h.how})" for h in hits[:20]]
    missing = [n for n in values if n not in result.exercised]
    if missing:
        details.append(f"not exercised: {', '.join(missing)}")
    return Row(
        f"secrets: sentinel values in all {len(values)} secret settings",
        f"{len(hits)} hits" + (" (zero)" if not hits else ""),
        "n/a",
        "n/a",
        "n/a",
        not hits,
        details,
    )


def machine() -> dict[str, str]:
    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", *command], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    dirty = [line for line in git("status", "--porcelain").splitlines() if line[:2].strip()]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "host": platform.node(),
        "system": f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "load": f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end",
        "commit": git("rev-parse", "--short", "HEAD") or "?",
        "tree": (
            f"{len(dirty)} files with uncommitted changes (other work in progress)"
            if dirty
            else "clean"
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
