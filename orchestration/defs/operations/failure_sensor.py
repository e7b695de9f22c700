"""The run-failure sensor: every failed run is recorded, and posted to an alert webhook
when HEALTH_ALERT_WEBHOOK_URL is set.

Records go to `$HEALTH_DATA_DIR/alerts/run_failures.jsonl` (one JSON object per failed
run: run id, job, partition tags, failed steps with their messages), once per run. The
sensor sees the runs the daemon launched (UI, schedule, sensors); `cli run` executes in
process, where no sensor looks, and records its own failed runs through `alert_once`
(customer_health/alerts.py).
The webhook gets the same object as JSON. Its URL may hold a token, so it is never
logged or recorded; a webhook that cannot be reached is logged by its host only and does
not fail the sensor (the record is already written).
"""

from __future__ import annotations

import dagster as dg

from customer_health.alerts import WEBHOOK_ENV, alert_once
from customer_health.settings import Settings
from orchestration.run_outcome import failure_record


@dg.run_failure_sensor(
    name="run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every failed run in $HEALTH_DATA_DIR/alerts/run_failures.jsonl and posts it "
        f"to ${WEBHOOK_ENV} when set."
    ),
)
def run_failures(context: dg.RunFailureSensorContext) -> None:
    record = failure_record(
        context.dagster_run,
        context.get_step_failure_events(),
        context.failure_event.message or "",
    )
    said = alert_once(record, Settings.from_env().data_dir)
    context.log.info(said or f"run {record['run_id']} failed: already recorded")
