"""The scenarios of the reliability matrix, each on a fresh copy of small generated data.

Data: `generate` writes N accounts x D days. The **baseline** is a run over every day but
the last one: it publishes the *old* serving file, and its whole data folder (warehouse,
Dagster storage, serving file, exports, outbox) is the starting point every scenario
copies. The scenarios' runs then add the last day (and, so that the load of a landing
file lasts long enough to be hit, a re-sent copy of one of that day's events repeated
100,000 times: duplicates, which change no score). The **reference** is one
uninterrupted run from the baseline: what every recovered run must equal.

All runs use one folder (`live/`), refilled before each scenario: dbt keeps its parse
between builds only while the warehouse path stays the same, and it does here.

Crash scenarios SIGKILL the run's process group at a stage, then start the next run
with no manual step, and compare it with the reference: the serving file (old or new,
never a third), the published tables, the raw layer and load audit, the Parquet exports,
and each sync destination's state (webhook server, outbox files).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets as random_secrets
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from customer_health.sample_data.generator import generate
from customer_health.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from orchestration.reliability import evidence as ev
from orchestration.reliability.hostile import (
    Evidence,
    Verdict,
    judge,
    marker_names,
    write_hostile_landing,
)
from orchestration.reliability.runs import (
    CliRun,
    kill_pids,
    open_files,
    run_env,
    stop_all,
    survivors,
)
from orchestration.reliability.servers import DestinationState, Endpoint, destination_state
from orchestration.warehouse_lock import RUN_TOKEN_ENV

RECOVERED = "Recovered from a run that died holding the warehouse"
HEAVY_ROWS = 100_000
WEBHOOK_BATCH = 3
"""Records per webhook batch in the matrix (sync.yml says 100): several batches, so a run
can be killed between two of them."""


def _destination(kind: str) -> tuple[str, str]:
    """The sync.yml destination of a type: its name and the field carrying the account id
    (what its records are matched on)."""
    from customer_health.sync.config import load_destinations

    found = next(d for d in load_destinations(PROJECT_ROOT / "sync.yml") if d.type == kind)
    return found.name, found.key_field


WEBHOOK, WEBHOOK_KEY = _destination("webhook")
OUTBOX, OUTBOX_KEY = _destination("file")


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    outcome: str
    rows_lost: str
    serving: str
    rerun: str
    ok: bool
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    findings: list[str] = field(default_factory=list)
    """what the scenario found that its requirements do not cover (left-over files, say)"""


@dataclass
class Secrets:
    """Sentinel values for every secret setting, each holding a random token."""

    values: dict[str, str]
    tokens: dict[str, str]

    def needles(self) -> dict[str, list[bytes]]:
        return ev.needles(self.values, self.tokens)


def secret_settings() -> list[str]:
    """Every secret setting of the project: the names in .env.example and the code that
    say password, token, URL or DSN, and each sync.yml destination's url_env, token_env
    and dsn_env."""
    pattern = re.compile(r"\bHEALTH_[A-Z0-9_]*(?:PASSWORD|TOKEN|URL|DSN|SECRET)\b")
    names: set[str] = set()
    for path in [PROJECT_ROOT / ".env.example", *(PROJECT_ROOT / "orchestration").rglob("*.py")]:
        if "reliability" in path.parts:
            continue
        names |= set(pattern.findall(path.read_text(encoding="utf-8")))
    document = yaml.safe_load((PROJECT_ROOT / "sync.yml").read_text()) or {}
    for entry in (document.get("destinations") or {}).values():
        names |= {entry[k] for k in ("url_env", "token_env", "dsn_env") if entry.get(k)}
    # the run token `cli run` sets itself for its children (the lock file shows it): not a
    # setting, and a value given to it is replaced
    names.discard(RUN_TOKEN_ENV)
    return sorted(names)


PG_CONNECTION = ("HEALTH_PG_HOST", "HEALTH_PG_PORT", "HEALTH_PG_USER", "HEALTH_PG_DATABASE")


def pg_connection_env() -> dict[str, str]:
    """Where the Postgres server is, as this process was told (the runs' environment
    starts without HEALTH_ settings): host, port, user and database, never a password."""
    return {name: os.environ[name] for name in PG_CONNECTION if os.environ.get(name)}


def make_secrets(endpoint: Endpoint, url_tokens: dict[str, str]) -> Secrets:
    """A sentinel per secret setting. The URLs point at the local endpoint (their token is
    the one in the endpoint's path) and the DSN at the Postgres server (trust
    authentication takes any password), so each is used."""
    pg = pg_connection_env()
    host, port = pg.get("HEALTH_PG_HOST", "127.0.0.1"), pg.get("HEALTH_PG_PORT", "5432")
    user, database = pg.get("HEALTH_PG_USER", "postgres"), pg.get("HEALTH_PG_DATABASE", "test")
    tokens = {name: f"s3ntinel{random_secrets.token_hex(8)}" for name in secret_settings()}
    tokens.update({k: v for k, v in url_tokens.items() if k in tokens})
    values = {}
    for name, token in tokens.items():
        if name == "HEALTH_SYNC_WEBHOOK_URL":
            values[name] = endpoint.url(endpoint.sync_path)
        elif name == "HEALTH_ALERT_WEBHOOK_URL":
            values[name] = endpoint.url(endpoint.alert_path)
        elif name.endswith("_DSN"):
            values[name] = f"postgresql://{user}:{token}@{host}:{port}/{database}"
        else:
            values[name] = token
    return Secrets(values, tokens)


def new_endpoint() -> tuple[Endpoint, dict[str, str]]:
    """The local webhook/alert endpoint, its paths carrying a secret token each."""
    sync, alert = random_secrets.token_hex(8), random_secrets.token_hex(8)
    endpoint = Endpoint(f"/crm/s3ntinel{sync}?k=s3ntinel{sync}q", f"/alerts/s3ntinel{alert}")
    return endpoint.start(), {
        "HEALTH_SYNC_WEBHOOK_URL": f"s3ntinel{sync}",
        "HEALTH_ALERT_WEBHOOK_URL": f"s3ntinel{alert}",
    }


def write_sync_config(path: Path, *, batch_size: int, pg_schema: str | None = None) -> Path:
    """sync.yml as it is, with the webhook's batch size set, and the Postgres upsert into
    a schema of its own (the matrix's, dropped at the end)."""
    document = yaml.safe_load((PROJECT_ROOT / "sync.yml").read_text())
    for entry in document["destinations"].values():
        if entry.get("type") == "webhook":
            entry["batch_size"] = batch_size
            entry["backoff_seconds"] = 0.2
        if entry.get("type") == "postgres" and pg_schema:
            entry["schema"] = pg_schema
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the matrix ------------------------------------------------------------------------


@dataclass
class Compared:
    """A run's outputs against the reference's."""

    comparison: ev.Comparison
    identical: bool
    serving_ok: bool
    """the serving file is readable and the one this run published"""
    serving_label: str
    notes: list[str]


@dataclass
class Reference:
    """What an uninterrupted run from the baseline produced."""

    published: ev.Digest
    raw: ev.Digest
    exports: ev.Digest
    webhook: DestinationState
    outbox: DestinationState
    fact_in_warehouse: Any


@dataclass
class Matrix:
    root: Path
    accounts: int = 16
    days: int = 28
    seed: int = 13
    end: date = date(2025, 5, 28)
    endpoint: Endpoint | None = None
    url_tokens: dict[str, str] = field(default_factory=dict)
    mounts: list[Path] = field(default_factory=list)
    pg_schemas: list[str] = field(default_factory=list)
    baseline_serving: str | None = None
    baseline_fact: Any = None
    baseline_exports: dict[str, str | None] = field(default_factory=dict)
    """sha256 of every exported file after the baseline"""
    keep: bool = False
    """keep a copy of each scenario's serving file and logs under evidence/"""
    reference: Reference | None = None
    consoles: list[tuple[str, str]] = field(default_factory=list)
    """(label, console) of every run, for the secrets scan"""

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def live(self) -> Path:
        return self.root / "live"

    @property
    def landing(self) -> Path:
        return self.live / "landing"

    @property
    def data(self) -> Path:
        return self.live / "data"

    @property
    def serving(self) -> Path:
        return self.data / "serving" / "health.duckdb"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # --- set-up ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Generate the data once; the baseline landing is every day but the last."""
        self.logs.mkdir(parents=True, exist_ok=True)
        full = self.root / "landing-full"
        generate(full, accounts=self.accounts, start=self.start, end=self.end, seed=self.seed)
        add_resent_events(full, self.end, HEAVY_ROWS)
        baseline = self.root / "landing-baseline"
        shutil.copytree(full, baseline)
        for path in baseline.rglob(f"{self.end.isoformat()}*"):
            path.unlink()
        if self.endpoint is None:
            self.endpoint, self.url_tokens = new_endpoint()
        write_sync_config(self.root / "sync.yml", batch_size=WEBHOOK_BATCH)

    def env(self, **extra: str) -> dict[str, str]:
        assert self.endpoint is not None
        settings = {
            "HEALTH_AS_OF": self.end.isoformat(),
            "HEALTH_SYNC_CONFIG": str(self.root / "sync.yml"),
            "HEALTH_SYNC_WEBHOOK_URL": self.endpoint.url(self.endpoint.sync_path),
            "HEALTH_SYNC_WEBHOOK_TOKEN": "matrix-token",
            "HEALTH_ALERT_WEBHOOK_URL": self.endpoint.url(self.endpoint.alert_path),
        }
        return run_env(self.landing, self.data, **{**settings, **extra})

    def window(self, end: date | None = None) -> tuple[str, ...]:
        return ("--from", self.start.isoformat(), "--to", (end or self.end).isoformat())

    def fresh(self, landing: str = "landing-full") -> None:
        """A fresh copy of the baseline data folder and the landing files in live/."""
        shutil.rmtree(self.live, ignore_errors=True)
        self.live.mkdir(parents=True)
        shutil.copytree(self.root / landing, self.landing, symlinks=True)
        baseline = self.root / "baseline-data"
        if baseline.is_dir():
            shutil.copytree(baseline, self.data, symlinks=True)

    def run(self, label: str, env: dict[str, str], args: tuple[str, ...] = ()) -> CliRun:
        log = self.logs / f"{label}.log"
        log.unlink(missing_ok=True)
        return CliRun(env, args or self.window(), log).start()

    def finished(self, label: str, run: CliRun) -> CliRun:
        self.consoles.append((label, run.output))
        return run

    def baseline(self) -> Row:
        """The run that publishes the old serving file every scenario starts from."""
        started = time.monotonic()
        self.fresh("landing-baseline")
        env = self.env(HEALTH_AS_OF=(self.end - timedelta(days=1)).isoformat())
        env.pop("HEALTH_SYNC_WEBHOOK_URL")  # the webhook starts empty in every scenario
        run = self.run("baseline", env, self.window(self.end - timedelta(days=1)))
        code = self.finished("baseline", run).wait()
        ok = code == 0 and self.serving.is_file()
        if ok:
            shutil.copytree(self.data, self.root / "baseline-data", symlinks=True)
            self.baseline_serving = ev.sha256_file(self.serving)
            self.baseline_fact = ev.table_digest(
                self.data / "warehouse.duckdb", "marts.fct_customer_health_daily"
            )
            self.baseline_exports = ev.files_digest(self.data / "exports")
        return Row(
            f"baseline: {self.accounts} accounts x {self.days - 1} days, publishes the old file",
            f"exit {code}",
            "n/a",
            "old" if ok else "none",
            "n/a",
            ok,
            [] if ok else [_tail(run.output)],
            time.monotonic() - started,
        )

    def make_reference(self) -> Row:
        started = time.monotonic()
        assert self.endpoint is not None
        self.fresh()
        self.endpoint.reset()
        run = self.run("reference", self.env())
        code = self.finished("reference", run).wait()
        details = []
        ok = code == 0
        if ok:
            self.reference = Reference(
                published=ev.published_digest(self.serving),
                raw=ev.raw_digest(self.data / "warehouse.duckdb"),
                exports=ev.exports_digest(self.data / "exports", ev.publishing_run(self.serving)),
                webhook=destination_state(self.endpoint.sync_posts(), WEBHOOK_KEY),
                outbox=ev.outbox_state(self.data / "outbox" / OUTBOX, OUTBOX_KEY)[0],
                fact_in_warehouse=ev.table_digest(
                    self.data / "warehouse.duckdb", "marts.fct_customer_health_daily"
                ),
            )
            if self.keep:
                (self.root / "evidence").mkdir(exist_ok=True)
                shutil.copy2(self.serving, self.root / "evidence" / "reference-serving.duckdb")
            rows = sum(sum(c.values()) for c in self.reference.published.values())
            details.append(
                f"{len(self.reference.published)} published tables, {rows} rows; webhook "
                f"{self.reference.webhook.batches} batches of up to {WEBHOOK_BATCH}, "
                f"{len(self.reference.webhook.records)} accounts"
            )
        else:
            details.append(_tail(run.output))
        return Row(
            "reference: one uninterrupted run adding the last day",
            f"exit {code}",
            "n/a",
            "new" if ok else "none",
            "n/a",
            ok,
            details,
            time.monotonic() - started,
        )

    # --- crash anywhere ----------------------------------------------------------------

    def crash(self, name: str, expect_serving: str, trigger: Callable[[CliRun], str | None]) -> Row:
        """Kill a run's process tree where `trigger` says, then run again and compare."""
        say(f"==> crash: {name}")
        started = time.monotonic()
        assert self.endpoint is not None and self.reference is not None
        self.fresh()
        self.endpoint.reset()
        label = "crash-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        run = self.run(label, self.env())
        hit = trigger(run)
        ended_first = not run.alive() and not run.killed
        if run.alive():
            run.kill_tree()
        else:
            run.wait()
        self.finished(label, run)
        run_id = run.run_id()
        token = run.token()
        left = survivors(token)  # left for the next run to stop, as after a real crash
        details = [f"kill: {hit}" if hit else "kill: MISSED (the stage was not seen running)"]
        if ended_first:
            details.append(f"the run ended (exit {run.returncode}) before the kill")
        details.append(
            f"{len(left)} processes of the run outlived the process-group kill"
            + (f": {left}" if left else "")
        )
        after_kill = ev.probe_serving(self.serving)
        kill_state = self._serving_state(after_kill, run_id)
        details.append(f"serving file after the kill: {kill_state}")
        if name.startswith("landing"):
            rel = f"usage_events/{resent_name(self.end)}"
            audited = audit_rows(self.data / "warehouse.duckdb", rel)
            details.append(
                f"load audit after the kill: {audited} rows for {rel}"
                + (
                    " (its load had not committed: rolled back)"
                    if audited == 0
                    else " (MISSED: its load had committed before the kill)"
                )
            )
            if audited:
                hit = None
        if name.startswith("dbt"):
            fact = ev.table_digest(
                self.data / "warehouse.duckdb", "marts.fct_customer_health_daily"
            )
            fact_state = (
                "old (the killed model's transaction rolled back)"
                if fact == self.baseline_fact
                else "new"
                if fact == self.reference.fact_in_warehouse
                else "PARTIAL"
            )
            details.append(f"warehouse fact table after the kill: {fact_state}")
        if name.startswith("Parquet"):
            files = ev.files_digest(self.data / "exports")
            changed = sorted(
                {
                    f.split("/")[0]
                    for f in set(files) | set(self.baseline_exports)
                    if files.get(f) != self.baseline_exports.get(f)
                }
            )
            details.append(
                "exports after the kill: "
                + ("old (every file as before)" if not changed else f"CHANGED: {changed}")
            )
        stale = leftovers(self.data)
        if stale:
            details.append(f"left by the killed run: {', '.join(stale)}")
        # the next run, with no manual step
        again = self.run(label + "-next", self.env())
        code = self.finished(label + "-next", again).wait()
        recovered = next((line for line in again.output.splitlines() if RECOVERED in line), "")
        left_after = survivors(token)
        kill_pids(left_after)
        result = self._compare(again)
        details += result.notes
        if left_after:
            details.append(f"processes of the killed run still alive after recovery: {left_after}")
        still = [s for s in leftovers(self.data) if s in stale]
        findings = []
        if still:
            details.append(f"still there after the next run: {', '.join(still)}")
            findings.append(
                f"a kill during the {name.split(' (')[0]} leaves {', '.join(still)} behind;"
                " no later run removes it"
            )
        # old or new, never a third: the expected one is noted, either is correct
        serving_ok = kill_state.startswith(("old", "new")) and result.serving_ok
        if not kill_state.startswith(expect_serving):
            details.append(f"(expected the {expect_serving} file after a kill at this stage)")
        ok = (
            bool(hit)
            and code == 0
            and bool(recovered)
            and result.comparison.lost == 0
            and result.identical
            and serving_ok
            and not left_after
        )
        outcome = f"killed at {name.split(' (')[0]}; next run exit {code}" + (
            ", said it recovered" if recovered else ", did NOT say it recovered"
        )
        if recovered:
            details.append("next run: " + recovered.strip().lstrip("=> "))
        return Row(
            f"crash: {name}",
            outcome,
            str(result.comparison.lost),
            f"{kill_state.split(' ')[0]} -> {result.serving_label}",
            "yes" if result.identical else "NO: " + "; ".join(result.comparison.differing[:4]),
            ok,
            details,
            time.monotonic() - started,
            findings,
        )

    def _serving_state(self, probe: ev.ServingProbe, run_id: str | None) -> str:
        """old (the file from before), new (the file a run published, complete and
        readable), or what else it is."""
        if not probe.readable:
            return f"UNREADABLE ({probe.error})"
        if probe.sha256 == self.baseline_serving:
            return "old (sha256 of the file from before)"
        if run_id and published_by(self.data, run_id, probe.sha256):
            return f"new (the killed run's complete publication, {probe.fact_rows} fact rows)"
        return f"THIRD FILE (sha256 {probe.sha256})"

    def _compare(self, run: CliRun) -> Compared:
        """The run's published tables, raw layer, exports and sync destinations against
        the reference."""
        assert self.reference is not None and self.endpoint is not None
        notes = []
        probe = ev.probe_serving(self.serving)
        run_id = run.run_id()
        mine = probe.readable and run_id and published_by(self.data, run_id, probe.sha256)
        serving_label = "new" if mine else ("old" if probe.sha256 == self.baseline_serving else "?")
        if not probe.readable:
            serving_label = "UNREADABLE"
        if not probe.readable:
            return Compared(
                ev.Comparison(differing=["serving file unreadable"]),
                False,
                False,
                serving_label,
                notes,
            )
        published = ev.compare(self.reference.published, ev.published_digest(self.serving))
        raw = ev.compare(self.reference.raw, ev.raw_digest(self.data / "warehouse.duckdb"), "raw.")
        exports = ev.compare(
            self.reference.exports,
            ev.exports_digest(self.data / "exports", ev.publishing_run(self.serving)),
            "exports/",
        )
        webhook_state = destination_state(self.endpoint.sync_posts(), WEBHOOK_KEY)
        webhook = ev.compare_states(self.reference.webhook, webhook_state)
        outbox_state, _ = ev.outbox_state(self.data / "outbox" / OUTBOX, OUTBOX_KEY)
        outbox = ev.compare_states(self.reference.outbox, outbox_state)
        for label, part in (("webhook: ", webhook), ("outbox: ", outbox)):
            part.differing = [label + d for d in part.differing]
        total = published + raw + exports + webhook + outbox
        notes.append(
            f"published tables {'identical' if published.identical else 'DIFFER'}, raw layer "
            f"and load audit {'identical' if raw.identical else 'DIFFER'}, exports "
            f"{'identical' if exports.identical else 'DIFFER'} (to the reference)"
        )
        differing = published.differing + raw.differing + exports.differing
        if differing:
            notes.append("differs: " + "; ".join(differing[:8]))
        if self.keep:
            kept = self.root / "evidence"
            kept.mkdir(exist_ok=True)
            shutil.copy2(self.serving, kept / f"{len(list(kept.iterdir())):02d}-serving.duckdb")
        notes.append(
            f"webhook: {len(webhook_state.records)} accounts, each once; {webhook_state.batches}"
            f" batches received, {webhook_state.duplicate_batches} again under an idempotency"
            f" key already received (dropped by key), {webhook_state.redelivered} records"
            " again under a new key"
            + ("" if webhook.identical else " - DIFFERS from the reference")
        )
        notes.append(
            f"outbox: {len(outbox_state.records)} accounts over {outbox_state.batches} files,"
            f" {outbox_state.redelivered} records sent again unchanged"
            + ("" if outbox.identical else " - DIFFERS from the reference")
        )
        return Compared(total, total.identical, bool(mine), serving_label, notes)

    def crash_scenarios(self, only: set[str] | None = None) -> Iterator[Row]:
        """The six crash points (`only`: those whose name starts with one of these)."""
        resent = (self.landing / "usage_events" / resent_name(self.end)).resolve()

        def landing(run: CliRun) -> str | None:
            step_at = run.wait_for_step("raw__usage_events")
            if step_at is None:
                return None
            if not run.wait_for(lambda: str(resent) in open_files(run.pid)):
                return None
            time.sleep(0.3)
            into = time.monotonic() - run.started - step_at
            return (
                f"raw__usage_events had started and the loader had opened"
                f" {resent.relative_to(self.landing)} ({HEAVY_ROWS:,} rows); killed 0.3 s later,"
                f" {into:.1f} s into the step"
            )

        def dbt_model(run: CliRun) -> str | None:
            if run.wait_for_step("health_dbt_models") is None:
                return None
            run_id = run.run_id() or ""
            model = "models/marts/health/fct_customer_health_daily.sql"

            def writing() -> Path | None:
                for folder in (DBT_PROJECT_DIR / "target").glob(
                    f"health_dbt_models-{run_id[:7]}-*"
                ):
                    path = folder / "run" / "customer_health" / model
                    if path.is_file():
                        return path
                return None

            found = run.wait_for(writing, interval=0.002)
            if not found:
                return None
            return (
                "dbt wrote the main statement of the incremental model"
                " marts.fct_customer_health_daily (target/.../run/.../fct_customer_health_daily"
                ".sql) and was executing it"
            )

        def exit_checks(run: CliRun) -> str | None:
            if run.wait_for_step("fact_exit_checks") is None:
                return None
            time.sleep(0.3)
            done = any(
                e.step == "fact_exit_checks" and e.kind != "STEP_START" for e in run.step_events()
            )
            return None if done else "fact_exit_checks started 0.3 s before, not finished"

        def publish(run: CliRun) -> str | None:
            if run.wait_for_step("serving__health_duckdb") is None:
                return None
            run_id = run.run_id() or ""
            staging = self.serving.with_name(f".{self.serving.name}.{run_id}.tmp")
            if not run.wait_for(staging.exists, interval=0.001):
                return None
            return f"the new serving file was being written ({staging.name})"

        def parquet(run: CliRun) -> str | None:
            if run.wait_for_step("serving__parquet_exports") is None:
                return None
            run_id = run.run_id() or ""
            staging = self.data / f".exports.{run_id}.tmp"
            if not run.wait_for(lambda: next(staging.rglob("*.parquet"), None), interval=0.002):
                return None
            written = sum(1 for _ in staging.rglob("*.parquet"))
            return f"the export was writing its staging folder ({written} Parquet files so far)"

        def between_batches(run: CliRun) -> str | None:
            assert self.endpoint is not None
            held: list[int] = []

            def hold(number: int) -> None:
                held.append(number)
                run.kill_tree()

            self.endpoint.reset(hold_at=2, on_hold=hold)
            if not run.wait_for(lambda: held, timeout=1500, interval=0.05):
                return None
            return (
                "the webhook server had answered batch 1 and received batch 2"
                " (not answered): killed between the two batches' acknowledgements"
            )

        points = [
            ("landing file loading (raw__usage_events)", "old", landing),
            ("dbt model (fct_customer_health_daily)", "old", dbt_model),
            ("exit checks (fact_exit_checks)", "old", exit_checks),
            ("publish copy (serving__health_duckdb)", "old", publish),
            ("Parquet export (serving__parquet_exports)", "new", parquet),
            (f"between two sync batches (sync__{WEBHOOK})", "new", between_batches),
        ]
        for name, expect, trigger in points:
            if not only or any(name.lower().startswith(o.lower()) for o in only):
                yield self.crash(name, expect, trigger)

    # --- full disk ----------------------------------------------------------------------

    def full_disk(self) -> Row:
        started = time.monotonic()
        assert self.endpoint is not None and self.reference is not None
        self.fresh()
        self.endpoint.reset()
        folder = self.serving.parent
        old = self.root / "serving-before.duckdb"
        shutil.copy2(self.serving, old)
        size = old.stat().st_size + (1 << 20)
        details = []
        try:
            mount_tmpfs(folder, size)
            self.mounts.append(folder)
        except subprocess.CalledProcessError as exc:
            return Row(
                "full disk: serving folder on a tmpfs too small for the new file",
                f"NOT RUN: mount refused ({exc.stderr.strip()[:120]})",
                "n/a",
                "n/a",
                "n/a",
                True,
                ["fallback: none on this machine; run as root where mount -t tmpfs works"],
            )
        try:
            shutil.copy2(old, self.serving)
            details.append(
                f"serving/ is a tmpfs of {size // 1024} KiB holding the old file"
                f" ({old.stat().st_size // 1024} KiB): the new one cannot fit beside it"
            )
            run = self.run("full-disk", self.env())
            code = self.finished("full-disk", run).wait()
            probe = ev.probe_serving(self.serving)
            unchanged = probe.sha256 == self.baseline_serving and probe.readable
            lines = [
                line
                for line in run.output.splitlines()
                if str(folder) in line and ("space" in line.lower() or "FAILED" in line)
            ]
            named = bool(lines)
            details.append(
                "message: " + (lines[0].strip()[:300] if lines else "NONE naming the path")
            )
            stale = [p.name for p in folder.iterdir() if p.name.startswith(".")]
            if stale:
                details.append(f"left in serving/: {', '.join(stale)} (on the full disk)")
            # the next run, with room again
            subprocess.run(
                ["mount", "-o", f"remount,size={256 << 20}", str(folder)],
                check=True,
                capture_output=True,
                text=True,
            )
            again = self.run("full-disk-next", self.env())
            code_again = self.finished("full-disk-next", again).wait()
            compared = self._compare(again)
            details.append(f"after making room, the next run exit {code_again}")
            details += compared.notes[:1]
            still = [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name in stale]
            findings = []
            if still:
                details.append(f"still in serving/ after the next run: {', '.join(still)}")
                findings.append(
                    "a publish that fails on a full disk leaves its partial staging file"
                    f" ({', '.join(still)}) in serving/, on the full disk; no later run removes"
                    " it, so the space stays taken until someone deletes it"
                )
            ok = code == 1 and unchanged and named and code_again == 0 and compared.identical
            return Row(
                "full disk: serving folder on a tmpfs too small for the new file",
                f"exit {code}" + (", names the path" if named else ", does NOT name the path"),
                str(compared.comparison.lost),
                ("old (unchanged sha256)" if unchanged else "CHANGED")
                + " -> "
                + compared.serving_label,
                "yes"
                if compared.identical
                else "NO: " + "; ".join(compared.comparison.differing[:4]),
                ok,
                details,
                time.monotonic() - started,
                findings,
            )
        finally:
            unmount(folder)
            with contextlib.suppress(ValueError):
                self.mounts.remove(folder)

    # --- failing destinations -----------------------------------------------------------

    def failing_outputs(self, secrets: Secrets) -> tuple[Row, list[ev.Hit]]:
        """The webhook answers 401, the Postgres copy has a closed port, the exports folder
        is a read-only mount: each fails alone; the others and the serving file go through."""
        started = time.monotonic()
        assert self.endpoint is not None and self.reference is not None
        self.fresh()
        self.endpoint.reset(mode="refuse")
        exports = self.data / "exports"
        details = []
        mounted = False
        try:
            mount_tmpfs(exports, 1 << 20, read_only=True)
            self.mounts.append(exports)
            mounted = True
        except subprocess.CalledProcessError:
            details.append("exports read-only mount refused: not part of this run")
        try:
            env = self.env(
                HEALTH_PUBLISH_POSTGRES="true",
                HEALTH_PG_PORT=str(closed_port()),
                HEALTH_PG_PASSWORD=secrets.values.get("HEALTH_PG_PASSWORD", "x"),
                HEALTH_SYNC_WEBHOOK_TOKEN=secrets.values.get("HEALTH_SYNC_WEBHOOK_TOKEN", "x"),
            )
            run = self.run("failing-outputs", env)
            code = self.finished("failing-outputs", run).wait()
            statuses = output_statuses(run.output)
            expected = {
                "serving/health_duckdb": "published",
                f"sync/{WEBHOOK}": "failed",
                "serving/postgres": "failed",
                f"sync/{OUTBOX}": "ok",
                "serving/health_report": "ok",
                "serving/parquet_exports": "failed" if mounted else "ok",
            }
            wrong = {
                k: statuses.get(k, "missing") for k, v in expected.items() if statuses.get(k) != v
            }
            for name in expected:
                shown = f"{statuses.get(name, 'missing')} {statuses.get(name + ' detail', '')}"
                details.append(f"{name}: {shown.strip()[:220]}")
            said = "Run FAILED after publishing (exit 3" in run.output
            alerts = len(self.endpoint.alert_posts())
            details.append(f"alert webhook: {alerts} post(s)")
            compared = self._compare_published()
            hits = ev.scan_files([self.data], secrets.needles()) + ev.scan_text(
                "console of the failing-outputs run", run.output, secrets.needles()
            )
            ok = code == 3 and said and not wrong and compared.identical and not hits
            findings = []
            if "cross-device link" in statuses.get("serving/parquet_exports detail", ""):
                findings.append(
                    "the exports folder cannot be a filesystem of its own (a mounted share):"
                    " the export writes its staging folder beside it in the data folder and"
                    " renames it in, which fails across filesystems (EXDEV) before any"
                    " question of the mount being writable"
                )
            return (
                Row(
                    "failing outputs: webhook 401, Postgres publish on a closed port"
                    + (", exports folder a read-only mount" if mounted else ""),
                    f"exit {code}"
                    + (" 'published, but an output failed'" if said else "")
                    + ("; per-output lines as expected" if not wrong else f"; WRONG: {wrong}"),
                    str(compared.lost),
                    "new (published by this run)",
                    "yes" if compared.identical else "NO: " + "; ".join(compared.differing[:4]),
                    ok,
                    details,
                    time.monotonic() - started,
                    findings,
                ),
                hits,
            )
        finally:
            if mounted:
                unmount(exports)
                self.mounts.remove(exports)

    def _compare_published(self) -> ev.Comparison:
        assert self.reference is not None
        probe = ev.probe_serving(self.serving)
        if not probe.readable:
            return ev.Comparison(differing=["serving file unreadable"])
        return ev.compare(self.reference.published, ev.published_digest(self.serving))

    # --- cleaning up --------------------------------------------------------------------

    def close(self) -> list[str]:
        """Stop every process, unmount every tmpfs, drop the Postgres schemas, stop the
        endpoint; what was done."""
        done = []
        stopped = stop_all()
        if stopped:
            done.append(f"killed runs still alive: {stopped}")
        for folder in list(self.mounts):
            unmount(folder)
            done.append(f"unmounted {folder}")
        self.mounts.clear()
        drop_schemas(self.pg_schemas)
        if self.endpoint is not None:
            self.endpoint.stop()
        return done


# --- hostile input and secrets -----------------------------------------------------------


@dataclass
class HostileResult:
    verdicts: list[Verdict]
    codes: tuple[int, int]
    hits: list[ev.Hit]
    scanned_files: int
    exercised: dict[str, str]
    refused_files: list[str]
    consoles: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)


def run_hostile_and_secrets(
    work: Path,
    endpoint: Endpoint,
    secrets: Secrets,
    *,
    accounts: int = 12,
    days: int = 20,
    end: date = date(2025, 5, 28),
    log_dir: Path | None = None,
) -> HostileResult:
    """Two whole pipeline runs over a landing folder of generated data and every hostile
    case, with a sentinel value in every secret setting and the local endpoint as the
    sync and alert webhooks (and the local Postgres for the copy and the upsert, in
    schemas of their own):

    - run A over everything: files that must be refused are, so it fails (and posts its
      alert);
    - run B after removing the refused files, as an operator would: it publishes, and
      the hostile strings are followed into the serving file, the report and the syncs.

    Then every file under the data folder, dbt's target and logs folders, and both
    consoles are searched for every secret value."""
    landing, data = work / "landing", work / "data"
    start = end - timedelta(days=days - 1)
    generate(landing, accounts=accounts, start=start, end=end, seed=21)
    token = random_secrets.token_hex(4)
    hostile = write_hostile_landing(
        landing, work / "outside", token, "ACC-000001", start + timedelta(days=days // 2)
    )
    suffix = random_secrets.token_hex(4)
    serving_schema, sync_schema = f"reliability_serving_{suffix}", f"reliability_sync_{suffix}"
    config = write_sync_config(work / "sync.yml", batch_size=WEBHOOK_BATCH, pg_schema=sync_schema)
    env = run_env(
        landing,
        data,
        HEALTH_AS_OF=end.isoformat(),
        HEALTH_SYNC_CONFIG=str(config),
        HEALTH_PUBLISH_POSTGRES="true",
        HEALTH_PG_SERVING_SCHEMA=serving_schema,
        HEALTH_SYNC_POSTGRES="true",
        **pg_connection_env(),
        **secrets.values,
    )
    endpoint.reset()
    consoles = []
    try:
        first = CliRun(env, (), (log_dir / "hostile-a.log") if log_dir else None).start()
        code_a = first.wait()
        consoles.append(("console of hostile run A", first.output))
        refused = refused_files(data / "warehouse.duckdb")
        for rel in refused:
            path = landing / rel
            if path.is_symlink() or path.is_file():
                path.unlink()
        second = CliRun(env, (), (log_dir / "hostile-b.log") if log_dir else None).start()
        code_b = second.wait()
        consoles.append(("console of hostile run B", second.output))
        serving = data / "serving" / "health.duckdb"
        published = code_b in (0, 3) and serving.is_file()
        outputs: dict[str, Any] = {}
        if published:
            report = data / "reports" / "health_report.html"
            if report.is_file():
                outputs["report_html"] = report.read_text(encoding="utf-8", errors="replace")
            outbox, _ = ev.outbox_state(data / "outbox" / OUTBOX, OUTBOX_KEY)
            outputs["outbox"] = set(outbox.records)
            outputs["webhook"] = set(destination_state(endpoint.sync_posts(), WEBHOOK_KEY).records)
            outputs.update(postgres_outputs(serving_schema, sync_schema))
        crashed = crashed_steps(first) + crashed_steps(second)
        markers = find_markers(token, [landing, data, work / "outside"])
        verdicts = judge(
            hostile,
            Evidence(
                data / "warehouse.duckdb", serving if published else None, outputs, crashed, markers
            ),
        )
        tracebacks = [
            label for label, text in consoles if "Traceback (most recent call last)" in text
        ]
        notes = [
            f"run A exit {code_a}, run B exit {code_b}; refused in run A: {', '.join(refused)}"
        ]
        if tracebacks:
            notes.append(f"a Python traceback was printed in: {', '.join(tracebacks)}")
        stacks = consoles[0][1].count("Stack Trace:")
        if stacks:
            notes.append(
                f"run A's console shows Dagster's stack trace {stacks} times: under each failed"
                " step's message (the dagster.Failure of a refusal) and the run failure"
            )
        roots = [data, DBT_PROJECT_DIR / "target", DBT_PROJECT_DIR / "logs"]
        needles = secrets.needles()
        hits = ev.scan_files(roots, needles)
        for label, text in consoles:
            hits += ev.scan_text(label, text, needles)
        scanned = sum(1 for root in roots if root.exists() for _ in _files(root))
        exercised = exercised_secrets(endpoint, secrets, second.output, first.output)
        return HostileResult(
            verdicts, (code_a, code_b), hits, scanned, exercised, refused, consoles, notes
        )
    finally:
        drop_schemas([serving_schema, sync_schema])


def _files(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def refused_files(warehouse: Path) -> list[str]:
    import duckdb

    if not warehouse.is_file():
        return []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [
            f
            for (f,) in con.execute(
                "select distinct source_file from raw._load_audit where status = 'failed'"
                " order by 1"
            ).fetchall()
        ]
    except duckdb.Error:
        return []
    finally:
        con.close()


def crashed_steps(run: CliRun) -> list[str]:
    """Steps that failed with an exception (a crash) rather than a `dagster.Failure` (a
    refusal or a failed check, which says what is wrong): a failure event without user
    failure data."""
    import json

    run_id = run.run_id()
    if not run_id:
        return []
    db = run.runs_dir / f"{run_id}.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "select step_key, event from event_logs where dagster_event_type = 'STEP_FAILURE'"
        ).fetchall()
    finally:
        con.close()
    crashed = []
    for step, event in rows:
        data = json.loads(event)["dagster_event"]["event_specific_data"]
        if data.get("user_failure_data") is None:
            error = data.get("error") or {}
            cause = error.get("cause") or error
            crashed.append(f"{step}: {cause.get('cls_name')}: {str(cause.get('message'))[:200]}")
    return crashed


def find_markers(token: str, folders: list[Path]) -> list[str]:
    """Marker files an executed shell string would have made: in /tmp, the project, dbt's
    folder, the current folder, and anywhere under `folders`."""
    names = set(marker_names(token))
    found = []
    for folder in [Path("/tmp"), PROJECT_ROOT, DBT_PROJECT_DIR, Path.cwd()]:
        found += [str(folder / n) for n in names if (folder / n).exists()]
    for folder in folders:
        found += [str(p) for p in folder.rglob("*") if p.name in names]
    return sorted(set(found))


def postgres_outputs(serving_schema: str, sync_schema: str) -> dict[str, set[str]]:
    """The hostile values as Postgres holds them: the published dim_accounts (ids and
    names) and the CRM upsert table."""
    from customer_health.postgres import PostgresSettings

    found: dict[str, set[str]] = {}
    try:
        con = PostgresSettings.from_env().connect()
    except Exception:
        return found
    try:
        with con.cursor() as cur:
            for name, sql in (
                (
                    "postgres_dim_accounts",
                    f'select account_id, account_name from "{serving_schema}".dim_accounts',
                ),
                (
                    "postgres_sync",
                    f'select account_id, account_name from "{sync_schema}".account_health',
                ),
            ):
                try:
                    cur.execute(sql)
                    found[name] = {v for row in cur.fetchall() for v in row if v}
                except Exception:
                    con.rollback()
    finally:
        con.close()
    return found


def drop_schemas(schemas: list[str]) -> None:
    from customer_health.postgres import PostgresSettings

    if not schemas:
        return
    with contextlib.suppress(Exception):
        con = PostgresSettings.from_env().connect()
        try:
            with con, con.cursor() as cur:
                for schema in schemas:
                    cur.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            con.close()


def exercised_secrets(endpoint: Endpoint, secrets: Secrets, *consoles: str) -> dict[str, str]:
    """How each secret was used by the runs (from what the endpoint received and the
    outputs the runs reported)."""
    used = {}
    syncs = endpoint.sync_posts()
    token = secrets.values.get("HEALTH_SYNC_WEBHOOK_TOKEN", "")
    if syncs:
        used["HEALTH_SYNC_WEBHOOK_URL"] = f"{len(syncs)} sync batches received at it"
        bearer = sum(1 for p in syncs if p.headers.get("authorization") == f"Bearer {token}")
        used["HEALTH_SYNC_WEBHOOK_TOKEN"] = f"bearer token on {bearer} of {len(syncs)} batches"
    alerts = endpoint.alert_posts()
    if alerts:
        used["HEALTH_ALERT_WEBHOOK_URL"] = f"{len(alerts)} failed-run alerts received at it"
    statuses = [output_statuses(console) for console in consoles]
    if any(s.get("serving/postgres") == "ok" for s in statuses):
        used["HEALTH_PG_PASSWORD"] = "the Postgres copy connected with it (trust authentication)"
    if any(s.get("sync/crm_postgres") == "ok" for s in statuses):
        used["HEALTH_SYNC_PG_DSN"] = "the crm_postgres upsert connected with it"
    return used


def output_statuses(console: str) -> dict[str, str]:
    """The per-output lines of a run summary: name -> status (and name + ' detail')."""
    found: dict[str, str] = {}
    for line in console.splitlines():
        parts = line.split(None, 2)
        if line.startswith("  ") and parts and re.match(r"^(serving|sync)/\w+$", parts[0]):
            found[parts[0]] = parts[1] if len(parts) > 1 else ""
            found[parts[0] + " detail"] = parts[2] if len(parts) > 2 else ""
    return found


# --- helpers ---------------------------------------------------------------------------


def resent_name(day: date) -> str:
    return f"{day.isoformat()}-resent.csv"


def add_resent_events(landing: Path, day: date, rows: int) -> Path:
    """A CSV re-sending one event of `day`'s usage file `rows` times: every row is a
    duplicate of an event already loaded (raw keeps one per file, staging one per key),
    so no score changes, and loading the file takes seconds, long enough to be killed in."""
    import pyarrow.parquet as pq

    table = pq.read_table(landing / "usage_events" / f"{day.isoformat()}.parquet")
    first = {c: table.column(c)[0].as_py() for c in table.column_names}
    occurred = first["occurred_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values = [first["event_id"], first["account_id"], first["user_id"] or "", first["event_name"]]
    line = ",".join([*values, occurred, repr(float(first["quantity"]))]) + "\n"
    path = landing / "usage_events" / resent_name(day)
    with path.open("w", encoding="utf-8") as out:
        out.write("event_id,account_id,user_id,event_name,occurred_at,quantity\n")
        out.write(line * rows)
    return path


def audit_rows(warehouse: Path, source_file: str) -> int:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        row = con.execute(
            "select count(*) from raw._load_audit where source_file = ?", [source_file]
        ).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def published_by(data: Path, run_id: str, sha256: str | None) -> bool:
    """Whether this file (its sha256) is the one the run published: the checksum in the
    run's materialization of serving/health_duckdb."""
    if not sha256:
        return False
    db = data / "dagster" / "history" / "runs" / f"{run_id}.db"
    if not db.is_file():
        return False
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'"
            " and instr(event, ?) > 0",
            [sha256],
        ).fetchone()
    finally:
        con.close()
    return bool(row and row[0])


def leftovers(data: Path) -> list[str]:
    """Scratch files and folders a killed writer leaves: the serving file's staging copy,
    the exports' staging folder and swapped-out tables, the outbox's scratch file."""
    found = []
    for pattern in ("serving/.*", ".exports.*", "exports/.*", "outbox/*/.*"):
        found += [str(p.relative_to(data)) for p in data.glob(pattern)]
    return sorted(found)


def mount_tmpfs(folder: Path, size: int, read_only: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )


def unmount(folder: Path) -> None:
    for _ in range(10):
        done = subprocess.run(["umount", str(folder)], capture_output=True, text=True)
        if done.returncode == 0 or not _is_mount(folder):
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, text=True)


def _is_mount(folder: Path) -> bool:
    target = str(folder.resolve())
    with open("/proc/self/mounts") as fh:
        return any(line.split()[1] == target for line in fh)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])
