"""End to end, in process: generated landing files -> one Dagster run -> published serving file.

Real DuckDB files, real dbt, real Dagster materializations (recorded in a
temporary Dagster instance), on small generated data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from customer_health.contract import ENTITIES
from customer_health.sample_data.generator import generate
from customer_health.settings import SEEDS_DIR, Settings
from orchestration.cli import RunWindow, resolve_window, run_pipeline
from tests.conftest import sha256_of
from tests.dagster_ui import dagster_ui, graphql

ROOT = Path(__file__).resolve().parents[2]
START, END = date(2025, 5, 25), date(2025, 6, 14)
COMPONENTS = (
    "engagement", "usage_frequency", "retention", "loyalty", "satisfaction", "support", "billing",
)  # fmt: skip
pytestmark = pytest.mark.slow


def _fact(serving: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _usage_events_on(settings: Settings, account_id: str, day: date) -> int:
    """Events dbt counted for an account-day (int_usage_daily rebuilds the days loads touched)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        row = con.execute(
            "select coalesce(sum(events), 0) from intermediate.int_usage_daily"
            " where account_id = ? and activity_date = ?",
            [account_id, day],
        ).fetchone()
        return int(row[0])
    finally:
        con.close()


def _expected_account_days(landing: Path, first: date, last: date) -> int:
    """Account-days the fact must hold, computed from the landing files themselves."""
    con = duckdb.connect()
    row = con.execute(
        f"""
        with versions as (
            select account_id, cast(timezone('UTC', cast(created_at as timestamptz)) as date) as d,
                   row_number() over (partition by account_id order by updated_at desc) as rn
            from read_csv('{landing}/accounts/*.csv', all_varchar = true)
        )
        select sum(date_diff('day', greatest(d, date '{first}'), date '{last}') + 1)
        from versions where rn = 1 and d <= date '{last}'
        """
    ).fetchone()
    return int(row[0])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path):
    """One generated dataset and a first successful run: (settings, window, what the
    generator wrote, the folder holding it). Tests read it through `pipeline`; a test that
    runs the pipeline again, or changes its files, takes a copy (`isolated`), so no test
    sees another's changes and they pass in any order."""
    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    landing, data = root / "landing", root / "data"
    mp.setenv("HEALTH_LANDING_DIR", str(landing))
    mp.setenv("HEALTH_DATA_DIR", str(data))
    mp.setenv("DAGSTER_HOME", str(data / "dagster"))
    mp.delenv("HEALTH_AS_OF", raising=False)
    generated = generate(landing, accounts=40, start=START, end=END, seed=7, bad_rate=0.01)
    settings = Settings.from_env()
    window = resolve_window(settings, None, None)
    # the first build in chunks of 8 days (40 accounts), as a large one would be built
    mp.setenv("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS", str(CHUNK_DAYS * 40))
    assert run_pipeline(settings, window)
    mp.delenv("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS")
    yield settings, window, generated, root
    mp.undo()


@pytest.fixture
def pipeline(built):
    """The first run's settings and window, to read (not to change: see `isolated`)."""
    settings, window, _, _ = built
    return settings, window


@pytest.fixture
def isolated(built):
    """A copy of the first run's landing files and data (warehouse, serving file, Dagster
    storage), with the environment pointing at it, for a test that runs the pipeline or
    changes files. Always the same folder, so dbt's parse state is reused."""
    _, window, _, root = built
    copy = root / "isolated"
    shutil.rmtree(copy, ignore_errors=True)
    for name in ("landing", "data"):
        shutil.copytree(root / name, copy / name)
    mp = pytest.MonkeyPatch()
    mp.setenv("HEALTH_LANDING_DIR", str(copy / "landing"))
    mp.setenv("HEALTH_DATA_DIR", str(copy / "data"))
    mp.setenv("DAGSTER_HOME", str(copy / "data" / "dagster"))
    yield Settings.from_env(), window
    mp.undo()


CHUNK_DAYS = 8


def test_window_is_the_data_range(pipeline) -> None:
    _, window = pipeline
    assert window == RunWindow(START, END)


def test_the_first_build_ran_in_chunks_of_days(pipeline) -> None:
    """dbt built the 21 days in consecutive parts of at most CHUNK_DAYS days, each tested
    (its test results recorded under its days); later tests compare with one build."""
    settings, _ = pipeline
    parts = _fact(
        settings.warehouse_path,
        "select distinct partition from quality.quality_check_results"
        " where stage = 'middle' order by 1",
    )
    firsts = [date.fromisoformat(p.split("..")[0]) for (p,) in parts]
    lasts = [date.fromisoformat(p.split("..")[1]) for (p,) in parts]
    assert firsts[0] == START and lasts[-1] == END and len(parts) >= 3
    assert all(b == a + timedelta(days=1) for a, b in zip(lasts, firsts[1:], strict=False))
    assert all((last - first).days < CHUNK_DAYS for first, last in zip(firsts, lasts, strict=True))


UI_QUERY = """
{
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          blocking
          executionForLatestMaterialization { status evaluation { success severity } }
        }
      }
    }
  }
}
"""


def test_dagster_ui_shows_every_asset_and_check_with_its_result(pipeline) -> None:
    """The real webserver on a free port, over the run's instance: every asset and check of
    the project is there, and the checks of the run show their (passing) results."""
    from orchestration.definitions import defs

    settings, _ = pipeline
    graph = defs.resolve_asset_graph()
    with dagster_ui(settings.dagster_home, settings.data_dir) as port:
        nodes = graphql(port, UI_QUERY)["assetNodes"]

    shown_assets = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} <= shown_assets
    shown_checks = {
        "/".join(node["assetKey"]["path"]) + ":" + check["name"]: check
        for node in nodes
        for check in node["assetChecksOrError"].get("checks", [])
    }
    assert {key.to_user_string() for key in graph.asset_check_keys} == set(shown_checks)
    for name in (
        "raw/usage_events:raw_usage_events",
        "raw/usage_events:volume_usage_events",
        "raw/usage_events:freshness_usage_events",
        "marts/fct_customer_health_daily:fct_customer_health_daily",
        "marts/fct_customer_health_daily:unique_combination_fct_customer_health_daily_account_id__as_of_date",
    ):
        check = shown_checks[name]
        assert check["blocking"], name
        execution = check["executionForLatestMaterialization"]
        assert execution is not None, name
        assert execution["status"] == "SUCCEEDED", (name, execution)
        assert execution["evaluation"]["success"], (name, execution)


def test_publish_materialization_tells_what_was_published(pipeline) -> None:
    """The metadata a person reads in the UI: the latest day's accounts, bands, score
    distribution and config_version, the rows of every table."""
    import dagster as dg

    settings, _ = pipeline
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        [record] = instance.fetch_materializations(
            dg.AssetKey(["serving", "health_duckdb"]), limit=1
        ).records
    metadata = record.asset_materialization.metadata
    bands = metadata["band_counts"].value
    assert metadata["as_of_date"].value == END.isoformat()
    assert sum(bands.values()) == metadata["accounts"].value > 0
    [(version, rows)] = _fact(
        settings.serving_path,
        "select max(config_version), count(*) from fct_customer_health_daily",
    )
    assert metadata["config_version"].value == version
    assert metadata["rows_fct_customer_health_daily"].value == rows
    p10, p50, p90 = (float(v) for v in metadata["score_p10_p50_p90"].value.split(" / "))
    assert 0 <= p10 <= p50 <= p90 <= 100


def test_the_run_synced_the_configured_destinations(pipeline) -> None:
    """After publishing, the run synced sync.yml's outbox (the destinations needing a URL
    or a switch were skipped with a note): one record per scored account, and the state
    in the warehouse says the same."""
    import dagster as dg

    settings, _ = pipeline
    [outbox_file] = (settings.data_dir / "outbox" / "outbox").glob("*.jsonl")
    records = [json.loads(line) for line in outbox_file.read_text().splitlines()]
    [(accounts,)] = _fact(settings.warehouse_path, "select count(*) from marts.sync_account_health")
    assert len(records) == accounts > 0
    assert {r["_op"] for r in records} == {"upsert"}
    assert max(r["scored_at"] for r in records) == END.isoformat()
    [(synced,)] = _fact(
        settings.warehouse_path,
        "select count(*) from sync.sync_state where destination = 'outbox'",
    )
    assert synced == accounts
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        [skipped] = instance.fetch_materializations(
            dg.AssetKey(["sync", "crm_webhook"]), limit=1
        ).records
    assert "HEALTH_SYNC_WEBHOOK_URL" in skipped.asset_materialization.metadata["skipped"].value


def test_the_run_exported_parquet_for_tools_that_read_files(pipeline) -> None:
    """Every published table as Parquet: the fact partitioned by as_of_date, dimensions
    as one file; the same rows as the serving file."""
    settings, _ = pipeline
    exports = settings.data_dir / "exports"
    folder = exports / "fct_customer_health_daily"
    days = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert (folder / ".fingerprints.json").is_file()  # hidden: dataset readers skip it
    assert days[0] == f"as_of_date={START.isoformat()}" and days[-1] == f"as_of_date={END}"
    assert (exports / "dim_accounts" / "dim_accounts.parquet").is_file()
    con = duckdb.connect()
    try:
        for table, pattern in (
            ("fct_customer_health_daily", "fct_customer_health_daily/*/*.parquet"),
            ("dim_accounts", "dim_accounts/*.parquet"),
            ("bi_arr_at_risk", "bi_arr_at_risk/*/*.parquet"),
        ):
            [(exported,)] = con.execute(
                "select count(*) from read_parquet(?, hive_partitioning = true)",
                [str(exports / pattern)],
            ).fetchall()
            [(served,)] = _fact(settings.serving_path, f"select count(*) from {table}")
            assert exported == served > 0, table
    finally:
        con.close()


def test_the_health_report_renders_its_charts_in_chromium(pipeline) -> None:
    """The report the run wrote, opened in headless Chromium (Debian's, `make browser`) with
    the network cut off: every chart drew visible shapes, nothing logged an error, nothing
    was fetched but the file itself. The screenshot is kept in test-artifacts/."""
    import shutil

    chromium = shutil.which("chromium")
    if chromium is None:
        message = "chromium is not installed: run `make browser` (Debian's chromium package)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    settings, _ = pipeline
    report = settings.data_dir / "reports" / "health_report.html"
    artifacts = Path(os.environ.get("HEALTH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.route("http*://**", lambda route: route.abort())  # offline
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            charts = page.locator("svg.chart")
            # bands, segments, band trend, then one revenue chart per revenue measure
            assert charts.count() >= 4
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, i
                shapes = charts.nth(i).locator("rect, polyline")
                drawn = [shapes.nth(j).bounding_box() for j in range(shapes.count())]
                assert any(b and b["width"] > 1 and b["height"] > 1 for b in drawn), i
            assert page.locator("h2").all_inner_texts()[:4] == [
                "Portfolio health", "Band distribution by segment",
                f"Band trend (last {90} days)", "Revenue at risk",
            ]  # fmt: skip
            assert page.locator("table").count() >= 1
            page.screenshot(path=str(artifacts / "health_report.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [report.as_uri()]
    assert (artifacts / "health_report.png").stat().st_size > 10_000


def test_fact_has_exactly_one_row_per_account_day(pipeline) -> None:
    settings, _ = pipeline
    rows, distinct, accounts = _fact(
        settings.serving_path,
        "select count(*), count(distinct (account_id, as_of_date)), count(distinct account_id)"
        " from fct_customer_health_daily",
    )[0]
    assert rows == distinct == _expected_account_days(settings.landing_dir, START, END)
    assert accounts == 40
    gaps = _fact(
        settings.serving_path,
        "select account_id from fct_customer_health_daily group by account_id"
        " having count(*) <> date_diff('day', min(as_of_date), max(as_of_date)) + 1"
        f" or max(as_of_date) <> date '{END}'",
    )
    assert gaps == []
    # every check of the run is published with the marts, and rendered in the Data Docs
    checks = _fact(
        settings.serving_path,
        "select stage, check_name, status from quality_check_results"
        " where run_id = (select run_id from publish_log)",
    )
    door = {name: status for stage, name, status in checks if stage == "door"}
    assert door == {
        **{f"{kind}_{entity}": "pass" for entity in ENTITIES for kind in ("raw", "contract")},
        # usage is dense enough to judge its last 7 days (14 days of history before them);
        # the sparse feeds average under 20 rows a day at 40 accounts: not judged
        "volume_usage_events": "pass",
        **{f"volume_{e}": "skipped" for e in ("invoices", "survey_responses", "support_tickets")},
    }
    freshness = {name: status for stage, name, status in checks if stage == "freshness"}
    assert freshness == {
        f"freshness_{e}": "pass"
        for e in ("usage_events", "invoices", "survey_responses", "support_tickets")
    }
    assert len([c for c in checks if c[0] == "middle"]) > 100
    assert {status for stage, _, status in checks if stage == "middle"} <= {"pass", "warn"}
    [(run_id,)] = _fact(settings.serving_path, "select run_id from publish_log")
    site = settings.data_dir / "docs" / "quality"
    assert run_id in (site / "index.html").read_text()
    for entity in ENTITIES:
        assert list((site / "validations" / f"raw_{entity}" / run_id).glob("*/*.html"))


def test_scores_are_in_range_and_versioned(pipeline) -> None:
    settings, _ = pipeline
    (bad_scores, null_versions, versions, bands) = _fact(
        settings.serving_path,
        """
        select
            count(*) filter (where health_score < 0 or health_score > 100
                             or least({components}) < 0 or greatest({components}) > 100
                             or score_coverage not between 0 and 1),
            count(*) filter (where config_version is null),
            count(distinct config_version),
            list(distinct health_band order by health_band)
        from fct_customer_health_daily
        """.format(components=", ".join(f"{c}_score" for c in COMPONENTS)),
    )[0]
    assert bad_scores == 0
    assert null_versions == 0
    assert versions == 1
    assert set(bands) <= {"green", "yellow", "red", "insufficient_data"}
    assert {"green", "red"} <= set(bands), "sample data should produce healthy and at-risk accounts"


def test_bad_rows_are_quarantined_and_counted(built) -> None:
    """Every bad row the generator wrote is quarantined under its class's reason code,
    exactly as many per class as it counted, and nothing else is; each loaded file's
    rows add up (loaded + quarantined + duplicates = read)."""
    settings, _, generated, _ = built
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        reasons = " union all ".join(
            f"select _reason_codes from raw.{name}__quarantine" for name in ENTITIES
        )
        quarantined = dict(
            con.execute(f"select _reason_codes, count(*) from ({reasons}) group by 1").fetchall()
        )
        unbalanced = con.execute(
            "select count(*) from raw._load_audit where status = 'loaded'"
            " and rows_read <> rows_loaded + rows_quarantined + rows_duplicate"
        ).fetchone()[0]
    finally:
        con.close()
    expected = {reason: n for reason, n in generated.bad_rows.items() if n}
    assert len(expected) >= 3, generated.bad_rows  # the data exercise several classes
    assert quarantined == expected
    assert unbalanced == 0


def test_rerunning_a_range_gives_the_rows_the_full_build_gave(isolated) -> None:
    """Re-running some days rewrites them (delete+insert) with exactly the rows the first,
    full build wrote, deltas and drivers included, and each account's latest figures
    are those the full build gave: no state leaks between runs, nor between the parts the
    full build was built in (the range spans a part's end)."""
    settings, _ = isolated
    queries = [
        "select * from fct_customer_health_daily order by account_id, as_of_date",
        "select * from fct_health_score_drivers order by account_id, as_of_date, component",
        # rebuilt from its last rows and the window's (dim_accounts.sql)
        "select * from dim_accounts order by account_id",
        # the marts that read the window's fact rows (and, for the parents, every parent
        # the fact names; for the movers, its latest day)
        "select * from mart_health_parent_daily order by parent_account_id, as_of_date",
        "select * from mart_health_day_stats order by as_of_date",
        "select * from mart_health_movers order by window_days, direction, mover_rank",
    ]
    before = [_fact(settings.serving_path, query) for query in queries]
    assert run_pipeline(settings, RunWindow(END - timedelta(days=9), END - timedelta(days=3)))
    assert [_fact(settings.serving_path, query) for query in queries] == before


def test_own_data_with_only_accounts_and_invoices(health_env, dbt_manifest, monkeypatch) -> None:
    landing = health_env["landing"]
    (landing / "accounts").mkdir()
    (landing / "invoices").mkdir()
    (landing / "accounts" / "accounts.csv").write_text(
        "account_id,name,segment,created_at\n"
        "C1,Shop One,b2c_webshop,2025-01-10T00:00:00Z\n"
        "C2,Shop Two,,2025-02-01T09:00:00+01:00\n"
    )
    (landing / "invoices" / "orders.csv").write_text(
        "invoice_id,account_id,issued_at,amount,status,paid_at\n"
        "I1,C1,2025-02-01T10:00:00Z,120.5,paid,2025-02-02T10:00:00Z\n"
        "I2,C1,2025-02-20T10:00:00Z,80,paid,2025-02-21T10:00:00Z\n"
        "I3,C2,2025-02-25T10:00:00Z,99,open,\n"
    )
    as_of = date(2025, 2, 20)
    monkeypatch.setenv("HEALTH_AS_OF", as_of.isoformat())
    settings = Settings.from_env()
    window = resolve_window(settings, None, None)
    assert window == RunWindow(date(2025, 2, 1), as_of)
    assert run_pipeline(settings, window)
    rows = _fact(
        settings.serving_path,
        "select account_id, count(*), min(as_of_date), max(as_of_date),"
        " count(engagement_score), count(retention_score), count(loyalty_score),"
        " max(score_coverage) from fct_customer_health_daily group by account_id order by 1",
    )
    days = (as_of - date(2025, 2, 1)).days + 1
    # C1, a webshop, is scored on loyalty alone (half its scorecard's weight: enough);
    # C2 (no segment: the default scorecard) has a third of its weight backed: too little
    assert rows == [
        ("C1", days, date(2025, 2, 1), as_of, 0, 0, days, pytest.approx(0.5)),
        ("C2", days, date(2025, 2, 1), as_of, 0, 0, days, pytest.approx(0.333334)),
    ]
    insufficient = _fact(
        settings.serving_path,
        "select count(*) from fct_customer_health_daily where account_id = 'C2'"
        " and health_score is null and health_band = 'insufficient_data'",
    )
    assert insufficient == [(days,)]
    paid = _fact(
        settings.serving_path,
        "select health_score from fct_customer_health_daily"
        f" where account_id = 'C1' and as_of_date = date '{as_of - timedelta(days=1)}'",
    )
    assert paid[0][0] is not None and paid[0][0] > 0


def test_failed_blocking_check_stops_dbt_and_publish(
    isolated, tmp_path, monkeypatch, capsys
) -> None:
    """A GX suite failure on a new batch is blocking: no dbt build, no publish."""

    from customer_health.quality import gx_suites

    settings, _ = isolated
    late_day = RunWindow(END, END)
    strict = json.loads((gx_suites.EXPECTATIONS_DIR / "raw_usage_events.json").read_text())
    strict["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "event_name", "value_set": ["no_such_event"]},
        }
    )
    for suite in gx_suites.EXPECTATIONS_DIR.glob("*.json"):
        (tmp_path / suite.name).write_text(suite.read_text())
    (tmp_path / "raw_usage_events.json").write_text(json.dumps(strict))
    monkeypatch.setattr(gx_suites, "EXPECTATIONS_DIR", tmp_path)
    gx_suites._suite.cache_clear()
    before = sha256_of(settings.serving_path)
    events_before = _usage_events_on(settings, "ACC-000001", END)
    extra = settings.landing_dir / "usage_events" / "late-arrival.csv"
    extra.write_text(
        "event_id,account_id,event_name,occurred_at\n"
        f"LATE-1,ACC-000001,login,{END.isoformat()}T12:00:00Z\n"
    )
    try:
        assert not run_pipeline(settings, late_day)
        err = capsys.readouterr().err
        assert "FAILED check raw/usage_events:raw_usage_events" in err
        assert "expect_column_values_to_be_in_set" in err and "'column': 'event_name'" in err
        # the row was loaded, but dbt did not run: its count is not there yet
        assert _usage_events_on(settings, "ACC-000001", END) == events_before
        # the failure is in the warehouse's quality_check_results and in the Data Docs
        [(run_id, evidence)] = _fact(
            settings.warehouse_path,
            "select run_id, evidence from quality.quality_check_results"
            " where check_name = 'raw_usage_events' and status = 'fail'",
        )
        assert "expect_column_values_to_be_in_set" in evidence and "event_name" in evidence
        site = settings.data_dir / "docs" / "quality"
        assert run_id in (site / "index.html").read_text()
        assert list((site / "validations" / "raw_usage_events" / run_id).glob("*/*.html"))
        # a plain re-run checks the failed batch again: the gate cannot be bypassed
        assert not run_pipeline(settings, late_day)
        assert "FAILED check raw/usage_events:raw_usage_events" in capsys.readouterr().err
        assert sha256_of(settings.serving_path) == before
    finally:
        monkeypatch.undo()
        gx_suites._suite.cache_clear()
        extra.unlink()
    # with the suite restored the next run (of the late event's day) passes, and dbt
    # now counts the late event
    assert run_pipeline(settings, late_day)
    assert _usage_events_on(settings, "ACC-000001", END) == events_before + 1
    assert sha256_of(settings.serving_path) != before


def _checksums_per_day(serving: Path) -> dict[date, str]:
    rows = _fact(
        serving,
        "select as_of_date, md5(string_agg(cast(fact as varchar), '|' order by account_id))"
        " from fct_customer_health_daily as fact group by as_of_date",
    )
    return dict(rows)


def _copy_config(target: Path) -> Path:
    target.mkdir()
    for seed in SEEDS_DIR.glob("*.csv"):
        (target / seed.name).write_text(seed.read_text())
    return target


def test_invalid_config_fails_before_anything_changes(
    isolated, tmp_path, monkeypatch, capsys
) -> None:
    settings, window = isolated
    config = _copy_config(tmp_path / "config")
    weights = config / "scoring_weights.csv"
    lines = weights.read_text().splitlines()
    lines[1] = lines[1].replace("0.333333", "-0.333333")
    weights.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("HEALTH_CONFIG_DIR", str(config))
    serving, warehouse = sha256_of(settings.serving_path), sha256_of(settings.warehouse_path)
    assert not run_pipeline(settings, window)
    err = capsys.readouterr().err
    assert "FAILED step scoring_config" in err
    assert "scoring_weights.csv line 2, column 'weight'" in err and "negative" in err
    assert sha256_of(settings.serving_path) == serving
    assert sha256_of(settings.warehouse_path) == warehouse


def test_weight_change_rebuilds_only_the_days_it_is_run_for(
    isolated, tmp_path, monkeypatch
) -> None:
    """A new weight gives a new config_version; re-running one past week under it
    changes that week's rows and leaves every other day byte-identical."""
    settings, _ = isolated
    before = _checksums_per_day(settings.serving_path)
    [(old_version,)] = _fact(
        settings.serving_path, "select distinct config_version from fct_customer_health_daily"
    )
    [(scorecard,)] = _fact(
        settings.serving_path,
        "select scorecard from fct_customer_health_daily group by scorecard"
        " order by count(*) desc, scorecard limit 1",
    )
    config = _copy_config(tmp_path / "config")
    weights = config / "scoring_weights.csv"
    rows = [line.split(",") for line in weights.read_text().splitlines()]
    mine = [row for row in rows[1:] if row[0] == scorecard]
    # move 0.05 of weight from the scorecard's first component to its second
    mine[0][2] = str(round(float(mine[0][2]) - 0.05, 6))
    mine[1][2] = str(round(float(mine[1][2]) + 0.05, 6))
    weights.write_text("\n".join(",".join(row) for row in rows) + "\n")
    monkeypatch.setenv("HEALTH_CONFIG_DIR", str(config))
    week = RunWindow(END - timedelta(days=13), END - timedelta(days=7))
    assert run_pipeline(settings, week)

    after = _checksums_per_day(settings.serving_path)
    assert after.keys() == before.keys()
    in_week = {d for d in before if week.start <= d <= week.end}
    assert len(in_week) == 7
    assert {d for d in before if after[d] != before[d]} == in_week
    versions = dict(
        _fact(
            settings.serving_path,
            "select as_of_date, max(config_version) from fct_customer_health_daily"
            " group by as_of_date having count(distinct config_version) = 1",
        )
    )
    assert len(versions) == len(before)
    new_version = versions[week.start]
    assert new_version != old_version
    assert {d for d, v in versions.items() if v == new_version} == in_week
    # the days the week's changes compare with were scored again under the new
    # configuration (the marts hold them under the old one; those before the data's
    # first day do not exist), and no others
    scored = {
        d
        for (d,) in _fact(
            settings.warehouse_path,
            "select distinct as_of_date from intermediate.int_scoring_days",
        )
    }
    compared = {d - timedelta(days=n) for d in in_week for n in (7, 30)} & before.keys()
    assert scored == in_week | compared


def test_failed_exit_check_blocks_publish(isolated, tmp_path, monkeypatch, capsys) -> None:
    """Scores that break the exit suite (here: a suite that allows at most 1 point) stop
    the run at the gate: the failure is named with its evidence and nothing is published."""

    from customer_health.quality import gx_suites

    settings, _ = isolated
    for suite in gx_suites.EXPECTATIONS_DIR.glob("*.json"):
        (tmp_path / suite.name).write_text(suite.read_text())
    strict = json.loads((tmp_path / "fct_customer_health_daily.json").read_text())
    for expectation in strict["expectations"]:
        if expectation["kwargs"].get("column") == "health_score":
            expectation["kwargs"]["max_value"] = 1
    (tmp_path / "fct_customer_health_daily.json").write_text(json.dumps(strict))
    monkeypatch.setattr(gx_suites, "EXPECTATIONS_DIR", tmp_path)
    gx_suites._suite.cache_clear()
    before = sha256_of(settings.serving_path)
    try:
        assert not run_pipeline(settings, RunWindow(END, END))
    finally:
        monkeypatch.undo()
        gx_suites._suite.cache_clear()
    err = capsys.readouterr().err
    assert "FAILED check marts/fct_customer_health_daily:fct_customer_health_daily:" in err
    assert "'column': 'health_score'" in err
    assert sha256_of(settings.serving_path) == before
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        recorded = con.execute(
            "select status, observed_value from quality.quality_check_results"
            " where stage = 'exit' and check_name = 'fct_customer_health_daily'"
            " and partition = ? order by checked_at desc limit 1",
            [f"{END}..{END}"],
        ).fetchone()
    finally:
        con.close()
    assert recorded[0] == "fail" and "failed expectations" in recorded[1]


EVERY_DAY_WINDOW = (
    "update intermediate.int_scoring_window"
    " set score_from_date = data_start_date, score_to_date = as_of_date"
)
"""As if the last run had written every day (what a full build's window is)."""


def _warehouse_copy(settings: Settings, tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(settings.warehouse_path.read_bytes())
    return copy


def test_exit_checks_validate_long_ranges_in_day_batches(pipeline, tmp_path, monkeypatch) -> None:
    """The exit suite takes a long range in batches of whole days, each against its own
    live account-days: every day is validated once, and a day missing one account fails
    its batch's row count wherever the batch falls (on a copy of the warehouse)."""
    from customer_health.quality import exit_checks

    settings, _ = pipeline
    copy = _warehouse_copy(settings, tmp_path)
    con = duckdb.connect(str(copy))
    try:
        first, last = con.execute(
            "select min(as_of_date), max(as_of_date) from marts.mart_health_day_stats"
        ).fetchone()
        live = exit_checks.live_accounts_per_day(con, first, last)
        monkeypatch.setattr(exit_checks, "BATCH_ROWS", 3 * max(live.values()))
        batches = exit_checks.day_batches(live, first, last, exit_checks.BATCH_ROWS)
        passed = exit_checks.run_exit_checks(con, first, last)
        assert passed.suite.success, passed.suite.failures
        assert passed.suite.batches == len(batches) >= (last - first).days // 3
        assert passed.suite.rows == sum(live.values())

        middle = first + (last - first) / 2
        con.execute(
            "delete from marts.fct_customer_health_daily where as_of_date = ?"
            " and account_id = (select min(account_id) from marts.fct_customer_health_daily"
            " where as_of_date = ?)",
            [middle, middle],
        )
        failed = exit_checks.run_exit_checks(con, first, last)
    finally:
        con.close()
    assert not failed.suite.success
    assert {f["expectation"] for f in failed.suite.failures} == {
        "expect_table_row_count_to_equal",
        "expect_column_values_to_be_in_set",
    }
    [(rows_expected)] = [r for s, e, r in batches if s <= middle <= e]
    assert [f["observed"] for f in failed.suite.failures if "row_count" in f["expectation"]] == [
        str(rows_expected - 1)
    ]


def test_dbt_tests_check_the_days_the_run_wrote(pipeline, tmp_path) -> None:
    """The tests of the tables rewritten by day look at the days of int_scoring_window
    (every day on a full build): a duplicate row and a wrong band on the first day are
    invisible to a run that wrote the last day, and fail the same tests once the window
    covers every day (dbt test on a copy of the warehouse)."""
    from tests.warehouse import dbt

    settings, _ = pipeline
    copy = _warehouse_copy(settings, tmp_path)
    con = duckdb.connect(str(copy))
    try:
        con.execute(
            "insert into marts.fct_customer_health_daily select * from"
            " marts.fct_customer_health_daily where as_of_date = ? limit 1",
            [START],
        )
        con.execute(
            "update marts.fct_customer_health_daily set health_band = 'no such band'"
            " where as_of_date = ? and health_score is not null"
            " and account_id = (select min(account_id) from marts.fct_customer_health_daily"
            " where as_of_date = ? and health_score is not null)",
            [START, START],
        )
        con.execute(
            "update intermediate.int_scoring_window set score_from_date = ?, score_to_date = ?",
            [END, END],
        )
    finally:
        con.close()
    args = ["test", "--select", "fct_customer_health_daily", "--indirect-selection", "eager"]
    env = {"HEALTH_WAREHOUSE_PATH": str(copy)}
    one_day = dbt(args, tmp_path / "one-day", END, **env)
    assert one_day.returncode == 0, one_day.stdout[-3000:]

    con = duckdb.connect(str(copy))
    try:
        con.execute(EVERY_DAY_WINDOW)
    finally:
        con.close()
    every_day = dbt(args, tmp_path / "every-day", END, **env)
    assert every_day.returncode != 0
    failed = set(re.findall(r" FAIL \d+ (\S+)", every_day.stdout))
    assert "unique_combination_fct_customer_health_daily_account_id__as_of_date" in failed
    assert "assert_bands_match_cutoffs" in failed


def _incremental_models(layer: str) -> list[str]:
    """The incremental dbt models of a layer (from the manifest): the marts a run rewrites
    by scored day, the intermediate aggregates it rewrites by the days loads changed."""
    from orchestration.dbt_project import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text())
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] == "incremental"
        and node["fqn"][1] == layer
    )


def _checksums_per_table_and_day(
    database: Path, tables: list[str], day_column: str = "as_of_date"
) -> dict[tuple[str, date], str]:
    checksums = {}
    for table in tables:
        rows = _fact(
            database,
            f"select {day_column}, md5(string_agg(cast(t as varchar), '|'"
            f" order by cast(t as varchar))) from {table} as t group by {day_column}",
        )
        checksums.update({(table, day): checksum for day, checksum in rows})
    return checksums


def test_rerunning_one_day_replaces_exactly_that_day(isolated) -> None:
    """Corrected data for one past day, and a run of that day alone: that day changes in
    every incremental table, and every other day of every one of them is byte-identical."""
    settings, _ = isolated
    tables = _incremental_models("marts")
    assert {"fct_customer_health_daily", "fct_health_score_drivers"} <= set(tables)
    before = _checksums_per_table_and_day(settings.serving_path, tables)
    aggregates = [f"intermediate.{name}" for name in _incremental_models("intermediate")]
    assert "intermediate.int_usage_daily" in aggregates
    aggregates_before = _checksums_per_table_and_day(
        settings.warehouse_path, aggregates, "activity_date"
    )
    day = END - timedelta(days=5)
    events = settings.landing_dir / "usage_events" / f"correction-{day.isoformat()}.csv"
    events.write_text(
        "event_id,account_id,event_name,occurred_at\n"
        + "".join(f"FIX-{n},ACC-000001,login,{day.isoformat()}T09:{n:02d}:00Z\n" for n in range(40))
    )
    assert run_pipeline(settings, RunWindow(day, day))

    after = _checksums_per_table_and_day(settings.serving_path, tables)
    assert after.keys() == before.keys()
    changed = {key for key in before if after[key] != before[key]}
    assert changed, "the corrected day did not change"
    assert {changed_day for _, changed_day in changed} == {day}
    assert ("fct_customer_health_daily", day) in changed
    # the usage aggregates rebuilt the day the correction touched, and only it
    aggregates_after = _checksums_per_table_and_day(
        settings.warehouse_path, aggregates, "activity_date"
    )
    assert aggregates_after.keys() == aggregates_before.keys()
    rebuilt = {k for k in aggregates_before if aggregates_after[k] != aggregates_before[k]}
    assert {changed_day for _, changed_day in rebuilt} == {day}
    # ... by the incremental path: the run's load recorded that day alone, and each
    # aggregate's watermark says it applied that change
    [(last_change, days)] = _fact(
        settings.warehouse_path,
        "select change_seq, list(distinct day) from raw._changed_days"
        " where entity = 'usage_events' and change_seq = (select max(change_seq)"
        " from raw._changed_days where entity = 'usage_events') group by change_seq",
    )
    assert days == [day]
    for aggregate in aggregates:
        assert _fact(settings.warehouse_path, f"select change_seq from {aggregate}__watermark") == [
            (last_change,)
        ]
    # dbt scored that day alone: the run's days reached it (as event-time flags)
    assert _fact(
        settings.warehouse_path,
        "select score_from_date, score_to_date from intermediate.int_scoring_window",
    ) == [(day, day)]
    # ... and computed no other day's scores: the deltas and changes read the days 7 and
    # 30 days before from the published marts where they hold them under this
    # configuration (an earlier test may have re-run days under another one)
    [(version,)] = _fact(
        settings.serving_path,
        f"select distinct config_version from fct_customer_health_daily where as_of_date = '{day}'",
    )
    other_version = {
        d
        for (d,) in _fact(
            settings.serving_path,
            "select distinct as_of_date from fct_customer_health_daily"
            f" where config_version <> '{version}'",
        )
    }
    scored = _fact(
        settings.warehouse_path, "select distinct as_of_date from intermediate.int_scoring_days"
    )
    assert {d for (d,) in scored} == {day} | (
        {day - timedelta(days=7), day - timedelta(days=30)} & other_version
    )
    # the fingerprints publishing trusts are those of the rows, in the warehouse (dbt
    # recorded them as it wrote) and in the serving file (the publication copied them)
    for database, schema in ((settings.warehouse_path, "marts"), (settings.serving_path, "main")):
        _assert_recorded_fingerprints_match(database, schema, tables)


def _assert_recorded_fingerprints_match(database: Path, schema: str, tables: list[str]) -> None:
    from customer_health.fingerprints import day_fingerprints, recorded_fingerprints

    con = duckdb.connect(str(database), read_only=True)
    try:
        for table in tables:
            recorded = recorded_fingerprints(con, table)
            assert recorded, f"{database.name}: nothing recorded for {table}"
            assert recorded == day_fingerprints(con, f'{schema}."{table}"'), table
    finally:
        con.close()


BI_READER = r"""
import json, sys, time
from pathlib import Path
import duckdb

serving, control = sys.argv[1], Path(sys.argv[2])

def connect():
    return duckdb.connect(serving, read_only=True)

def report(con, event):
    run_id = con.execute("select run_id from publish_log").fetchone()[0]
    rows = con.execute("select count(*) from fct_customer_health_daily").fetchone()[0]
    print(json.dumps({"event": event, "run_id": run_id, "rows": rows}), flush=True)

con = connect()
report(con, "connected")
while not (control / "stop").exists():
    if (control / "reconnect").exists():
        (control / "reconnect").unlink()
        con.close()
        con = connect()
        report(con, "reconnected")
    else:
        report(con, "read")
    time.sleep(0.2)
con.close()
"""


def test_a_bi_reader_holding_the_serving_file_open_survives_a_run(isolated, tmp_path) -> None:
    """A second process keeps a read-only connection to the serving file and queries it
    throughout a whole run: it never fails, reads the old publication until it reconnects,
    then reads the new one."""
    import subprocess
    import sys
    import time

    settings, _ = isolated
    control = tmp_path / "control"
    control.mkdir()
    reader = subprocess.Popen(
        [sys.executable, "-c", BI_READER, str(settings.serving_path), str(control)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(reader.stdout.readline())
        assert first["event"] == "connected"
        assert run_pipeline(settings, RunWindow(END - timedelta(days=2), END))
        [(new_run_id,)] = _fact(settings.serving_path, "select run_id from publish_log")
        assert new_run_id != first["run_id"]
        (control / "reconnect").touch()
        deadline = time.monotonic() + 60
        while (control / "reconnect").exists():
            assert time.monotonic() < deadline and reader.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        (control / "stop").touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    events = [first] + [json.loads(line) for line in out.splitlines()]
    reconnected = next(i for i, e in enumerate(events) if e["event"] == "reconnected")
    reads = events[:reconnected]
    assert len(reads) > 10  # it kept reading while the run went on
    assert {e["run_id"] for e in reads} == {first["run_id"]}  # the old file, unchanged
    assert {e["rows"] for e in reads} == {first["rows"]}
    assert events[reconnected]["run_id"] == new_run_id
