"""The real Dagster webserver (and daemon) as processes over a test's instance, and its
GraphQL API: what the UI and an on-call engineer's tools talk to."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOCATION = "orchestration.definitions"
START_TIMEOUT_SECONDS = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


@contextmanager
def _process(args: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def dagster_ui(dagster_home: Path, logs: Path, *, daemon: bool = False) -> Iterator[int]:
    """`dagster-webserver` on a free local port (and `dagster-daemon run` with it), over
    the instance in `dagster_home`, loading the project's definitions. Yields the port
    once the code location has loaded; stops both processes afterwards."""
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    port = free_port()
    log = logs / "webserver.log"
    with ExitStack() as stack:
        serve = [str(BIN / "dagster-webserver"), "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)]
        webserver = stack.enter_context(_process(serve, log, env))
        if daemon:
            # the real daemon, with a shorter pause between backfill iterations
            run_daemon = [sys.executable, "-m", "tests.backfill_daemon", "run", "-m", LOCATION]
            stack.enter_context(_process(run_daemon, logs / "daemon.log", env))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert webserver.poll() is None, log.read_text()
            try:
                if graphql(port, "{ assetNodes { id } }")["assetNodes"]:
                    break  # the code location has loaded
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        yield port
