"""A local HTTP endpoint standing in for the CRM webhook and the alert webhook.

One server on 127.0.0.1 (a free port) takes both: `POST <sync path>` gets the sync
batches (customer_health/sync/webhook.py), `POST <alert path>` the failed-run alerts.
The paths carry a secret token (the URL is a secret), so the scan for secrets also
catches a URL that was logged.

It keeps every request it received (`posts`) and behaves as the scenario asks (`mode`):
`accept` (200), `refuse` (401 to every sync batch), or `accept` with `hold_at` set: on
that batch number it calls `on_hold` (the scenario kills the run) and never answers.

`destination_state` folds the received batches into what the destination holds, the way
a receiver following the webhook protocol would: a batch whose `Idempotency-Key` it has
seen is a duplicate delivery and is dropped; records are upserts or deletes (tombstones)
by the key field.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    """what the server answered (0: held, never answered)"""


@dataclass
class DestinationState:
    """What a destination holds after applying what it received, deduped by batch key."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: int = 0
    duplicate_batches: int = 0
    """batches received again under an idempotency key already seen (dropped)"""
    redelivered: int = 0
    """records received again, unchanged, under a new key (idempotent as an upsert)"""
    applied: dict[str, int] = field(default_factory=dict)
    """per record key: how many distinct versions were applied"""


class Endpoint:
    def __init__(self, sync_path: str, alert_path: str, token: str = "") -> None:
        self.sync_path = sync_path
        self.alert_path = alert_path
        self.token = token
        self.mode = "accept"
        self.hold_at: int | None = None
        self.on_hold: Callable[[int], None] | None = None
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, mode: str = "accept", hold_at: int | None = None, on_hold=None) -> None:
        with self._lock:
            self.posts = []
            self.mode, self.hold_at, self.on_hold = mode, hold_at, on_hold

    def sync_posts(self) -> list[Post]:
        return [p for p in self.posts if p.path == self.sync_path]

    def alert_posts(self) -> list[Post]:
        return [p for p in self.posts if p.path == self.alert_path]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path
                if path == endpoint.alert_path:
                    self._answer(path, headers, body, 200)
                    return
                if path != endpoint.sync_path:
                    self._answer(path, headers, body, 404)
                    return
                if endpoint.mode == "refuse":
                    self._answer(path, headers, body, 401)
                    return
                with endpoint._lock:
                    number = 1 + len(endpoint.sync_posts())
                    hold = endpoint.hold_at == number and endpoint.on_hold is not None
                    if hold:
                        endpoint.posts.append(Post(path, headers, body, 0))
                if hold:
                    assert endpoint.on_hold is not None
                    endpoint.on_hold(number)  # the run is killed while this batch waits
                    self.close_connection = True
                    return
                self._answer(path, headers, body, 200, {"rejected": []})

            def _answer(self, path, headers, body, status: int, reply=None) -> None:
                with endpoint._lock:
                    endpoint.posts.append(Post(path, headers, body, status))
                payload = json.dumps(reply if reply is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def destination_state(posts: list[Post], key_field: str) -> DestinationState:
    """Apply the received batches in order, each idempotency key once. Held batches (never
    answered) were received all the same: a receiver applies them (at-least-once)."""
    state = DestinationState()
    seen_keys: set[str] = set()
    for post in posts:
        if not isinstance(post.body, dict):
            continue
        state.batches += 1
        key = post.headers.get("idempotency-key") or str(post.body.get("idempotency_key"))
        if key in seen_keys:
            state.duplicate_batches += 1
            continue
        seen_keys.add(key)
        for record in post.body.get("records", []):
            apply_record(state, record, key_field)
    return state


def apply_record(state: DestinationState, record: dict[str, Any], key_field: str) -> None:
    record = dict(record)
    op = record.pop("_op", "upsert")
    key = str(record.get(key_field))
    value = {"_deleted": True, **record} if op == "delete" else record
    if state.records.get(key) == value:
        state.redelivered += 1
        return
    state.records[key] = value
    state.applied[key] = state.applied.get(key, 0) + 1
