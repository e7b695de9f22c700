"""How steps report: the output contract every output keeps, the failures they raise, and
the check result of a quality record.

The outputs are the published serving file and what is made from it (defs/publish/
assets.py: Parquet exports, a Postgres copy, the health report) and the reverse-ETL
syncs (`sync/<name>`, defs/sync/assets.py).

**Outputs are independent.** Each output depends on the serving file (a sync also on the
quality gate and its model), never on another output: one that fails, or is retried,
skips none of the others. Only a serving file that was not published stops them all.

**Every output reports the same way**, so a run summary can print one line per output
from the run's events alone:

- success or skip: the asset's `ASSET_MATERIALIZATION`, its metadata;
- failure: the step's final `STEP_FAILURE` (not `STEP_UP_FOR_RETRY`, an attempt that is
  retried), its `dagster.Failure` metadata (`step_failure_data.user_failure_data.metadata`),
  which also names the output in `asset` (e.g. `sync/outbox`).

Keys every output carries:

- `status`: `published` (the serving file), `ok`, `skipped` (switched off, or a setting
  it needs is unset), `failed` or `dry_run` (a sync that only planned);
- `rows`: rows written or sent (0 when skipped; when failed, what was done before);
- `reason` when skipped (also under the older key `skipped`), `error` when failed.

And per output:

- `serving/health_duckdb`: `path`, `checksum` (sha256 of the file published), `tables`,
  `rows_<table>`, `publish_seconds`, the latest day's `as_of_date`, `accounts`,
  `band_counts`, `score_mean`, `score_p10_p50_p90`, `config_version`;
- `serving/parquet_exports`: `path`, `tables`, `files`, `partitions` (folders
  `as_of_date=…`), `rows_<table>`;
- `serving/postgres`: `target` (server, no password), `schema`, `tables`,
  `rows_<table>`; skipped unless HEALTH_PUBLISH_POSTGRES=true;
- `serving/health_report`: `path`, `link`, `as_of_date`, `charts`; `rows` are the
  accounts of its day;
- `sync/<name>`: `destination_type`, `upserts`, `deletes` (planned), `accepted`,
  `rejected` (counts), `rejections` (key -> reason, the first 50); `rows` = `accepted`
  (in a dry run: what would be sent); skipped when its environment variable is unset.

No URL, token, DSN or password is ever in this metadata or in an error text.
"""

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from customer_health.quality.results import CheckRecord
from customer_health.scoring_config import ConfigSummary, ScoringConfigError, validate_config
from customer_health.sync.runner import is_transient, redact

STATUSES = ("published", "ok", "skipped", "failed", "dry_run")
"""The values of the `status` metadata of every output."""


def skipped_metadata(reason: str, **extra: object) -> dict[str, object]:
    """The metadata of an output that did nothing, and why."""
    return {"status": "skipped", "reason": reason, "skipped": reason, "rows": 0, **extra}


def failure(
    key: dg.AssetKey,
    description: str,
    error: str,
    *,
    rows: int = 0,
    allow_retries: bool = False,
    **extra: object,
) -> dg.Failure:
    """The `dagster.Failure` of an output: its event carries status=failed, the output's
    asset key, the error and what was done before it. `error` must be redacted."""
    return dg.Failure(
        description=description,
        metadata={
            "status": "failed",
            "asset": key.to_user_string(),
            "rows": rows,
            "error": error,
            **extra,
        },
        allow_retries=allow_retries,
    )


def output_failure(
    key: dg.AssetKey,
    what: str,
    exc: BaseException,
    *,
    rows: int = 0,
    secrets: Iterable[str] = (),
    **extra: object,
) -> dg.Failure:
    """`failure` for an exception: redacted, retried by the step's policy only when it may
    pass on a retry (`is_transient`). Raise it `from None`: the original exception's text
    could hold a secret, and would be logged as the cause."""
    error = redact(f"{type(exc).__name__}: {exc}", secrets)
    return failure(
        key,
        f"{what} failed: {error}",
        error,
        rows=rows,
        allow_retries=is_transient(exc),
        **extra,
    )


def checked_config(config_dir: Path, as_of: date | None = None) -> ConfigSummary:
    """`validate_config`, with an invalid configuration raised as a `dagster.Failure`.

    The failure's description lists every problem (file, line, column, rule, fix);
    retrying cannot help, so the retry policy is bypassed.
    """
    try:
        return validate_config(config_dir, as_of=as_of)
    except ScoringConfigError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={
                "config_dir": dg.MetadataValue.path(str(config_dir)),
                "problems": dg.MetadataValue.int(len(exc.problems)),
            },
            allow_retries=False,
        ) from exc


def asset_check_result(
    record: CheckRecord, asset_key: Any, metadata: dict[str, Any] | None = None
) -> Any:
    """The Dagster check result of a record: passed unless it failed or warned (a skipped
    check passes), ERROR severity exactly when the record blocks the gate. The
    evidence goes into the metadata: `failed_expectations` for a GX suite, else `evidence`."""
    shown: dict[str, Any] = {"observed": dg.MetadataValue.text(record.observed_value or "")}
    if "failed_expectations" in record.evidence:
        shown["failed_expectations"] = dg.MetadataValue.json(record.evidence["failed_expectations"])
    elif record.evidence:
        shown["evidence"] = dg.MetadataValue.json(record.evidence)
    return dg.AssetCheckResult(
        check_name=record.check_name,
        asset_key=asset_key,
        passed=record.status in ("pass", "skipped"),
        severity=dg.AssetCheckSeverity.ERROR if record.blocks else dg.AssetCheckSeverity.WARN,
        metadata={**shown, **(metadata or {})},
    )
