"""A band configuration other than the shipped one (other labels, four bands, listed out of
order), and every output follows it: the marts, the exit checks, the report and the syncs.

The band rule, the worst band and the no-data band each have one definition
(dbt_project/macros/bands.sql, marts.dim_health_bands, vars.health_no_data_band); this
run would show a copy anywhere that still assumed green/yellow/red.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from customer_health.sample_data.generator import generate
from customer_health.settings import DBT_PROJECT_DIR, SEEDS_DIR, Settings
from orchestration.cli import resolve_window, run_pipeline

pytestmark = pytest.mark.slow

START, END = date(2025, 5, 20), date(2025, 6, 14)
BANDS = (  # best first; the file lists them shuffled
    ("thriving", 80, 100, 1),
    ("steady", 55, 80, 2),
    ("watch", 30, 55, 3),
    ("at_risk", 0, 30, 4),
)
LABELS = {band for band, *_ in BANDS}
NO_DATA = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
    "health_no_data_band"
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path):
    root = tmp_path_factory.mktemp("bands")
    config = root / "config"
    config.mkdir()
    for seed in SEEDS_DIR.glob("*.csv"):
        (config / seed.name).write_text(seed.read_text())
    rows = [",".join(map(str, band)) for band in (BANDS[2], BANDS[0], BANDS[3], BANDS[1])]
    (config / "scoring_bands.csv").write_text(
        "\n".join(["band,min_score,max_score,band_order", *rows]) + "\n"
    )
    mp = pytest.MonkeyPatch()
    for name, value in {
        "HEALTH_LANDING_DIR": root / "landing",
        "HEALTH_DATA_DIR": root / "data",
        "DAGSTER_HOME": root / "data" / "dagster",
        "HEALTH_CONFIG_DIR": config,
    }.items():
        mp.setenv(name, str(value))
    mp.delenv("HEALTH_AS_OF", raising=False)
    generate(root / "landing", accounts=30, start=START, end=END, seed=11, bad_rate=0)
    settings = Settings.from_env()
    assert run_pipeline(settings, resolve_window(settings, None, None))
    yield settings
    mp.undo()


def _query(path: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, parameters or []).fetchall()
    finally:
        con.close()


def test_the_marts_use_the_configured_bands(run: Settings) -> None:
    serving = run.serving_path
    assert _query(
        serving,
        "select band, band_order, score_rank, is_best, is_worst from dim_health_bands"
        " where is_scored order by score_rank",
    ) == [(b, order, order, order == 1, order == 4) for b, _, _, order in BANDS]
    used = {
        b for (b,) in _query(serving, "select distinct health_band from fct_customer_health_daily")
    }
    assert used <= LABELS | {NO_DATA}
    assert len(used & LABELS) >= 2, used
    for table, column in (
        ("mart_health_segment_daily", "health_band"),
        ("mart_health_parent_daily", "rollup_band"),
        ("dim_accounts", "health_band"),
        ("bi_current_health_by_segment", "health_band"),
    ):
        found = {b for (b,) in _query(serving, f"select distinct {column} from {table}")}
        assert found and found <= LABELS | {NO_DATA}, (table, found)
    # each score in the band whose range holds it, by the configured cut-offs
    for band, low, high, _ in BANDS:
        outside = _query(
            serving,
            "select count(*) from fct_customer_health_daily where health_band = ?"
            " and (health_score < ? or health_score > ?)",
            [band, low, high],
        )[0][0]
        assert outside == 0, band


def test_revenue_at_risk_counts_the_worst_configured_band(run: Settings) -> None:
    serving = run.serving_path
    [(at_risk,)] = _query(
        serving,
        "select sum(accounts_at_risk) from bi_arr_at_risk"
        " where as_of_date = (select max(as_of_date) from bi_arr_at_risk)",
    )
    [(in_worst,)] = _query(
        serving,
        "select count(*) from fct_customer_health_daily where health_band = 'at_risk'"
        " and as_of_date = (select max(as_of_date) from fct_customer_health_daily)",
    )
    assert at_risk == in_worst


def test_the_exit_checks_and_the_band_tests_passed(run: Settings) -> None:
    results = dict(
        _query(
            run.warehouse_path,
            "select check_name, status from quality.quality_check_results where check_name in"
            " ('fct_customer_health_daily', 'fct_customer_health_daily_drift',"
            " 'assert_bands_match_cutoffs', 'assert_band_order_follows_scores')",
        )
    )
    assert results["fct_customer_health_daily"] == "pass"
    assert results["assert_bands_match_cutoffs"] == "pass"
    assert results["assert_band_order_follows_scores"] == "pass"
    assert "fct_customer_health_daily_drift" in results


def test_the_report_names_the_configured_bands(run: Settings) -> None:
    [report] = sorted((run.data_dir / "reports").glob("*.html"))
    html = report.read_text()
    assert "the worst band (<b>at_risk</b>)" in html
    for band in LABELS:
        assert f">{band}</text>" in html, band  # in the charts' legends
    for default in ("green", "yellow", "red"):
        assert f">{default}</text>" not in html


def test_the_syncs_send_the_configured_bands(run: Settings) -> None:
    [outbox] = sorted((run.data_dir / "outbox" / "outbox").iterdir())
    bands = {json.loads(line)["health_band"] for line in outbox.read_text().splitlines()}
    assert bands <= LABELS | {NO_DATA}
    assert bands & LABELS
