"""GX Data Docs: validating with `docs` writes a static site, failures included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from customer_health.quality import data_docs, gx_suites
from customer_health.quality.data_docs import DataDocs
from customer_health.quality.gx_suites import validate_frames

SUITE = "docs_probe_invoices"


@pytest.fixture
def probe_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A small hand-written suite in its own expectations folder."""
    expectations = tmp_path / "expectations"
    expectations.mkdir()
    (expectations / f"{SUITE}.json").write_text(
        json.dumps(
            {
                "name": SUITE,
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "amount", "min_value": 0},
                    },
                ],
            }
        )
    )
    monkeypatch.setattr(gx_suites, "EXPECTATIONS_DIR", expectations)
    gx_suites._suite.cache_clear()
    yield SUITE
    gx_suites._suite.cache_clear()


def _frame(amounts: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"I{i}" for i in range(len(amounts))], "amount": amounts})


def _pages(site: Path, run: str) -> list[Path]:
    return sorted((site / "validations" / SUITE / run).glob("*/*.html"))


def test_a_failing_suite_writes_the_site(probe_suite: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with DataDocs(data, "run-1", "2025-06-01..2025-06-02") as docs:
        result = validate_frames(probe_suite, [_frame([10.0, -5.0]), _frame([1.0, 2.0])], docs=docs)
    # the result is the same as without docs: evidence of the failed expectation
    assert not result.success and result.batches == 2
    assert [(f["expectation"], f["column"], f["sample"]) for f in result.failures] == [
        ("expect_column_values_to_be_between", "amount", ["-5.0"])
    ]
    site = data / "docs" / "quality"
    assert docs.index_path == site / "index.html"
    index = docs.index_path.read_text()
    assert SUITE in index and "run-1" in index
    pages = _pages(site, "run-1")
    assert [p.name for p in pages] == [
        "2025-06-01..2025-06-02-1.html",
        "2025-06-01..2025-06-02-2.html",
    ]
    # the failed batch's page shows the failure and the unexpected value
    failed_page = pages[0].read_text()
    assert "Failed" in failed_page and "-5.0" in failed_page
    assert (site / "expectations" / f"{SUITE}.html").exists()


def test_later_runs_add_to_the_site_and_old_results_leave(
    probe_suite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    for run in ("run-1", "run-2"):
        with DataDocs(data, run, "day") as docs:
            validate_frames(probe_suite, [_frame([1.0])], docs=docs)
    site = data_docs.docs_dir(data)
    index = (site / "index.html").read_text()
    assert "run-1" in index and "run-2" in index

    monkeypatch.setattr(data_docs, "KEEP_RESULTS", 1)
    with DataDocs(data, "run-3", "day") as docs:
        validate_frames(probe_suite, [_frame([1.0])], docs=docs)
    index = (site / "index.html").read_text()
    assert "run-3" in index and "run-1" not in index and "run-2" not in index
    assert _pages(site, "run-1") == [] and len(_pages(site, "run-3")) == 1


def test_batches_validated_before_an_error_are_still_written(
    probe_suite: str, tmp_path: Path
) -> None:
    def frames() -> Iterator[pd.DataFrame]:
        yield _frame([-1.0])
        raise OSError("landing file vanished")

    data = tmp_path / "data"
    with pytest.raises(OSError, match="vanished"), DataDocs(data, "run-x", "day") as docs:
        validate_frames(probe_suite, frames(), docs=docs)
    assert docs.index_path.exists()
    assert len(_pages(data_docs.docs_dir(data), "run-x")) == 1


def test_a_run_with_nothing_to_validate_still_has_an_index(tmp_path: Path) -> None:
    with DataDocs(tmp_path / "data", "run-0", "day") as docs:
        pass
    assert docs.index_path.exists()
