"""The landing-folder sensor: new or changed landing files start ingestion of their days.

The cursor holds every landing file seen, by path, with its size, modification time and
content hash. A file whose size and time are unchanged is not read again; one whose
size or time changed is hashed, and only a changed hash counts (a file dropped again
with the same content does nothing). A file's days are the date in its name, else the
range of its event times; the changed files' days become one run of `ingest_job`
over their range (single-run backfill), keyed by the changes so it is requested once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from customer_health.contract import ENTITIES
from customer_health.landing import discover_files, file_days, utc_now
from customer_health.settings import Settings
from orchestration.defs.jobs import ingest_job
from orchestration.defs.partitions import RANGE_END_TAG, RANGE_START_TAG

Seen = dict[str, list]
"""rel_path -> [size, mtime, sha256]"""


@dataclass(frozen=True)
class LandingChanges:
    changed: list[str]
    """Relative paths of new files and files whose content changed."""
    first_day: date | None
    last_day: date | None
    seen: Seen


def scan_landing(landing_dir: Path, seen: Seen, default_day: date) -> LandingChanges:
    """Compare the landing folder with what the cursor has seen."""
    changed: list[str] = []
    days: list[date] = []
    now_seen: Seen = {}
    for entity in ENTITIES.values():
        for landing_file in discover_files(landing_dir, entity):
            previous = seen.get(landing_file.rel_path)
            if previous and previous[:2] == [landing_file.size, landing_file.mtime]:
                now_seen[landing_file.rel_path] = previous
                continue
            digest = landing_file.sha256()
            now_seen[landing_file.rel_path] = [landing_file.size, landing_file.mtime, digest]
            if previous and previous[2] == digest:
                continue  # touched or dropped again, same content
            changed.append(landing_file.rel_path)
            days_held = file_days(landing_file) or (default_day, default_day)
            days.extend(days_held)
    return LandingChanges(
        changed=changed,
        first_day=min(days) if days else None,
        last_day=max(days) if days else None,
        seen=now_seen,
    )


def latest_day(settings: Settings) -> date:
    """The latest day a run may cover: HEALTH_AS_OF, else today (UTC: today's partition
    exists, so a file of today is ingested today)."""
    return settings.as_of or utc_now().date()


def build_landing_sensor(
    landing_dir: Path | None = None, minimum_interval_seconds: int = 60
) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_files",
        job=ingest_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            "Watches $HEALTH_LANDING_DIR: new or changed files (by content) start one "
            "ingestion run over the days they hold. Re-dropping an identical file does nothing."
        ),
    )
    def landing_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        settings = Settings.from_env()
        folder = landing_dir or settings.landing_dir
        seen: Seen = json.loads(context.cursor) if context.cursor else {}
        latest = latest_day(settings)
        changes = scan_landing(folder, seen, default_day=latest)
        cursor = json.dumps(changes.seen, sort_keys=True)
        if not changes.changed:
            return dg.SensorResult(run_requests=[], cursor=cursor)
        first = max(changes.first_day, settings.partitions_start)
        last = min(max(changes.last_day, first), latest)
        first = min(first, last)
        run_key = hashlib.sha256(
            json.dumps({p: changes.seen[p][2] for p in changes.changed}, sort_keys=True).encode()
        ).hexdigest()[:16]
        context.log.info(
            f"{len(changes.changed)} new or changed landing files: ingesting {first} .. {last}"
        )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    tags={
                        RANGE_START_TAG: first.isoformat(),
                        RANGE_END_TAG: last.isoformat(),
                        "trigger": "landing_files",
                    },
                )
            ],
            cursor=cursor,
        )

    return landing_files


landing_sensor = build_landing_sensor()
