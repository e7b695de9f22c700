"""The daily schedule: the whole graph, ingest through publish, for the latest complete day.

Cron and timezone come from HEALTH_SCHEDULE_CRON (default `30 2 * * *`: 02:30 every
day) and HEALTH_SCHEDULE_TIMEZONE (default UTC). The schedule is stopped until someone
starts it in the UI, or HEALTH_SCHEDULE_RUNNING=true starts it with the daemon.
"""

from __future__ import annotations

import os
from datetime import UTC, date, timedelta

import dagster as dg

from orchestration.defs.jobs import health_pipeline

DEFAULT_CRON = "30 2 * * *"


def scheduled_day(scheduled_at: object) -> date:
    """The day a tick scores: the last whole day (UTC, as the partitions are) before it."""
    return (scheduled_at.astimezone(UTC) - timedelta(days=1)).date()  # type: ignore[attr-defined]


def build_daily_schedule() -> dg.ScheduleDefinition:
    cron = os.environ.get("HEALTH_SCHEDULE_CRON", "").strip() or DEFAULT_CRON
    timezone = os.environ.get("HEALTH_SCHEDULE_TIMEZONE", "").strip() or "UTC"
    running = os.environ.get("HEALTH_SCHEDULE_RUNNING", "").strip().lower() in ("1", "true")

    @dg.schedule(
        name="daily_health_scores",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=health_pipeline,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            f"Scores the last whole day (UTC) at `{cron}` ({timezone}): ingest, dbt build, "
            "checks, publish."
        ),
    )
    def daily_health_scores(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = scheduled_day(context.scheduled_execution_time).isoformat()
        return dg.RunRequest(
            run_key=f"daily-{day}", partition_key=day, tags={"trigger": "schedule"}
        )

    return daily_health_scores


daily_schedule = build_daily_schedule()
