"""The daily schedule, the landing-folder sensor and the run-failure sensor, evaluated the
way the Dagster daemon evaluates them (tick contexts), on real files and a real HTTP server."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from customer_health import alerts
from orchestration.defs.jobs import health_pipeline, ingest_job
from orchestration.defs.operations import failure_sensor, schedule
from orchestration.defs.operations.landing_sensor import build_landing_sensor

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


# --- schedule ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repository(dbt_manifest: Path):
    from orchestration.definitions import defs

    return defs.get_repository_def()


def test_schedule_tick_requests_the_last_whole_day_of_the_whole_graph(repository) -> None:
    tick = dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 3, 2, 2, 30, tzinfo=UTC), repository_def=repository
    )
    [request] = schedule.daily_schedule.evaluate_tick(tick).run_requests
    assert request.partition_key == "2025-03-01"
    assert request.run_key == "daily-2025-03-01"
    assert schedule.daily_schedule.job_name == health_pipeline.name
    assert schedule.daily_schedule.cron_schedule == schedule.DEFAULT_CRON
    assert schedule.daily_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_schedule_cron_and_timezone_come_from_the_environment(monkeypatch, repository) -> None:
    monkeypatch.setenv("HEALTH_SCHEDULE_CRON", "15 6 * * 1-5")
    monkeypatch.setenv("HEALTH_SCHEDULE_TIMEZONE", "Europe/Amsterdam")
    monkeypatch.setenv("HEALTH_SCHEDULE_RUNNING", "true")
    weekdays = schedule.build_daily_schedule()
    assert weekdays.cron_schedule == "15 6 * * 1-5"
    assert weekdays.execution_timezone == "Europe/Amsterdam"
    assert weekdays.default_status == dg.DefaultScheduleStatus.RUNNING
    # 00:30 in Amsterdam on 2 March is 23:30 UTC on 1 March: the last whole UTC day is 28 Feb
    from zoneinfo import ZoneInfo

    tick = dg.build_schedule_context(
        scheduled_execution_time=datetime(2025, 3, 2, 0, 30, tzinfo=ZoneInfo("Europe/Amsterdam")),
        repository_def=repository,
    )
    [request] = weekdays.evaluate_tick(tick).run_requests
    assert request.partition_key == "2025-02-28"


# --- landing sensor ---------------------------------------------------------------------


def _usage(landing: Path, name: str, *days: str) -> Path:
    path = landing / "usage_events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"E{i},A1,login,{day}T10:00:00Z" for i, day in enumerate(days)]
    path.write_text("\n".join(["event_id,account_id,event_name,occurred_at", *rows]) + "\n")
    return path


def _tick(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    return sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))


def test_landing_sensor_runs_ingestion_only_for_new_or_changed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_AS_OF", "2025-03-10")
    landing = tmp_path / "landing"
    sensor = build_landing_sensor(landing)
    assert sensor.job_name == ingest_job.name

    _usage(landing, "2025-03-03.csv", "2025-03-03")
    _usage(landing, "2025-03-05.csv", "2025-03-05")
    first = _tick(sensor, None)
    [request] = first.run_requests
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2025-03-03", "2025-03-05")
    assert set(json.loads(first.cursor)) == {
        "usage_events/2025-03-03.csv",
        "usage_events/2025-03-05.csv",
    }

    # nothing new: no run, same cursor
    again = _tick(sensor, first.cursor)
    assert again.run_requests == [] and again.cursor == first.cursor

    # touched, or deleted and dropped again with the same content: no run
    path = landing / "usage_events" / "2025-03-03.csv"
    content = path.read_bytes()
    path.unlink()
    time.sleep(0.01)
    path.write_bytes(content)
    os.utime(path, (time.time() + 5, time.time() + 5))
    redropped = _tick(sensor, first.cursor)
    assert redropped.run_requests == []
    assert redropped.cursor != first.cursor  # the new mtime is remembered: no rehash next time

    # changed content: a run for that file's day only
    _usage(landing, "2025-03-05.csv", "2025-03-05", "2025-03-05")
    changed = _tick(sensor, redropped.cursor)
    [request] = changed.run_requests
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2025-03-05", "2025-03-05")

    # an undated file: the days of its events
    _usage(landing, "late-export.csv", "2025-03-01", "2025-03-08")
    undated = _tick(sensor, changed.cursor)
    [request] = undated.run_requests
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2025-03-01", "2025-03-08")
    assert request.run_key != changed.run_requests[0].run_key


def test_landing_sensor_gives_an_unreadable_file_a_run_of_the_latest_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader reports what is wrong with it; the sensor only has to start that run."""
    monkeypatch.setenv("HEALTH_AS_OF", "2025-03-10")
    landing = tmp_path / "landing"
    (landing / "usage_events").mkdir(parents=True)
    (landing / "usage_events" / "broken.parquet").write_bytes(b"not parquet")
    [request] = _tick(build_landing_sensor(landing), None).run_requests
    assert (request.tags[RANGE[0]], request.tags[RANGE[1]]) == ("2025-03-10", "2025-03-10")


# --- run-failure sensor -----------------------------------------------------------------


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Webhook.received.append((self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    _Webhook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@dg.op
def _broken_step() -> None:
    raise dg.Failure(
        description="raw/usage_events: usage_events/x.csv, column 'occurred_at' missing"
    )


@dg.job
def _failing_job() -> None:
    _broken_step()


def test_failed_run_is_recorded_and_posted_without_logging_the_webhook_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: str, caplog
) -> None:
    monkeypatch.setenv("HEALTH_DATA_DIR", str(tmp_path / "data"))
    secret_url = f"{webhook}/hooks/alert?token=s3cr3t-token"
    monkeypatch.setenv(failure_sensor.WEBHOOK_ENV, secret_url)
    with dg.DagsterInstance.ephemeral() as instance:
        result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        [failure] = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failures",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=failure,
        ).for_run_failure()
        failure_sensor.run_failures(context)

    [line] = (tmp_path / "data" / "alerts" / "run_failures.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["run_id"] == result.run_id and record["job"] == "_failing_job"
    assert record["failed_steps"] == [
        {
            "step": "_broken_step",
            "error": "raw/usage_events: usage_events/x.csv, column 'occurred_at' missing",
        }
    ]
    [(path, body)] = _Webhook.received
    assert path == "/hooks/alert?token=s3cr3t-token" and body == record
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in line


def test_unreachable_webhook_is_reported_by_host_only() -> None:
    outcome = alerts.post_alert({"run_id": "r"}, "http://127.0.0.1:9/hook?token=s3cr3t")
    assert outcome.startswith("alert to 127.0.0.1 failed") and "s3cr3t" not in outcome


def test_a_failed_cli_run_is_recorded_and_posted_once_even_if_the_sensor_sees_it_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: str
) -> None:
    """`cli run` executes in process, where the run-failure sensor never looks: its failed
    runs left no alert. The CLI now alerts itself; the sensor, if it sees the run as well,
    adds nothing."""
    from customer_health.settings import Settings
    from orchestration.cli import alert_failure

    monkeypatch.setenv("HEALTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(failure_sensor.WEBHOOK_ENV, f"{webhook}/hooks/alert")
    with dg.DagsterInstance.ephemeral() as instance:
        result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
        alert_failure(instance, result, Settings.from_env())
        alert_failure(instance, result, Settings.from_env())  # a retry of the summary
        [failure] = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        ]
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failures",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            dagster_event=failure,
        ).for_run_failure()
        failure_sensor.run_failures(context)

    [line] = (tmp_path / "data" / "alerts" / "run_failures.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["run_id"] == result.run_id
    assert [step["step"] for step in record["failed_steps"]] == ["_broken_step"]
    [(path, body)] = _Webhook.received
    assert path == "/hooks/alert" and body == record
