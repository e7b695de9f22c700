"""The run-failure sensor: every failed run is recorded, and posted to an alert webhook
when HEALTH_ALERT_WEBHOOK_URL is set.

Records go to `$HEALTH_DATA_DIR/alerts/run_failures.jsonl` (one JSON object per failed
run: run id, job, partition tags, failed steps with their messages). The webhook gets
the same object as JSON. Its URL may hold a token, so it is never logged or recorded;
a webhook that cannot be reached is logged by its host only and does not fail the
sensor (the record is already written).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.settings import Settings

WEBHOOK_ENV = "HEALTH_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10


def failure_record(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    run = context.dagster_run
    steps = [
        {
            "step": event.step_key,
            "error": (
                event.step_failure_data.user_failure_data.description
                if event.step_failure_data.user_failure_data is not None
                and event.step_failure_data.user_failure_data.description
                else (
                    event.step_failure_data.error.message if event.step_failure_data.error else ""
                )
            ).strip()[:2000],
        }
        for event in context.get_step_failure_events()
    ]
    return {
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "job": run.job_name,
        "tags": {
            k: v
            for k, v in run.tags.items()
            if k.startswith(("dagster/partition", "dagster/asset_partition", "trigger"))
        },
        "failed_steps": steps,
        "message": context.failure_event.message or "",
    }


def record_failure(record: dict[str, Any], data_dir: Path) -> Path:
    path = data_dir / "alerts" / "run_failures.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return path


def post_alert(record: dict[str, Any], url: str) -> str:
    """POST the record as JSON; returns what to log (the host and the outcome, never the
    URL itself)."""
    host = urllib.parse.urlsplit(url).hostname or "the webhook"
    request = urllib.request.Request(
        url,
        data=json.dumps(record).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return f"alert posted to {host}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"alert to {host} refused: HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"alert to {host} failed: {type(reason).__name__}"


@dg.run_failure_sensor(
    name="run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every failed run in $HEALTH_DATA_DIR/alerts/run_failures.jsonl and posts it "
        f"to ${WEBHOOK_ENV} when set."
    ),
)
def run_failures(context: dg.RunFailureSensorContext) -> None:
    record = failure_record(context)
    path = record_failure(record, Settings.from_env().data_dir)
    context.log.info(f"run {record['run_id']} failed: recorded in {path}")
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if url:
        context.log.info(post_alert(record, url))
