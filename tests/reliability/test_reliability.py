"""The CI subset of the reliability matrix (`make reliability`, docs/reliability.md):
hostile input and secrets, through the matrix's own code, in two whole pipeline runs.

One landing folder holds generated data and every hostile case
(orchestration/reliability/hostile.py); every secret setting holds a sentinel value, and
the sync and alert webhooks are a local HTTP server, the Postgres copy and upsert the
local server, so each secret is used. Run A goes over everything and fails on the files
that must be refused; run B runs again without them and publishes. Then every file the
runs wrote, dbt's target folder and both consoles are searched for the secrets.

(Killing a run and recovering is `tests/e2e/test_cli_runs.py`; the other crash points
are in the matrix, too slow for CI.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from customer_health.postgres import PostgresSettings
from orchestration.reliability.runs import stop_all
from orchestration.reliability.scenarios import (
    HostileResult,
    make_secrets,
    new_endpoint,
    run_hostile_and_secrets,
    secret_settings,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _postgres_reachable() -> None:
    """The runs copy to and upsert into Postgres (schemas of their own, dropped after)."""
    try:
        PostgresSettings.from_env().connect().close()
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL is not reachable: {exc}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must exercise Postgres)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Iterator[HostileResult]:
    _postgres_reachable()
    endpoint, url_tokens = new_endpoint()
    secrets = make_secrets(endpoint, url_tokens)
    try:
        yield run_hostile_and_secrets(tmp_path_factory.mktemp("reliability"), endpoint, secrets)
    finally:
        stop_all()
        endpoint.stop()


def test_every_secret_setting_of_the_project_is_covered() -> None:
    assert {
        "HEALTH_PG_PASSWORD",
        "HEALTH_SYNC_WEBHOOK_URL",
        "HEALTH_SYNC_WEBHOOK_TOKEN",
        "HEALTH_ALERT_WEBHOOK_URL",
        "HEALTH_SYNC_PG_DSN",
    } <= set(secret_settings())


def test_the_runs_refuse_then_publish(result: HostileResult) -> None:
    code_a, code_b = result.codes
    consoles = dict(result.consoles)
    assert code_a == 1, consoles["console of hostile run A"][-4000:]
    assert code_b == 0, consoles["console of hostile run B"][-4000:]
    # the links out of the folder and the latin-1 file at least
    assert {"subscriptions", "usage_events", "support_tickets"} <= {
        f.split("/")[0] for f in result.refused_files
    }


def test_no_secret_value_is_written_or_printed_anywhere(result: HostileResult) -> None:
    assert result.scanned_files > 0
    assert result.hits == [], "\n".join(f"{h.secret} in {h.where} ({h.how})" for h in result.hits)


def test_every_secret_was_used_by_the_runs(result: HostileResult) -> None:
    assert set(result.exercised) >= {
        "HEALTH_SYNC_WEBHOOK_URL",
        "HEALTH_SYNC_WEBHOOK_TOKEN",
        "HEALTH_ALERT_WEBHOOK_URL",
        "HEALTH_PG_PASSWORD",
        "HEALTH_SYNC_PG_DSN",
    }, result.exercised
    assert result.exercised["HEALTH_SYNC_WEBHOOK_TOKEN"].startswith("bearer token on ")


def test_every_hostile_case_is_stored_verbatim_quarantined_or_refused(
    result: HostileResult,
) -> None:
    failed = [f"{v.case}: {v.outcome}: {v.detail}" for v in result.verdicts if not v.ok]
    assert failed == [], "\n".join(failed)
    assert len(result.verdicts) >= 20


def test_nothing_executed_crashed_or_printed_a_traceback(result: HostileResult) -> None:
    by_case = {v.case.split(":")[0]: v for v in result.verdicts}
    assert by_case["none executed"].ok, by_case["none executed"].detail
    assert by_case["no crash"].ok, by_case["no crash"].detail
    for label, console in result.consoles:
        assert "Traceback (most recent call last)" not in console, label
