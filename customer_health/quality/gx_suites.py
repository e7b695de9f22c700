"""Great Expectations suites, hand-written in `expectations/`, run on pandas batches.

GX's SQL datasource on DuckDB is broken upstream, so batches are fetched from
DuckDB into pandas and validated there. GX is imported only when a suite runs:
it is slow to import and the definitions must load fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from customer_health.quality.gx_context import gx_context
from customer_health.settings import EXPECTATIONS_DIR

if TYPE_CHECKING:
    import pandas as pd


class ValidationSink(Protocol):
    """Where each batch's GX validation result goes besides the suite result (the Data
    Docs site: data_docs.DataDocs)."""

    def add(self, validation: Any) -> None: ...


@dataclass
class SuiteResult:
    suite: str
    success: bool = True
    rows: int = 0
    batches: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def suite_definition(name: str) -> dict[str, Any]:
    path = EXPECTATIONS_DIR / f"{name}.json"
    with path.open() as fh:
        return json.load(fh)


@cache
def _suite(name: str) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    context, _ = gx_context()
    spec = suite_definition(name)
    suite = gx.ExpectationSuite(
        name=spec["name"],
        expectations=[
            ExpectationConfiguration(
                type=e["type"], kwargs=e["kwargs"], meta=e.get("meta", {})
            ).to_domain_obj()
            for e in spec["expectations"]
        ],
    )
    return context.suites.add_or_update(suite)


def _result_format(name: str) -> dict[str, Any]:
    """SUMMARY, plus the suite's `meta.index_columns` (e.g. `_source_file`, `_source_row`)
    so that each failed expectation names the rows it failed on."""
    index_columns = suite_definition(name).get("meta", {}).get("index_columns")
    if not index_columns:
        return {"result_format": "SUMMARY"}
    return {"result_format": "SUMMARY", "unexpected_index_column_names": index_columns}


def validate_frames(
    name: str,
    frames: Iterable[pd.DataFrame],
    parameters: dict[str, Any] | None = None,
    *,
    docs: ValidationSink | None = None,
) -> SuiteResult:
    """Run suite `name` over each frame; collect every failed expectation with evidence.

    `parameters` fill the suite's `{"$PARAMETER": name}` values (e.g. an expected row count).
    `docs` keeps each batch's GX result for the Data Docs site (see data_docs.py).
    """
    return validate_batches(name, ((frame, parameters) for frame in frames), docs=docs)


def validate_batches(
    name: str,
    batches: Iterable[tuple[pd.DataFrame, dict[str, Any] | None]],
    *,
    docs: ValidationSink | None = None,
) -> SuiteResult:
    """`validate_frames` where each frame brings its own parameters: a long range
    validated in bounded batches, each with the expected values of its own rows. The
    batches are taken one at a time, so a generator keeps one frame in memory."""
    _, batch_definition = gx_context()
    suite = _suite(name)
    result_format = _result_format(name)
    result = SuiteResult(suite=name)
    for frame, parameters in batches:
        result.rows += len(frame)
        result.batches += 1
        validation = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, expectation_parameters=parameters, result_format=result_format
        )
        if docs is not None:
            docs.add(validation)
        for outcome in validation.results:
            if outcome.success:
                continue
            result.success = False
            details = outcome.result or {}
            result.failures.append(
                {
                    "expectation": outcome.expectation_config.type,
                    "column": outcome.expectation_config.kwargs.get("column"),
                    "unexpected_count": details.get("unexpected_count"),
                    "sample": [str(v) for v in (details.get("partial_unexpected_list") or [])[:5]],
                    "observed": str(details.get("observed_value", "")),
                    "rows": [
                        {k: str(v) for k, v in row.items()}
                        for row in (details.get("partial_unexpected_index_list") or [])[:5]
                        if isinstance(row, dict)  # without index columns: bare frame indexes
                    ],
                }
            )
    return result
