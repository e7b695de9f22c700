"""Does the health score separate accounts that churn from those that stay?

A longer generated history than the end-to-end tests use (the 90-day churn horizon
needs it), loaded with the real loader and scored with a real `dbt build`, without
Dagster: this measures the scoring, not the orchestration. The score must beat the
baseline a CSM already has: days since the account's last activity.

On this generator churn follows a sustained decline, so a 90-day horizon rewards how
an account is moving (usage trend) more than where it stands; the AUC is reported as
the `score_auc` and `days_since_last_activity_auc` properties of the JUnit report.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from customer_health.sample_data.generator import generate
from customer_health.settings import DBT_PROJECT_DIR
from tests.warehouse import dbt_ok, load_landing

START, END = date(2024, 10, 1), date(2025, 6, 28)
HORIZON_DAYS = 90
EVALUATION_EVERY_DAYS = 14
pytestmark = pytest.mark.slow


def auc(scored: list[tuple[float, bool]]) -> float:
    """Area under the ROC curve: the chance that a random churner ranks above a random
    stayer (ties count half), by the rank-sum formula."""
    ordered = sorted(scored, key=lambda pair: pair[0])
    rank_sum, positives, i = 0.0, 0, 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][0] == ordered[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # 1-based ranks i+1..j share their mean
        tied_positives = sum(1 for _, churned in ordered[i:j] if churned)
        rank_sum += mid_rank * tied_positives
        positives += tied_positives
        i = j
    negatives = len(ordered) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs churners and stayers")
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def test_auc_counts_ties_half() -> None:
    assert auc([(1, False), (2, True)]) == 1.0
    assert auc([(2, False), (1, True)]) == 0.0
    assert auc([(1, False), (1, True)]) == 0.5
    assert auc([(1, False), (2, True), (3, False), (4, True)]) == 0.75


@pytest.fixture(scope="module")
def scored_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("churn")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate(landing, accounts=400, start=START, end=END, seed=11, bad_rate=0.0)
    load_landing(landing, warehouse, END)
    # models and seeds only: the data tests run in every pipeline test already
    dbt_ok(["build", "--exclude", "resource_type:test"], root, END,
           HEALTH_WAREHOUSE_PATH=str(warehouse))  # fmt: skip
    return warehouse


def _evaluation_rows(warehouse: Path) -> list[tuple[float | None, int | None, bool]]:
    """(health_score, days_since_last_activity, churns within the horizon) for every
    live, scored account on every evaluation day that has a full horizon after it."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            f"""
            select fact.health_score, fact.days_since_last_activity,
                coalesce(accounts.churned_date > fact.as_of_date
                    and accounts.churned_date <= fact.as_of_date + {HORIZON_DAYS}, false)
            from marts.fct_customer_health_daily as fact
            inner join staging.stg_raw__accounts as accounts using (account_id)
            where not fact.is_churned
                and fact.health_score is not null
                and fact.as_of_date <= date '{END}' - {HORIZON_DAYS}
                and fact.as_of_date >= date '{START}' + 60
                and date_diff('day', date '{START}', fact.as_of_date) % {EVALUATION_EVERY_DAYS} = 0
            """
        ).fetchall()
    finally:
        con.close()


def test_score_separates_churners_better_than_days_since_last_activity(
    scored_warehouse: Path, record_property
) -> None:
    rows = _evaluation_rows(scored_warehouse)
    churners = sum(1 for *_, churned in rows if churned)
    assert churners >= 30, f"too few churners ({churners}) to measure separation"
    # low health means risk; a long silence means risk (never active: the longest)
    score_auc = auc([(-score, churned) for score, _, churned in rows])
    baseline_auc = auc([(10**6 if days is None else days, churned) for _, days, churned in rows])
    record_property("score_auc", round(score_auc, 4))
    record_property("days_since_last_activity_auc", round(baseline_auc, 4))
    print(
        f"AUC over {len(rows)} account-days, {churners} churning within {HORIZON_DAYS} days: "
        f"health score {score_auc:.3f}, days since last activity {baseline_auc:.3f}"
    )
    # the margin keeps a tie from passing; the data are deterministic (fixed seed)
    assert score_auc >= baseline_auc + 0.02


def test_dbt_unit_tests_pass(scored_warehouse: Path, tmp_path: Path) -> None:
    """The dbt unit tests (every scoring formula on hand-made rows) against a built
    warehouse; pipeline runs leave them out."""
    out = dbt_ok(["test", "--select", "test_type:unit"], tmp_path, END,
                 HEALTH_WAREHOUSE_PATH=str(scored_warehouse))  # fmt: skip
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    ran = {
        r["unique_id"].rsplit(".", 1)[-1]: r["status"]
        for r in results
        if r["unique_id"].startswith("unit_test.")
    }
    defined = {
        test["name"]
        for path in (DBT_PROJECT_DIR / "models").rglob("*unit_tests.yml")
        for test in yaml.safe_load(path.read_text())["unit_tests"]
    }
    assert len(defined) >= 40
    assert ran == dict.fromkeys(defined, "pass"), out[-2000:]


def test_tests_of_history_are_scoped_to_the_run_days(
    scored_warehouse: Path, tmp_path: Path
) -> None:
    """Generic tests on the marts rewritten by day read the days of int_scoring_window;
    those on the models that name their day column in `meta.tests_scoped_by` (the usage
    events, their daily aggregates, the account-day spine) the run's days, from its
    event-time flags (macros/test_scope.sql); other tests read their whole table."""
    day, next_day = END.isoformat(), (END + timedelta(days=1)).isoformat()
    window = "between (select score_from_date from "
    scoped = {
        "unique_stg_raw__usage_events_event_id": "occurred_at",
        "unique_combination_int_usage_daily_account_id__activity_date": "activity_date",
        "unique_combination_int_usage_features_daily_account_id__activity_date__event_name":
            "activity_date",
        "unique_combination_int_account_days_account_id__as_of_date": "as_of_date",
    }  # fmt: skip
    marts = ["unique_combination_fct_customer_health_daily_account_id__as_of_date"]
    whole = ["unique_stg_raw__invoices_invoice_id", "unique_scoring_scorecards_scorecard"]
    dbt_ok(["build", "--select", *scoped, *marts, *whole,
            "--event-time-start", day, "--event-time-end", next_day],
           tmp_path, END, HEALTH_WAREHOUSE_PATH=str(scored_warehouse))  # fmt: skip
    results = [
        r
        for r in json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("test.")
    ]
    assert len(results) == len(scoped) + len(marts) + len(whole)
    assert {r["status"] for r in results} == {"pass"}
    compiled = {r["unique_id"].split(".")[2]: " ".join(r["compiled_code"].split()) for r in results}

    def sql_of(name: str) -> str:
        return next(text for test, text in compiled.items() if test.startswith(name))

    for name, column in scoped.items():
        assert (
            f"{column} >= cast('{day}' as date) and cast({column} as date)"
            f" < cast('{next_day}' as date)"
        ) in sql_of(name), sql_of(name)
    for name in marts:
        assert f"as_of_date {window}" in sql_of(name), sql_of(name)
    for name in whole:
        assert window not in sql_of(name) and "cast('" not in sql_of(name), sql_of(name)


def test_sample_data_exercises_every_scorecard(scored_warehouse: Path) -> None:
    con = duckdb.connect(str(scored_warehouse), read_only=True)
    try:
        used = {
            row[0]
            for row in con.execute(
                "select distinct scorecard from marts.fct_customer_health_daily"
            ).fetchall()
        }
        defined = {
            row[0]
            for row in con.execute("select scorecard from config.scoring_scorecards").fetchall()
        }
    finally:
        con.close()
    assert (
        used
        == defined
        == {
            "default",
            "b2b_saas",
            "b2b",
            "b2c_subscription",
            "b2c_webshop",
            "government",
            "charity",
        }
    )


def _baseline_module():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "baseline.py"
    spec = importlib.util.spec_from_file_location("bench_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fact_rows(database: Path, schema: str, first: date, last: date) -> tuple[list, list]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_name = 'fct_customer_health_daily' and table_schema = ?"
            " order by ordinal_position",
            [schema],
        ).fetchall()
        select = ", ".join(
            f"round({name}, 9)" if kind in ("DOUBLE", "FLOAT") else name for name, kind in columns
        )
        return con.execute(
            f"select {select} from {schema}.fct_customer_health_daily"
            " where as_of_date between ? and ? order by account_id, as_of_date",
            [first, last],
        ).fetchall(), [name for name, _ in columns]
    finally:
        con.close()


@pytest.mark.parametrize("days", ["every day", "one late day"])
def test_the_bench_baseline_computes_the_same_fact_rows(
    scored_warehouse: Path, tmp_path: Path, days: str
) -> None:
    """bench/baseline.sql, the hand-written script `make bench` divides the pipeline's
    time by, writes exactly the pipeline's fact rows (every column; floats to 1e-9), for
    the whole history and for one day alone: the ratio compares the same work."""
    baseline = _baseline_module()
    first = START if days == "every day" else END - timedelta(days=3)
    last = END - timedelta(days=1) if days == "every day" else END - timedelta(days=3)
    out = tmp_path / "baseline.duckdb"
    written = baseline.run_baseline(scored_warehouse, out, first, last, END)
    expected, columns = _fact_rows(scored_warehouse, "marts", first, last)
    got, baseline_columns = _fact_rows(out, "main", first, last)
    assert baseline_columns == columns
    assert written == len(expected) > 0
    assert got == expected
