"""Command line: run the whole pipeline in one Dagster run, in process.

    python -m orchestration.cli run [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--ingest-only]
                                    [--generate-if-empty]

`make run` calls this. Runs are recorded in the Dagster instance under
$HEALTH_DATA_DIR/dagster, so they show in the UI (`make dev`). Exit status 0
when every step and blocking check passed and the serving file was published,
1 when the run failed (the previous serving file is left as it was), 2 for
bad arguments or settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from orchestration.defs.ingest.loader import raw_layer_counts
from orchestration.landing import event_date_range, utc_now
from orchestration.settings import Settings

DAGSTER_YAML = """\
# Written by orchestration.cli when missing. One writer at a time on the DuckDB warehouse:
# launched runs that write it queue (one at a time), and within a run the steps that
# touch it are in a pool of one.
concurrency:
  runs:
    max_concurrent_runs: 4
    tag_concurrency_limits:
      - key: "health/warehouse"
        limit: 1
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


INGEST_JOB = "ingest_landing_files"
LOCK_TIMEOUT_SECONDS = 6 * 3600
"""How long a run waits for another run on the same warehouse before it gives up."""


@dataclass(frozen=True)
class RunWindow:
    start: date
    end: date


def stage(message: str) -> None:
    print(f"==> {message}", flush=True)


def ensure_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def landing_is_empty(landing_dir: Path) -> bool:
    return not landing_dir.exists() or not any(p.is_file() for p in landing_dir.rglob("*"))


def resolve_window(settings: Settings, start: date | None, end: date | None) -> RunWindow:
    """The days to run: given, else from the data start to HEALTH_AS_OF or the latest date."""
    if start is None or end is None:
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        not_after = utc_now() + timedelta(days=1)
        first, last = event_date_range(con, settings.landing_dir, not_after)
        con.close()
        if last is None or first is None:
            raise SystemExit(
                f"error: no readable dated rows under {settings.landing_dir}. Put landing files "
                "there (docs/landing-contract.md) or unset HEALTH_LANDING_DIR for sample data."
            )
        end = end or settings.as_of or last
        start = start or first
    start = max(start, settings.partitions_start)
    if start > end:
        raise SystemExit(f"error: the run would start ({start}) after it ends ({end}).")
    return RunWindow(start, end)


def run_pipeline(settings: Settings, window: RunWindow, job_name: str = "health_pipeline") -> bool:
    """Materialize the whole graph (or another job) for the window as one run; True when
    it succeeded."""
    from orchestration.defs.dbt.project import prepare_manifest

    stage("Parsing the dbt project")
    prepare_manifest()
    from orchestration.definitions import defs
    from orchestration.defs.warehouse import RANGE_END_TAG, RANGE_START_TAG

    what = "ingest" if job_name == INGEST_JOB else "ingest -> dbt build -> checks -> publish"
    stage(f"Running {what} for {window.start} .. {window.end}")
    job = defs.resolve_job_def(job_name)
    with warehouse_held(settings), open_instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={
                RANGE_START_TAG: window.start.isoformat(),
                RANGE_END_TAG: window.end.isoformat(),
            },
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
        report_failures(result)
        return result.success


@contextmanager
def open_instance(settings: Settings) -> Iterator[object]:
    """The Dagster instance under $HEALTH_DATA_DIR/dagster. Two processes starting on a new
    home would both create its SQLite tables: the first creates them under a file lock."""
    import fcntl

    from dagster import AssetKey, DagsterInstance

    home = ensure_dagster_home(settings)
    with (home / ".init.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instance = DagsterInstance.get()
        # touching each storage creates its SQLite tables if the home is new
        instance.get_runs(limit=1)
        instance.fetch_materializations(AssetKey("scoring_config"), limit=1)
        fcntl.flock(lock, fcntl.LOCK_UN)
    with instance:
        yield instance


@contextmanager
def warehouse_held(settings: Settings) -> Iterator[None]:
    """Hold the warehouse for the whole run: a second `cli run` waits for this one."""
    from orchestration.defs.warehouse import WarehouseLock

    lock = WarehouseLock(settings.data_dir / ".warehouse.lock")
    lock.acquire(LOCK_TIMEOUT_SECONDS, lambda message: stage(message))
    try:
        yield
    finally:
        lock.release()


def report_failures(result: object) -> None:
    """Name each failed step and each failed check with its evidence."""
    from dagster import AssetCheckSeverity, DagsterEventType

    for event in result.all_events:  # type: ignore[attr-defined]
        if event.event_type == DagsterEventType.STEP_FAILURE:
            # A dagster.Failure carries the user-facing text (e.g. every scoring-config
            # problem with file, line and rule) as its description; other errors their message.
            failure = event.step_failure_data.user_failure_data
            error = event.step_failure_data.error
            if failure is not None and failure.description:
                message = failure.description.strip()
            else:
                # an exception in user code is wrapped: the cause says what went wrong
                cause = error.cause if error and error.cause else error
                message = cause.message.strip() if cause else "unknown error"
            print(f"FAILED step {event.step_key}: {message}", file=sys.stderr)
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if not evaluation.passed:
                evidence = evaluation.metadata.get(
                    "failed_expectations", evaluation.metadata.get("evidence")
                )
                if evidence is not None:
                    observed = evaluation.metadata.get("observed")
                    shown = f"{observed.value}: {evidence.value}" if observed else evidence.value
                else:  # a dbt test: its status, failure count and the like
                    shown = ", ".join(
                        f"{name}={entry.value}" for name, entry in evaluation.metadata.items()
                    )[:500]
                # a warn-severity check flags something for a person; it does not block
                verdict = "WARNING" if evaluation.severity == AssetCheckSeverity.WARN else "FAILED"
                print(
                    f"{verdict} check {evaluation.asset_check_key.to_user_string()}: {shown}",
                    file=sys.stderr,
                )


def print_summary(settings: Settings) -> None:
    """What the run produced: the figures a person checks first."""
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    accounts, days, rows, first_day, last_day = con.execute(
        "select count(distinct account_id), count(distinct as_of_date), count(*),"
        " min(as_of_date), max(as_of_date) from fct_customer_health_daily"
    ).fetchone()
    bands = con.execute(
        "select health_band, count(*) from fct_customer_health_daily"
        " where as_of_date = (select max(as_of_date) from fct_customer_health_daily)"
        " group by health_band order by health_band"
    ).fetchall()
    con.close()
    wh = duckdb.connect(str(settings.warehouse_path), read_only=True)
    held = raw_layer_counts(wh)
    wh.close()
    loaded = sum(n for n, _, _ in held.values())
    quarantined = sum(q for _, q, _ in held.values())
    duplicates = sum(d for _, _, d in held.values())
    print()
    print("Customer health run summary")
    print(f"  accounts scored      {accounts}")
    print(f"  days scored          {days} ({first_day} .. {last_day})")
    print(f"  fact rows            {rows}")
    print(f"  raw rows loaded      {loaded}")
    print(f"  rows quarantined     {quarantined} (+{duplicates} duplicates) in raw.*__quarantine")
    print(f"  accounts per band on {last_day}:")
    for band, count in bands:
        print(f"    {band:<18} {count}")
    print(f"  serving file         {settings.serving_path}")
    print(f"  warehouse            {settings.warehouse_path}")
    report = settings.data_dir / "reports" / "health_report.html"
    if report.is_file():
        print(f"  health report        {report.as_uri()}")
    print(f"  Parquet exports      {settings.data_dir / 'exports'}")


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if landing_is_empty(settings.landing_dir):
        if not args.generate_if_empty:
            print(f"error: {settings.landing_dir} holds no landing files.", file=sys.stderr)
            return 2
        from orchestration.sample_data.generator import generate

        end = utc_now().date() - timedelta(days=1)
        stage(f"No landing files: generating sample data into {settings.landing_dir}")
        generate(
            settings.landing_dir,
            accounts=args.sample_accounts,
            start=end - timedelta(days=args.sample_days - 1),
            end=end,
            seed=42,
            bad_rate=0.002,
        )
    stage(f"Scanning {settings.landing_dir} for the dates to score")
    window = resolve_window(settings, args.start, args.end)
    ok = run_pipeline(settings, window, INGEST_JOB if args.ingest_only else "health_pipeline")
    if ok and args.ingest_only:
        print(f"Ingested {window.start} .. {window.end}: nothing scored or published.")
        return 0
    if not ok:
        print(
            f"\nRun FAILED: nothing was published; {settings.serving_path} is unchanged.",
            file=sys.stderr,
        )
        return 1
    print_summary(settings)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync the destinations of sync.yml from the warehouse as it is (what the `sync/*`
    assets do after a run); `--dry-run` prints what would be sent and changes nothing."""
    import json

    from orchestration.defs.sync.config import load_destinations
    from orchestration.defs.sync.runner import sync_destination

    settings = Settings.from_env()
    destinations = [d for d in load_destinations() if args.destination in (None, d.name)]
    if not destinations:
        print(f"error: no destination {args.destination!r} in sync.yml", file=sys.stderr)
        return 2
    run_id = f"cli-{utc_now():%Y%m%dT%H%M%S}"
    failed = False
    with warehouse_held(settings):
        con = duckdb.connect(str(settings.warehouse_path))
        try:
            for destination in destinations:
                missing = destination.missing_setting()
                if missing:
                    print(f"{destination.name}: skipped, {missing} is not set")
                    continue
                result = sync_destination(
                    con, destination, run_id, settings.data_dir, dry_run=args.dry_run
                )
                print(result.summary())
                for change in result.sample:
                    print("  " + json.dumps(change))
                failed = failed or result.error is not None
        finally:
            con.close()
    return 1 if failed else 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Prepare the Dagster home (dagster.yaml, its SQLite tables) and the dbt manifest, then
    replace this process with `dagster dev`: the webserver and the daemon start together,
    and on a new home both would otherwise race to create the tables."""
    from orchestration.defs.dbt.project import prepare_manifest

    settings = Settings.from_env()
    with open_instance(settings):
        pass
    prepare_manifest()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "orchestration.definitions"]
    command += ["-h", args.host, "-p", str(args.port)]
    stage(f"Dagster UI on http://{args.host}:{args.port} (storage: {settings.dagster_home})")
    os.execv(command[0], command)
    return 0  # not reached


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run ingest, dbt build, checks and publish as one run")
    run.add_argument("--from", dest="start", type=_date, help="first day (default: data start)")
    run.add_argument("--to", dest="end", type=_date, help="last day (default: HEALTH_AS_OF)")
    run.add_argument(
        "--generate-if-empty",
        action="store_true",
        help="generate sample data when the landing folder is empty",
    )
    run.add_argument(
        "--ingest-only",
        action="store_true",
        help="only load and check the landing files of the days (what the sensor runs)",
    )
    run.add_argument("--sample-accounts", type=int, default=300)
    run.add_argument("--sample-days", type=int, default=120)
    dev = sub.add_parser("dev", help="start the Dagster UI and daemon (what `make dev` runs)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    sync = sub.add_parser("sync", help="send changed scores to the sync.yml destinations")
    sync.add_argument("--dry-run", action="store_true", help="print what would be sent")
    sync.add_argument("--destination", help="only this destination (default: all)")
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "dev": cmd_dev, "sync": cmd_sync}
    try:
        return commands[args.command](args)
    except TimeoutError as exc:  # another run held the warehouse too long
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # settings errors name the variable and the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
