"""The health report: one self-contained HTML file (inline CSS and SVG charts, no script,
no CDN; it opens offline and in any mail client's browser) written from the published
serving file after each successful run.

Sections: portfolio health and band distribution by segment, band trend over time,
revenue at risk, top movers with their drivers, accounts with insufficient data, and the
data-quality status of the run that published.

Every figure is read from a published relation that owns it (dbt owns the rules): live
accounts and bands from `bi_current_health_by_segment`, revenue at risk from
`bi_arr_at_risk` (each measure apart, and no money where nothing measures it), movers
from `mart_health_movers`. The report only chooses what is worth showing: drops before
rises, moves of at least HEALTH_REPORT_MIN_MOVE points, HEALTH_REPORT_MOVERS_PER_LIST
rows a list, drivers that moved, and text cut to a readable length (the data keep it
whole).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from customer_health import duckdb_connection

TREND_DAYS = 90
BAND_COLORS = {"green": "#2e9e5b", "yellow": "#e0b400", "red": "#d6453d"}
OTHER_COLORS = ("#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#9c755f", "#bab0ac")
NO_DATA_COLOR = "#9aa0a6"
TEXT_LIMIT = 60
"""Characters of a text value shown in a table cell (account names can be huge)."""
LABEL_LIMIT = 20
"""Characters of a label shown in a chart."""
MOVER_WINDOWS = (7, 30)
MOVER_HEADERS = ["rank", "account", "score", "band", "change", "drivers"]
INSUFFICIENT_HEADERS = ["account", "name", "segment", "coverage", "stale components"]
CHECK_HEADERS = ["stage", "check", "target", "severity", "status", "observed"]
REVENUE_MEASURES = {
    # revenue_measure of bi_arr_at_risk: (KPI label, chart title, line colour)
    "subscription_arr": (
        "ARR at risk (subscriptions)",
        "ARR at risk over time (subscriptions, 12 x MRR)",
        "#d6453d",
    ),
    "invoiced_revenue_12m": (
        "Invoiced revenue at risk (last 12 months)",
        "Invoiced revenue at risk over time (accounts without a subscription, last 12 months)",
        "#f28e2b",
    ),
}
NOT_MEASURED = "not_measured"


@dataclass(frozen=True)
class ReportOptions:
    """What the report leaves out of the movers (the mart keeps the full lists)."""

    min_move: float = 5.0
    """HEALTH_REPORT_MIN_MOVE: smallest change of the score, in points, shown as a mover."""
    movers_per_list: int = 10
    """HEALTH_REPORT_MOVERS_PER_LIST: rows of each movers list (7/30 days x drops/rises)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReportOptions:
        env = os.environ if environ is None else environ
        defaults = cls()
        min_move = _setting(env, "HEALTH_REPORT_MIN_MOVE", defaults.min_move, float, "points")
        per_list = _setting(
            env, "HEALTH_REPORT_MOVERS_PER_LIST", defaults.movers_per_list, int, "rows"
        )
        return cls(min_move=min_move, movers_per_list=per_list)


def _setting(env: Mapping[str, str], name: str, default: float, kind: type, unit: str):
    """A number >= 0 from the environment (`kind` int or float), or `default` when unset;
    anything else stops the report naming the variable and the fix."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < 0:
        noun = "whole number" if kind is int else "number"
        raise ValueError(
            f"{name}={raw!r}: expected a {noun} of {unit} >= 0 (default {default:g});"
            f" fix it in the environment or .env, e.g. {name}={default:g}"
        )
    return value


@dataclass(frozen=True)
class Report:
    path: Path
    as_of_date: str
    run_id: str
    charts: int


@dataclass(frozen=True)
class Bands:
    """The bands as published (dim_health_bands): the scored ones best first, the worst,
    and the band of rows without a score."""

    scored: tuple[str, ...]
    no_data: str

    @property
    def all(self) -> list[str]:
        return [*self.scored, self.no_data]

    @property
    def worst(self) -> str:
        return self.scored[-1] if self.scored else ""

    def colors(self) -> dict[str, str]:
        """A color per band: the usual ones for green/yellow/red, others in turn, grey
        for the no-data band."""
        colors = {self.no_data: NO_DATA_COLOR}
        for i, band in enumerate(self.scored):
            colors[band] = BAND_COLORS.get(band, OTHER_COLORS[i % len(OTHER_COLORS)])
        return colors


def published_bands(con: duckdb.DuckDBPyConnection) -> Bands:
    """The bands of the serving file, best first (their score rank)."""
    rows = con.execute(
        "select band, is_scored from dim_health_bands order by is_scored desc, score_rank"
    ).fetchall()
    return Bands(
        scored=tuple(band for band, scored in rows if scored),
        no_data=next(band for band, scored in rows if not scored),
    )


def _short(value: object, limit: int | None = TEXT_LIMIT) -> str:
    """The text of a value, cut to `limit` characters with an ellipsis (None: whole)."""
    text = "" if value is None else str(value)
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _e(value: object, limit: int | None = TEXT_LIMIT) -> str:
    """A value as safe, short HTML text (cut first, so no entity is cut in half)."""
    return html.escape(_short(value, limit))


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _accounts(n: int) -> str:
    return f"{n} account" if n == 1 else f"{n} accounts"


def stacked_bars(
    title: str, rows: list[tuple[str, dict[str, float]]], bands: list[str], colors: dict[str, str]
) -> str:
    """Horizontal 100 % bars, one per row label, split by band. Each segment prints its
    count and share; one too narrow for it has them in a line under its bar."""
    width, bar, gap, label = 640, 22, 10, 140
    inner = width - label - 10
    parts: list[str] = []
    y = 0
    for name, values in rows:
        total = sum(values.values()) or 1
        parts.append(f'<text x="0" y="{y + 16}" class="axis">{_e(name, LABEL_LIMIT)}</text>')
        x = float(label)
        beneath: list[str] = []
        for band in bands:
            count = values.get(band, 0)
            share = count / total
            if share <= 0:
                continue
            w = share * inner
            value = f"{count:g} ({share:.0%})"
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}"'
                f' fill="{colors[band]}"><title>{_e(name)} · {_e(band)}: '
                f"{value}</title></rect>"
            )
            if len(value) * 6.5 + 6 <= w:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 15}" text-anchor="middle"'
                    f' class="bar-value">{value}</text>'
                )
            else:
                beneath.append(f"{_e(band, LABEL_LIMIT)} {value}")
            x += w
        y += bar
        if beneath:
            parts.append(
                f'<text x="{label}" y="{y + 12}" class="axis">{" · ".join(beneath)}</text>'
            )
            y += 16
        y += gap
    parts.append(_legend(bands, y, colors))
    parts.append("</svg>")
    return _svg_open(title, width, y + 30) + "".join(parts)


def line_chart(
    title: str, days: list[date], series: dict[str, list[float]], colors: dict[str, str]
) -> str:
    """One line per series over the days; y from 0 to the largest value."""
    width, height, left, bottom = 640, 240, 60, 30
    top = max((v for values in series.values() for v in values), default=0) or 1
    n = max(len(days) - 1, 1)

    def xy(i: int, v: float) -> str:
        x = left + i * (width - left - 10) / n
        y = height - bottom - v / top * (height - bottom - 20)
        return f"{x:.1f},{y:.1f}"

    axis_y = height - bottom
    parts = [
        _svg_open(title, width, height + 30),
        f'<line x1="{left}" y1="{axis_y}" x2="{width - 10}" y2="{axis_y}" class="grid"/>',
        f'<text x="0" y="20" class="axis">{top:,.0f}</text>',
        f'<text x="0" y="{height - bottom}" class="axis">0</text>',
    ]
    if days:
        parts.append(f'<text x="{left}" y="{height - 8}" class="axis">{days[0]}</text>')
        parts.append(
            f'<text x="{width - 10}" y="{height - 8}" class="axis" text-anchor="end">'
            f"{days[-1]}</text>"
        )
    for name, values in series.items():
        points = " ".join(xy(i, v) for i, v in enumerate(values))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colors[name]}" stroke-width="2">'
            f"<title>{_e(name)}</title></polyline>"
        )
    parts.append(_legend(list(series), height + 5, colors))
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{_e(title, None)}"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    )


def _legend(names: list[str], y: int, colors: dict[str, str]) -> str:
    items = []
    for i, name in enumerate(names):
        color = colors[name]
        x = i * 130
        items.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="{y + 11}" class="axis">{_e(name, LABEL_LIMIT)}</text>'
        )
    return "".join(items)


def _table(headers: list[str], rows: list[Sequence[object]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty, None)}</p>'
    head = "".join(f"<th>{_e(h, None)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #202124; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }
.kpi b { display: block; font-size: 1.4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee;
  overflow-wrap: anywhere; }
.axis { font-size: 11px; fill: #555; } .grid { stroke: #ccc; }
.bar-value { font-size: 11px; font-weight: 600; fill: #111; }
.status-pass { color: #2e9e5b; } .status-fail, .status-error { color: #d6453d; }
.empty { color: #777; font-style: italic; }
"""


def build_report(serving: Path, reports_dir: Path, options: ReportOptions | None = None) -> Report:
    """Write `reports_dir/health_report.html` from the serving file (replaced atomically).
    `options` default to the HEALTH_REPORT_* settings."""
    options = options or ReportOptions.from_env()
    con = duckdb_connection.connect(str(serving), read_only=True)
    try:
        page, as_of, run_id, charts = _render(con, options)
    finally:
        con.close()
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "health_report.html"
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(page, encoding="utf-8")
    os.replace(scratch, path)
    return Report(path=path, as_of_date=as_of, run_id=run_id, charts=charts)


def _driver(name: str | None, change: float | None) -> str | None:
    """`billing -6.2`, or None for a driver that did not move (as shown, to 0.1)."""
    if name is None or change is None or round(abs(change), 1) == 0:
        return None
    return f"{name} {change:+.1f}"


def _movers(con: duckdb.DuckDBPyConnection, as_of: date, options: ReportOptions) -> str:
    """Per window, the drops then the rises of at least `min_move` points, at most
    `movers_per_list` each (largest first); each mover with the drivers that moved."""
    rows = con.execute(
        "select window_days, direction, mover_rank, account_name, health_score, health_band,"
        " score_change, main_driver, main_driver_change, second_driver, second_driver_change"
        " from mart_health_movers where as_of_date = ? and abs(score_change) >= ?"
        " order by window_days, mover_rank",
        [as_of, options.min_move],
    ).fetchall()
    lists: dict[tuple[int, str], list[list[object]]] = {}
    for window, direction, rank, name, score, band, change, *drivers in rows:
        shown = lists.setdefault((window, direction), [])
        if len(shown) >= options.movers_per_list:
            continue
        moved = [_driver(*drivers[:2]), _driver(*drivers[2:])]
        shown.append([
            rank,
            name,
            "-" if score is None else f"{score:.1f}",
            band,
            f"{change:+.1f}",
            ", ".join(d for d in moved if d),
        ])  # fmt: skip
    parts = []
    for window in MOVER_WINDOWS:
        for direction, heading in (("drop", "Drops"), ("rise", "Rises")):
            parts.append(f"<h3>{heading} over {window} days</h3>")
            parts.append(
                _table(
                    MOVER_HEADERS,
                    lists.get((window, direction), []),
                    f"No {direction} of {options.min_move:g} points or more over {window} days.",
                )
            )
    return "".join(parts)


def _revenue(
    con: duckdb.DuckDBPyConnection, as_of: date, worst: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], str]:
    """Revenue at risk by measure: the KPI tiles, (measure, chart) for each measure that
    has accounts, and the sentence that says what is shown. No money where nothing
    measures it."""
    today = {
        measure: (int(live), int(at_risk), revenue, revenue_at_risk)
        for measure, live, at_risk, revenue, revenue_at_risk in con.execute(
            "select revenue_measure, sum(live_accounts), sum(accounts_at_risk),"
            " sum(annual_revenue), sum(annual_revenue_at_risk)"
            " from bi_arr_at_risk where as_of_date = ? group by 1",
            [as_of],
        ).fetchall()
    }
    history = con.execute(
        "select revenue_measure, as_of_date, sum(annual_revenue_at_risk) from bi_arr_at_risk"
        " where as_of_date > ? - interval (?) day and revenue_measure <> ?"
        " group by 1, 2 order by 1, 2",
        [as_of, TREND_DAYS, NOT_MEASURED],
    ).fetchall()
    kpis, charts, shown = [], [], []
    for measure, (label, title, color) in REVENUE_MEASURES.items():
        if measure not in today:
            continue
        _, at_risk, revenue, revenue_at_risk = today[measure]
        kpis.append((label, f"{_money(revenue_at_risk)} of {_money(revenue)}"))
        points = [(day, float(v or 0)) for m, day, v in history if m == measure]
        chart = line_chart(
            title, [d for d, _ in points], {"at risk": [v for _, v in points]}, {"at risk": color}
        )
        charts.append((measure, chart))
        shown.append(f"{label.split(' at risk')[0]}: {_accounts(at_risk)} at risk")
    unmeasured = today.get(NOT_MEASURED, (0, 0, None, None))[1]
    if unmeasured:
        kpis.append(("At risk, revenue not measured", _accounts(unmeasured)))
    if shown:
        text = (
            f"Annual revenue of the live accounts in the worst band (<b>{_e(worst)}</b>),"
            " by how it is measured: ARR from subscriptions (12 x MRR) or, for accounts"
            " without a subscription, the invoices of the last 12 months. "
            + "; ".join(_e(x, None) for x in shown)
            + "."
        )
    else:
        text = "No revenue is measured for the live accounts (no subscriptions, no invoices)."
    if unmeasured:
        text += (
            f" {_accounts(unmeasured)} in the worst band with neither a subscription nor an"
            " invoice: counted, not priced."
        )
    return kpis, charts, f"<p>{text}</p>"


@dataclass(frozen=True)
class _Portfolio:
    """The live accounts on their latest day, per segment and band (the relation the run
    summary counts: bi_current_health_by_segment)."""

    by_segment: dict[str, dict[str, float]]
    live: int
    mean_score: float | None

    def bands(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for values in self.by_segment.values():
            for band, n in values.items():
                total[band] = total.get(band, 0) + n
        return total


def _portfolio(con: duckdb.DuckDBPyConnection) -> _Portfolio:
    by_segment: dict[str, dict[str, float]] = {}
    live, scored, points = 0, 0, 0.0
    for segment, band, accounts, mean in con.execute(
        "select segment, health_band, accounts, avg_health_score"
        " from bi_current_health_by_segment order by 1, 2"
    ).fetchall():
        by_segment.setdefault(segment, {})[band] = accounts
        live += accounts
        if mean is not None:
            scored += accounts
            points += mean * accounts
    return _Portfolio(by_segment, live, points / scored if scored else None)


def _band_trend(
    con: duckdb.DuckDBPyConnection, as_of: date, bands: list[str]
) -> tuple[list[date], dict[str, list[float]]]:
    """The days of the last TREND_DAYS and each band's accounts on them (bands with any)."""
    # rows written before output contract v2 may still hold churned days: left out
    trend = con.execute(
        "select as_of_date, health_band, count(*) from fct_customer_health_daily"
        " where not is_churned and as_of_date > ? - interval (?) day group by 1, 2 order by 1",
        [as_of, TREND_DAYS],
    ).fetchall()
    days = sorted({d for d, _, _ in trend})
    counts = {(d, b): n for d, b, n in trend}
    series = {b: [float(counts.get((d, b), 0)) for d in days] for b in bands}
    return days, {b: v for b, v in series.items() if any(v)}


def _insufficient(con: duckdb.DuckDBPyConnection, no_data_band: str) -> list[tuple]:
    return con.execute(
        "select account_id, account_name, segment, score_coverage, stale_components"
        " from dim_accounts where health_band = ? and not is_churned"
        " order by account_id limit 200",
        [no_data_band],
    ).fetchall()


def _run_checks(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str, list[tuple]]:
    """The run's check results: the status line (count per status) and those that did not
    pass."""
    counts = con.execute(
        "select status, count(*) from quality_check_results where run_id = ? group by 1 order by 1",
        [run_id],
    ).fetchall()
    not_passed = con.execute(
        "select stage, check_name, target, severity, status, observed_value"
        " from quality_check_results where run_id = ? and status not in ('pass', 'skipped')"
        " order by stage, check_name",
        [run_id],
    ).fetchall()
    status = ", ".join(f'<span class="status-{_e(s)}">{n} {_e(s)}</span>' for s, n in counts)
    return status, not_passed


def _render(con: duckdb.DuckDBPyConnection, options: ReportOptions) -> tuple[str, str, str, int]:
    """The page, the day it shows, the run that published it, and its number of charts."""
    (as_of,) = con.execute("select max(as_of_date) from fct_customer_health_daily").fetchone()
    run_id, published_at = con.execute("select run_id, published_at from publish_log").fetchone()
    bands = published_bands(con)
    colors = bands.colors()
    portfolio = _portfolio(con)
    days, band_series = _band_trend(con, as_of, bands.all)
    revenue_kpis, revenue_charts, revenue_text = _revenue(con, as_of, bands.worst)
    status, not_passed = _run_checks(con, run_id)
    charts = [
        stacked_bars(
            "Band distribution of the portfolio",
            [("All accounts", portfolio.bands())],
            bands.all,
            colors,
        ),
        stacked_bars(
            "Band distribution by segment", sorted(portfolio.by_segment.items()), bands.all, colors
        ),
        line_chart(
            "Accounts per band over time", days, band_series, {b: colors[b] for b in band_series}
        ),
        *(chart for _, chart in revenue_charts),
    ]
    insufficient = _table(
        INSUFFICIENT_HEADERS,
        _insufficient(con, bands.no_data),
        "Every live account has enough data.",
    )
    mean = portfolio.mean_score
    tiles = "".join(f'<div class="kpi">{_e(k, None)}<b>{_e(v)}</b></div>' for k, v in [
        ("Day scored", as_of),
        ("Live accounts", portfolio.live),
        ("Average health", "-" if mean is None else f"{mean:.1f}"),
        *revenue_kpis,
    ])  # fmt: skip
    body = f"""
<h1>Customer health report</h1>
<p>Scores as of <b>{_e(as_of)}</b>, published {_e(published_at)}
by run <code>{_e(run_id)}</code>.</p>
<div class="kpis">{tiles}</div>
<h2>Portfolio health</h2>
{charts[0]}
<h2>Band distribution by segment</h2>
{charts[1]}
<h2>Band trend (last {TREND_DAYS} days)</h2>
{charts[2]}
<h2>Revenue at risk</h2>
{revenue_text}
{"".join(f"<h3>{_e(REVENUE_MEASURES[m][1], None)}</h3>{c}" for m, c in revenue_charts)}
<h2>Top movers</h2>
<p>Changes of at least {options.min_move:g} points, the largest {options.movers_per_list} of
each list; drivers are the components that moved the score that way
(<code>mart_health_movers</code> has the full lists).</p>
{_movers(con, as_of, options)}
<h2>Accounts with insufficient data</h2>
{insufficient}
<h2>Data quality of this run</h2>
<p>Checks: {status or "none recorded"}.</p>
{_table(CHECK_HEADERS, not_passed, "Every check passed.")}
"""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Customer health report {_e(as_of)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return page, str(as_of), str(run_id), len(charts)
