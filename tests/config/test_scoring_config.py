"""The scoring configuration in seeds/ is validated, every rule names its file, line and fix.

Each test copies the shipped seeds/ to a temporary folder and breaks one thing; rows
are found by content, so the expected line numbers follow the shipped files.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from customer_health import scoring_config as sc
from customer_health.scoring_config import ScoringConfigError, validate_config
from customer_health.settings import SEEDS_DIR, Settings
from orchestration.defs.config.assets import scoring_config
from orchestration.defs.keys import SCORING_CONFIG_KEY

PARTITION = "2025-03-01"
ON_PARTITION = {"dagster/partition": PARTITION}
"""The tags of a run of one day (as a schedule tick makes): the days the assets score."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the shipped seeds/ to break."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, target)
    return target


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def replace_row(path: Path, prefix: str, new: str) -> int:
    """Replace the first row starting with `prefix`; its line number (header is line 1)."""
    lines = lines_of(path)
    index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    lines[index] = new
    write_lines(path, lines)
    return index + 1


def append_row(path: Path, new: str) -> int:
    lines = [*lines_of(path), new]
    write_lines(path, lines)
    return len(lines)


def drop_rows(path: Path, prefix: str) -> None:
    write_lines(path, [line for line in lines_of(path) if not line.startswith(prefix)])


def problems(config_dir: Path) -> ScoringConfigError:
    with pytest.raises(ScoringConfigError) as caught:
        validate_config(config_dir)
    return caught.value


# -- the shipped configuration --


def test_shipped_seeds_are_valid() -> None:
    summary = validate_config(SEEDS_DIR, as_of=date(2025, 3, 1))
    measure_rows = len(lines_of(SEEDS_DIR / sc.MEASURES)) - 1
    assert summary.config_dir == SEEDS_DIR
    assert "default" in summary.scorecards
    assert len(summary.scorecards) == len(lines_of(SEEDS_DIR / sc.SCORECARDS)) - 1
    assert summary.measure_rows == measure_rows > 0
    assert summary.as_of == date(2025, 3, 1)
    assert summary.config_version == SHIPPED_VERSION


SHIPPED_VERSION = "9b0b2d9554c32d68368225a08ae62cee"
"""config_version of seeds/ (what every published row of the sample run carries); it
changes with the shipped rules, on purpose (the presets of 2026-12-05: log-scale recency
and frequency, contracts in b2b and government, visits in b2c_webshop)."""


def test_the_version_follows_the_rules_not_their_spelling(config: Path) -> None:
    """The version changes with any rule, not with row order, number spelling, a
    description or an override (those are flagged on the rows they change)."""
    assert validate_config(config).config_version == SHIPPED_VERSION
    bands = config / sc.BANDS
    header, *rows = lines_of(bands)
    write_lines(bands, [header, *reversed([r.replace(",100,", ",100.0,") for r in rows])])
    scorecards = config / sc.SCORECARDS
    scorecards.write_text(scorecards.read_text().replace("classic", "Classic"))
    write_lines(
        config / sc.OVERRIDES,
        [",".join(sc.FILES[sc.OVERRIDES]), "a1,engagement,80,call,me,2025-01-01,"],
    )
    summary = validate_config(config)
    assert summary.config_version == SHIPPED_VERSION
    assert summary.overrides_digest != ""
    weights = config / sc.WEIGHTS
    weights.write_text(weights.read_text().replace("0.333334", "0.333335"))
    assert validate_config(config).config_version != SHIPPED_VERSION


def test_overrides_are_counted_active_on_the_day(config: Path) -> None:
    write_lines(
        config / sc.OVERRIDES,
        [
            ",".join(sc.FILES[sc.OVERRIDES]),
            "ACC-1,overall,80,Strategic account,ana,2025-01-01,2025-01-31",
            "ACC-2,support,20,Escalation,ben,2025-01-15,",
            "ACC-2,engagement,50,Pilot,ben,2025-02-01,2025-02-28",
        ],
    )
    summary = validate_config(config, as_of=date(2025, 1, 31))
    assert (summary.overrides, summary.overrides_active) == (3, 2)
    assert validate_config(config, as_of=date(2025, 3, 1)).overrides_active == 1


# -- one broken rule per test --


def test_negative_weight(config: Path) -> None:
    line = replace_row(config / sc.WEIGHTS, "b2b_saas,support,", "b2b_saas,support,-0.2")
    message = str(problems(config))
    assert (
        f"scoring_weights.csv line {line}, column 'weight': weight -0.2 is negative; "
        "weights must be >= 0"
    ) in message


def test_weights_must_sum_to_one(config: Path) -> None:
    path = config / sc.WEIGHTS
    replace_row(path, "default,loyalty,", "default,loyalty,0.3")
    default_lines = [i for i, line in enumerate(lines_of(path), 1) if line.startswith("default,")]
    assert default_lines == list(range(default_lines[0], default_lines[-1] + 1))
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        f"scoring_weights.csv lines {default_lines[0]}-{default_lines[-1]}, column 'weight': "
        "weights of scorecard 'default' sum to 0.966666; they must sum to 1 (within 1e-6)"
    ) in str(error)


def test_weights_within_tolerance_pass(config: Path) -> None:
    replace_row(config / sc.WEIGHTS, "default,loyalty,", "default,loyalty,0.3333345")
    validate_config(config)


def test_unknown_component(config: Path) -> None:
    line = replace_row(config / sc.WEIGHTS, "b2b,billing,", "b2b,biling,0.25")
    message = str(problems(config))
    assert (
        f"scoring_weights.csv line {line}, column 'component': component 'biling' is unknown "
        "(did you mean 'billing'?)"
    ) in message
    assert "vars.health_components in dbt_project.yml" in message


def test_unknown_measure(config: Path) -> None:
    line = replace_row(
        config / sc.MEASURES,
        "default,satisfaction,ces_score,",
        "default,satisfaction,ces,linear,0,100,true,0.25",
    )
    error = problems(config)
    assert len(error.problems) == 1
    assert f"scoring_measures.csv line {line}, column 'measure': measure 'ces'" in str(error)
    assert "vars.health_measures" in str(error)


def test_unknown_scorecard(config: Path) -> None:
    line = append_row(config / sc.WEIGHTS, "startup,engagement,1")
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        f"scoring_weights.csv line {line}, column 'scorecard': scorecard 'startup' is not in "
        "scoring_scorecards.csv; add it there"
    ) in str(error)


def test_scorecard_without_weights(config: Path) -> None:
    line = append_row(config / sc.SCORECARDS, "startup,0.5,Startups")
    assert (
        f"scoring_scorecards.csv line {line}, column 'scorecard': scorecard 'startup' has no "
        "rows in scoring_weights.csv"
    ) in str(problems(config))


def test_default_scorecard_is_required(config: Path) -> None:
    drop_rows(config / sc.SCORECARDS, "default,")
    message = str(problems(config))
    assert "scoring_scorecards.csv: no 'default' scorecard; add a row for it" in message
    # its weight and measure rows now name an unknown scorecard, each on its own line
    weights_line = lines_of(config / sc.WEIGHTS).index("default,engagement,0.333333") + 1
    assert f"scoring_weights.csv line {weights_line}, column 'scorecard'" in message


def _bands(config: Path, *rows: str) -> None:
    write_lines(config / sc.BANDS, ["band,min_score,max_score,band_order", *rows])


def test_overlapping_score_bands(config: Path) -> None:
    _bands(config, "green,60,100,1", "yellow,40,70,2", "red,0,40,3")
    assert (
        "scoring_bands.csv line 2, column 'min_score': band 'green' starts at 60, inside band "
        "'yellow' (line 3) that ends at 70: bands overlap; start it at 70"
    ) in str(problems(config))


def test_gap_between_score_bands(config: Path) -> None:
    _bands(config, "green,70,100,1", "yellow,40,65,2", "red,0,40,3")
    assert (
        "scoring_bands.csv line 2, column 'min_score': band 'green' starts at 70 but band "
        "'yellow' (line 3) ends at 65, leaving a gap; start it at 65"
    ) in str(problems(config))


def test_score_bands_must_reach_100(config: Path) -> None:
    _bands(config, "green,70,99,1", "yellow,40,70,2", "red,0,40,3")
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        "scoring_bands.csv line 2, column 'max_score': the highest band 'green' ends at 99; "
        "it must end at 100"
    ) in str(error)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["all,0,100,1"], "scoring_bands.csv: 1 band; define at least 2"),
        (
            ["good,50,100,1", "insufficient_data,0,50,2"],
            "line 3, column 'band': 'insufficient_data' is reserved",
        ),
        (["good,50,100,1", "good,0,50,2"], "line 3, column 'band': band 'good' is already"),
        (["good,50,100,1", "bad,50,0,2"], "line 3, column 'max_score': band 'bad' runs from 50"),
        (["good,50,100,1", "bad,0,50,1"], "line 3, column 'band_order': band_order 1 is already"),
        (["good,50,100,1", "bad,0,50,two"], "line 3, column 'band_order': band_order 'two' is"),
        (["good,50,100,1", "bad,5,50,2"], "line 3, column 'min_score': the lowest band 'bad'"),
        (
            ["bad,0,50,1", "good,50,100,2"],
            (
                "line 2, column 'band_order': band 'bad' has band_order 1 but is number 2 by its"
                " scores"
            ),
        ),
    ],
)
def test_score_band_rules(config: Path, rows: list[str], expected: str) -> None:
    _bands(config, *rows)
    assert expected in str(problems(config))


def test_gap_between_measure_bands(config: Path) -> None:
    line = replace_row(
        config / sc.MEASURE_BANDS,
        "days_since_last_activity,7,14,",
        "days_since_last_activity,8,14,40",
    )
    assert (
        f"scoring_measure_bands.csv line {line}, column 'lower_bound': band of "
        "'days_since_last_activity' starts at 8 but the band on line "
        f"{line - 1} ends at 7, leaving a gap; start it at 7"
    ) in str(problems(config))


def test_overlapping_measure_bands(config: Path) -> None:
    line = replace_row(
        config / sc.MEASURE_BANDS,
        "days_since_last_activity,7,14,",
        "days_since_last_activity,5,14,40",
    )
    message = str(problems(config))
    assert f"scoring_measure_bands.csv line {line}, column 'lower_bound'" in message
    assert "bands overlap; start it at 7" in message


def test_dbt_refuses_overlapping_measure_bands_built_by_hand(
    config: Path, tmp_path: Path, dbt_manifest: Path
) -> None:
    """A build by hand skips the check above: the dbt test on the seed catches the overlap
    (it stands in for uniqueness tests on the long measure tables)."""
    import os
    import subprocess

    from orchestration.dbt_project import DBT_EXECUTABLE, DBT_PROJECT_DIR
    from orchestration.defs.dbt.assets import seed_path

    replace_row(
        config / sc.MEASURE_BANDS,
        "days_since_last_activity,7,14,",
        "days_since_last_activity,5,14,40",
    )
    test = "assert_measure_bands_do_not_overlap"
    done = subprocess.run(
        [str(DBT_EXECUTABLE), "build", "--select", "scoring_measure_bands", test,
         "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, "HEALTH_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
             "HEALTH_DBT_SEED_PATH": seed_path(config), "HEALTH_CONFIG_VERSION": "by-hand"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert re.search(rf"FAIL 1 {test}", done.stdout), done.stdout[-3000:]


def test_only_the_last_measure_band_may_leave_its_upper_bound_empty(config: Path) -> None:
    line = replace_row(config / sc.MEASURE_BANDS, "overdue_invoices,1,2,", "overdue_invoices,1,,50")
    assert (
        f"scoring_measure_bands.csv line {line}, column 'upper_bound': band of "
        "'overdue_invoices' leaves upper_bound empty (plus infinity)"
    ) in str(problems(config))


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("overdue_invoices,2,1,0", "column 'upper_bound': band of 'overdue_invoices' runs from 2"),
        ("overdue_invoices,2,,120", "column 'points': points 120 is outside [0, 100]"),
        ("overdue_invoice,2,,0", "column 'measure': measure 'overdue_invoice'"),
        ("overdue_invoices,two,,0", "column 'lower_bound': lower_bound 'two' is not a number"),
    ],
)
def test_measure_band_row_rules(config: Path, row: str, expected: str) -> None:
    line = replace_row(config / sc.MEASURE_BANDS, "overdue_invoices,2,,", row)
    assert f"scoring_measure_bands.csv line {line}, {expected}" in str(problems(config))


def test_linear_needs_lower_below_upper(config: Path) -> None:
    line = replace_row(
        config / sc.MEASURES,
        "default,support,first_response_hours,",
        "default,support,first_response_hours,linear,48,1,false,0.25",
    )
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        f"scoring_measures.csv line {line}, column 'upper_bound': linear needs "
        "lower_bound < upper_bound, but 48 >= 1"
    ) in str(error)


def test_log_needs_a_lower_bound_of_at_least_zero(config: Path) -> None:
    line = replace_row(
        config / sc.MEASURES,
        "default,support,first_response_hours,",
        "default,support,first_response_hours,log,-1,48,false,0.25",
    )
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        f"scoring_measures.csv line {line}, column 'lower_bound': log scores ln(1 + value), "
        "so it needs lower_bound >= 0, not -1"
    ) in str(error)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "default,support,first_response_hours,log,,48,false,0.25",
            "column 'lower_bound': method 'log' needs a number here",
        ),
        (
            "default,support,first_response_hours,linear,,48,false,0.25",
            "column 'lower_bound': method 'linear' needs a number here",
        ),
        (
            "default,support,first_response_hours,linear,1,48,,0.25",
            "column 'higher_is_better': method 'linear' needs higher_is_better true or false",
        ),
        (
            "default,support,first_response_hours,curve,1,48,false,0.25",
            "column 'method': method 'curve' is unknown",
        ),
        (
            "default,support,first_response_hours,bands,,,,0.25",
            "column 'method': method 'bands' needs bands for 'first_response_hours' in scoring_",
        ),
        (
            "default,support,first_response_hours,linear,1,48,false,0",
            "column 'weight': weight 0 is not positive",
        ),
    ],
)
def test_measure_row_rules(config: Path, row: str, expected: str) -> None:
    line = replace_row(config / sc.MEASURES, "default,support,first_response_hours,", row)
    assert f"scoring_measures.csv line {line}, {expected}" in str(problems(config))


def test_duplicate_measure(config: Path) -> None:
    path = config / sc.MEASURES
    first = next(i for i, row in enumerate(lines_of(path), 1) if row.startswith("b2b,loyalty,"))
    line = append_row(path, "b2b,loyalty,renewals,linear,0,5,true,0.3")
    assert (
        f"scoring_measures.csv line {line}: measure 'renewals' is already in scorecard 'b2b' "
        f"component 'loyalty' on line {first}; keep one row"
    ) in str(problems(config))


def test_measure_weights_must_sum_to_one(config: Path) -> None:
    replace_row(
        config / sc.MEASURES,
        "charity,loyalty,paid_invoices,",
        "charity,loyalty,paid_invoices,linear,0,12,true,0.5",
    )
    assert (
        "measure weights of scorecard 'charity' component 'loyalty' sum to 0.9; they must sum to 1"
    ) in str(problems(config))


def test_weighted_component_needs_measures_own_or_default(config: Path) -> None:
    # b2b weights billing and has no billing measures of its own: default's are used
    validate_config(config)
    drop_rows(config / sc.MEASURES, "default,billing,")
    line = lines_of(config / sc.WEIGHTS).index("b2b,billing,0.1") + 1
    assert (
        f"scoring_weights.csv line {line}, column 'component': component 'billing' has weight "
        "0.1 in scorecard 'b2b' but no measures"
    ) in str(problems(config))


@pytest.mark.parametrize(
    ("prefix", "row", "expected"),
    [
        ("default,", "default,1.5,x", "column 'min_coverage': min_coverage 1.5 is outside [0, 1]"),
        ("b2b,", "b2b_saas,0.5,again", "column 'scorecard': scorecard 'b2b_saas' is already"),
    ],
)
def test_scorecard_rules(config: Path, prefix: str, row: str, expected: str) -> None:
    line = replace_row(config / sc.SCORECARDS, prefix, row)
    assert f"scoring_scorecards.csv line {line}, {expected}" in str(problems(config))


def test_duplicate_weight(config: Path) -> None:
    line = append_row(config / sc.WEIGHTS, "charity,engagement,0")
    assert (
        f"scoring_weights.csv line {line}: scorecard 'charity' already weights component "
        "'engagement'"
    ) in str(problems(config))


def test_status_points(config: Path) -> None:
    path = config / sc.STATUS_POINTS
    line = replace_row(path, "trialing,", "trialing,170")
    drop_rows(path, "churned,")
    unknown = append_row(path, "paused,50")
    message = str(problems(config))
    assert f"scoring_status_points.csv line {line}, column 'points': points 170" in message
    assert f"scoring_status_points.csv line {unknown}, column 'subscription_state'" in message
    assert "scoring_status_points.csv: no points for subscription state 'churned'" in message


def test_missing_setting(config: Path) -> None:
    drop_rows(config / sc.SETTINGS, "survey_half_life_days,")
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        "scoring_settings.csv: setting 'survey_half_life_days' is missing; add a row "
        "survey_half_life_days,<value> with a whole number of days >= 1"
    ) in str(error)


def test_bad_choice(config: Path) -> None:
    line = replace_row(config / sc.SETTINGS, "rollup_method,", "rollup_method,median")
    assert (
        f"scoring_settings.csv line {line}, column 'value': rollup_method is 'median'; it must "
        "be one of 'mrr_weighted_mean', 'min', 'mean'"
    ) in str(problems(config))


@pytest.mark.parametrize(
    ("prefix", "row", "expected"),
    [
        ("usage_window_days,", "usage_window_days,0", "column 'value': usage_window_days is '0'"),
        ("usage_window_days,", "usage_window_days,", "column 'value': usage_window_days is ''"),
        ("usage_window_days,", "usage_window_days,7.5", "whole number of days >= 1"),
        ("usage_stale_after_days,", "usage_stale_after_days,-1", "empty (never) or a whole"),
        ("usage_window_days,", "usage_windows_days,30", "setting 'usage_windows_days' is unkn"),
        ("rollup_method,", "usage_window_days,30", "setting 'usage_window_days' is already"),
    ],
)
def test_setting_rules(config: Path, prefix: str, row: str, expected: str) -> None:
    line = replace_row(config / sc.SETTINGS, prefix, row)
    assert f"scoring_settings.csv line {line}" in str(problems(config))
    assert expected in str(problems(config))


def _overrides(config: Path, *rows: str) -> None:
    write_lines(config / sc.OVERRIDES, [",".join(sc.FILES[sc.OVERRIDES]), *rows])


def test_bad_override_dates(config: Path) -> None:
    _overrides(
        config,
        "ACC-1,overall,50,Escalation,ana,2025-13-01,",
        "ACC-2,engagement,50,Pilot,ana,2025-03-10,2025-03-01",
        "ACC-3,engagement,50,Pilot,ana,,",
        "ACC-4,engagement,50,Pilot,ana,2025-03-10,10/03/2025",
    )
    error = problems(config)
    message = str(error)
    assert len(error.problems) == 4
    assert (
        "scoring_overrides.csv line 2, column 'valid_from': valid_from '2025-13-01' is not a "
        "date; write YYYY-MM-DD"
    ) in message
    assert (
        "scoring_overrides.csv line 3, column 'valid_to': valid_to 2025-03-01 is before "
        "valid_from 2025-03-10"
    ) in message
    assert "scoring_overrides.csv line 4, column 'valid_from': valid_from is empty" in message
    assert "scoring_overrides.csv line 5, column 'valid_to': valid_to '10/03/2025'" in message


def test_overlapping_overrides(config: Path) -> None:
    _overrides(
        config,
        "ACC-1,overall,80,Strategic,ana,2025-01-01,2025-01-31",
        "ACC-1,overall,60,Renewal risk,ben,2025-01-31,",
        "ACC-1,support,60,Escalation,ben,2025-01-15,",  # another component
        "ACC-2,overall,70,Strategic,ana,2025-01-01,2025-01-31",
        "ACC-2,overall,40,Churn notice,ana,2025-02-01,",  # starts the day after
    )
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        "scoring_overrides.csv line 3, column 'valid_from': override of 'ACC-1' 'overall' from "
        "2025-01-31 to open end overlaps the one on line 2 (2025-01-01 to 2025-01-31)"
    ) in str(error)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("ACC-1,overal,50,Why,ana,2025-01-01,", "column 'component': component 'overal'"),
        ("ACC-1,overall,101,Why,ana,2025-01-01,", "column 'score': score 101 is outside"),
        ("ACC-1,overall,50, ,ana,2025-01-01,", "column 'reason': reason is empty"),
        ("ACC-1,overall,50,Why,,2025-01-01,", "column 'author': author is empty"),
        (",overall,50,Why,ana,2025-01-01,", "column 'account_id': account_id is empty"),
    ],
)
def test_override_rules(config: Path, row: str, expected: str) -> None:
    _overrides(config, row)
    assert f"scoring_overrides.csv line 2, {expected}" in str(problems(config))


def test_missing_column_in_header(config: Path) -> None:
    replace_row(config / sc.WEIGHTS, "scorecard,", "scorecard,component,wieght")
    error = problems(config)
    assert len(error.problems) == 1
    assert (
        "scoring_weights.csv line 1: missing column 'weight'; unknown column 'wieght'; the "
        "header must be scorecard,component,weight"
    ) in str(error)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "scoring_status_points.csv line 1: file is empty"),
        (b"\xef\xbb\xbfsubscription_state,points\n", "line 1: file starts with a byte-order mark"),
        (b"subscription_state,points\nactive,100\ntrialing,\xe9\n", "line 3: byte 0xe9 is not"),
        (b"subscription_state,points\nactive,100,1\n", "line 2: row has 3 values but the header"),
    ],
)
def test_unreadable_file(config: Path, content: bytes, expected: str) -> None:
    (config / sc.STATUS_POINTS).write_bytes(content)
    assert expected in str(problems(config))


def test_missing_file_and_folder(config: Path, tmp_path: Path) -> None:
    (config / sc.OVERRIDES).unlink()
    assert "scoring_overrides.csv: file is missing from" in str(problems(config))
    assert "is not a folder; point HEALTH_CONFIG_DIR" in str(problems(tmp_path / "nowhere"))


def test_several_problems_are_reported_together(config: Path) -> None:
    replace_row(
        config / sc.MEASURES,
        "default,satisfaction,ces_score,",
        "default,satisfaction,ces,linear,0,100,true,0.25",
    )
    replace_row(config / sc.SETTINGS, "rollup_method,", "rollup_method,median")
    _bands(config, "green,70,100,1", "yellow,40,65,2", "red,0,40,3")
    error = problems(config)
    message = str(error)
    assert message.startswith(f"scoring configuration in {config} has 3 problems:\n")
    assert [p.file for p in error.problems] == [sc.MEASURES, sc.BANDS, sc.SETTINGS]
    for file in (sc.MEASURES, sc.BANDS, sc.SETTINGS):
        assert f"\n  {file} line " in message


def test_catalog_comes_from_dbt_project(tmp_path: Path, config: Path) -> None:
    """The measures allowed are the catalog's: a measure dropped from it is reported."""
    project = tmp_path / "dbt_project"
    project.mkdir()
    text = (sc.DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8")
    assert "    ces_score: surveys\n" in text
    (project / "dbt_project.yml").write_text(
        text.replace("    ces_score: surveys\n", ""), encoding="utf-8"
    )
    with pytest.raises(ScoringConfigError) as caught:
        validate_config(config, project)
    assert "column 'measure': measure 'ces_score' is not one the SQL computes" in str(caught.value)


# -- command line and settings --


def test_command_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sc.main([str(config)]) == 0
    assert capsys.readouterr().out.startswith("scoring configuration OK: ")
    replace_row(config / sc.SETTINGS, "rollup_method,", "rollup_method,median")
    assert sc.main([str(config)]) == 1
    err = capsys.readouterr().err
    assert "scoring_settings.csv line" in err and "rollup_method is 'median'" in err


def test_config_dir_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HEALTH_CONFIG_DIR", raising=False)
    assert Settings.from_env().config_dir == SEEDS_DIR
    assert SEEDS_DIR.is_absolute()
    monkeypatch.setenv("HEALTH_CONFIG_DIR", "")
    assert Settings.from_env().config_dir == SEEDS_DIR
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEALTH_CONFIG_DIR", "my-config")
    assert Settings.from_env().config_dir == tmp_path.resolve() / "my-config"


# -- Dagster --


def test_asset_records_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTH_CONFIG_DIR", raising=False)
    result = dg.materialize([scoring_config], tags=ON_PARTITION)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("scoring_config")
    metadata = materialization.metadata
    assert metadata["config_version"].value == SHIPPED_VERSION
    assert materialization.tags["dagster/data_version"] == SHIPPED_VERSION
    assert metadata["measure_rows"].value == len(lines_of(SEEDS_DIR / sc.MEASURES)) - 1
    assert "default" in metadata["scorecards"].value
    assert metadata["overrides_active_on"].value == PARTITION


def test_asset_fails_with_every_problem(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration.cli import report_failures

    line = replace_row(config / sc.WEIGHTS, "b2b_saas,support,", "b2b_saas,support,-0.2")
    replace_row(config / sc.SETTINGS, "rollup_method,", "rollup_method,median")
    monkeypatch.setenv("HEALTH_CONFIG_DIR", str(config))

    with pytest.raises(dg.Failure) as caught:
        dg.materialize([scoring_config], tags=ON_PARTITION)
    assert f"scoring_weights.csv line {line}, column 'weight'" in caught.value.description

    result = dg.materialize([scoring_config], tags=ON_PARTITION, raise_on_error=False)
    assert not result.success
    assert result.asset_materializations_for_node("scoring_config") == []
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data.metadata["problems"].value == 3
    # the command line run prints the whole description, file, line and rule, to stderr
    capsys.readouterr()  # drop Dagster's own log lines
    report_failures(result)
    err = capsys.readouterr().err
    assert err.startswith(f"FAILED step scoring_config: scoring configuration in {config}")
    assert f"scoring_weights.csv line {line}, column 'weight': weight -0.2 is negative" in err
    assert "rollup_method is 'median'" in err


def test_every_ingest_asset_waits_for_the_configuration() -> None:
    from orchestration.defs.ingest.assets import ingest_assets

    for asset in ingest_assets:
        for key, deps in asset.asset_deps.items():
            assert SCORING_CONFIG_KEY in deps, key


def test_dbt_asset_stops_before_dbt_on_a_broken_configuration(
    config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dbt_manifest: Path
) -> None:
    """Materializing only dbt (as from the UI) is stopped too, before dbt runs."""
    from orchestration.dbt_project import dbt_resource
    from orchestration.defs.dbt.assets import health_dbt_models
    from orchestration.defs.resources import WarehouseResource

    line = replace_row(config / sc.WEIGHTS, "b2b_saas,support,", "b2b_saas,support,-0.2")
    monkeypatch.setenv("HEALTH_CONFIG_DIR", str(config))
    data_dir = tmp_path / "data"
    result = dg.materialize(
        [health_dbt_models],
        tags=ON_PARTITION,
        resources={
            "dbt": dbt_resource(),
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
        },
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert f"scoring_weights.csv line {line}, column 'weight'" in description
    assert not data_dir.exists()


def test_broken_configuration_stops_the_whole_run_before_ingest(
    config: Path, health_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, dbt_manifest: Path
) -> None:
    """The pipeline job fails on its first step: no raw table, no warehouse file at all."""
    from orchestration.definitions import defs

    (health_env["landing"] / "accounts").mkdir()
    (health_env["landing"] / "accounts" / "accounts.csv").write_text(
        "account_id,name,segment,created_at\nC1,Shop One,b2c_webshop,2025-01-10T00:00:00Z\n"
    )
    replace_row(config / sc.SETTINGS, "rollup_method,", "rollup_method,median")
    monkeypatch.setenv("HEALTH_CONFIG_DIR", str(config))
    job = defs.resolve_job_def("health_pipeline")
    result = job.execute_in_process(
        partition_key=PARTITION, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert not result.success
    assert [event.step_key for event in result.get_step_failure_events()] == ["scoring_config"]
    assert result.get_step_success_events() == []
    assert not (health_env["data"] / "warehouse.duckdb").exists()


def test_dbt_seeds_a_copy_of_the_folder_that_was_validated(
    config: Path, monkeypatch: pytest.MonkeyPatch, dbt_manifest: Path
) -> None:
    """dbt's seed-paths gets the repo's seeds/ as is, and any other folder as a copy under
    target/ named by its content (dbt would write its SQL over an absolute seed path)."""
    from customer_health.settings import DBT_PROJECT_DIR, SEEDS_DIR
    from orchestration.defs.dbt.assets import dbt_environment, seed_path

    assert seed_path(SEEDS_DIR) == "../seeds"
    monkeypatch.chdir(config.parent)
    monkeypatch.setenv("HEALTH_CONFIG_DIR", config.name)
    staged = dbt_environment(Settings.from_env(), "2025-03-01", "v1")["HEALTH_DBT_SEED_PATH"]
    assert not Path(staged).is_absolute() and staged.startswith("target/")
    copies = sorted((DBT_PROJECT_DIR / staged).glob("*.csv"))
    assert [c.name for c in copies] == sorted(p.name for p in config.glob("*.csv"))
    assert all(c.read_bytes() == (config / c.name).read_bytes() for c in copies)
    assert seed_path(config) == staged  # same content, same copy
    weights = config / "scoring_weights.csv"
    weights.write_text(weights.read_text().replace("0.333334", "0.333334 "))
    assert seed_path(config) != staged
