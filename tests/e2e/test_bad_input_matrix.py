"""The bad-input matrix: each defect injected into otherwise clean landing data, with its
exact outcome asserted through a real Dagster run.

A first run scores the clean data up to BASE_END and publishes. Every case then starts
from a copy of that warehouse, serving file and landing folder and runs the next day:

- row-level defects are quarantined with their reason and the run publishes (they share
  one run: the defects are independent rows of a few injected files);
- batch-level defects block the run: it fails, names the check and its evidence, and the
  serving file is byte-identical to before.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from customer_health.sample_data.generator import generate
from customer_health.settings import Settings
from orchestration.cli import RunWindow, run_pipeline
from tests.conftest import sha256_of

pytestmark = pytest.mark.slow

START, END = date(2025, 5, 25), date(2025, 6, 14)
BASE_END = END - timedelta(days=5)
"""The clean run scores up to here; later files are deferred until a run reaches them."""
NEXT = BASE_END + timedelta(days=1)
"""The day each case runs."""


@dataclass(frozen=True)
class Workspace:
    settings: Settings
    landing: Path

    def query(self, sql: str, serving: bool = False) -> list[tuple]:
        path = self.settings.serving_path if serving else self.settings.warehouse_path
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def run(self, first: date = NEXT, last: date = NEXT) -> bool:
        return run_pipeline(self.settings, RunWindow(first, last))


def _use(root: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    landing, data = root / "landing", root / "data"
    monkeypatch.setenv("HEALTH_LANDING_DIR", str(landing))
    monkeypatch.setenv("HEALTH_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(data / "dagster"))
    monkeypatch.delenv("HEALTH_AS_OF", raising=False)
    return Workspace(Settings.from_env(), landing)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """Clean landing data for START..END and a published run of START..BASE_END."""
    root = tmp_path_factory.mktemp("matrix-base")
    mp = pytest.MonkeyPatch()
    try:
        workspace = _use(root, mp)
        generate(workspace.landing, accounts=40, start=START, end=END, seed=11, bad_rate=0.0)
        assert workspace.run(START, BASE_END)
    finally:
        mp.undo()
    return root


def _copy(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "case"
    shutil.copytree(base / "landing", root / "landing")
    shutil.copytree(base / "data", root / "data", ignore=shutil.ignore_patterns("dagster"))
    return _use(root, monkeypatch)


@pytest.fixture
def case(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    return _copy(base, tmp_path, monkeypatch)


# --- row-level defects: quarantined with their reason, and the run publishes ------------

USAGE_HEADER = "event_id,account_id,event_name,occurred_at,quantity,channel"
BAD_USAGE_ROWS = [
    f"DUP-1,ACC-000001,login,{NEXT}T10:00:00Z,1,web",
    f"DUP-1,ACC-000001,login,{NEXT}T10:05:00Z,1,web",
    f"ORPHAN-1,ACC-999999,login,{NEXT}T10:00:00Z,1,web",
    f"FUTURE-1,ACC-000001,login,{NEXT + timedelta(days=5)}T10:00:00Z,1,web",
    "UNPARSEABLE-1,ACC-000001,login,last tuesday,1,web",
    f"TEXT-1,ACC-000001,login,{NEXT}T11:00:00Z,lots,web",
    f"EXTRA-1,ACC-000001,login,{NEXT}T12:00:00Z,1,mobile",
]


@dataclass(frozen=True)
class RowDefect:
    table: str
    source_file: str
    source_row: int
    reason_code: str
    reason: str


ROW_DEFECTS = {
    "duplicate_key": RowDefect(
        "usage_events",
        "usage_events/bad-rows.csv",
        1,
        "duplicate_key",
        "event_id: DUP-1 appears again in this file; a later or newer row was kept",
    ),
    "orphan_account": RowDefect(
        "usage_events",
        "usage_events/bad-rows.csv",
        3,
        "orphan_account",
        "account_id: ACC-999999 matches no account",
    ),
    "future_timestamp": RowDefect(
        "usage_events",
        "usage_events/bad-rows.csv",
        4,
        "future_timestamp",
        f"occurred_at: '{NEXT + timedelta(days=5)}T10:00:00Z' is after the as-of time plus one day",
    ),
    "unparseable_timestamp": RowDefect(
        "usage_events",
        "usage_events/bad-rows.csv",
        5,
        "unparseable_timestamp",
        "occurred_at: 'last tuesday' is not an ISO-8601 timestamp",
    ),
    "text_in_numeric_column": RowDefect(
        "usage_events",
        "usage_events/bad-rows.csv",
        6,
        "bad_number",
        "quantity: 'lots' is not a finite number",
    ),
    "negative_mrr": RowDefect(
        "subscriptions",
        "subscriptions/bad-rows.csv",
        1,
        "out_of_range",
        "mrr: '-120' is below 0 (allowed 0 to 1000000000)",
    ),
    "nps_11": RowDefect(
        "survey_responses",
        "survey_responses/bad-rows.csv",
        1,
        "out_of_range",
        "score: 11.0 is outside the range of a nps answer (allowed 0 to 10)",
    ),
}


@pytest.fixture(scope="module")
def row_defects_run(base: Path, tmp_path_factory: pytest.TempPathFactory):
    """One run of NEXT over landing data holding every row-level defect, with the support
    feed configured to warn after an hour (a stale source that only warns)."""
    from customer_health.quality import source_checks

    mp = pytest.MonkeyPatch()
    try:
        workspace = _copy(base, tmp_path_factory.mktemp("matrix-rows"), mp)
        before = sha256_of(workspace.settings.serving_path)
        (workspace.landing / "usage_events" / "bad-rows.csv").write_text(
            "\n".join([USAGE_HEADER, *BAD_USAGE_ROWS]) + "\n"
        )
        (workspace.landing / "subscriptions" / "bad-rows.csv").write_text(
            "subscription_id,account_id,plan,mrr,status,started_at\n"
            f"SUB-BAD-1,ACC-000002,pro,-120,active,{NEXT}T09:00:00Z\n"
        )
        (workspace.landing / "survey_responses" / "bad-rows.csv").write_text(
            "response_id,account_id,survey_type,score,responded_at\n"
            f"NPS-BAD-1,ACC-000003,nps,11,{NEXT}T09:00:00Z\n"
        )
        strict = workspace.landing.parent / "_raw__sources.yml"
        strict.write_text(
            source_checks.SOURCES_YML.read_text().replace(
                "warn_after: {count: 30, period: day}", "warn_after: {count: 1, period: hour}"
            )
        )
        mp.setattr(source_checks, "SOURCES_YML", strict)
        ok = workspace.run()
    finally:
        mp.undo()
    return workspace, ok, before


def test_row_level_defects_leave_the_run_publishing(row_defects_run, capsys) -> None:
    workspace, ok, before = row_defects_run
    assert ok
    assert sha256_of(workspace.settings.serving_path) != before
    [(last_day,)] = workspace.query(
        "select max(as_of_date) from fct_customer_health_daily", serving=True
    )
    assert last_day == NEXT


@pytest.mark.parametrize("defect", ROW_DEFECTS.values(), ids=ROW_DEFECTS.keys())
def test_row_level_defect_is_quarantined_with_its_reason(
    row_defects_run, defect: RowDefect
) -> None:
    workspace, ok, _ = row_defects_run
    assert ok
    rows = workspace.query(
        f"select _reason_codes, coalesce(_reasons, '') from raw.{defect.table}__quarantine"
        f" where _source_file = '{defect.source_file}' and _source_row = {defect.source_row}"
    )
    assert rows == [(defect.reason_code, defect.reason)]


def test_an_extra_unknown_column_is_accepted_and_kept(row_defects_run) -> None:
    workspace, ok, _ = row_defects_run
    assert ok
    [(extra,)] = workspace.query("select _extra from raw.usage_events where event_id = 'EXTRA-1'")
    assert json.loads(extra) == {"channel": "mobile"}
    # the good rows of the file are loaded: the kept duplicate and the extra-column row
    assert workspace.query(
        "select event_id from raw.usage_events"
        " where _source_file = 'usage_events/bad-rows.csv' order by 1"
    ) == [("DUP-1",), ("EXTRA-1",)]


def test_a_stale_source_configured_to_warn_is_recorded_and_does_not_block(
    row_defects_run,
) -> None:
    workspace, ok, _ = row_defects_run
    assert ok
    [(status, severity, observed)] = workspace.query(
        "select status, severity, observed_value from quality.quality_check_results"
        f" where check_name = 'freshness_support_tickets' and partition = '{NEXT}..{NEXT}'"
    )
    assert (status, severity) == ("warn", "warn")
    assert "stale: warn after 0.0 days" in observed
    # the published quality results carry it too, for BI
    assert workspace.query(
        "select count(*) from quality_check_results where check_name = 'freshness_support_tickets'"
        " and status = 'warn'",
        serving=True,
    ) == [(1,)]


# --- batch-level defects: the run is blocked and nothing is published -------------------


def _write_usage_csv(workspace: Workspace, name: str, body: str, encoding: str = "utf-8") -> None:
    (workspace.landing / "usage_events" / name).write_bytes(body.encode(encoding))


def _missing_required_column(workspace: Workspace) -> None:
    _write_usage_csv(
        workspace, "no-time.csv", "event_id,account_id,event_name\nX1,ACC-000001,login\n"
    )


def _empty_file(workspace: Workspace) -> None:
    _write_usage_csv(workspace, "empty.csv", "")


def _wrong_encoding(workspace: Workspace) -> None:
    _write_usage_csv(
        workspace,
        "latin1.csv",
        f"event_id,account_id,event_name,occurred_at\nL1,ACC-000001,caf\u00e9,{NEXT}T10:00:00Z\n",
        encoding="latin-1",
    )


def _corrupt_parquet(workspace: Workspace) -> None:
    day_file = workspace.landing / "usage_events" / f"{NEXT}.parquet"
    data = day_file.read_bytes()
    (workspace.landing / "usage_events" / "truncated.parquet").write_bytes(data[: len(data) // 2])


def _volume_drop(workspace: Workspace) -> None:
    """The day's usage file arrives with a tenth of the rows of an average day (a 90% drop
    against the 14 days before)."""
    [(average,)] = workspace.query(
        "select count(*) / 14 from raw.usage_events"
        f" where occurred_at >= date '{NEXT}' - 14 and occurred_at < date '{NEXT}'"
    )
    day_file = workspace.landing / "usage_events" / f"{NEXT}.parquet"
    table = pq.read_table(day_file)
    pq.write_table(table.slice(0, int(average * 0.1)), day_file)


def _day_missing(workspace: Workspace) -> None:
    """The usage file of the day after NEXT never arrives (NEXT's own file was loaded by
    the clean run: a run loads files dated up to the day after its last day)."""
    (workspace.landing / "usage_events" / f"{NEXT + timedelta(days=1)}.parquet").unlink()


def _stale_source(workspace: Workspace) -> None:
    """No usage after BASE_END: by the end of END it is five days old (error after 4)."""
    for day_file in (workspace.landing / "usage_events").glob("*.parquet"):
        if date.fromisoformat(day_file.stem) > BASE_END:
            day_file.unlink()


@dataclass(frozen=True)
class BatchDefect:
    inject: Callable[[Workspace], None]
    check: str
    evidence: tuple[str, ...]
    """Fragments the run's error output and the recorded evidence must both hold (JSON
    quotes)."""
    run_day: date = NEXT


BATCH_DEFECTS = {
    "missing_required_column": BatchDefect(
        _missing_required_column,
        "contract_usage_events",
        ("usage_events/no-time.csv", "occurred_at"),
    ),
    "empty_file": BatchDefect(
        _empty_file, "contract_usage_events", ("usage_events/empty.csv", "the file is empty")
    ),
    "wrong_encoding": BatchDefect(
        _wrong_encoding, "contract_usage_events", ("usage_events/latin1.csv", "UTF-8")
    ),
    "corrupt_parquet": BatchDefect(
        _corrupt_parquet, "contract_usage_events", ("usage_events/truncated.parquet",)
    ),
    "volume_drop_90pct": BatchDefect(
        _volume_drop, "volume_usage_events", ("expect_column_values_to_be_between", str(NEXT))
    ),
    "whole_day_of_usage_missing": BatchDefect(
        _day_missing,
        "volume_usage_events",
        ('"rows": "0"', str(NEXT + timedelta(days=1))),
        run_day=NEXT + timedelta(days=1),
    ),
    "stale_source": BatchDefect(
        _stale_source,
        "freshness_usage_events",
        ("newest occurred_at", "stale: error after 4.0 days"),
        run_day=END,
    ),
}


@pytest.mark.parametrize("defect", BATCH_DEFECTS.values(), ids=BATCH_DEFECTS.keys())
def test_batch_level_defect_blocks_the_run(case: Workspace, defect: BatchDefect, capsys) -> None:
    before = sha256_of(case.settings.serving_path)
    defect.inject(case)

    assert not case.run(defect.run_day, defect.run_day)

    # the summary prints evidence as Python values, the table stores JSON: compare alike
    err = capsys.readouterr().err.replace("'", '"')
    assert "FAILED" in err
    for fragment in defect.evidence:
        assert fragment in err, f"{fragment!r} not in the run's output:\n{err}"
    assert sha256_of(case.settings.serving_path) == before
    recorded = case.query(
        "select run_id, coalesce(observed_value, '') || ' ' || coalesce(evidence, '')"
        " from quality.quality_check_results"
        f" where check_name = '{defect.check}' and status in ('fail', 'error')"
    )
    assert len(recorded) == 1, recorded
    run_id, evidence = recorded[0]
    for fragment in defect.evidence:
        assert fragment in evidence
    # the failed run is in the Data Docs too
    assert run_id in (case.settings.data_dir / "docs" / "quality" / "index.html").read_text()


def test_scoring_output_out_of_range_is_stopped_at_the_exit(case: Workspace, capsys) -> None:
    """A deliberately broken model: scores above 100 in the fact. The exit suite (and the
    gate behind it) stop them; nothing is published."""
    import dagster as dg

    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    from orchestration.cli import ensure_dagster_home, report_failures
    from orchestration.definitions import defs
    from orchestration.defs.keys import QUALITY_GATE_KEY, fact_key
    from orchestration.defs.partitions import PARTITION_TAG

    FACT_KEY = fact_key()

    before = sha256_of(case.settings.serving_path)
    con = duckdb.connect(str(case.settings.warehouse_path))
    con.execute(
        "update marts.fct_customer_health_daily set health_score = health_score + 100"
        f" where as_of_date = date '{BASE_END}' and health_score is not null"
    )
    con.close()
    ensure_dagster_home(case.settings)
    # the checks and everything after them, as a run does after `dbt build` wrote this
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            instance=instance,
            resources=defs.resources,
            selection=dg.AssetSelection.checks_for_assets(FACT_KEY)
            | dg.AssetSelection.assets(QUALITY_GATE_KEY, dg.AssetKey(["serving", "health_duckdb"])),
            tags={PARTITION_TAG: BASE_END.isoformat()},  # the run's day: what the checks check
            raise_on_error=False,
        )
        report_failures(result)
    assert not result.success
    err = capsys.readouterr().err
    assert "FAILED check marts/fct_customer_health_daily:fct_customer_health_daily" in err
    assert "'column': 'health_score'" in err
    assert sha256_of(case.settings.serving_path) == before
