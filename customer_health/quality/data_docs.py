"""GX Data Docs: a static HTML site of every suite run, failures included.

    $HEALTH_DATA_DIR/docs/quality/index.html        the site (open it in a browser)
    $HEALTH_DATA_DIR/quality/gx_store/validations/  GX validation results (JSON), its source
    $HEALTH_DATA_DIR/quality/gx_store/expectations/ the suites they were checked against

GX renders the site from its stores and drops the pages of results no longer stored,
so the stores are files that outlive a run: the site shows the last KEEP_RESULTS batch
results of every run, not only this process's. Results are added while a suite runs
(`validate_frames(..., docs=docs)`) and rendered once, when the `with DataDocs(...)`
block closes, whether the suite passed, failed or raised.

GX is imported here only when a site is built (it is slow to import).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from customer_health.quality.gx_context import gx_context

DOCS_SUBDIR = Path("docs", "quality")
STORE_SUBDIR = Path("quality", "gx_store")
KEEP_RESULTS = 100
"""Batch results kept, newest first; older ones leave the site. GX re-reads every kept
result to render the index: at 100 a build takes ~0.6 s, at 500 ~1.5 s."""


def docs_dir(data_dir: Path) -> Path:
    """Where the Data Docs site of a data folder is written (index.html inside)."""
    return data_dir / DOCS_SUBDIR


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "batch"


class DataDocs:
    """The validation results of one suite run (or several), rendered into the site on exit.

    `run_name` groups the results in the site (the Dagster run id); `batch_label` names
    the batches (e.g. the partition range), numbered in the order they were validated.
    """

    def __init__(self, data_dir: Path, run_name: str, batch_label: str) -> None:
        self.data_dir = data_dir
        self.run_name = run_name
        self.batch_label = _safe(batch_label)
        self.run_time = datetime.now(UTC)
        self._results: list[Any] = []
        self._batches = 0

    @property
    def directory(self) -> Path:
        return docs_dir(self.data_dir)

    @property
    def index_path(self) -> Path:
        return self.directory / "index.html"

    def add(self, validation: Any) -> None:
        """Keep a GX `ExpectationSuiteValidationResult` for the next build: at most the
        newest KEEP_RESULTS (the site keeps no more), so a long load validated in many
        batches does not hold every batch's result in memory. A result dropped here
        still counts in the batch numbers."""
        self._results.append(validation)
        if len(self._results) > KEEP_RESULTS:
            del self._results[0]
            self._batches += 1

    def __enter__(self) -> DataDocs:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.build()

    def build(self) -> Path:
        """Store the results added since the last build and render them and the index."""
        if not self._results and self.index_path.exists():
            return self.index_path
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        context, site_name, expectations_store, validations_store = _site(self.data_dir)
        run_id = RunIdentifier(run_name=self.run_name, run_time=self.run_time)
        changed: list[Any] = []
        for validation in self._results:
            self._batches += 1
            suite_key = ExpectationSuiteIdentifier(name=validation.suite_name)
            if suite_key not in changed:
                # the suite as validated (a changed suite file replaces its page)
                expectations_store.set(suite_key, context.suites.get(validation.suite_name))
                changed.append(suite_key)
            key = ValidationResultIdentifier(
                expectation_suite_identifier=suite_key,
                run_id=run_id,
                batch_identifier=f"{self.batch_label}-{self._batches}",
            )
            validations_store.set(key, validation)
            changed.append(key)
        self._results = []
        _prune(self.data_dir / STORE_SUBDIR / "validations", KEEP_RESULTS)
        context.build_data_docs(site_names=[site_name], resource_identifiers=changed or None)
        return self.index_path


def _site(data_dir: Path) -> tuple[Any, str, Any, Any]:
    """The GX context with this data folder's stores and site registered (once per process)."""
    context, _ = gx_context()
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    store_dir = data_dir / STORE_SUBDIR
    names = {"expectations": f"expectations_{key}", "validations": f"validations_{key}"}
    classes = {"expectations": "ExpectationsStore", "validations": "ValidationResultsStore"}
    for kind, name in names.items():
        if name not in context.stores:
            context.add_store(
                name,
                {
                    "class_name": classes[kind],
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(store_dir / kind),
                    },
                },
            )
    site_name = f"quality_{key}"
    if site_name not in context.list_data_docs_sites():
        context.add_data_docs_site(
            site_name,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir(data_dir)),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "site_section_builders": {
                    "expectations": {"source_store_name": names["expectations"]},
                    "validations": {"source_store_name": names["validations"]},
                    "profiling": "None",
                },
            },
        )
    return (
        context,
        site_name,
        context.stores[names["expectations"]],
        context.stores[names["validations"]],
    )


def _prune(validations_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` stored results (<suite>/<run>/<run time>/<batch>.json)."""
    stored = sorted(validations_dir.glob("*/*/*/*.json"), key=lambda p: p.parent.name)
    for path in stored[: max(len(stored) - keep, 0)]:
        path.unlink()
        for folder in (path.parent, path.parent.parent):
            if not any(folder.iterdir()):
                folder.rmdir()
