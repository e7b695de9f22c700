"""HTTP webhook sender: JSON batches with an idempotency key, retried on what may pass.

Protocol (what a receiving endpoint implements):

- POST the URL in `url_env` with `{"destination", "idempotency_key", "records": [...]}`;
  each record is the mapped fields plus `_op` (`upsert` or `delete`). The same batch
  always carries the same `Idempotency-Key` header (a hash of its records), also when it
  is sent again by a retry or a later run, so the receiver can drop duplicates.
- 2xx: accepted, except the records named in `{"rejected": [{"key", "reason"}]}`.
- 408, 429, 5xx, a timeout, a refused or reset connection: retried with exponential
  backoff and jitter, up to `max_attempts`; then the sync stops with the error (earlier
  batches stay accepted), marked transient: the step's retry policy tries again later,
  and sends only the batches not yet accepted.
- 401, 403, 404, 405 (a wrong token or URL): not retried; the sync stops with the error
  (earlier batches stay accepted), not transient: a retry would be refused too.
- other 4xx: not retried. When the body names rejected records, the rest of the batch is
  sent again without them; otherwise the whole batch is rejected with the status.

The token in `token_env` goes in an `Authorization: Bearer` header; neither it nor the URL
is ever logged or put in an error message.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from customer_health.sync.changes import Change
from customer_health.sync.config import Destination
from customer_health.sync.destinations import BatchOutcome

RETRY_STATUSES = {408, 429}
REFUSED_STATUSES = {401, 403, 404, 405}
"""The endpoint refuses the sender, not the records: the token or the URL is wrong."""


class WebhookError(RuntimeError):
    """The endpoint did not take a batch after every attempt, or the webhook is not
    configured (no URL or token inside). `transient`: what failed may pass later (the
    endpoint was down or overloaded), not a configuration a retry would only repeat."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class WebhookSender:
    def __init__(
        self,
        destination: Destination,
        run_id: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.destination = destination
        self.batch_size = destination.batch_size
        self.url_env = destination.options["url_env"]
        self.url = os.environ.get(self.url_env, "")
        if not self.url:
            raise WebhookError(f"{self.url_env} is not set: no webhook URL")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise WebhookError(f"{self.url_env} is not an http(s) URL")
        token_env = destination.options.get("token_env")
        self.token = os.environ.get(token_env, "") if token_env else ""
        self.timeout = float(destination.options.get("timeout_seconds", 30))
        self.max_attempts = int(destination.options.get("max_attempts", 5))
        self.backoff = float(destination.options.get("backoff_seconds", 1.0))
        self.sleep = sleep
        self.attempts = 0
        """every POST made (retries included)"""

    def send(self, batch: list[Change]) -> BatchOutcome:
        outcome = BatchOutcome()
        pending = list(batch)
        while pending:
            status, body = self._post(pending)
            rejected = _rejections(body)
            if 200 <= status < 300:
                outcome.rejected.update(rejected)
                outcome.accepted += [c for c in pending if c.key not in rejected]
                return outcome
            # a 4xx that is not worth retrying
            if status in REFUSED_STATUSES:
                raise WebhookError(  # no body: it might echo what was sent
                    f"webhook ({self.url_env}) refused the batch with HTTP {status}:"
                    " check the URL and the token"
                )
            if rejected and set(rejected) & {c.key for c in pending}:
                outcome.rejected.update(rejected)
                pending = [c for c in pending if c.key not in rejected]
                continue
            reason = f"HTTP {status}: {_short(body)}"
            outcome.rejected.update({c.key: reason for c in pending})
            return outcome
        return outcome

    def _post(self, batch: list[Change]) -> tuple[int, str]:
        key = idempotency_key(self.destination.name, batch)
        body = json.dumps(
            {
                "destination": self.destination.name,
                "idempotency_key": key,
                "records": [{"_op": c.op, **c.payload} for c in batch],
            }
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            self.attempts += 1
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.status, response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                if exc.code < 500 and exc.code not in RETRY_STATUSES:
                    return exc.code, text
                last_problem = f"HTTP {exc.code}"
            except http.client.InvalidURL:
                raise WebhookError(f"{self.url_env} is not a valid URL") from None
            except (
                TimeoutError,
                urllib.error.URLError,
                ConnectionError,
                http.client.HTTPException,  # the reply cut off part-way
            ) as exc:
                reason = getattr(exc, "reason", exc)
                last_problem = f"{type(reason).__name__}"  # never the URL
            if attempt < self.max_attempts:
                delay = self.backoff * 2 ** (attempt - 1)
                self.sleep(delay + random.uniform(0, delay / 2))
        raise WebhookError(
            f"webhook ({self.url_env}) did not take a batch of {len(batch)} records after"
            f" {self.max_attempts} attempts; last: {last_problem}",
            transient=True,  # only what may pass was retried: a later try may get through
        )

    def close(self) -> None:
        pass


def idempotency_key(destination: str, batch: list[Change]) -> str:
    """The same records give the same key, in this run or any later one."""
    digest = hashlib.sha256(destination.encode())
    for change in batch:
        digest.update(f"\0{change.op}\0{change.key}\0{change.row_hash}".encode())
    return digest.hexdigest()[:32]


def _rejections(body: str) -> dict[str, str]:
    try:
        document = json.loads(body) if body else {}
    except json.JSONDecodeError:
        return {}
    items = document.get("rejected") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return {}
    return {
        str(item.get("key")): str(item.get("reason", "rejected"))
        for item in items
        if isinstance(item, dict) and item.get("key") is not None
    }


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
