"""Command line: run the whole pipeline in one Dagster run, in process.

    python -m orchestration.cli run [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--ingest-only]
                                    [--generate-if-empty]

`make run` calls this. Runs are recorded in the Dagster instance under
$HEALTH_DATA_DIR/dagster, so they show in the UI (`make dev`). Exit status (also in
`orchestration/run_outcome.py` and the README): 0 when every step and blocking check
passed and every output is done; 1 when the run failed before publishing (the previous
serving file is left as it was); 3 when the serving file was published but an output after
it failed (the summary names it); 2 for bad arguments or settings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from customer_health import duckdb_connection
from customer_health.landing import event_date_range, utc_now
from customer_health.loader import raw_layer_counts
from customer_health.settings import Settings, patched_environ
from orchestration.run_outcome import (
    EXIT_BAD_ARGUMENTS,
    EXIT_CODES,
    EXIT_NOTHING_PUBLISHED,
    EXIT_OK,
    OUTPUT_GROUPS,
    FileState,
    RunOutcome,
    outcome_of,
)
from orchestration.warehouse_lock import (
    CLI_RUN_TAG,
    RUN_TOKEN_ENV,
    WarehouseLock,
    reclaim_dead_runs,
    stop_orphans,
    wait_for_pool,
)

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


def last_complete_day(last_event_day: date, today: date) -> date:
    """The default last day to score: the data's last day, unless it has not ended yet (UTC).

    An export taken during the day holds part of today; scoring it would judge a partial
    day (its volume against full days, its usage as a drop). A day is complete once it has
    ended in UTC, so the default never goes past yesterday."""
    return min(last_event_day, today - timedelta(days=1))


def resolve_window(settings: Settings, start: date | None, end: date | None) -> RunWindow:
    """The days to run: given, else from the data's first day to HEALTH_AS_OF or the data's
    last complete day (`last_complete_day`)."""
    if start is None or end is None:
        con = duckdb_connection.connect()
        con.execute("set TimeZone = 'UTC'")
        now = utc_now()
        first, last = event_date_range(con, settings.landing_dir, now + timedelta(days=1))
        con.close()
        if last is None or first is None:
            raise ValueError(
                f"no readable dated rows under {settings.landing_dir}. Put landing files "
                "there (docs/landing-contract.md) or unset HEALTH_LANDING_DIR for sample data."
            )
        end = end or settings.as_of or last_complete_day(last, now.date())
        start = start or first
    if start > end:
        raise ValueError(
            f"the run would start ({start}) after it ends ({end}): "
            + (
                f"HEALTH_AS_OF={settings.as_of} is before the data's first day; "
                "set it to a day in the data, or unset it."
                if settings.as_of == end
                else "give --from on or before --to."
            )
        )
    return RunWindow(start, end)


def cover_partitions(settings: Settings, window: RunWindow) -> Settings:
    """Days before HEALTH_PARTITIONS_START have no Dagster partition, so a run of older data
    (a history from 1997, say) moves the start to its first day for this process, before
    the definitions are imported (they build the partitions from the setting)."""
    if window.start >= settings.partitions_start:
        return settings
    stage(
        f"The data starts on {window.start}, before HEALTH_PARTITIONS_START="
        f"{settings.partitions_start}: partitions start on {window.start} for this run "
        f"(for the UI, set HEALTH_PARTITIONS_START={window.start})"
    )
    os.environ["HEALTH_PARTITIONS_START"] = window.start.isoformat()
    return Settings.from_env()


@contextmanager
def writer_instance(settings: Settings) -> Iterator[object]:
    """The Dagster instance, with this process the warehouse's one writer: the file lock
    held, a run that died holding it recovered, and the warehouse pool free."""
    from orchestration.defs.policies import WAREHOUSE_POOL

    with warehouse_held(settings) as lock, open_instance(settings) as instance:
        recover(lock, instance, WAREHOUSE_POOL)
        wait_for_pool(instance, WAREHOUSE_POOL, stage)
        yield instance


def run_pipeline(
    settings: Settings, window: RunWindow, job_name: str = "health_pipeline"
) -> RunOutcome:
    """Materialize the whole graph (or another job) for the window as one run. The outcome
    is true when the run succeeded, and says what happened to each output."""
    from orchestration.dbt_project import prepare_manifest

    settings = cover_partitions(settings, window)
    stage("Parsing the dbt project")
    prepare_manifest()
    from orchestration.definitions import defs
    from orchestration.defs.partitions import RANGE_END_TAG, RANGE_START_TAG

    what = "ingest" if job_name == INGEST_JOB else "ingest -> dbt build -> checks -> publish"
    job = defs.resolve_job_def(job_name)
    with writer_instance(settings) as instance:
        stage(f"Running {what} for {window.start} .. {window.end}")
        serving_before = FileState.of(settings.serving_path)
        result = job.execute_in_process(
            instance=instance,
            tags={
                RANGE_START_TAG: window.start.isoformat(),
                RANGE_END_TAG: window.end.isoformat(),
                CLI_RUN_TAG: "cli",
            },
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
        report_failures(result)
        outcome = outcome_of(
            result,
            output_keys(defs, job),
            serving_key(),
            serving_before,
            FileState.of(settings.serving_path),
        )
        if not outcome.success:
            alert_failure(instance, result, settings)
        return outcome


def output_keys(defs: object, job: object) -> list[object]:
    """The job's outputs (assets of the publish and sync groups), serving file first."""
    graph = defs.resolve_asset_graph()  # type: ignore[attr-defined]
    selected = job.asset_layer.asset_graph.get_all_asset_keys()  # type: ignore[attr-defined]
    keys = [
        key
        for key in graph.get_all_asset_keys()
        if key in selected and graph.get(key).group_name in OUTPUT_GROUPS
    ]
    first = serving_key()
    return sorted(keys, key=lambda k: (k != first, k.to_user_string()))


def serving_key() -> object:
    from orchestration.defs.keys import SERVING_KEY

    return SERVING_KEY


def recover(lock: WarehouseLock, instance: object, pool: str) -> None:
    """After a run that died holding the warehouse: stop what it left running, mark it
    failed and free its pool slots (orchestration/warehouse_lock.py), said in one line."""
    stopped = stop_orphans(lock.dead_holder_token) if lock.dead_holder_token else []
    reclaimed = reclaim_dead_runs(instance, [pool])
    if not (lock.dead_holder or stopped or reclaimed):
        return
    plural = "es" if len(stopped) > 1 else ""
    done = [f"stopped {len(stopped)} process{plural} it left running"] if stopped else []
    if reclaimed:
        done.append(reclaimed.describe())
    holder = f" ({lock.dead_holder})" if lock.dead_holder else ""
    stage(
        f"Recovered from a run that died holding the warehouse{holder}: "
        + ("; ".join(done) or "nothing was left to free")
    )


def alert_failure(instance: object, result: object, settings: Settings) -> None:
    """Record the failed run in alerts/run_failures.jsonl and post it to the alert webhook,
    as the run-failure sensor does for launched runs (which does not see in-process runs);
    once per run, whichever of the two gets there first."""
    from dagster import DagsterEventType

    from customer_health.alerts import alert_once
    from orchestration.run_outcome import failure_record

    run = instance.get_run_by_id(result.run_id)  # type: ignore[attr-defined]
    events = result.get_step_failure_events()  # type: ignore[attr-defined]
    failures = result.filter_events(  # type: ignore[attr-defined]
        lambda e: e.event_type == DagsterEventType.RUN_FAILURE
    )
    message = failures[0].message if failures else ""
    said = alert_once(failure_record(run, events, message or ""), settings.data_dir)
    if said:
        stage(said)


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
def warehouse_held(settings: Settings) -> Iterator[WarehouseLock]:
    """Hold the warehouse for the whole run: a second `cli run` waits for this one. Every
    process this one starts (dbt) inherits the lock's run token, so that the next run can
    stop them if this one dies (orchestration/warehouse_lock.py)."""
    lock = WarehouseLock(settings.data_dir / ".warehouse.lock")
    lock.acquire(LOCK_TIMEOUT_SECONDS, stage)
    os.environ[RUN_TOKEN_ENV] = lock.token
    try:
        yield lock
    finally:
        lock.release()
        os.environ.pop(RUN_TOKEN_ENV, None)


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
    """What the run produced: the figures a person checks first. Live accounts and their
    bands come from `bi_current_health_by_segment`, the relation the report reads, so the
    two always agree (churned accounts are not live: README, "churn")."""
    con = duckdb_connection.connect(str(settings.serving_path), read_only=True)
    scored, days, rows, first_day, last_day = con.execute(
        "select count(distinct account_id), count(distinct as_of_date), count(*),"
        " min(as_of_date), max(as_of_date) from fct_customer_health_daily"
    ).fetchone()
    bands = con.execute(
        "select health_band, sum(accounts) from bi_current_health_by_segment"
        " group by health_band order by health_band"
    ).fetchall()
    churned = con.execute("select count(*) from dim_accounts where is_churned").fetchone()[0]
    con.close()
    wh = duckdb_connection.connect(str(settings.warehouse_path), read_only=True)
    held = raw_layer_counts(wh)
    wh.close()
    loaded = sum(n for n, _, _ in held.values())
    quarantined = sum(q for _, q, _ in held.values())
    duplicates = sum(d for _, _, d in held.values())
    print()
    print("Customer health run summary")
    print(f"  live accounts        {sum(n for _, n in bands)} (on their latest scored day)")
    print(f"  accounts ever scored {scored}; churned {churned} (last score in dim_accounts)")
    print(f"  days scored          {days} ({first_day} .. {last_day})")
    print(f"  fact rows            {rows}")
    print(f"  raw rows loaded      {loaded}")
    print(f"  rows quarantined     {quarantined} (+{duplicates} duplicates) in raw.*__quarantine")
    print("  live accounts per band:")
    for band, count in bands:
        print(f"    {band:<18} {count}")
    print(f"  serving file         {settings.serving_path}")
    print(f"  warehouse            {settings.warehouse_path}")
    report = settings.data_dir / "reports" / "health_report.html"
    if report.is_file():
        print(f"  health report        {report.as_uri()}")
    print(f"  Parquet exports      {settings.data_dir / 'exports'}")


def generate_sample_if_empty(settings: Settings, args: argparse.Namespace) -> bool:
    """Sample data into an empty landing folder (`--generate-if-empty`, what `make run`
    passes, with its ACCOUNTS, DAYS, SEED and BAD_RATE); False when the folder is empty and
    generating was not asked for."""
    if not landing_is_empty(settings.landing_dir):
        return True
    if not args.generate_if_empty:
        return False
    from customer_health.sample_data.generator import generate

    end = utc_now().date() - timedelta(days=1)
    stage(
        f"No landing files: generating sample data into {settings.landing_dir} "
        f"(seed {args.sample_seed}, bad-row rate {args.sample_bad_rate})"
    )
    generate(
        settings.landing_dir,
        accounts=args.sample_accounts,
        start=end - timedelta(days=args.sample_days - 1),
        end=end,
        seed=args.sample_seed,
        bad_rate=args.sample_bad_rate,
    )
    return True


def cmd_run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if not generate_sample_if_empty(settings, args):
        print(f"error: {settings.landing_dir} holds no landing files.", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    if args.start is None or args.end is None:
        stage(f"Scanning {settings.landing_dir} for the dates to score")
    window = resolve_window(settings, args.start, args.end)
    outcome = run_pipeline(settings, window, INGEST_JOB if args.ingest_only else "health_pipeline")
    if outcome and args.ingest_only:
        print(f"Ingested {window.start} .. {window.end}: nothing scored or published.")
        return EXIT_OK
    if outcome.published or outcome.success:
        print_summary(settings)
    print_outputs(outcome, settings)
    return outcome.exit_code


def print_outputs(outcome: RunOutcome, settings: Settings) -> None:
    """One line per output, then the verdict: said from the serving file itself, so that
    "nothing was published" is never said of a run that replaced it."""
    if outcome.outputs:
        print("\nOutputs of this run")
        for output in outcome.outputs:
            print(output.line())
    code = outcome.exit_code
    if outcome.success:
        print(f"\nRun succeeded (exit {code}).")
    elif outcome.published:
        failed = ", ".join(outcome.failed_outputs) or "an output"
        print(
            f"\nRun FAILED after publishing (exit {code}: {EXIT_CODES[code]}): "
            f"{settings.serving_path} holds this run's scores; {failed} did not go through "
            "(see above). Fix it and re-run, or re-send with `python -m orchestration.cli sync`.",
            file=sys.stderr,
        )
    else:
        print(
            f"\nRun FAILED (exit {code}: {EXIT_CODES[code]}): "
            f"{settings.serving_path} is unchanged.",
            file=sys.stderr,
        )


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync the destinations of sync.yml from the warehouse as it is (what the `sync/*`
    assets do after a run); `--dry-run` prints what would be sent and changes nothing."""
    import json

    from customer_health.sync.config import load_destinations
    from customer_health.sync.runner import sync_destination

    settings = Settings.from_env()
    destinations = [d for d in load_destinations() if args.destination in (None, d.name)]
    if not destinations:
        print(f"error: no destination {args.destination!r} in sync.yml", file=sys.stderr)
        return 2
    run_id = f"cli-{utc_now():%Y%m%dT%H%M%S}"
    failed = False
    with warehouse_held(settings) as lock:
        if lock.dead_holder_token:  # a run died holding the warehouse: dbt may still write it
            stop_orphans(lock.dead_holder_token)
        con = duckdb_connection.connect(str(settings.warehouse_path))
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


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run the `backtest` job (the backtest's dbt models, then the figures) over the
    history the warehouse holds, and print the figures of this configuration, beside
    those of `--config` (a candidate judged on a copy: `what_if`) and those stored for
    the `--compare` ones."""
    from customer_health.scoring_config import validate_config
    from customer_health.warehouse import open_warehouse
    from orchestration.dbt_project import prepare_manifest

    settings = Settings.from_env()
    version = validate_config(settings.config_dir).config_version
    candidate = None
    if args.config is not None:  # a broken candidate stops before anything runs
        candidate = validate_config(args.config.resolve()).config_version
    stage("Parsing the dbt project")
    prepare_manifest()
    stage(f"Backtesting configuration {version} over the scored history")
    if not execute_job(settings, "backtest"):
        print("\nBacktest FAILED (see above): no figures stored.", file=sys.stderr)
        return 1
    shown = [version]
    if candidate is not None:
        if not what_if(settings, args.config.resolve(), candidate):
            return 1
        shown.append(candidate)
    with open_warehouse(settings).session(read_only=True) as session:
        print("\n" + session.backtest_summary([*dict.fromkeys([*shown, *args.compare])]))
    for judged in dict.fromkeys(shown):
        weights = settings.data_dir / "backtest" / judged / "scoring_weights.csv"
        print(
            f"\nSuggested weights for {judged} (not applied; copy into a configuration"
            f" folder): {weights}"
        )
    return 0


def execute_job(settings: Settings, job_name: str, tags: dict[str, str] | None = None) -> bool:
    """Run one job of the definitions in process, as this warehouse's one writer; report
    its failures. True when it succeeded."""
    from orchestration.definitions import defs

    job = defs.resolve_job_def(job_name)
    with writer_instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={CLI_RUN_TAG: "cli", **(tags or {})},
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
        report_failures(result)
        return bool(result.success)


def what_if(settings: Settings, config_dir: Path, candidate: str) -> bool:
    """Judge a candidate configuration (validated: its config_version `candidate`) against
    the history without touching what runs: copy the warehouse to
    $HEALTH_DATA_DIR/backtest/what-if/<candidate>/, score every day it holds again under
    the candidate there (the `backtest_what_if` job: dbt and the backtest; no ingest,
    check, publication or sync), and store its figures beside the current ones in this
    warehouse's backtest tables. False when the warehouse holds no scores or the
    candidate's run failed."""
    from dataclasses import replace

    from customer_health.warehouse import open_warehouse
    from orchestration.defs.partitions import RANGE_END_TAG, RANGE_START_TAG

    scratch = replace(
        settings,
        data_dir=settings.data_dir / "backtest" / "what-if" / candidate,
        config_dir=config_dir,
    )
    stage(f"What if: configuration {candidate} ({config_dir}) on a copy in {scratch.data_dir}")
    shutil.rmtree(scratch.data_dir, ignore_errors=True)
    with warehouse_held(settings):
        copy = open_warehouse(settings).copy_to(scratch)
    with copy.session(read_only=True) as session:
        scored = session.scored_range()
    if scored is None:
        print("error: the warehouse holds no scores: `make run` first.", file=sys.stderr)
        return False
    first, last = scored
    stage(f"What if: scoring {first} .. {last} again under {candidate}")
    variables = {"HEALTH_DATA_DIR": str(scratch.data_dir), "HEALTH_CONFIG_DIR": str(config_dir)}
    with patched_environ(variables):
        done = execute_job(
            cover_partitions(scratch, RunWindow(first, last)),
            "backtest_what_if",
            {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        )
    ensure_dagster_home(settings)  # this process's Dagster home again
    if not done:
        print(f"\nWhat-if of {config_dir} FAILED (see above): no figures stored.", file=sys.stderr)
        return False
    with warehouse_held(settings), open_warehouse(settings).session() as session:
        session.adopt_backtest(copy, candidate)
    return True


def cmd_dev(args: argparse.Namespace) -> int:
    """Prepare the Dagster home (dagster.yaml, its SQLite tables) and the dbt manifest, then
    replace this process with `dagster dev`: the webserver and the daemon start together,
    and on a new home both would otherwise race to create the tables."""
    from orchestration.dbt_project import prepare_manifest

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


def build_parser() -> argparse.ArgumentParser:
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
    run.add_argument("--sample-seed", type=int, default=42, help="sample data's random seed")
    run.add_argument(
        "--sample-bad-rate",
        type=float,
        default=0.002,
        help="share of sample rows made bad on purpose (quarantine demo)",
    )
    dev = sub.add_parser("dev", help="start the Dagster UI and daemon (what `make dev` runs)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    backtest = sub.add_parser(
        "backtest", help="judge the score against churn over the history (`make backtest`)"
    )
    backtest.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="CONFIG_VERSION",
        help="also show the stored figures of these configurations",
    )
    backtest.add_argument(
        "--config",
        type=Path,
        metavar="FOLDER",
        help="also judge this candidate configuration folder, on a copy (publishes nothing)",
    )
    sync = sub.add_parser("sync", help="send changed scores to the sync.yml destinations")
    sync.add_argument("--dry-run", action="store_true", help="print what would be sent")
    sync.add_argument("--destination", help="only this destination (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (a scheduler stopping the run, `timeout`) stops the run as Ctrl-C does,
    # also while it waits for the warehouse; Dagster maps it the same way while executing.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    commands = {"run": cmd_run, "dev": cmd_dev, "sync": cmd_sync, "backtest": cmd_backtest}
    try:
        return commands[args.command](args)
    except TimeoutError as exc:  # another run held the warehouse too long
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOTHING_PUBLISHED
    except ValueError as exc:  # settings errors name the variable and the fix
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    except KeyboardInterrupt:
        print("\nstopped (Ctrl-C or SIGTERM)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
