"""The backtest's observations (models/backtest) on a real, small scored warehouse:
features know only the past, labels only the future."""

from __future__ import annotations

import itertools
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from customer_health.sample_data.generator import generate
from tests.warehouse import dbt_ok, load_landing

START, END = date(2024, 12, 1), date(2025, 6, 30)
pytestmark = pytest.mark.slow

FEATURES = (
    "scorecard", "health_score", "health_band", "band_order", "engagement_score",
    "usage_frequency_score", "retention_score", "loyalty_score", "satisfaction_score",
    "support_score", "billing_score", "days_since_last_activity", "days_since_last_purchase",
    "orders_365d", "order_value_365d", "config_version",
)  # fmt: skip

CHANGE_THE_FUTURE = """
    delete from raw.usage_events where occurred_at > timestamp '{cut}';
    delete from raw.support_tickets where opened_at > timestamp '{cut}';
    delete from raw.survey_responses where responded_at > timestamp '{cut}';
    update raw.invoices set amount = amount * 3 + 1 where issued_at > timestamp '{cut}';
    delete from raw.invoices where issued_at > timestamp '{cut}' and hash(invoice_id) % 2 = 0;
    update raw.accounts set churned_at = timestamp '{cut}' + interval 20 day
        where churned_at is null and hash(account_id) % 3 = 0;
    update raw.subscriptions
        set canceled_at = timestamp '{cut}' + interval 1 day,
            ended_at = timestamp '{cut}' + interval 15 day, status = 'canceled'
        where ended_at is null and hash(subscription_id) % 3 = 1;
"""
"""Data after the cut (the end of the as-of day), changed in every entity: events and
orders gone, amounts changed, accounts churned and subscriptions cancelled after it."""


def _build(root: Path, landing: Path, change: str | None) -> Path:
    warehouse = root / "warehouse.duckdb"
    root.mkdir(parents=True)
    load_landing(landing, warehouse, END)
    if change:
        con = duckdb.connect(str(warehouse))
        con.execute(change)
        con.close()
    dbt_ok(["build", "--exclude", "resource_type:test", "test_type:unit"], root, END,
           HEALTH_WAREHOUSE_PATH=str(warehouse))  # fmt: skip
    dbt_ok(["test", "--select", "backtest_observations"], root, END,
           HEALTH_WAREHOUSE_PATH=str(warehouse))  # fmt: skip
    return warehouse


def _observations(warehouse: Path) -> dict[tuple, tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            f"select account_id, as_of_date, {', '.join(FEATURES)}, churned_in_horizon"
            " from backtest.backtest_observations"
        ).fetchall()
    finally:
        con.close()
    return {row[:2]: row[2:] for row in rows}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, date, Path]:
    """Observations of one dataset, and of the same with every entity's data after the
    first as-of date changed; the first one's warehouse."""
    root = tmp_path_factory.mktemp("backtest")
    landing = root / "landing"
    generate(landing, accounts=150, start=START, end=END, seed=13, bad_rate=0.0)
    warehouse = _build(root / "as-is", landing, None)
    first = _observations(warehouse)
    cut = min(day for _, day in first)
    end_of_cut = datetime.combine(cut + timedelta(days=1), time())  # UTC, as the raw layer
    change = CHANGE_THE_FUTURE.format(cut=end_of_cut.isoformat(sep=" "))
    changed = _observations(_build(root / "changed", landing, change))
    return first, changed, cut, warehouse


def test_as_of_dates_are_spaced_and_leave_the_horizon_out(both) -> None:
    first, _, _, _ = both
    days = sorted({day for _, day in first})
    assert len(days) >= 3
    assert all((b - a).days == 30 for a, b in itertools.pairwise(days))
    assert days[-1] <= END - timedelta(days=90)


def test_no_feature_of_an_as_of_date_sees_what_came_after_it(both) -> None:
    first, changed, cut, _ = both
    on_cut = {key: row[:-1] for key, row in first.items() if key[1] == cut}
    assert len(on_cut) > 50
    assert {key: changed[key][:-1] for key in on_cut} == on_cut


def test_labels_do_see_what_came_after(both) -> None:
    """The change after the cut churns accounts, ends subscriptions, removes orders: the
    cut's labels move (so the check above could have failed)."""
    first, changed, cut, _ = both
    moved = [key for key, row in first.items() if key[1] == cut and changed[key][-1] != row[-1]]
    assert len(moved) > 5
    assert all(changed[key][-1] for key in moved)  # only towards churn


def test_the_backtest_judges_every_scorecard_and_stores_its_figures(both) -> None:
    from customer_health import backtest
    from customer_health.scoring_config import load_catalog

    *_, warehouse = both
    con = duckdb.connect(str(warehouse))
    try:
        judged = backtest.run(con, "v-test", load_catalog().components, {})
        stored = con.execute(
            "select count(distinct scorecard), count(distinct model) from backtest.backtest_results"
            " where config_version = 'v-test'"
        ).fetchone()
        shown = backtest.summary(con, ["v-test"])
    finally:
        con.close()
    assert judged.observations > 300
    assert 0 < judged.figure("health_score") < 1
    assert stored[0] >= 4 and stored[1] >= 12  # scorecards and (all); score, components, ...
    assert "config_version v-test:" in shown and "(all)" in shown


def test_the_backtest_job_stores_the_figures_and_writes_the_suggested_weights(
    both, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dagster job (what `make backtest` runs): the backtest's dbt models, then the
    figures, stored under the configuration's version, and a valid scoring_weights.csv."""
    import dagster as dg

    from customer_health.scoring_config import WEIGHTS, validate_config
    from customer_health.settings import SEEDS_DIR
    from orchestration.definitions import defs

    *_, warehouse = both
    data_dir = warehouse.parent
    monkeypatch.setenv("HEALTH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HEALTH_AS_OF", END.isoformat())
    monkeypatch.delenv("HEALTH_CONFIG_DIR", raising=False)
    version = validate_config(SEEDS_DIR).config_version
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("backtest").execute_in_process(
            instance=instance, raise_on_error=False
        )
    assert result.success
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        [(rows,)] = con.execute(
            "select count(*) from backtest.backtest_results where config_version = ?", [version]
        ).fetchall()
    finally:
        con.close()
    assert rows > 50
    suggested = data_dir / "backtest" / version / WEIGHTS
    config = data_dir / "suggested-config"
    shutil.copytree(SEEDS_DIR, config)
    shutil.copy(suggested, config / WEIGHTS)
    validate_config(config)  # ready to use as it is


def test_a_what_if_judges_a_candidate_on_a_copy_and_changes_nothing_else(
    both, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`make backtest CONFIG=<folder>`: the candidate's figures are stored beside the
    current ones and printed with them; the warehouse's scores are those it had."""
    from customer_health.scoring_config import WEIGHTS, validate_config
    from customer_health.settings import SEEDS_DIR
    from orchestration import cli

    *_, warehouse = both
    data_dir = warehouse.parent
    monkeypatch.setenv("HEALTH_DATA_DIR", str(data_dir))
    monkeypatch.setenv("HEALTH_AS_OF", END.isoformat())
    monkeypatch.delenv("HEALTH_CONFIG_DIR", raising=False)
    # the command points these at the folders it runs in: restored after the test
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster"))
    monkeypatch.setenv("HEALTH_PARTITIONS_START", START.isoformat())
    candidate = data_dir.parent / "candidate-config"
    shutil.copytree(SEEDS_DIR, candidate)
    weights = (candidate / WEIGHTS).read_text().splitlines()
    moved = [line for line in weights if not line.startswith("b2b_saas,")]
    moved += ["b2b_saas,engagement,0.6", "b2b_saas,retention,0.2", "b2b_saas,satisfaction,0.2"]
    (candidate / WEIGHTS).write_text("\n".join(moved) + "\n")
    current = validate_config(SEEDS_DIR).config_version
    proposed = validate_config(candidate).config_version
    assert proposed != current

    def scores() -> list[tuple]:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(
                "select config_version, count(*), sum(hash(account_id, as_of_date, health_score))"
                " from marts.fct_customer_health_daily group by config_version"
            ).fetchall()
        finally:
            con.close()

    before = scores()
    assert cli.main(["backtest", "--config", str(candidate)]) == 0
    printed = capsys.readouterr().out
    assert scores() == before  # the warehouse's own scores are untouched
    assert not (data_dir / "serving").exists()  # nothing published
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        stored = dict(
            con.execute(
                "select config_version, count(*) from backtest.backtest_results group by 1"
            ).fetchall()
        )
        [(saas_aucs,)] = con.execute(
            "select count(distinct value) from backtest.backtest_results"
            " where scorecard = 'b2b_saas' and model = 'health_score' and metric = 'roc_auc'"
            " and config_version in (?, ?)",
            [current, proposed],
        ).fetchall()
    finally:
        con.close()
    assert stored[current] > 50 and stored[proposed] > 50
    assert saas_aucs == 2  # the candidate scored the b2b_saas scorecard its own way
    assert f"config_version {current}:" in printed
    assert f"config_version {proposed}:" in printed
    copy = data_dir / "backtest" / "what-if" / proposed / "warehouse.duckdb"
    con = duckdb.connect(str(copy), read_only=True)
    try:
        [(versions,)] = con.execute(
            "select list(distinct config_version) from marts.fct_customer_health_daily"
        ).fetchall()
    finally:
        con.close()
    assert versions == [proposed]  # every day of the copy was scored again
