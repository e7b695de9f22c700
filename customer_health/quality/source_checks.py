"""Door checks on a whole source rather than on its rows: freshness and daily volume.

Both are configured on the dbt source, per table, in
`dbt_project/models/staging/raw/_raw__sources.yml`:

- **freshness**: dbt's own `loaded_at_field` and `freshness` (`warn_after`,
  `error_after`). The age of the newest row is measured as of the end of the last day
  the run scores, not the wall clock, so a backfill of a past week is judged by what
  was known that week (`dbt source freshness` measures the same against now).
- **volume**: `meta.volume` with `trailing_days`, `min_trailing_rows`, `min_ratio`,
  `max_ratio` and `severity`. Each day the run scores is compared with the average of
  the `trailing_days` before it; a ratio below `min_ratio` (0.1: a 90% drop) or above
  `max_ratio` (10: a tenfold spike) fails. Days whose trailing average is under
  `min_trailing_rows`, or whose trailing days reach before the source's first row, are
  not judged: a sparse or new source is too noisy to call.

A table without a block is not checked. The file is read with a YAML parser only:
no dbt parse, so the checks cost milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from customer_health.contract import Entity
from customer_health.landing import utc_now
from customer_health.quality.results import CheckRecord
from customer_health.settings import DBT_PROJECT_DIR

if TYPE_CHECKING:
    import pandas as pd

SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "raw" / "_raw__sources.yml"
SOURCE_NAME = "raw"
VOLUME_SUITE = "raw_daily_volume"
"""The GX suite that judges `daily_volume` frames (shared by every table)."""
PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Freshness:
    loaded_at_field: str
    warn_after: timedelta | None
    error_after: timedelta | None

    @property
    def severity(self) -> str:
        return "error" if self.error_after is not None else "warn"


@dataclass(frozen=True)
class Volume:
    trailing_days: int = 14
    min_trailing_rows: float = 20
    min_ratio: float | None = 0.1
    max_ratio: float | None = 10.0
    severity: str = "error"


@dataclass(frozen=True)
class SourceChecks:
    freshness: Freshness | None
    volume: Volume | None


class SourceConfigError(ValueError):
    """The source-check configuration in _raw__sources.yml is wrong (names the table)."""


def _threshold(spec: dict[str, Any] | None, where: str) -> timedelta | None:
    if not spec or spec.get("count") is None:
        return None
    period = spec.get("period")
    if period not in PERIODS:
        raise SourceConfigError(f"{where}: period {period!r} is not one of {sorted(PERIODS)}")
    return int(spec["count"]) * PERIODS[period]


def _freshness(config: dict[str, Any], where: str) -> Freshness | None:
    spec = config.get("freshness")
    if not spec:
        return None
    field = config.get("loaded_at_field")
    if not field:
        raise SourceConfigError(f"{where}: freshness needs a loaded_at_field")
    warn = _threshold(spec.get("warn_after"), f"{where} warn_after")
    error = _threshold(spec.get("error_after"), f"{where} error_after")
    if warn is None and error is None:
        return None
    return Freshness(field, warn, error)


def _volume(config: dict[str, Any], where: str) -> Volume | None:
    spec = (config.get("meta") or {}).get("volume")
    if not spec:
        return None
    unknown = set(spec) - set(Volume.__dataclass_fields__)
    if unknown:
        raise SourceConfigError(f"{where}: meta.volume has unknown keys {sorted(unknown)}")
    volume = Volume(**spec)
    if volume.severity not in ("error", "warn"):
        raise SourceConfigError(f"{where}: meta.volume.severity must be error or warn")
    if volume.trailing_days < 1:
        raise SourceConfigError(f"{where}: meta.volume.trailing_days must be at least 1")
    return volume


@cache
def load_source_checks(path: Path = SOURCES_YML) -> dict[str, SourceChecks]:
    """Per raw table: its freshness and volume checks (source config, table overrides)."""
    spec = yaml.safe_load(path.read_text())
    [source] = [s for s in spec["sources"] if s["name"] == SOURCE_NAME]
    base = source.get("config") or {}
    checks = {}
    for table in source.get("tables", []):
        where = f"{path.name}, table {table['name']}"
        config = {**base, **(table.get("config") or {})}
        checks[table["name"]] = SourceChecks(_freshness(config, where), _volume(config, where))
    return checks


def checks_for(entity: Entity) -> SourceChecks:
    return load_source_checks(SOURCES_YML).get(entity.name, SourceChecks(None, None))


def _days(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f} days"


def freshness_record(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    freshness: Freshness,
    as_of: datetime,
    partition: str,
) -> CheckRecord:
    """How old the newest row was at `as_of` (the end of the run's last day)."""
    table = f"raw.{entity.name}"
    field = freshness.loaded_at_field
    (newest,) = con.execute(
        f"select max({field}) from {table} where {field} < ?", [as_of]
    ).fetchone()
    common = {
        "stage": "freshness",
        "check_name": f"freshness_{entity.name}",
        "target": table,
        "partition": partition,
    }
    if newest is None:
        return CheckRecord(
            **common,
            severity=freshness.severity,
            status="skipped",
            observed_value=f"no {field} before {as_of:%Y-%m-%d %H:%M}: the source is not in use",
        )
    age = as_of - newest
    evidence = {
        "loaded_at_field": field,
        "newest": newest.isoformat(sep=" "),
        "as_of": as_of.isoformat(sep=" "),
        "age_days": round(age.total_seconds() / 86400, 2),
        "warn_after_days": freshness.warn_after and freshness.warn_after.days,
        "error_after_days": freshness.error_after and freshness.error_after.days,
    }
    day_end = f"the end of {(as_of - timedelta(seconds=1)):%Y-%m-%d}"
    observed = f"newest {field} {newest:%Y-%m-%d %H:%M}, {_days(age)} before {day_end}"
    if freshness.error_after is not None and age > freshness.error_after:
        status, severity = "fail", "error"
        observed += f" (stale: error after {_days(freshness.error_after)})"
    elif freshness.warn_after is not None and age > freshness.warn_after:
        status, severity = "warn", "warn"
        observed += f" (stale: warn after {_days(freshness.warn_after)})"
    else:
        status, severity = "pass", freshness.severity
    return CheckRecord(
        **common,
        severity=severity,
        status=status,
        observed_value=observed,
        evidence=evidence if status != "pass" else {},
    )


def daily_volume(
    con: duckdb.DuckDBPyConnection, entity: Entity, volume: Volume, first: date, last: date
) -> pd.DataFrame:
    """One row per judged day in first..last: `day` (ISO text), `rows` (by event time),
    `trailing_avg_rows` over the `trailing_days` before it, and `ratio` of the two.

    A day that has not ended yet (UTC) is never judged: an export taken during the day
    holds part of it, and its few rows against full days would read as a volume drop."""
    table, field, n = f"raw.{entity.name}", entity.event_time, volume.trailing_days
    return con.execute(
        f"""
        with bounds as (
            select cast(? as date) - {n} as from_day, cast(? as date) as to_day,
                   (select cast(min({field}) as date) from {table}) as first_data_day
        ),
        days as (
            select cast(unnest(generate_series(from_day, to_day, interval 1 day)) as date) as day
            from bounds
        ),
        counts as (
            select cast({field} as date) as day, count(*) as n
            from {table}, bounds
            where {field} >= from_day and {field} < to_day + 1
            group by 1
        ),
        daily as (
            select days.day, coalesce(counts.n, 0) as rows
            from days left join counts using (day)
        ),
        with_trailing as (
            select
                day,
                rows,
                avg(rows) over w as trailing_avg_rows,
                count(*) over w as trailing_days
            from daily
            window w as (order by day rows between {n} preceding and 1 preceding)
        )
        select
            strftime(day, '%Y-%m-%d') as day,
            rows,
            trailing_avg_rows,
            rows / trailing_avg_rows as ratio
        from with_trailing, bounds
        where day >= cast(? as date)
          and trailing_days = {n}
          and day - {n} >= first_data_day
          and trailing_avg_rows >= ?
          and day < cast(? as date)
        order by day
        """,
        [first, last, first, volume.min_trailing_rows, utc_now().date()],
    ).df()


def volume_parameters(volume: Volume) -> dict[str, float | None]:
    """The `$PARAMETER`s of expectations/raw_daily_volume.json."""
    return {"min_ratio": volume.min_ratio, "max_ratio": volume.max_ratio}
