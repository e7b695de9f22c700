"""The reverse-ETL destinations, as configured in sync.yml (or $HEALTH_SYNC_CONFIG).

Read when the definitions load (one small file: each destination is an asset), validated
with every problem named, so a typo fails `dagster dev` and `cli run` at once rather than
the first sync.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from customer_health.settings import DBT_PROJECT_DIR, PROJECT_ROOT

SOURCE_TABLE = "marts.sync_account_health"
SOURCE_KEY = "account_id"
SYNC_MODEL = "sync_account_health"
SYNC_MODEL_YML = DBT_PROJECT_DIR / "models" / "marts" / "sync" / "_sync__models.yml"


def contract_columns(path: Path = SYNC_MODEL_YML) -> tuple[str, ...]:
    """The columns of marts.sync_account_health, from its dbt contract (the one place
    they are listed)."""
    models = yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    [model] = [m for m in models if m["name"] == SYNC_MODEL]
    return tuple(column["name"] for column in model["columns"])


SOURCE_COLUMNS = contract_columns()
"""What a destination's fields may map to."""

TYPES = ("postgres", "webhook", "file")
ON_DELETE = ("delete", "tombstone", "ignore")
FORMATS = ("jsonl", "csv")
DEFAULT_IGNORE_FOR_CHANGE = ("scored_at",)


class SyncConfigError(ValueError):
    """sync.yml is not valid; the message names the file, the destination and the fix."""


@dataclass(frozen=True)
class Destination:
    name: str
    type: str
    fields: dict[str, str]
    """destination field -> source column, in the order sent"""
    on_delete: str = "ignore"
    batch_size: int = 500
    ignore_for_change: tuple[str, ...] = DEFAULT_IGNORE_FOR_CHANGE
    options: dict[str, Any] = field(default_factory=dict)
    """type-specific settings (schema, table, url_env, format, ...)"""

    @property
    def key_field(self) -> str:
        """The destination field that carries the account id (what upserts match on)."""
        return next(dest for dest, source in self.fields.items() if source == SOURCE_KEY)

    def missing_setting(self) -> str | None:
        """The environment variable this destination needs and does not have, if any."""
        url = self.options.get("url_env")
        if url and not os.environ.get(url):
            return url
        enabled = self.options.get("enabled_env")
        if enabled and os.environ.get(enabled, "").strip().lower() not in ("1", "true", "yes"):
            return enabled
        return None


def config_path() -> Path:
    return Path(os.environ.get("HEALTH_SYNC_CONFIG", PROJECT_ROOT / "sync.yml")).resolve()


def load_destinations(path: Path | None = None) -> list[Destination]:
    """Every destination of the file, validated; a missing file means no syncs."""
    path = path or config_path()
    if not path.is_file():
        return []
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SyncConfigError(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get("destinations") or {}
    problems: list[str] = []
    destinations = []
    for name, entry in entries.items():
        destination, errors = _destination(str(name), entry or {})
        problems += [f"{path}, destination '{name}': {error}" for error in errors]
        if destination is not None:
            destinations.append(destination)
    if problems:
        raise SyncConfigError("\n".join(problems))
    return destinations


def _destination(name: str, entry: dict[str, Any]) -> tuple[Destination | None, list[str]]:
    errors = []
    if not name.isidentifier():
        errors.append("the name must be letters, digits and underscores (it names an asset)")
    kind = entry.get("type")
    if kind not in TYPES:
        errors.append(f"type {kind!r} is not one of {', '.join(TYPES)}")
    fields = entry.get("fields") or {}
    if not isinstance(fields, dict) or not fields:
        errors.append("fields: map each destination field to a column of " + SOURCE_TABLE)
        fields = {}
    unknown = sorted({str(source) for source in fields.values()} - set(SOURCE_COLUMNS))
    if unknown:
        errors.append(
            f"fields map to unknown columns {unknown}; known: {', '.join(SOURCE_COLUMNS)}"
        )
    if SOURCE_KEY not in fields.values():
        errors.append(f"one field must map to {SOURCE_KEY} (the key records are matched on)")
    on_delete = entry.get("on_delete", "ignore")
    if on_delete not in ON_DELETE:
        errors.append(f"on_delete {on_delete!r} is not one of {', '.join(ON_DELETE)}")
    batch_size = entry.get("batch_size", 500)
    if not isinstance(batch_size, int) or batch_size < 1:
        errors.append(f"batch_size {batch_size!r} must be a whole number of at least 1")
    ignore = tuple(entry.get("ignore_for_change", DEFAULT_IGNORE_FOR_CHANGE))
    if set(ignore) - set(fields) - set(DEFAULT_IGNORE_FOR_CHANGE):
        errors.append(
            f"ignore_for_change names fields not in fields: {sorted(set(ignore) - set(fields))}"
        )
    options = {
        key: value
        for key, value in entry.items()
        if key not in ("type", "fields", "on_delete", "batch_size", "ignore_for_change")
    }
    if kind == "file" and options.get("format", "jsonl") not in FORMATS:
        errors.append(f"format {options.get('format')!r} is not one of {', '.join(FORMATS)}")
    if kind == "webhook" and not options.get("url_env"):
        errors.append("url_env: the environment variable holding the webhook URL")
    if kind == "postgres" and not options.get("table"):
        errors.append("table: the Postgres table to upsert into")
    if errors:
        return None, errors
    return (
        Destination(
            name=name,
            type=kind,
            fields={str(dest): str(source) for dest, source in fields.items()},
            on_delete=on_delete,
            batch_size=batch_size,
            ignore_for_change=ignore,
            options=options,
        ),
        [],
    )
