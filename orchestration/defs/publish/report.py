"""The health report: one self-contained HTML file (inline CSS and SVG charts, no script,
no CDN; it opens offline and in any mail client's browser) written from the published
serving file after each successful run.

Sections: portfolio health and band distribution by segment, band trend over time, ARR
at risk, top movers with their drivers, accounts with insufficient data, and the
data-quality status of the run that published.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

TREND_DAYS = 90
BAND_COLORS = {"green": "#2e9e5b", "yellow": "#e0b400", "red": "#d6453d"}
OTHER_COLORS = ("#4e79a7", "#f28e2b", "#76b7b2", "#b07aa1", "#9c755f", "#bab0ac")
NO_DATA_COLOR = "#9aa0a6"
MOVER_HEADERS = [
    "days", "direction", "rank", "account", "score", "band", "change",
    "main driver", "its change", "second driver", "its change",
]  # fmt: skip
INSUFFICIENT_HEADERS = ["account", "name", "segment", "coverage", "stale components"]
CHECK_HEADERS = ["stage", "check", "target", "severity", "status", "observed"]


@dataclass(frozen=True)
class Report:
    path: Path
    as_of_date: str
    run_id: str
    charts: int


def _color(band: str, bands: Sequence[str]) -> str:
    if band in BAND_COLORS:
        return BAND_COLORS[band]
    if band == "insufficient_data":
        return NO_DATA_COLOR
    return OTHER_COLORS[bands.index(band) % len(OTHER_COLORS)] if band in bands else "#666"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def stacked_bars(title: str, rows: list[tuple[str, dict[str, float]]], bands: list[str]) -> str:
    """Horizontal 100 % bars, one per row label, split by band."""
    width, bar, gap, label = 640, 22, 10, 140
    height = len(rows) * (bar + gap) + 40
    parts = [_svg_open(title, width, height)]
    for i, (name, values) in enumerate(rows):
        y = i * (bar + gap)
        total = sum(values.values()) or 1
        parts.append(f'<text x="0" y="{y + 16}" class="axis">{_e(name)}</text>')
        x = float(label)
        for band in bands:
            share = values.get(band, 0) / total
            if share <= 0:
                continue
            w = share * (width - label - 10)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}"'
                f' fill="{_color(band, bands)}"><title>{_e(name)} · {_e(band)}: '
                f"{values.get(band, 0):g} ({share:.0%})</title></rect>"
            )
            x += w
    parts.append(_legend(bands, len(rows) * (bar + gap) + 10))
    parts.append("</svg>")
    return "".join(parts)


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
        f'<svg class="chart" role="img" aria-label="{_e(title)}"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    )


def _legend(names: list[str], y: int, colors: dict[str, str] | None = None) -> str:
    items = []
    for i, name in enumerate(names):
        color = colors[name] if colors else _color(name, names)
        x = i * 130
        items.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="{y + 11}" class="axis">{_e(name)}</text>'
        )
    return "".join(items)


def _table(headers: list[str], rows: list[Sequence[object]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #202124; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.kpis { display: flex; gap: 1rem; flex-wrap: wrap; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; min-width: 9rem; }
.kpi b { display: block; font-size: 1.4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eee; }
.axis { font-size: 11px; fill: #555; } .grid { stroke: #ccc; }
.status-pass { color: #2e9e5b; } .status-fail, .status-error { color: #d6453d; }
.empty { color: #777; font-style: italic; }
"""


def build_report(serving: Path, reports_dir: Path) -> Report:
    """Write `reports_dir/health_report.html` from the serving file (replaced atomically)."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        page, as_of, run_id, charts = _render(con)
    finally:
        con.close()
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "health_report.html"
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(page, encoding="utf-8")
    os.replace(scratch, path)
    return Report(path=path, as_of_date=as_of, run_id=run_id, charts=charts)


def _render(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str, int]:
    (as_of,) = con.execute("select max(as_of_date) from fct_customer_health_daily").fetchone()
    run_id, published_at = con.execute("select run_id, published_at from publish_log").fetchone()
    # the configured bands, best first (their score ranges order them)
    bands = [
        b
        for (b,) in con.execute(
            "select health_band from fct_customer_health_daily where health_score is not null"
            " group by 1 order by min(health_score) desc"
        ).fetchall()
    ]
    bands_all = [*bands, "insufficient_data"]
    live, mean = con.execute(
        "select count(*), avg(health_score) from fct_customer_health_daily"
        " where as_of_date = ? and not is_churned",
        [as_of],
    ).fetchone()
    at_risk_now = con.execute(
        "select sum(arr_at_risk), sum(arr) from bi_arr_at_risk where as_of_date = ?", [as_of]
    ).fetchone()

    by_segment: dict[str, dict[str, float]] = {}
    for segment, band, accounts in con.execute(
        "select segment, health_band, accounts from bi_current_health_by_segment order by 1, 2"
    ).fetchall():
        by_segment.setdefault(segment, {})[band] = accounts
    portfolio = {}
    for _, values in by_segment.items():
        for band, n in values.items():
            portfolio[band] = portfolio.get(band, 0) + n

    trend = con.execute(
        "select as_of_date, health_band, count(*) from fct_customer_health_daily"
        " where not is_churned and as_of_date > ? - interval (?) day group by 1, 2 order by 1",
        [as_of, TREND_DAYS],
    ).fetchall()
    days = sorted({d for d, _, _ in trend})
    counts = {(d, b): n for d, b, n in trend}
    band_series = {b: [float(counts.get((d, b), 0)) for d in days] for b in bands_all}
    band_series = {b: v for b, v in band_series.items() if any(v)}

    arr = con.execute(
        "select as_of_date, sum(arr_at_risk), sum(arr) from bi_arr_at_risk"
        " where as_of_date > ? - interval (?) day group by 1 order by 1",
        [as_of, TREND_DAYS],
    ).fetchall()
    arr_days = [d for d, _, _ in arr]
    arr_series = {"ARR at risk": [float(r or 0) for _, r, _ in arr]}

    movers = con.execute(
        "select window_days, direction, mover_rank, account_name, health_score, health_band,"
        " score_change, main_driver, main_driver_change, second_driver, second_driver_change"
        " from mart_health_movers where as_of_date = ? order by window_days, direction desc,"
        " mover_rank",
        [as_of],
    ).fetchall()
    insufficient = con.execute(
        "select account_id, account_name, segment, score_coverage, stale_components"
        " from dim_accounts where health_band = 'insufficient_data' and not is_churned"
        " order by account_id limit 200"
    ).fetchall()
    checks = con.execute(
        "select status, count(*) from quality_check_results where run_id = ? group by 1 order by 1",
        [run_id],
    ).fetchall()
    not_passed = con.execute(
        "select stage, check_name, target, severity, status, observed_value"
        " from quality_check_results where run_id = ? and status not in ('pass', 'skipped')"
        " order by stage, check_name",
        [run_id],
    ).fetchall()

    segment_rows = sorted(by_segment.items())
    charts = [
        stacked_bars(
            "Band distribution of the portfolio", [("All accounts", portfolio)], bands_all
        ),
        stacked_bars("Band distribution by segment", segment_rows, bands_all),
        line_chart(
            "Accounts per band over time",
            days,
            band_series,
            {b: _color(b, bands_all) for b in band_series},
        ),
        line_chart("ARR at risk over time", arr_days, arr_series, {"ARR at risk": "#d6453d"}),
    ]
    status = ", ".join(f'<span class="status-{s}">{n} {s}</span>' for s, n in checks)
    kpis = [
        ("Day scored", as_of),
        ("Live accounts", live),
        ("Average health", f"{mean:.1f}" if mean is not None else "-"),
        ("ARR at risk", _money(at_risk_now[0])),
        ("of ARR", _money(at_risk_now[1])),
    ]
    body = f"""
<h1>Customer health report</h1>
<p>Scores as of <b>{_e(as_of)}</b>, published {_e(published_at)}
by run <code>{_e(run_id)}</code>.</p>
<div class="kpis">{"".join(f'<div class="kpi">{_e(k)}<b>{_e(v)}</b></div>' for k, v in kpis)}</div>
<h2>Portfolio health</h2>
{charts[0]}
<h2>Band distribution by segment</h2>
{charts[1]}
<h2>Band trend (last {TREND_DAYS} days)</h2>
{charts[2]}
<h2>ARR at risk</h2>
<p>ARR of live accounts in the worst band (<b>{_e(bands[-1] if bands else "")}</b>).</p>
{charts[3]}
<h2>Top movers</h2>
{_table(MOVER_HEADERS, movers, "No movers on this day.")}
<h2>Accounts with insufficient data</h2>
{_table(INSUFFICIENT_HEADERS, insufficient, "Every live account has enough data.")}
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
