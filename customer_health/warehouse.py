"""The one seam between the pipeline's Python steps and the warehouse engine.

Every stage reaches the warehouse through a `Warehouse` and the `WarehouseSession` it
opens: a few operations, each one a step's whole need (load an entity's new files,
hand the rows a suite must validate, record check results, run the exit checks, count
the accounts a build scores, plan and run a sync, publish, export), never a connection
or a line of SQL. So the Dagster layer (`orchestration/defs/`) imports no database
driver, and a second engine (Spark is next) is one more implementation of these two
classes, not edits across the stages.

`DuckDBWarehouse` is the implementation on the embedded DuckDB file: the SQL behind each
operation stays with the domain code that owns it (the loader, the source and exit
checks, the results table, the sync engine, the serving file); this module opens the
connection (with the settings' memory limit, threads and spill folder, retried while
another process holds the file's lock) and hands it to them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

import duckdb

from customer_health import duckdb_connection
from customer_health.contract import Entity
from customer_health.loader import EntityLoad, load_entity, mark_validated, unvalidated_rows_sql
from customer_health.publish.report import Report, build_report
from customer_health.publish.serving import (
    Exported,
    Published,
    ScoreSummary,
    export_parquet,
    publish_serving_file,
    score_summary,
)
from customer_health.quality.exit_checks import ExitResult, run_exit_checks
from customer_health.quality.results import (
    CheckRecord,
    blocking_results,
    record_results,
    result_counts,
)
from customer_health.quality.source_checks import (
    Freshness,
    Volume,
    daily_volume,
    freshness_record,
)
from customer_health.settings import Settings
from customer_health.sync.config import Destination
from customer_health.sync.runner import SyncResult, sync_destination

if TYPE_CHECKING:
    import pandas as pd  # loaded by duckdb when a batch is fetched; slow to import

    from customer_health.backtest import Backtest
    from customer_health.postgres import PostgresSettings, TablePublication
    from customer_health.quality.gx_suites import ValidationSink

LOCK_RETRIES = 5
"""Attempts to open the warehouse while another process holds its lock (1, 2, 4, 8 s apart)."""


class WarehouseSession(Protocol):
    """The operations of one step on the warehouse, in one connection (one writer)."""

    def load_entity(self, entity: Entity, *, load_id: str, as_of_time: datetime) -> EntityLoad:
        """Load the entity's new or changed landing files (quarantine, audit, versions)."""

    def unvalidated_frames(self, entity: Entity, batch_rows: int) -> Iterator[pd.DataFrame]:
        """The raw rows whose load has not passed the entity's suite, in batches."""

    def mark_validated(self, entity: Entity) -> None:
        """The entity's rows passed its suite: they need no validation again."""

    def daily_volume(self, entity: Entity, volume: Volume, first: date, last: date) -> pd.DataFrame:
        """Each day's rows against its trailing average (the volume check's input)."""

    def freshness_record(
        self, entity: Entity, freshness: Freshness, as_of: datetime, partition: str
    ) -> CheckRecord:
        """The freshness check of the entity's newest row as of a time."""

    def record_results(self, run_id: str, records: Iterable[CheckRecord]) -> int:
        """Append check results to quality.quality_check_results."""

    def blocking_results(self, run_id: str) -> list[tuple]:
        """The run's results that block publishing."""

    def result_counts(self, run_id: str) -> list[tuple[str, int]]:
        """The run's check results per status."""

    def exit_checks(
        self, first_day: date, last_day: date, docs: ValidationSink | None
    ) -> ExitResult:
        """The exit suite and the drift flag over the days the run wrote."""

    def accounts(self) -> int:
        """Accounts in the raw layer (0 before any load): what a day of scoring costs."""

    def sync(self, destination: Destination, run_id: str, *, dry_run: bool) -> SyncResult:
        """Plan a destination's changes from the published sync set and send them."""

    def backtest(
        self, config_version: str, components: Sequence[str], current: dict[str, dict[str, float]]
    ) -> Backtest | None:
        """Judge the backtest's observations (dbt built them) and store the figures (None
        without observations)."""

    def backtest_summary(self, config_versions: Sequence[str]) -> str:
        """The stored backtest figures of each configuration, side by side."""

    def adopt_backtest(self, other: Warehouse, config_version: str) -> None:
        """Store a configuration's backtest figures judged in another warehouse (a what-if
        copy) beside this one's, replacing any stored under that version."""

    def scored_range(self) -> tuple[date, date] | None:
        """The first and last day fct_customer_health_daily holds (None when empty)."""


class Warehouse(Protocol):
    """A warehouse engine: sessions for the steps, and the publication readers read."""

    settings: Settings

    def session(self, *, read_only: bool = False) -> AbstractContextManager[WarehouseSession]:
        """One connection for a step's operations."""

    def dbt_profile_environment(self) -> dict[str, str]:
        """The variables dbt's profile (dbt_project/profiles.yml) reads to reach it."""

    def publish(self, run_id: str) -> Published:
        """Swap the run's marts into the serving publication (readers see old or new)."""

    def score_summary(self) -> ScoreSummary | None:
        """The latest published day's accounts, bands and score spread."""

    def export_parquet(self, run_id: str) -> Exported:
        """Parquet files of the published tables (changed partitions rewritten)."""

    def publish_postgres(
        self,
        target: PostgresSettings,
        schema: str,
        published: dict[str, TablePublication],
    ) -> dict[str, TablePublication]:
        """Copy the published tables to a Postgres schema (changed days replaced)."""

    def report(self) -> Report:
        """Render the health report from the publication."""

    def copy_to(self, settings: Settings) -> Warehouse:
        """A copy of the working warehouse where `settings` put one (a what-if's scratch
        warehouse), taken while no run writes this one."""


@dataclass
class DuckDBSession:
    """A `WarehouseSession` on one DuckDB connection."""

    con: duckdb.DuckDBPyConnection
    settings: Settings

    def load_entity(self, entity: Entity, *, load_id: str, as_of_time: datetime) -> EntityLoad:
        return load_entity(
            self.con,
            entity,
            self.settings.landing_dir,
            load_id=load_id,
            as_of_time=as_of_time,
            default_currency=self.settings.default_currency,
        )

    def unvalidated_frames(self, entity: Entity, batch_rows: int) -> Iterator[pd.DataFrame]:
        reader = self.con.sql(unvalidated_rows_sql(entity)).to_arrow_reader(batch_rows)
        return (batch.to_pandas() for batch in reader)

    def mark_validated(self, entity: Entity) -> None:
        mark_validated(self.con, entity)

    def daily_volume(self, entity: Entity, volume: Volume, first: date, last: date) -> pd.DataFrame:
        return daily_volume(self.con, entity, volume, first, last)

    def freshness_record(
        self, entity: Entity, freshness: Freshness, as_of: datetime, partition: str
    ) -> CheckRecord:
        return freshness_record(self.con, entity, freshness, as_of, partition)

    def record_results(self, run_id: str, records: Iterable[CheckRecord]) -> int:
        return record_results(self.con, run_id, records)

    def blocking_results(self, run_id: str) -> list[tuple]:
        return blocking_results(self.con, run_id)

    def result_counts(self, run_id: str) -> list[tuple[str, int]]:
        return result_counts(self.con, run_id)

    def exit_checks(
        self, first_day: date, last_day: date, docs: ValidationSink | None
    ) -> ExitResult:
        return run_exit_checks(self.con, first_day, last_day, docs)

    def accounts(self) -> int:
        try:
            row = self.con.execute("select count(distinct account_id) from raw.accounts").fetchone()
        except duckdb.CatalogException:
            return 0
        return int(row[0]) if row else 0

    def sync(self, destination: Destination, run_id: str, *, dry_run: bool) -> SyncResult:
        return sync_destination(
            self.con, destination, run_id, self.settings.data_dir, dry_run=dry_run
        )

    def backtest(
        self, config_version: str, components: Sequence[str], current: dict[str, dict[str, float]]
    ) -> Backtest | None:
        from customer_health import backtest  # scikit-learn: only this step

        return backtest.run(self.con, config_version, components, current)

    def backtest_summary(self, config_versions: Sequence[str]) -> str:
        from customer_health import backtest

        return backtest.summary(self.con, config_versions)

    def adopt_backtest(self, other: Warehouse, config_version: str) -> None:
        from customer_health import backtest

        backtest.adopt(self.con, str(other.settings.warehouse_path), config_version)

    def scored_range(self) -> tuple[date, date] | None:
        try:
            row = self.con.execute(
                "select min(as_of_date), max(as_of_date) from marts.fct_customer_health_daily"
            ).fetchone()
        except duckdb.CatalogException:
            return None
        return (row[0], row[1]) if row and row[0] is not None else None


@dataclass(frozen=True)
class DuckDBWarehouse:
    """The `Warehouse` on embedded DuckDB: the working file (settings.warehouse_path) and
    the serving file readers open (settings.serving_path)."""

    settings: Settings

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[DuckDBSession]:
        path = self.settings.warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(LOCK_RETRIES):
            try:
                con = duckdb_connection.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or attempt == LOCK_RETRIES - 1:
                    raise
                time.sleep(2**attempt)
        try:
            con.execute("set TimeZone = 'UTC'")
            yield DuckDBSession(con, self.settings)
        finally:
            con.close()

    def dbt_profile_environment(self) -> dict[str, str]:
        return {
            **duckdb_connection.dbt_settings_environment(),
            "HEALTH_WAREHOUSE_PATH": str(self.settings.warehouse_path),
        }

    def publish(self, run_id: str) -> Published:
        return publish_serving_file(
            self.settings.warehouse_path, self.settings.serving_path, run_id=run_id
        )

    def score_summary(self) -> ScoreSummary | None:
        return score_summary(self.settings.serving_path)

    def export_parquet(self, run_id: str) -> Exported:
        return export_parquet(
            self.settings.serving_path, self.settings.data_dir / "exports", run_id=run_id
        )

    def publish_postgres(
        self,
        target: PostgresSettings,
        schema: str,
        published: dict[str, TablePublication],
    ) -> dict[str, TablePublication]:
        from customer_health.postgres import publish_schema  # psycopg: only this step

        return publish_schema(
            str(self.settings.serving_path), target, "main", schema, published=published
        )

    def report(self) -> Report:
        return build_report(self.settings.serving_path, self.settings.data_dir / "reports")

    def copy_to(self, settings: Settings) -> Warehouse:
        target = settings.warehouse_path
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in (target, target.with_name(target.name + ".wal")):
            stale.unlink(missing_ok=True)
        # the file and its write-ahead log as they are: the caller holds the warehouse,
        # so no connection writes them meanwhile
        for suffix in ("", ".wal"):
            source = self.settings.warehouse_path.with_name(
                self.settings.warehouse_path.name + suffix
            )
            if source.exists():
                shutil.copyfile(source, target.with_name(target.name + suffix))
        return DuckDBWarehouse(settings)


def open_warehouse(settings: Settings) -> Warehouse:
    """The warehouse of these settings (embedded DuckDB: the one engine so far)."""
    return DuckDBWarehouse(settings)
