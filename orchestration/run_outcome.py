"""What a run did to each output, read from its events, and the exit code that says it.

The serving file swap is the publication; the outputs made after it (Parquet exports,
the Postgres copy, the report, each sync destination) succeed or fail on their own and
report `status`, `rows` and `reason`/`error` in their events (the contract is in
`orchestration/defs/publish/assets.py`). "Nothing was published" is said only when the
serving file is unchanged on disk.

Exit codes of `cli run` (the README lists them):
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster as dg

EXIT_OK = 0
"""Every step and blocking check passed; the serving file and every output are done (or
skipped by configuration)."""
EXIT_NOTHING_PUBLISHED = 1
"""The run failed before publishing: the serving file is the one from before the run."""
EXIT_BAD_ARGUMENTS = 2
"""Bad arguments or settings: nothing ran."""
EXIT_OUTPUT_FAILED = 3
"""The serving file was published, but at least one output after it failed (named in the
summary); the others went through."""

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NOTHING_PUBLISHED: "failed, nothing published",
    EXIT_BAD_ARGUMENTS: "bad arguments or settings",
    EXIT_OUTPUT_FAILED: "published, but an output failed",
}
__doc__ += "".join(f"\n- {code}: {meaning}" for code, meaning in EXIT_CODES.items()) + "\n"

OUTPUT_GROUPS = ("publish", "sync")
"""The asset groups whose assets are outputs (the serving file among them)."""


@dataclass(frozen=True)
class FileState:
    """Enough of a file's identity to tell a replaced file from the same one, cheaply (an
    atomic swap gives a new inode; hashing a large serving file would cost seconds)."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileState | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class OutputResult:
    """One output's line in the summary."""

    name: str
    status: str  # published | unchanged | ok | skipped | failed | dry_run | not run
    detail: str = ""

    def line(self) -> str:
        return f"  {self.name:<24} {self.status:<10} {self.detail}".rstrip()


@dataclass(frozen=True)
class RunOutcome:
    """A run's result as the CLI reports it. True when the whole run succeeded."""

    success: bool
    published: bool
    outputs: tuple[OutputResult, ...] = ()
    run_id: str = ""

    def __bool__(self) -> bool:
        return self.success

    @property
    def exit_code(self) -> int:
        if self.success:
            return EXIT_OK
        return EXIT_OUTPUT_FAILED if self.published else EXIT_NOTHING_PUBLISHED

    @property
    def failed_outputs(self) -> list[str]:
        return [o.name for o in self.outputs if o.status == "failed"]


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)


def _detail(status: str, metadata: dict[str, object]) -> str:
    """What a person wants to know next to a status."""
    if status == "failed":
        error = str(metadata.get("error") or metadata.get("message") or "").strip()
        return (error.splitlines() or [""])[0][:300]
    if status == "skipped":
        return str(metadata.get("reason") or metadata.get("skipped") or "")
    parts = []
    if "rows" in metadata:
        parts.append(f"{metadata['rows']} rows")
    for key in ("upserts", "deletes", "accepted", "rejected", "tables", "partitions"):
        if key in metadata and metadata[key] not in (None, ""):
            parts.append(f"{key} {metadata[key]}")
    if "path" in metadata:
        parts.append(str(metadata["path"]))
    return ", ".join(parts)


def outcome_of(
    result: object,
    output_keys: Iterable[object],
    serving_key: object,
    serving_before: FileState | None,
    serving_after: FileState | None,
) -> RunOutcome:
    """Each output's status from a finished run's events: its materialization's metadata,
    else its step's final failure, else `not run` (an upstream step failed or a blocking
    check stopped it). The serving file's line comes from the file itself."""
    from dagster import DagsterEventType

    materialized: dict[object, dict[str, object]] = {}
    failed: dict[str, dict[str, object]] = {}
    for event in result.all_events:  # type: ignore[attr-defined]
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            materialized[materialization.asset_key] = {
                k: _value(v) for k, v in materialization.metadata.items()
            }
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            user = data.user_failure_data
            metadata = {k: _value(v) for k, v in (user.metadata if user else {}).items()}
            if "error" not in metadata:
                cause = data.error.cause if data.error and data.error.cause else data.error
                metadata["error"] = (user.description if user and user.description else None) or (
                    cause.message.strip().splitlines()[0] if cause else "unknown error"
                )
            failed[event.step_key] = metadata
    replaced = serving_after is not None and serving_after != serving_before
    outputs = []
    for key in output_keys:
        name = "/".join(key.path)  # type: ignore[attr-defined]
        step = key.to_python_identifier()  # type: ignore[attr-defined]
        if key == serving_key:
            metadata = materialized.get(key, {})
            status = "published" if replaced else "unchanged"
            detail = _detail("ok", metadata) if replaced else ""
            if step in failed:
                detail = _detail("failed", failed[step])
        elif key in materialized:
            metadata = materialized[key]
            status = str(metadata.get("status") or "ok")
            detail = _detail(status, metadata)
        elif step in failed:
            status, detail = "failed", _detail("failed", failed[step])
        else:
            status, detail = "not run", "an earlier step failed or a blocking check stopped it"
        outputs.append(OutputResult(name, status, detail))
    return RunOutcome(
        success=bool(result.success),  # type: ignore[attr-defined]
        published=replaced,
        outputs=tuple(outputs),
        run_id=result.run_id,  # type: ignore[attr-defined]
    )


def failure_record(
    run: dg.DagsterRun, step_failures: Iterable[dg.DagsterEvent], message: str
) -> dict[str, Any]:
    """The record of a failed run: its id, job, partition tags and each failed step with
    the message a person acts on."""
    steps = []
    for event in step_failures:
        data = event.step_failure_data
        user = data.user_failure_data
        error = user.description if user is not None and user.description else None
        steps.append(
            {
                "step": event.step_key,
                "error": (error or (data.error.message if data.error else "")).strip()[:2000],
            }
        )
    return {
        "failed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run_id": run.run_id,
        "job": run.job_name,
        "tags": {
            k: v
            for k, v in run.tags.items()
            if k.startswith(("dagster/partition", "dagster/asset_partition", "trigger", "health/"))
        },
        "failed_steps": steps,
        "message": message,
    }
