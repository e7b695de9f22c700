"""The health report, built from a small hand-made serving file (no pipeline run): what it
says must be true and useful. Figures carry their numbers, money is labelled with the
measure it is in (and not shown when nothing measures it), movers are the ones worth
reading, and no text breaks the layout."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from customer_health.publish.report import ReportOptions, build_report

DAY = date(2025, 6, 30)
BANDS = (("green", 85.0), ("yellow", 55.0), ("red", 20.0))


class _Page(HTMLParser):
    """The report's KPI tiles, its headings, and its text (tags stripped)."""

    def __init__(self) -> None:
        super().__init__()
        self.kpis: dict[str, str] = {}
        self.headings: list[str] = []
        self.svg_texts: list[str] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self._kpi: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        if tag == "div" and ("class", "kpi") in attrs:
            self._kpi = []
        if tag in ("h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        self._stack.pop()
        if tag == "div" and self._kpi is not None:
            label, value = self._kpi[0], "".join(self._kpi[1:])
            self.kpis[label.strip()] = value.strip()
            self._kpi = None
        if tag in ("h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._kpi is not None:
            self._kpi.append(data)
        if self._heading is not None:
            self._heading.append(data)
        if self._stack and self._stack[-1] == "text" and "svg" in self._stack:
            self.svg_texts.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _serving(
    path: Path,
    *,
    segments: dict[str, dict[str, int]] | None = None,
    revenue: list[tuple[str, str, int, int, float | None, float | None]] | None = None,
    movers: list[tuple] | None = None,
    account_name: str = "Acme",
) -> Path:
    """A serving file with the published relations the report reads, in their contracts'
    column names. `segments`: segment -> band -> live accounts on DAY; `revenue`: rows of
    bi_arr_at_risk on DAY (scorecard, revenue_measure, live, at risk, revenue, at risk);
    `movers`: rows of mart_health_movers from window_days on."""
    segments = segments or {"b2b_saas": {"green": 6, "yellow": 3, "red": 1}}
    con = duckdb.connect(str(path))
    con.execute(
        "create table publish_log as select 'run-1' as run_id,"
        " timestamp '2025-07-01 02:30:00' as published_at"
    )
    con.execute(
        "create table fct_customer_health_daily (account_id varchar, as_of_date date,"
        " health_score double, health_band varchar, is_churned boolean)"
    )
    con.execute(
        "create table bi_current_health_by_segment (segment varchar, health_band varchar,"
        " accounts bigint, share_of_segment double, avg_health_score double, arr double)"
    )
    n = 0
    for segment, bands in segments.items():
        total = sum(bands.values())
        for band, score in BANDS:
            count = bands.get(band, 0)
            if not count:
                continue
            con.execute(
                "insert into bi_current_health_by_segment values (?, ?, ?, ?, ?, null)",
                [segment, band, count, count / total, score],
            )
            for _ in range(count):
                n += 1
                con.execute(
                    "insert into fct_customer_health_daily values (?, ?, ?, ?, false)",
                    [f"A{n}", DAY, score, band],
                )
    con.execute(
        "create table bi_arr_at_risk (as_of_date date, scorecard varchar,"
        " revenue_measure varchar, live_accounts bigint, accounts_at_risk bigint,"
        " annual_revenue double, annual_revenue_at_risk double)"
    )
    for row in revenue or [("b2b_saas", "subscription_arr", 10, 1, 120000.0, 12000.0)]:
        con.execute("insert into bi_arr_at_risk values (?, ?, ?, ?, ?, ?, ?)", [DAY, *row])
    con.execute(
        "create table mart_health_movers (as_of_date date, window_days integer,"
        " direction varchar, mover_rank integer, account_id varchar, account_name varchar,"
        " scorecard varchar, health_score double, health_band varchar, score_change double,"
        " main_driver varchar, main_driver_change double, second_driver varchar,"
        " second_driver_change double)"
    )
    for row in movers or []:
        con.execute(
            "insert into mart_health_movers values (?, ?, ?, ?, ?, ?, 'b2b_saas', ?, ?, ?, ?, ?,"
            " ?, ?)",
            [DAY, *row],
        )
    con.execute(
        "create table dim_accounts as select 'A1' as account_id, ? as account_name,"
        " 'b2b_saas' as segment, 0.2::double as score_coverage, 'usage' as stale_components,"
        " 'insufficient_data' as health_band, false as is_churned",
        [account_name],
    )
    con.execute(
        "create table dim_health_bands as select * from (values"
        " ('green', 1, true), ('yellow', 2, true), ('red', 3, true),"
        " ('insufficient_data', null, false)) as t(band, score_rank, is_scored)"
    )
    con.execute(
        "create table quality_check_results as select 'run-1' as run_id, 'exit' as stage,"
        " 'fct_customer_health_daily' as check_name, 'fct' as target, 'error' as severity,"
        " 'pass' as status, null as observed_value"
    )
    con.close()
    return path


def _mover(window: int, direction: str, rank: int, change: float, *drivers) -> tuple:
    main, main_change, second, second_change = (*drivers, None, None, None, None)[:4]
    name = f"Mover {window} {direction} {rank}"
    return (window, direction, rank, f"M{window}{direction}{rank}", name, 50.0, "yellow",
            change, main, main_change, second, second_change)  # fmt: skip


def test_live_figures_come_from_the_live_accounts(tmp_path: Path) -> None:
    """Live accounts, their mean score and the band bars are the live accounts of
    bi_current_health_by_segment (the relation the run summary reads too)."""
    serving = _serving(
        tmp_path / "health.duckdb",
        segments={"b2b_saas": {"green": 2, "red": 1}, "b2c_webshop": {"yellow": 1}},
    )
    page = _parse(build_report(serving, tmp_path / "reports").path)
    assert page.kpis["Live accounts"] == "4"
    assert page.kpis["Average health"] == f"{(2 * 85 + 20 + 55) / 4:.1f}"


def test_revenue_at_risk_names_its_measure(tmp_path: Path) -> None:
    """Subscription ARR and invoiced revenue are shown apart, each with its label."""
    serving = _serving(
        tmp_path / "health.duckdb",
        revenue=[
            ("b2b_saas", "subscription_arr", 10, 2, 120000.0, 12000.0),
            ("b2c_webshop", "invoiced_revenue_12m", 5, 1, 8000.0, 340.5),
        ],
    )
    page = _parse(build_report(serving, tmp_path / "reports").path)
    assert page.kpis["ARR at risk (subscriptions)"] == "12,000 of 120,000"
    assert page.kpis["Invoiced revenue at risk (last 12 months)"] == "340 of 8,000"


def test_no_money_figure_when_nothing_measures_it(tmp_path: Path) -> None:
    """A webshop and charity portfolio without subscriptions shows no ARR at all (it is
    not measured, not 0); red accounts without any revenue measure are counted, with no
    money next to them."""
    serving = _serving(
        tmp_path / "health.duckdb",
        segments={"b2c_webshop": {"green": 2, "red": 2}, "charity": {"red": 1}},
        revenue=[
            ("b2c_webshop", "invoiced_revenue_12m", 3, 1, 900.0, 120.0),
            ("b2c_webshop", "not_measured", 1, 1, None, None),
            ("charity", "not_measured", 1, 1, None, None),
        ],
    )
    page = _parse(build_report(serving, tmp_path / "reports").path)
    assert not any(label.startswith("ARR") for label in page.kpis), page.kpis
    assert page.kpis["Invoiced revenue at risk (last 12 months)"] == "120 of 900"
    assert page.kpis["At risk, revenue not measured"] == "2 accounts"
    text = " ".join(page.text)
    assert "ARR at risk 0" not in text and not re.search(r"\b0 of 0\b", text)


def test_nothing_measured_says_so(tmp_path: Path) -> None:
    serving = _serving(
        tmp_path / "health.duckdb",
        revenue=[("b2b_saas", "not_measured", 10, 1, None, None)],
    )
    page = _parse(build_report(serving, tmp_path / "reports").path)
    assert page.kpis["At risk, revenue not measured"] == "1 account"
    assert not any("revenue at risk" in k.lower() or k.startswith("ARR") for k in page.kpis)
    assert "No revenue is measured" in " ".join(page.text)


def test_every_bar_segment_prints_its_count_and_share(tmp_path: Path) -> None:
    serving = _serving(
        tmp_path / "health.duckdb",
        segments={"b2b_saas": {"green": 30, "yellow": 8, "red": 2}},
    )
    page = _parse(build_report(serving, tmp_path / "reports").path)
    labels = " | ".join(page.svg_texts)
    # the portfolio bar and the segment bar: each band's count and share, printed
    for count, share in ((30, "75%"), (8, "20%"), (2, "5%")):
        assert labels.count(f"{count} ({share})") == 2, labels


def test_movers_are_drops_first_large_enough_capped_and_without_still_drivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    movers = [
        _mover(7, "rise", 1, 8.0, "loyalty", 8.0, "billing", 0.0),
        _mover(7, "rise", 2, 0.08, "loyalty", 0.08),
        *[
            _mover(7, "drop", r, -30.0 + r, "usage_frequency", -9.0, "billing", -0.01)
            for r in range(1, 16)
        ],
        _mover(30, "drop", 1, -4.9, "support", -4.9),
        _mover(30, "rise", 1, 12.0, "engagement", 7.5, "support", 4.5),
    ]
    serving = _serving(tmp_path / "health.duckdb", movers=movers)
    monkeypatch.delenv("HEALTH_REPORT_MIN_MOVE", raising=False)
    monkeypatch.delenv("HEALTH_REPORT_MOVERS_PER_LIST", raising=False)
    path = build_report(serving, tmp_path / "reports").path
    page = _parse(path)
    lists = [h for h in page.headings if h.startswith(("Drops", "Rises"))]
    assert lists == [
        "Drops over 7 days", "Rises over 7 days", "Drops over 30 days", "Rises over 30 days",
    ]  # fmt: skip
    html = path.read_text()
    # default cap 10 per list, default minimum move 5 points
    assert "Mover 7 drop 10<" in html and "Mover 7 drop 11<" not in html
    assert "Mover 7 rise 1<" in html and "Mover 7 rise 2<" not in html  # 0.08: no mover
    assert "Mover 30 drop 1<" not in html  # 4.9 < 5
    assert "No drop of 5 points or more over 30 days." in html
    # a driver that did not move (0.0, -0.01) is not shown; one that moved is
    assert "billing" not in html
    assert "loyalty +8.0" in html and "engagement +7.5, support +4.5" in html
    # a drop's list comes before the rises' in the page
    assert html.index("Mover 7 drop 1<") < html.index("Mover 7 rise 1<")

    smaller = build_report(
        serving, tmp_path / "other", ReportOptions(min_move=0.05, movers_per_list=3)
    ).path.read_text()
    assert "Mover 7 rise 2<" in smaller and "Mover 30 drop 1<" in smaller
    assert "Mover 7 drop 3<" in smaller and "Mover 7 drop 4<" not in smaller


def test_settings_come_from_the_environment_and_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEALTH_REPORT_MIN_MOVE", "2.5")
    monkeypatch.setenv("HEALTH_REPORT_MOVERS_PER_LIST", "4")
    assert ReportOptions.from_env() == ReportOptions(min_move=2.5, movers_per_list=4)
    monkeypatch.setenv("HEALTH_REPORT_MOVERS_PER_LIST", "ten")
    with pytest.raises(ValueError, match="HEALTH_REPORT_MOVERS_PER_LIST='ten'"):
        ReportOptions.from_env()
    monkeypatch.setenv("HEALTH_REPORT_MOVERS_PER_LIST", "4")
    monkeypatch.setenv("HEALTH_REPORT_MIN_MOVE", "-1")
    with pytest.raises(ValueError, match="HEALTH_REPORT_MIN_MOVE='-1'"):
        ReportOptions.from_env()


def test_long_text_is_cut_short_and_escaped(tmp_path: Path) -> None:
    """A 1 MB account name (with markup in it) is shown short and escaped; the data keeps
    it whole."""
    name = "<b>Huge & Co</b> " + "x" * 1_000_000
    movers = [_mover(7, "drop", 1, -20.0, "billing", -20.0)]
    serving = _serving(tmp_path / "health.duckdb", movers=movers, account_name=name)
    con = duckdb.connect(str(serving))
    con.execute("update mart_health_movers set account_name = ?", [name])
    con.close()
    html = build_report(serving, tmp_path / "reports").path.read_text()
    assert len(html) < 100_000
    assert "<b>Huge" not in html
    assert "&lt;b&gt;Huge &amp; Co&lt;/b&gt; xxx" in html
    assert "x" * 100 not in html and "…" in html
