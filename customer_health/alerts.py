"""Failed runs, recorded once and posted to an alert webhook when HEALTH_ALERT_WEBHOOK_URL
is set.

Records go to `$HEALTH_DATA_DIR/alerts/run_failures.jsonl` (one JSON object per failed
run: run id, job, partition tags, failed steps with their messages), once per run: the
run-failure sensor records the runs the daemon launched, and `cli run` its own. The
webhook gets the same object as JSON. Its URL may hold a token, so it is never logged or
recorded; a webhook that cannot be reached is logged by its host only (the record is
already written).
"""

from __future__ import annotations

import fcntl
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

WEBHOOK_ENV = "HEALTH_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 10


def record_failure(record: dict[str, Any], data_dir: Path) -> Path | None:
    """Append the record to alerts/run_failures.jsonl, unless its run is there already;
    the path when written, None for a run already recorded. A lock on the file makes
    check-and-append one step: the CLI and the sensor may both see one failed run."""
    path = data_dir / "alerts" / "run_failures.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        for line in fh:
            try:
                if json.loads(line).get("run_id") == record["run_id"]:
                    return None
            except ValueError:  # a torn line from a crash mid-write: not a record
                continue
        fh.write(json.dumps(record, sort_keys=True) + "\n")
        fh.flush()
    return path


def alert_once(record: dict[str, Any], data_dir: Path) -> str | None:
    """Record the failed run and post it to the alert webhook when one is set, once per
    run: what to log, or None when the run was already recorded (and posted)."""
    path = record_failure(record, data_dir)
    if path is None:
        return None
    said = f"run {record['run_id']} failed: recorded in {path}"
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if url:
        said += f"; {post_alert(record, url)}"
    return said


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
