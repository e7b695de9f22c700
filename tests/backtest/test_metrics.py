"""The backtest's figures on hand-made observations whose answers are known."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from customer_health import backtest
from customer_health.backtest import LABEL, roc_auc

COMPONENTS = ("engagement", "loyalty")


def observations(n: int, churned: np.ndarray, *, seed: int = 1, **columns) -> pd.DataFrame:
    """n accounts on four as-of dates, 30 days apart, with the given columns."""
    rng = np.random.default_rng(seed)
    dates = [date(2025, 1, 1) + timedelta(days=30 * i) for i in range(4)]
    frame = pd.DataFrame(
        {
            "as_of_date": [dates[i % 4] for i in range(n)],
            "account_id": [f"a{i}" for i in range(n)],
            "scorecard": "default",
            "health_score": rng.uniform(0, 100, n),
            "band_order": 1,
            "engagement_score": rng.uniform(0, 100, n),
            "loyalty_score": rng.uniform(0, 100, n),
            "days_since_last_activity": rng.integers(0, 60, n).astype(float),
            "days_since_last_purchase": rng.integers(0, 200, n).astype(float),
            "orders_365d": rng.integers(0, 10, n),
            "order_value_365d": rng.uniform(0, 1000, n),
            LABEL: churned,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def _figure(figures, model: str, metric: str = "roc_auc", scorecard: str = "default"):
    [found] = [f for f in figures if (f.scorecard, f.model, f.metric) == (scorecard, model, metric)]
    return found.value


def test_auc_counts_ties_half_and_needs_both_classes() -> None:
    assert roc_auc([False, True], [1, 2]) == 1.0
    assert roc_auc([False, True], [2, 1]) == 0.0
    assert roc_auc([False, True], [1, 1]) == 0.5
    assert roc_auc([False, True, False, True], [1, 2, 3, 4]) == 0.75
    assert roc_auc([True, True], [1, 2]) is None


def test_a_perfectly_separating_component_has_auc_1_and_a_random_one_about_half() -> None:
    n = 4000
    churned = np.arange(n) % 5 == 0
    frame = observations(n, churned, engagement_score=np.where(churned, 10.0, 90.0))
    figures, _, _ = backtest.judge(frame, COMPONENTS)
    assert _figure(figures, "component:engagement") == 1.0
    assert _figure(figures, "component:loyalty") == pytest.approx(0.5, abs=0.04)
    assert _figure(figures, "health_score") == pytest.approx(0.5, abs=0.04)


def test_figures_are_measured_on_the_later_dates_only() -> None:
    """Out of time: the earlier half of the as-of dates is for fitting; every figure
    counts the later half's rows."""
    n = 400
    frame = observations(n, np.arange(n) % 4 == 0)
    figures, _, _ = backtest.judge(frame, COMPONENTS)
    later = frame[frame["as_of_date"] >= sorted(frame["as_of_date"].unique())[2]]
    score = next(f for f in figures if f.model == "health_score" and f.metric == "roc_auc")
    assert score.rows == len(later) and score.churners == int(later[LABEL].sum())


def test_a_fitted_baseline_never_sees_the_labels_it_is_judged_on() -> None:
    """Changing the labels of the later as-of dates changes no fitted prediction."""
    n = 800
    rng = np.random.default_rng(3)
    frame = observations(n, rng.random(n) < 0.3)
    fit, judge = backtest.split_by_time(frame)
    before, _ = backtest.fitted_risk(fit, judge, backtest.rfm_matrix)
    flipped = judge.assign(**{LABEL: ~judge[LABEL]})
    after, _ = backtest.fitted_risk(fit, flipped, backtest.rfm_matrix)
    pd.testing.assert_series_equal(before, after)


def test_the_learned_baseline_finds_a_signal_in_recency() -> None:
    """Churn that follows a long silence since the last purchase: recency alone ranks it,
    and so does the logistic regression on RFM fitted on the earlier dates."""
    n = 2000
    rng = np.random.default_rng(5)
    days = rng.integers(0, 365, n).astype(float)
    churned = rng.random(n) < days / 365
    frame = observations(n, churned, days_since_last_purchase=days)
    figures, _, _ = backtest.judge(frame, COMPONENTS)
    assert _figure(figures, "baseline:days_since_last_purchase") > 0.7
    assert _figure(figures, "learned:rfm_logistic") > 0.7
    assert _figure(figures, "baseline:rfm_rank") > 0.6


def test_never_active_ranks_as_the_longest_silence() -> None:
    assert backtest.silence(pd.Series([3.0, None, 10.0])).tolist() == [3.0, 11.0, 10.0]


def test_band_figures_on_known_rates() -> None:
    """Band 1 (best): 1 churner in 10; band 3 (worst): 6 in 10."""
    churned = np.array([True] + [False] * 9 + [True] * 6 + [False] * 4)
    frame = pd.DataFrame({"band_order": [1] * 10 + [3] * 10, LABEL: churned})
    found = backtest.band_figures(frame)
    assert found["lift_worst_over_best"] == pytest.approx(6.0)
    assert found["worst_band_precision"] == pytest.approx(0.6)
    assert found["worst_band_recall"] == pytest.approx(6 / 7)


def test_suggested_weights_go_to_the_component_that_predicts_churn() -> None:
    n = 3000
    rng = np.random.default_rng(7)
    engagement = rng.uniform(0, 100, n)
    churned = rng.random(n) < (1 - engagement / 100) ** 3
    frame = observations(n, churned, engagement_score=engagement)
    _, weights, _ = backtest.judge(frame, COMPONENTS)
    assert weights["default"]["engagement"] > 0.8
    assert sum(weights["default"].values()) == pytest.approx(1.0)


def test_calibration_has_ten_deciles_lowest_scores_first() -> None:
    n = 1000
    score = np.linspace(0, 100, n)
    frame = observations(n, score < 30, health_score=score)
    table = backtest.calibration(frame)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["churn_rate"].iloc[0] == 1.0 and table["churn_rate"].iloc[-1] == 0.0
    assert table["mean_score"].is_monotonic_increasing


def test_results_are_stored_per_configuration_and_shown_side_by_side() -> None:
    import duckdb

    con = duckdb.connect()
    n = 800
    rng = np.random.default_rng(9)
    for version, seed in (("v-current", 1), ("v-candidate", 2)):
        frame = observations(n, rng.random(n) < 0.25, seed=seed)
        figures, weights, calibration = backtest.judge(frame, COMPONENTS)
        current = {"default": {"engagement": 0.5, "loyalty": 0.5}}
        backtest.record(con, version, figures, weights, calibration, current, (None, None))
    # recording again replaces, never duplicates
    backtest.record(con, "v-candidate", figures, weights, calibration, current, (None, None))
    counts = dict(
        con.execute(
            "select config_version, count(*) from backtest.backtest_results group by 1"
        ).fetchall()
    )
    assert counts["v-current"] == counts["v-candidate"] == len(figures)
    shown = backtest.summary(con, ["v-current", "v-candidate", "v-missing"])
    assert "config_version v-current:" in shown and "config_version v-candidate:" in shown
    assert "score AUC" in shown and "RFM logistic" in shown and "(all)" in shown
    assert "v-missing: no backtest results stored" in shown
    stored = con.execute(
        "select current_weight, suggested_weight from backtest.backtest_suggested_weights"
        " where config_version = 'v-current' and component = 'engagement'"
    ).fetchone()
    assert stored[0] == 0.5 and 0 <= stored[1] <= 1


def test_suggested_weights_file_sums_to_one_and_keeps_the_rest(tmp_path) -> None:
    """The file replaces a configuration's scoring_weights.csv as it is: every scorecard,
    each summing to 1 (a scorecard without a suggestion keeps its weights)."""
    import shutil

    from customer_health.scoring_config import WEIGHTS, validate_config
    from customer_health.settings import SEEDS_DIR

    current = backtest.current_weights(SEEDS_DIR / WEIGHTS)
    suggested = {"b2b": {"engagement": 0.333, "loyalty": 0.333, "billing": 0.334}}
    text = backtest.weights_csv(suggested, current)
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert text.splitlines()[0] == "scorecard,component,weight"
    assert sum(float(w) for s, _, w in rows if s == "b2b") == pytest.approx(1.0)
    assert {s for s, _, _ in rows} == set(current)
    config = tmp_path / "config"
    shutil.copytree(SEEDS_DIR, config)
    (config / WEIGHTS).write_text(text)
    validate_config(config)  # a valid configuration
