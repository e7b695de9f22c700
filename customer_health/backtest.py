"""Does the score see churn coming? The backtest's figures, from its observations.

`backtest.backtest_observations` (dbt, models/backtest) holds one row per live, scored
account on each as-of date: what was known that day (the score, its band, each
component, the simple baselines' inputs) and whether the account churned in the
horizon after it (the scorecard's rule, seeds/scoring_churn.csv). This module judges
them, per scorecard and overall, out of time: models that learn are fitted on the
earlier as-of dates and every figure is measured on the later ones, so a fitted
baseline is not flattered by the days it saw.

- ROC AUC and PR AUC (scikit-learn) of the score, of each component alone, and of the
  baselines: days since the last activity, days since the last purchase, an RFM rank
  (the sum of recency, frequency and monetary quintiles), and a logistic regression on
  log-scaled recency, frequency and monetary value (what a data scientist fits first);
- churn per band, the lift of the worst band over the best, the precision and recall
  of the worst band; churn per score decile (calibration);
- suggested weights: a regularised logistic regression of churn on the component
  scores, its out-of-time AUC beside the current score's. A suggestion, never applied.

Low health means risk, so the score's risk is -score; a long silence means risk, and
never active (or never bought) ranks as the longest silence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from customer_health.duckdb_connection import insert_rows

LABEL = "churned_in_horizon"
OVERALL = "(all)"
"""The scorecard name of the figures over every scorecard."""
MIN_CHURNERS = 20
"""Fewer churners (or stayers) than this in a scorecard's evaluation rows: its figures are
reported but marked as too few to judge."""
RFM_FEATURES = ("days_since_last_purchase", "orders_365d", "order_value_365d")


@dataclass(frozen=True)
class Figure:
    """One figure of one model on one scorecard's evaluation rows."""

    scorecard: str
    model: str
    metric: str
    value: float | None
    rows: int
    churners: int


def roc_auc(churned: Sequence[bool], risk: Sequence[float]) -> float | None:
    """The chance that a random churner ranks above a random stayer (ties count half);
    None without both."""
    labels = np.asarray(churned, dtype=bool)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, np.asarray(risk, dtype=float)))


def pr_auc(churned: Sequence[bool], risk: Sequence[float]) -> float | None:
    """Average precision over the ranking by risk; None without churners."""
    labels = np.asarray(churned, dtype=bool)
    if not labels.any():
        return None
    return float(average_precision_score(labels, np.asarray(risk, dtype=float)))


def silence(days: pd.Series) -> pd.Series:
    """Days of silence as a risk: never (null) ranks above the longest silence seen."""
    longest = days.max()
    return days.fillna((0 if pd.isna(longest) else longest) + 1).astype(float)


def rfm_rank(frame: pd.DataFrame) -> pd.Series:
    """The classic RFM score as a risk: recency, frequency and monetary value each in
    quintiles (5 = best: recent, frequent, valuable), summed; risk is its negative."""

    def quintile(values: pd.Series, ascending: bool) -> pd.Series:
        ranks = values.rank(method="average", ascending=ascending, pct=True)
        return np.ceil(ranks * 5).clip(1, 5)

    recency = quintile(-silence(frame["days_since_last_purchase"]), ascending=True)
    frequency = quintile(frame["orders_365d"].astype(float), ascending=True)
    monetary = quintile(frame["order_value_365d"].astype(float), ascending=True)
    return -(recency + frequency + monetary)


def rfm_matrix(frame: pd.DataFrame) -> np.ndarray:
    """log(1 + x) of recency (never bought: the longest silence), frequency, monetary."""
    return np.column_stack(
        [
            np.log1p(silence(frame["days_since_last_purchase"])),
            np.log1p(frame["orders_365d"].astype(float).clip(lower=0)),
            np.log1p(frame["order_value_365d"].astype(float).clip(lower=0)),
        ]
    )


def _logit() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def split_by_time(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The earlier half of the as-of dates (to fit on) and the later half (to judge on)."""
    dates = sorted(frame["as_of_date"].unique())
    if len(dates) < 2:
        return frame.iloc[0:0], frame
    cut = dates[len(dates) // 2]
    return frame[frame["as_of_date"] < cut], frame[frame["as_of_date"] >= cut]


def fitted_risk(
    fit: pd.DataFrame, judge: pd.DataFrame, features: Callable[[pd.DataFrame], np.ndarray]
) -> tuple[pd.Series | None, object | None]:
    """A logistic regression of churn on `features(frame)`, fitted on `fit`, as a risk on
    `judge`; None when `fit` lacks churners or stayers."""
    labels = fit[LABEL].astype(bool)
    if labels.all() or not labels.any():
        return None, None
    model = _logit()
    model.fit(features(fit), labels)
    return pd.Series(model.predict_proba(features(judge))[:, 1], index=judge.index), model


def component_matrix(frame: pd.DataFrame, components: Sequence[str]) -> np.ndarray:
    """Component scores, a missing one at the neutral 50 (no data says neither way)."""
    return np.column_stack([frame[f"{c}_score"].astype(float).fillna(50.0) for c in components])


def band_figures(frame: pd.DataFrame) -> dict[str, float | None]:
    """Lift of the worst band's churn rate over the best's; precision and recall of the
    worst band (the accounts it flags) for churn."""
    bands = frame.dropna(subset=["band_order"])
    if bands.empty:
        return {}
    rates = bands.groupby("band_order")[LABEL].mean()
    best, worst = rates.index.min(), rates.index.max()
    flagged = bands["band_order"] == worst
    churners = bands[LABEL].sum()
    return {
        "lift_worst_over_best": None if rates[best] == 0 else float(rates[worst] / rates[best]),
        "worst_band_churn_rate": float(rates[worst]),
        "best_band_churn_rate": float(rates[best]),
        "worst_band_precision": float(bands.loc[flagged, LABEL].mean()) if flagged.any() else None,
        "worst_band_recall": (
            float(bands.loc[flagged, LABEL].sum() / churners) if churners else None
        ),
    }


def calibration(frame: pd.DataFrame, deciles: int = 10) -> pd.DataFrame:
    """Churn rate per score decile (1 = the lowest scores): accounts, churn rate, mean score."""
    ranks = frame["health_score"].rank(method="first", pct=True)
    decile = np.ceil(ranks * deciles).clip(1, deciles).astype(int)
    grouped = frame.assign(decile=decile).groupby("decile")
    return pd.DataFrame(
        {
            "accounts": grouped.size(),
            "churn_rate": grouped[LABEL].mean(),
            "mean_score": grouped["health_score"].mean(),
        }
    ).reset_index()


def judge_scorecard(
    scorecard: str, frame: pd.DataFrame, components: Sequence[str]
) -> tuple[list[Figure], dict[str, float] | None, pd.DataFrame]:
    """Every figure of one scorecard's observations (or all of them), the suggested
    weights per component (None when they cannot be fitted), and the calibration."""
    fit, judge = split_by_time(frame)
    churned = judge[LABEL].astype(bool)
    figures: list[Figure] = []

    def add(model: str, risk: pd.Series | None) -> None:
        if risk is None:
            return
        rows = risk.notna()
        for metric, value in (
            ("roc_auc", roc_auc(churned[rows], risk[rows])),
            ("pr_auc", pr_auc(churned[rows], risk[rows])),
        ):
            figures.append(
                Figure(scorecard, model, metric, value, int(rows.sum()), int(churned[rows].sum()))
            )

    add("health_score", -judge["health_score"].astype(float))
    for component in components:
        add(f"component:{component}", -judge[f"{component}_score"].astype(float))
    add("baseline:days_since_last_activity", silence(judge["days_since_last_activity"]))
    add("baseline:days_since_last_purchase", silence(judge["days_since_last_purchase"]))
    add("baseline:rfm_rank", rfm_rank(judge))
    add("learned:rfm_logistic", fitted_risk(fit, judge, rfm_matrix)[0])
    risk, model = fitted_risk(fit, judge, lambda f: component_matrix(f, components))
    add("learned:suggested_weights", risk)
    for metric, value in band_figures(judge).items():
        figures.append(
            Figure(scorecard, "health_score", metric, value, len(judge), int(churned.sum()))
        )
    weights = None if model is None else suggested_weights(model, components)
    return figures, weights, calibration(judge)


def suggested_weights(model: object, components: Sequence[str]) -> dict[str, float]:
    """Weights from a fitted logistic regression of churn on the (standardised) component
    scores: a component whose higher score means less churn gets weight in proportion to
    how much less; one that does not help gets 0. They sum to 1."""
    scaler, logistic = model.steps[0][1], model.steps[-1][1]
    # per point of each component's own scale, so the weights apply to the raw scores
    protective = np.clip(
        -logistic.coef_[0] / np.where(scaler.scale_ > 0, scaler.scale_, 1), 0, None
    )
    total = protective.sum()
    if total <= 0:
        return dict.fromkeys(components, 0.0)
    return {c: float(w / total) for c, w in zip(components, protective, strict=True)}


def judge(
    observations: pd.DataFrame, components: Sequence[str]
) -> tuple[list[Figure], dict[str, dict[str, float]], pd.DataFrame]:
    """Figures per scorecard and overall, suggested weights per scorecard, calibration."""
    figures: list[Figure] = []
    weights: dict[str, dict[str, float]] = {}
    groups: Iterable[tuple[str, pd.DataFrame]] = [
        *sorted(observations.groupby("scorecard")),
        (OVERALL, observations),
    ]
    calibrations = []
    for scorecard, frame in groups:
        found, suggested, calibrated = judge_scorecard(str(scorecard), frame, components)
        figures += found
        if suggested is not None and scorecard != OVERALL:
            weights[str(scorecard)] = suggested
        calibrations.append(calibrated.assign(scorecard=str(scorecard)))
    return figures, weights, pd.concat(calibrations, ignore_index=True)


# -- the stored results: keyed by config_version, so configurations compare side by side --

SCHEMA = "backtest"
RESULTS = f"{SCHEMA}.backtest_results"
CALIBRATION = f"{SCHEMA}.backtest_calibration"
WEIGHTS = f"{SCHEMA}.backtest_suggested_weights"
TABLES = {
    RESULTS: (("config_version", "varchar"), ("scorecard", "varchar"), ("model", "varchar"),
              ("metric", "varchar"), ("value", "double"), ("rows", "integer"),
              ("churners", "integer"), ("first_as_of", "date"), ("last_as_of", "date"),
              ("judged_at", "timestamp")),
    CALIBRATION: (("config_version", "varchar"), ("scorecard", "varchar"), ("decile", "integer"),
                  ("accounts", "integer"), ("churn_rate", "double"), ("mean_score", "double")),
    WEIGHTS: (("config_version", "varchar"), ("scorecard", "varchar"), ("component", "varchar"),
              ("current_weight", "double"), ("suggested_weight", "double")),
}  # fmt: skip
"""Each backtest table's columns and their types, in the order `record` writes them."""


def read_observations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """backtest.backtest_observations (built by dbt) as a frame."""
    return con.execute(f"select * from {SCHEMA}.backtest_observations").df()


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in TABLES.items():
        typed = ", ".join(f"{name} {kind}" for name, kind in columns)
        con.execute(f"create table if not exists {table} ({typed})")


def record(
    con: duckdb.DuckDBPyConnection,
    config_version: str,
    figures: Sequence[Figure],
    weights: dict[str, dict[str, float]],
    calibrations: pd.DataFrame,
    current: dict[str, dict[str, float]],
    evaluated: tuple[date | None, date | None],
) -> None:
    """Replace a configuration's results (figures, calibration, suggested weights beside
    the current ones) in the backtest tables, in one transaction."""
    _create_tables(con)
    judged_at = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
    results = [
        (config_version, f.scorecard, f.model, f.metric, f.value, f.rows, f.churners,
         *evaluated, judged_at)
        for f in figures
    ]  # fmt: skip
    calibration = [
        (config_version, str(row.scorecard), int(row.decile), int(row.accounts),
         float(row.churn_rate), float(row.mean_score))
        for row in calibrations.itertuples(index=False)
    ]  # fmt: skip
    suggested = [
        (config_version, scorecard, component, current.get(scorecard, {}).get(component), w)
        for scorecard, by_component in weights.items()
        for component, w in by_component.items()
    ]
    con.execute("begin")
    try:
        for table, rows in ((RESULTS, results), (CALIBRATION, calibration), (WEIGHTS, suggested)):
            con.execute(f"delete from {table} where config_version = ?", [config_version])
            insert_rows(con, table, [name for name, _ in TABLES[table]], rows)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def adopt(con: duckdb.DuckDBPyConnection, source: str, config_version: str) -> None:
    """Copy a configuration's stored figures from another warehouse file (a what-if's
    copy) into this one's backtest tables, replacing those stored under that version, in
    one transaction."""
    _create_tables(con)
    quoted = source.replace("'", "''")
    con.execute(f"attach '{quoted}' as what_if (read_only)")
    try:
        con.execute("begin")
        try:
            for table, columns in TABLES.items():
                names = ", ".join(name for name, _ in columns)
                con.execute(f"delete from {table} where config_version = ?", [config_version])
                con.execute(
                    f"insert into {table} ({names}) select {names} from what_if.{table}"
                    " where config_version = ?",
                    [config_version],
                )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    finally:
        con.execute("detach what_if")


SHOWN = (
    ("health_score", "roc_auc", "score AUC"),
    ("health_score", "pr_auc", "score PR AUC"),
    ("health_score", "lift_worst_over_best", "lift worst/best"),
    ("baseline:days_since_last_activity", "roc_auc", "days since activity"),
    ("baseline:days_since_last_purchase", "roc_auc", "days since purchase"),
    ("baseline:rfm_rank", "roc_auc", "RFM rank"),
    ("learned:rfm_logistic", "roc_auc", "RFM logistic"),
    ("learned:suggested_weights", "roc_auc", "suggested weights"),
)
"""What `summary` prints per scorecard: (model, metric, heading)."""


def summary(con: duckdb.DuckDBPyConnection, config_versions: Sequence[str]) -> str:
    """The stored figures of each configuration, one block per configuration, a row per
    scorecard (and overall): evaluation rows, churners, then SHOWN."""
    lines = []
    for version in config_versions:
        rows = con.execute(
            f"select scorecard, model, metric, value, rows, churners from {RESULTS}"
            " where config_version = ?",
            [version],
        ).fetchall()
        if not rows:
            lines.append(f"config_version {version}: no backtest results stored")
            continue
        values = {(s, m, k): v for s, m, k, v, _, _ in rows}
        counts = {s: (n, c) for s, m, k, _, n, c in rows if (m, k) == ("health_score", "roc_auc")}
        headings = ["scorecard", "rows", "churners", *(h for _, _, h in SHOWN)]
        table = [headings]
        scorecards = [*sorted(s for s in counts if s != OVERALL), OVERALL]
        for scorecard in scorecards:
            n, churners = counts.get(scorecard, (0, 0))
            shown = [values.get((scorecard, m, k)) for m, k, _ in SHOWN]
            note = "" if churners >= MIN_CHURNERS else " (too few churners)"
            table.append([scorecard + note, str(n), str(churners),
                          *("-" if v is None else f"{v:.3f}" for v in shown)])  # fmt: skip
        widths = [max(len(row[i]) for row in table) for i in range(len(headings))]
        lines.append(f"config_version {version}:")
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                  for row in table]  # fmt: skip
    return "\n".join(lines)


def weights_csv(
    weights: dict[str, dict[str, float]], current: dict[str, dict[str, float]] | None = None
) -> str:
    """Suggested weights as a ready scoring_weights.csv (scorecard, component, weight):
    rounded to 0.01 and summing to 1 per scorecard (the rounding remainder on the
    largest); a scorecard without a suggestion keeps its current weights, so the file can
    replace a configuration's as it is."""
    lines = ["scorecard,component,weight"]
    scorecards = {**(current or {}), **{s: w for s, w in weights.items() if any(w.values())}}
    for scorecard, by_component in scorecards.items():
        rounded = {c: round(w, 2) for c, w in by_component.items() if round(w, 2) > 0}
        if not rounded:
            continue
        largest = max(rounded, key=rounded.get)
        rounded[largest] = round(rounded[largest] + 1 - sum(rounded.values()), 2)
        lines += [f"{scorecard},{c},{w:g}" for c, w in rounded.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Backtest:
    """One backtest of one configuration: its figures and suggested weights (stored)."""

    config_version: str
    figures: list[Figure]
    weights: dict[str, dict[str, float]]
    observations: int
    first_as_of: date
    last_as_of: date

    def figure(self, model: str, metric: str = "roc_auc", scorecard: str = OVERALL) -> float | None:
        found = [f.value for f in self.figures if (f.scorecard, f.model, f.metric) ==
                 (scorecard, model, metric)]  # fmt: skip
        return found[0] if found else None


def current_weights(weights_csv_path: Path) -> dict[str, dict[str, float]]:
    """A configuration's weights (scoring_weights.csv) per scorecard, as shares of 1."""
    frame = pd.read_csv(weights_csv_path)
    found: dict[str, dict[str, float]] = {}
    for scorecard, rows in frame.groupby("scorecard"):
        total = rows["weight"].sum()
        found[str(scorecard)] = {
            str(c): float(w / total) if total else 0.0
            for c, w in zip(rows["component"], rows["weight"], strict=True)
        }
    return found


def run(
    con: duckdb.DuckDBPyConnection,
    config_version: str,
    components: Sequence[str],
    current: dict[str, dict[str, float]],
) -> Backtest | None:
    """Judge the observations dbt built and store the figures under `config_version`;
    None when there are none (no as-of date has a whole horizon after it yet)."""
    observations = read_observations(con)
    if observations.empty:
        return None
    figures, weights, calibrations = judge(observations, components)
    _, later = split_by_time(observations)
    evaluated = (later["as_of_date"].min().date(), later["as_of_date"].max().date())
    record(con, config_version, figures, weights, calibrations, current, evaluated)
    return Backtest(config_version, figures, weights, len(observations), *evaluated)
