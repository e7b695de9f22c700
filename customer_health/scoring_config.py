"""Validation of the scoring configuration (the seeds/ CSV files) before a run uses it.

    python -m customer_health.scoring_config [CONFIG_DIR]

The catalog of what the SQL can compute (components, measures, settings) is the
`vars:` block of dbt_project/dbt_project.yml; the seed files say how it is
weighted and scored. `validate_config` checks every seed file against the catalog
and against each other, and raises `ScoringConfigError` listing every problem
found, each with its file, line (the header is line 1), column, the rule broken
and what to do. Pure Python: no dbt, no Dagster, no database.

Ranges of bounds (measure bands, score bands) run from the lower bound up to the
upper one; an empty measure-band bound is minus or plus infinity. Override
validity windows run from `valid_from` to `valid_to`, both days included; an
empty `valid_to` never ends.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import io
import itertools
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from customer_health.settings import DBT_PROJECT_DIR, Settings

SCORECARDS = "scoring_scorecards.csv"
WEIGHTS = "scoring_weights.csv"
MEASURES = "scoring_measures.csv"
MEASURE_BANDS = "scoring_measure_bands.csv"
BANDS = "scoring_bands.csv"
STATUS_POINTS = "scoring_status_points.csv"
SETTINGS = "scoring_settings.csv"
OVERRIDES = "scoring_overrides.csv"
CHURN = "scoring_churn.csv"

FILES: dict[str, tuple[str, ...]] = {
    SCORECARDS: ("scorecard", "min_coverage", "description"),
    WEIGHTS: ("scorecard", "component", "weight"),
    MEASURES: (
        "scorecard",
        "component",
        "measure",
        "method",
        "lower_bound",
        "upper_bound",
        "higher_is_better",
        "weight",
    ),
    MEASURE_BANDS: ("measure", "lower_bound", "upper_bound", "points"),
    BANDS: ("band", "min_score", "max_score", "band_order"),
    STATUS_POINTS: ("subscription_state", "points"),
    SETTINGS: ("setting", "value"),
    OVERRIDES: ("account_id", "component", "score", "reason", "author", "valid_from", "valid_to"),
    CHURN: ("scorecard", "churn_rule", "horizon_days", "description"),
}
"""Every seed file and its columns, in the order they are validated."""

VERSIONED: dict[str, tuple[str, ...]] = {
    name: tuple(c for c in columns if c != "description")
    for name, columns in FILES.items()
    if name not in (OVERRIDES, CHURN)
}
"""What the configuration version covers: every rule, not the descriptions, not the
manual overrides (they are flagged on the rows they change) and not what churn is (the
backtest's labels: it changes no score)."""
NUMERIC_COLUMNS = frozenset(
    ("min_coverage", "weight", "lower_bound", "upper_bound", "min_score", "max_score", "points",
     "band_order")
)  # fmt: skip
BOOLEAN_COLUMNS = frozenset(("higher_is_better",))

CATALOG_FILE = "dbt_project.yml"
DEFAULT_SCORECARD = "default"
METHODS = ("linear", "log", "bands", "percentile")
SUBSCRIPTION_STATES = ("active", "trialing", "past_due", "cancel_requested", "ended", "churned")
SETTING_TYPES = ("days", "optional_days", "choice")
CHURN_RULES = ("subscription", "inactivity")
MAX_HORIZON_DAYS = 3650
TOLERANCE = 1e-6
"""How far a sum of weights may be from 1."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (file, lines, column) and what was wrong and what to do."""

    file: str
    lines: tuple[int, ...]
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.lines:
            where += f" {_lines(self.lines)}"
        if self.column:
            where += f"{',' if self.lines else ''} column '{self.column}'"
        return f"{where}: {self.message}"


class ScoringConfigError(ValueError):
    """The scoring configuration breaks one or more rules; `problems` lists them all."""

    def __init__(self, config_dir: Path, problems: Sequence[Problem]) -> None:
        self.config_dir = config_dir
        self.problems = tuple(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"scoring configuration in {config_dir} has {count}:\n{lines}")


@dataclass(frozen=True)
class ConfigSummary:
    """What a valid configuration holds, for run metadata and the command line."""

    config_dir: Path
    config_version: str
    """`config_version`: the one version of the configuration (see `config_version`)."""
    overrides_digest: str
    """md5 of the override rows ('' when there are none): with the version, what the
    scoring_config asset's data version says changed."""
    scorecards: tuple[str, ...]
    measure_rows: int
    overrides: int
    overrides_active: int
    """Overrides whose validity window includes `as_of`."""
    as_of: date

    def __str__(self) -> str:
        return (
            f"{len(self.scorecards)} scorecards ({', '.join(self.scorecards)}), "
            f"{self.measure_rows} measure rows, {self.overrides_active} of {self.overrides} "
            f"overrides active on {self.as_of}, config_version {self.config_version}"
            f" ({self.config_dir})"
        )


@dataclass(frozen=True)
class Catalog:
    """What the SQL can compute: the `vars:` of dbt_project.yml."""

    components: tuple[str, ...]
    measures: tuple[str, ...]
    settings: Mapping[str, Mapping[str, Any]]
    no_data_band: str
    """The band of a row without a score (vars.health_no_data_band): no configured band
    may take its name."""
    overall_override: str
    """The component name of an override of the whole score (vars.health_overall_override)."""


@dataclass(frozen=True)
class Row:
    line: int
    values: Mapping[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]


def load_catalog(dbt_project_dir: Path = DBT_PROJECT_DIR) -> Catalog:
    """Read health_components, health_measures and health_settings from dbt_project.yml."""
    path = Path(dbt_project_dir) / CATALOG_FILE
    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        problem = Problem(str(path), (), None, f"cannot read the scoring catalog: {exc}")
        raise ScoringConfigError(path.parent, [problem]) from exc
    variables = (project.get("vars") if isinstance(project, dict) else None) or {}
    problems = []
    expected = {
        "health_components": list,
        "health_measures": dict,
        "health_settings": dict,
        "health_no_data_band": str,
        "health_overall_override": str,
    }
    for name, kind in expected.items():
        if not isinstance(variables.get(name), kind) or not variables[name]:
            shape = {list: "a list", dict: "a mapping", str: "a text"}[kind]
            problems.append(
                Problem(str(path), (), None, f"vars.{name} is missing or not {shape}; restore it")
            )
    if not problems:
        for name, spec in variables["health_settings"].items():
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in SETTING_TYPES or (kind == "choice" and not spec.get("values")):
                problems.append(
                    Problem(
                        str(path),
                        (),
                        None,
                        f"vars.health_settings.{name} needs type one of {', '.join(SETTING_TYPES)}"
                        " (and `values` for choice)",
                    )
                )
    if problems:
        raise ScoringConfigError(path.parent, problems)
    return Catalog(
        components=tuple(str(c) for c in variables["health_components"]),
        measures=tuple(str(m) for m in variables["health_measures"]),
        settings=variables["health_settings"],
        no_data_band=variables["health_no_data_band"],
        overall_override=variables["health_overall_override"],
    )


def validate_config(
    config_dir: Path, dbt_project_dir: Path = DBT_PROJECT_DIR, *, as_of: date | None = None
) -> ConfigSummary:
    """Check every seed file against the catalog and each other; raise listing every problem.

    `as_of` (default: today, UTC) is the day the summary counts active overrides on.
    """
    config_dir = Path(config_dir)
    catalog = load_catalog(dbt_project_dir)
    if not config_dir.is_dir():
        problem = Problem(
            str(config_dir),
            (),
            None,
            "is not a folder; point HEALTH_CONFIG_DIR at the folder holding the scoring_*.csv "
            "files (default: seeds/)",
        )
        raise ScoringConfigError(config_dir, [problem])
    problems: list[Problem] = []
    tables = {name: _read_table(config_dir, name, problems) for name in FILES}
    validator = _Validator(catalog, tables, problems)
    validator.run()
    if problems:
        order = {name: i for i, name in enumerate(FILES)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.lines[:1]))
        raise ScoringConfigError(config_dir, problems)
    as_of = as_of or datetime.now(UTC).date()
    overrides = validator.override_windows
    return ConfigSummary(
        config_dir=config_dir,
        config_version=config_version(tables),
        overrides_digest=_digest(tables[OVERRIDES] or [], FILES[OVERRIDES]),
        scorecards=tuple(validator.scorecards or ()),
        measure_rows=len(tables[MEASURES] or ()),
        overrides=len(overrides),
        overrides_active=sum(_in_window(as_of, start, end) for start, end in overrides),
        as_of=as_of,
    )


def config_version(tables: Mapping[str, list[Row] | None]) -> str:
    """The configuration's version: the `config_version` of every fact row, which dbt is
    given (HEALTH_CONFIG_VERSION) rather than computing it, so that the run, the Dagster
    data version and the report say one version.

    md5 over one line per row of every file of VERSIONED, `<seed>|<value>|...` (numbers
    with six decimals, booleans true/false, empty cells empty), sorted and joined by
    newlines: a stable text, whatever the file's row order or number formatting."""
    lines = []
    for name, columns in VERSIONED.items():
        seed = name.removesuffix(".csv")
        lines += ["|".join([seed, *_version_values(row, columns)]) for row in tables[name] or ()]
    return hashlib.md5("\n".join(sorted(lines)).encode()).hexdigest()


def _version_values(row: Row, columns: tuple[str, ...]) -> list[str]:
    values = []
    for column in columns:
        text = row[column].strip()
        if not text:
            values.append("")
        elif column in NUMERIC_COLUMNS:
            values.append(str(Decimal(text).quantize(Decimal("0.000001"), ROUND_HALF_UP)))
        elif column in BOOLEAN_COLUMNS:
            values.append(text.lower())
        else:
            values.append(row[column])
    return values


def _digest(rows: list[Row], columns: tuple[str, ...]) -> str:
    if not rows:
        return ""
    text = "\n".join(sorted("|".join(row[c] for c in columns) for row in rows))
    return hashlib.md5(text.encode()).hexdigest()


def _read_table(config_dir: Path, name: str, problems: list[Problem]) -> list[Row] | None:
    """The file's rows by column name, or None (with a problem) when it cannot be used."""
    columns = FILES[name]
    header_text = ",".join(columns)
    path = config_dir / name
    if not path.is_file():
        problems.append(Problem(name, (), None, f"file is missing from {config_dir}; restore it"))
        return None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            Problem(
                name,
                (line,),
                None,
                f"byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8",
            )
        )
        return None
    if text.startswith("\ufeff"):
        problems.append(
            Problem(
                name, (1,), None, "file starts with a byte-order mark; save it as UTF-8 without BOM"
            )
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            problems.append(
                Problem(name, (1,), None, f"file is empty; its first line must be {header_text}")
            )
            return None
        header_problem = _header_problem(header, columns)
        if header_problem:
            problems.append(
                Problem(name, (1,), None, f"{header_problem}; the header must be {header_text}")
            )
            return None
        rows = []
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                problems.append(
                    Problem(
                        name,
                        (start,),
                        None,
                        f"row has {len(record)} values but the header has {len(header)} "
                        "columns; quote values that contain a comma",
                    )
                )
                continue
            rows.append(Row(start, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        problems.append(Problem(name, (reader.line_num,), None, f"not readable as CSV: {exc}"))
        return None
    return rows


def _header_problem(header: list[str], columns: tuple[str, ...]) -> str:
    parts = []
    repeated = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns]
    if missing:
        parts.append(f"missing column{'s' if len(missing) > 1 else ''} {_names(missing)}")
    if unknown:
        parts.append(f"unknown column{'s' if len(unknown) > 1 else ''} {_names(unknown)}")
    if repeated:
        parts.append(f"column{'s' if len(repeated) > 1 else ''} {_names(repeated)} repeated")
    return "; ".join(parts)


class _Validator:
    """The rules, file by file; cross-file rules run only when both files could be read."""

    def __init__(
        self, catalog: Catalog, tables: Mapping[str, list[Row] | None], problems: list[Problem]
    ) -> None:
        self.catalog = catalog
        self.tables = tables
        self.problems = problems
        self.scorecards: dict[str, int] | None = None
        self.override_windows: list[tuple[date, date | None]] = []

    def fail(
        self, file: str, lines: int | Iterable[int] | None, column: str | None, message: str
    ) -> None:
        if lines is None:
            lines = ()
        elif isinstance(lines, int):
            lines = (lines,)
        self.problems.append(Problem(file, tuple(sorted(lines)), column, message))

    def run(self) -> None:
        self.scorecards = self.check_scorecards()
        weights = self.check_weights()
        band_measures = self.check_measure_bands()
        self.check_measures(weights, band_measures)
        self.check_bands()
        self.check_status_points()
        self.check_settings()
        self.check_overrides()
        self.check_churn()

    # -- value parsers: the value, or None after recording why it is not one --

    def number(
        self, file: str, row: Row, column: str, *, optional: bool = False, needed_by: str = ""
    ) -> float | None:
        raw = row[column].strip()
        if not raw:
            if not optional:
                self.fail(file, row.line, column, f"{needed_by or column} needs a number here")
            return None
        if not _NUMBER.fullmatch(raw):
            self.fail(file, row.line, column, f"{column} {raw!r} is not a number; write e.g. 0.25")
            return None
        return float(raw)

    def in_range(
        self, file: str, row: Row, column: str, low: float, high: float, meaning: str = ""
    ) -> float | None:
        value = self.number(file, row, column)
        if value is not None and not low <= value <= high:
            self.fail(
                file,
                row.line,
                column,
                f"{column} {row[column].strip()} is outside [{low:g}, {high:g}]{meaning}; "
                f"use a value from {low:g} to {high:g}",
            )
            return None
        return value

    def scorecard_known(self, file: str, row: Row) -> bool:
        name = row["scorecard"]
        if self.scorecards is None or name in self.scorecards:
            return True
        self.fail(
            file,
            row.line,
            "scorecard",
            f"scorecard {name!r} is not in {SCORECARDS}; add it there or use one of "
            f"{_names(self.scorecards)}",
        )
        return False

    def component_known(self, file: str, row: Row, *extra: str) -> bool:
        """A component of the catalog, or one of `extra` (the overall override's name)."""
        name = row["component"]
        allowed = (*extra, *self.catalog.components)
        if name in allowed:
            return True
        also = f"{_names(extra)} or " if extra else ""
        self.fail(
            file,
            row.line,
            "component",
            f"component {name!r} is unknown{_did_you_mean(name, allowed)}; use {also}one of "
            f"{_names(self.catalog.components)} (vars.health_components in dbt_project.yml)",
        )
        return False

    def measure_known(self, file: str, row: Row) -> bool:
        name = row["measure"]
        if name in self.catalog.measures:
            return True
        hint = _did_you_mean(name, self.catalog.measures)
        self.fail(
            file,
            row.line,
            "measure",
            f"measure {name!r} is not one the SQL computes{hint}; use a measure listed in "
            "vars.health_measures in dbt_project.yml",
        )
        return False

    # -- the files --

    def check_scorecards(self) -> dict[str, int] | None:
        rows = self.tables[SCORECARDS]
        if rows is None:
            return None
        names: dict[str, int] = {}
        for row in rows:
            name = row["scorecard"]
            if not name.strip():
                self.fail(SCORECARDS, row.line, "scorecard", "scorecard name is empty; name it")
            elif name in names:
                self.fail(
                    SCORECARDS,
                    row.line,
                    "scorecard",
                    f"scorecard {name!r} is already defined on line {names[name]}; "
                    "scorecard names must be unique",
                )
            else:
                names[name] = row.line
            self.in_range(SCORECARDS, row, "min_coverage", 0, 1, " (a share of the weight)")
        if DEFAULT_SCORECARD not in names:
            self.fail(
                SCORECARDS,
                None,
                None,
                f"no {DEFAULT_SCORECARD!r} scorecard; add a row for it (other scorecards fall "
                "back to its measures)",
            )
        return names

    def check_weights(self) -> dict[str, dict[str, tuple[float, int]]] | None:
        """Weights by scorecard and component, as (weight, line)."""
        rows = self.tables[WEIGHTS]
        if rows is None:
            return None
        weights: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
        unparsed: set[str] = set()
        seen: dict[tuple[str, str], int] = {}
        for row in rows:
            scorecard, component = row["scorecard"], row["component"]
            self.scorecard_known(WEIGHTS, row)
            self.component_known(WEIGHTS, row)
            weight = self.number(WEIGHTS, row, "weight")
            if weight is not None and weight < 0:
                self.fail(
                    WEIGHTS,
                    row.line,
                    "weight",
                    f"weight {row['weight'].strip()} is negative; weights must be >= 0",
                )
            if (scorecard, component) in seen:
                self.fail(
                    WEIGHTS,
                    row.line,
                    None,
                    f"scorecard {scorecard!r} already weights component {component!r} on line "
                    f"{seen[scorecard, component]}; keep one row",
                )
                continue
            seen[scorecard, component] = row.line
            if weight is None:
                unparsed.add(scorecard)
            else:
                weights[scorecard][component] = (weight, row.line)
        for scorecard, by_component in weights.items():
            if scorecard in unparsed:
                continue
            total = math.fsum(w for w, _ in by_component.values())
            if abs(total - 1) > TOLERANCE:
                self.fail(
                    WEIGHTS,
                    [line for _, line in by_component.values()],
                    "weight",
                    f"weights of scorecard {scorecard!r} sum to {total:.10g}; they must sum to 1 "
                    "(within 1e-6)",
                )
        for scorecard, line in (self.scorecards or {}).items():
            if scorecard not in weights and scorecard not in unparsed:
                self.fail(
                    SCORECARDS,
                    line,
                    "scorecard",
                    f"scorecard {scorecard!r} has no rows in {WEIGHTS}; add its component "
                    "weights there (summing to 1)",
                )
        return weights

    def check_measures(
        self,
        weights: Mapping[str, Mapping[str, tuple[float, int]]] | None,
        band_measures: set[str] | None,
    ) -> None:
        rows = self.tables[MEASURES]
        if rows is None:
            return
        groups: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
        unparsed: set[tuple[str, str]] = set()
        seen: dict[tuple[str, str, str], int] = {}
        for row in rows:
            key = (row["scorecard"], row["component"], row["measure"])
            self.scorecard_known(MEASURES, row)
            self.component_known(MEASURES, row)
            measure_ok = self.measure_known(MEASURES, row)
            weight = self.number(MEASURES, row, "weight")
            if weight is not None and weight <= 0:
                self.fail(
                    MEASURES,
                    row.line,
                    "weight",
                    f"weight {row['weight'].strip()} is not positive; measure weights must be "
                    "> 0 (remove the row to drop the measure)",
                )
            self.check_method(row, band_measures if measure_ok else None)
            if key in seen:
                self.fail(
                    MEASURES,
                    row.line,
                    None,
                    f"measure {key[2]!r} is already in scorecard {key[0]!r} component "
                    f"{key[1]!r} on line {seen[key]}; keep one row",
                )
                continue
            seen[key] = row.line
            if weight is None:
                unparsed.add(key[:2])
            else:
                groups[key[:2]].append((weight, row.line))
        for (scorecard, component), members in groups.items():
            if (scorecard, component) in unparsed:
                continue
            total = math.fsum(w for w, _ in members)
            if abs(total - 1) > TOLERANCE:
                self.fail(
                    MEASURES,
                    [line for _, line in members],
                    "weight",
                    f"measure weights of scorecard {scorecard!r} component {component!r} sum to "
                    f"{total:.10g}; they must sum to 1 (within 1e-6)",
                )
        if weights is None:
            return
        has_measures = set(groups) | unparsed
        for scorecard, by_component in weights.items():
            for component, (weight, line) in by_component.items():
                if weight <= 0 or component not in self.catalog.components:
                    continue
                if (scorecard, component) in has_measures:
                    continue
                if (DEFAULT_SCORECARD, component) in has_measures:
                    continue
                self.fail(
                    WEIGHTS,
                    line,
                    "component",
                    f"component {component!r} has weight {weight:g} in scorecard {scorecard!r} "
                    f"but no measures: neither {scorecard!r} nor {DEFAULT_SCORECARD!r} has rows "
                    f"for it in {MEASURES}; add them there or set the weight to 0",
                )

    def check_method(self, row: Row, band_measures: set[str] | None) -> None:
        method = row["method"]
        if method not in METHODS:
            self.fail(
                MEASURES,
                row.line,
                "method",
                f"method {method!r} is unknown; use one of {_names(METHODS)}",
            )
            return
        if method in ("linear", "log"):
            lower = self.number(MEASURES, row, "lower_bound", needed_by=f"method {method!r}")
            upper = self.number(MEASURES, row, "upper_bound", needed_by=f"method {method!r}")
            if lower is not None and upper is not None and lower >= upper:
                self.fail(
                    MEASURES,
                    row.line,
                    "upper_bound",
                    f"{method} needs lower_bound < upper_bound, but {lower:g} >= {upper:g}; swap "
                    "them and use higher_is_better to say which end scores 100",
                )
            if method == "log" and lower is not None and lower < 0:
                self.fail(
                    MEASURES,
                    row.line,
                    "lower_bound",
                    f"log scores ln(1 + value), so it needs lower_bound >= 0, not {lower:g}; "
                    "use linear for a measure that can be negative",
                )
        if method in ("linear", "log", "percentile"):
            value = row["higher_is_better"].strip().lower()
            if value not in ("true", "false"):
                self.fail(
                    MEASURES,
                    row.line,
                    "higher_is_better",
                    f"method {method!r} needs higher_is_better true or false, not "
                    f"{row['higher_is_better']!r}",
                )
        if method == "bands" and band_measures is not None:
            measure = row["measure"]
            if measure not in band_measures:
                self.fail(
                    MEASURES,
                    row.line,
                    "method",
                    f"method 'bands' needs bands for {measure!r} in {MEASURE_BANDS}, and it has "
                    "none; add them there or use method linear",
                )

    def check_measure_bands(self) -> set[str] | None:
        """The measures that have bands."""
        rows = self.tables[MEASURE_BANDS]
        if rows is None:
            return None
        ranges: dict[str, list[tuple[float | None, float | None, int]]] = {}
        for row in rows:
            self.measure_known(MEASURE_BANDS, row)
            lower = self.number(MEASURE_BANDS, row, "lower_bound", optional=True)
            upper = self.number(MEASURE_BANDS, row, "upper_bound", optional=True)
            self.in_range(MEASURE_BANDS, row, "points", 0, 100)
            # a bound filled in but not a number (already reported) keeps the band out of order
            bad = (lower is None and bool(row["lower_bound"].strip())) or (
                upper is None and bool(row["upper_bound"].strip())
            )
            if lower is not None and upper is not None and lower >= upper:
                self.fail(
                    MEASURE_BANDS,
                    row.line,
                    "upper_bound",
                    f"band of {row['measure']!r} runs from {lower:g} to {upper:g}; "
                    "lower_bound must be below upper_bound",
                )
                bad = True
            # A band that could not be read still counts as present, not in the tiling.
            bands = ranges.setdefault(row["measure"], [])
            if not bad:
                bands.append((lower, upper, row.line))
        for measure, bands in ranges.items():
            self.check_tiling(
                MEASURE_BANDS,
                ("lower_bound", "upper_bound"),
                sorted(bands, key=_lower_first),
                this=lambda _, measure=measure: f"band of {measure!r}",
                that=lambda line: f"the band on line {line}",
            )
        return set(ranges)

    def check_tiling(
        self,
        file: str,
        columns: tuple[str, str],
        bands: list[tuple[float | None, float | None, int]],
        this: Callable[[int], str],
        that: Callable[[int], str],
    ) -> None:
        """Sorted by lower bound, each band (lower, upper, line) must start where the previous
        one ends: the one tiling rule of measure bands and score bands. `columns` are the
        file's lower and upper bound columns; `this(line)` names a band as the subject of a
        message, `that(line)` as its object. A None bound is open (minus or plus infinity)."""
        lower_column, upper_column = columns
        for (_, prev_upper, prev_line), (lower, _, line) in itertools.pairwise(bands):
            if lower is None:
                self.fail(
                    file,
                    line,
                    lower_column,
                    f"{that(prev_line)} and {that(line)} both leave {lower_column} empty (minus "
                    "infinity) and overlap; only the lowest band may",
                )
            elif prev_upper is None:
                self.fail(
                    file,
                    prev_line,
                    upper_column,
                    f"{this(prev_line)} leaves {upper_column} empty (plus infinity) but "
                    f"{that(line)} starts at {lower:g}, so they overlap; only the highest band "
                    f"may leave it empty: end this one at {lower:g}",
                )
            elif lower < prev_upper:
                self.fail(
                    file,
                    line,
                    lower_column,
                    f"{this(line)} starts at {lower:g}, inside {that(prev_line)} that ends at "
                    f"{prev_upper:g}: bands overlap; start it at {prev_upper:g}",
                )
            elif lower > prev_upper:
                self.fail(
                    file,
                    line,
                    lower_column,
                    f"{this(line)} starts at {lower:g} but {that(prev_line)} ends at "
                    f"{prev_upper:g}, leaving a gap; start it at {prev_upper:g}",
                )

    def check_bands(self) -> None:
        rows = self.tables[BANDS]
        if rows is None:
            return
        names: dict[str, int] = {}
        orders: dict[int, int] = {}
        ranges: list[tuple[float, float, int, str]] = []
        for row in rows:
            self.check_band_row(row, names, orders, ranges)
        if len(rows) < 2:
            self.fail(
                BANDS,
                None,
                None,
                f"{len(rows)} band{'s' if len(rows) != 1 else ''}; define at least 2 that "
                "together cover scores 0 to 100",
            )
        if ranges and len(ranges) == len(rows):
            self.check_band_cover(sorted(ranges))
            self.check_band_order(rows, ranges)

    def check_band_row(
        self,
        row: Row,
        names: dict[str, int],
        orders: dict[int, int],
        ranges: list[tuple[float, float, int, str]],
    ) -> None:
        """One band: a unique, unreserved name, min_score below max_score (its range goes
        to `ranges`), a unique whole band_order."""
        name = row["band"]
        if not name.strip():
            self.fail(BANDS, row.line, "band", "band name is empty; name it")
        elif name == self.catalog.no_data_band:
            self.fail(
                BANDS,
                row.line,
                "band",
                f"{name!r} is reserved for accounts without enough data; choose another name",
            )
        elif name in names:
            self.fail(
                BANDS,
                row.line,
                "band",
                f"band {name!r} is already defined on line {names[name]}; band names must "
                "be unique",
            )
        else:
            names[name] = row.line
        low = self.number(BANDS, row, "min_score")
        high = self.number(BANDS, row, "max_score")
        if low is not None and high is not None and low >= high:
            self.fail(
                BANDS,
                row.line,
                "max_score",
                f"band {name!r} runs from {low:g} to {high:g}; min_score must be below max_score",
            )
        elif low is not None and high is not None:
            ranges.append((low, high, row.line, name))
        order = row["band_order"].strip()
        if not _INTEGER.fullmatch(order):
            self.fail(
                BANDS,
                row.line,
                "band_order",
                f"band_order {order!r} is not a whole number; number the bands 1, 2, 3, ...",
            )
        elif int(order) in orders:
            self.fail(
                BANDS,
                row.line,
                "band_order",
                f"band_order {order} is already used on line {orders[int(order)]}; "
                "give each band its own",
            )
        else:
            orders[int(order)] = row.line

    def check_band_cover(self, ranges: list[tuple[float, float, int, str]]) -> None:
        """The bands (sorted by range) cover 0 to 100 with no gap and no overlap."""
        low, _, line, name = ranges[0]
        if low != 0:
            self.fail(
                BANDS,
                line,
                "min_score",
                f"the lowest band {name!r} starts at {low:g}; it must start at 0 so that the "
                "bands cover scores 0 to 100",
            )
        _, high, line, name = ranges[-1]
        if high != 100:
            self.fail(
                BANDS,
                line,
                "max_score",
                f"the highest band {name!r} ends at {high:g}; it must end at 100 so that the "
                "bands cover scores 0 to 100",
            )
        named = {line: name for _, _, line, name in ranges}
        self.check_tiling(
            BANDS,
            ("min_score", "max_score"),
            [(low, high, line) for low, high, line, _ in ranges],
            this=lambda line: f"band {named[line]!r}",
            that=lambda line: f"band {named[line]!r} (line {line})",
        )

    def check_band_order(
        self, rows: list[Row], ranges: list[tuple[float, float, int, str]]
    ) -> None:
        """band_order follows the scores: 1 for the band of the highest scores, and so on
        down, so that "the worst band" (dim_health_bands) is the last in every order."""
        by_line = {row.line: row["band_order"].strip() for row in rows}
        if not all(_INTEGER.fullmatch(order) for order in by_line.values()):
            return  # already reported
        best_first = sorted(ranges, key=lambda band: -band[0])
        expected = sorted(int(order) for order in by_line.values())
        for (_, _, line, name), order in zip(best_first, expected, strict=True):
            if int(by_line[line]) != order:
                self.fail(
                    BANDS,
                    line,
                    "band_order",
                    f"band {name!r} has band_order {by_line[line]} but is number {order} by its "
                    "scores; band_order runs from 1 for the band of the highest scores to the "
                    "band of the lowest",
                )

    def check_status_points(self) -> None:
        rows = self.tables[STATUS_POINTS]
        if rows is None:
            return
        seen: dict[str, int] = {}
        for row in rows:
            state = row["subscription_state"]
            if state not in SUBSCRIPTION_STATES:
                self.fail(
                    STATUS_POINTS,
                    row.line,
                    "subscription_state",
                    f"subscription state {state!r} is unknown; use one of "
                    f"{_names(SUBSCRIPTION_STATES)}",
                )
            elif state in seen:
                self.fail(
                    STATUS_POINTS,
                    row.line,
                    "subscription_state",
                    f"subscription state {state!r} already has points on line {seen[state]}; "
                    "keep one row",
                )
            else:
                seen[state] = row.line
            self.in_range(STATUS_POINTS, row, "points", 0, 100)
        missing = [state for state in SUBSCRIPTION_STATES if state not in seen]
        if missing:
            self.fail(
                STATUS_POINTS,
                None,
                None,
                f"no points for subscription state{'s' if len(missing) > 1 else ''} "
                f"{_names(missing)}; add a row for each",
            )

    def check_settings(self) -> None:
        rows = self.tables[SETTINGS]
        if rows is None:
            return
        catalog = self.catalog.settings
        seen: dict[str, int] = {}
        for row in rows:
            name, value = row["setting"], row["value"].strip()
            if name not in catalog:
                self.fail(
                    SETTINGS,
                    row.line,
                    "setting",
                    f"setting {name!r} is unknown{_did_you_mean(name, catalog)}; the settings "
                    "are those in vars.health_settings in dbt_project.yml",
                )
                continue
            if name in seen:
                self.fail(
                    SETTINGS,
                    row.line,
                    "setting",
                    f"setting {name!r} is already set on line {seen[name]}; keep one row",
                )
                continue
            seen[name] = row.line
            spec = catalog[name]
            if spec["type"] == "optional_days" and not value:
                continue
            if spec["type"] == "choice":
                ok = value in spec["values"]
            else:
                ok = bool(_INTEGER.fullmatch(value)) and int(value) >= 1
            if not ok:
                self.fail(
                    SETTINGS,
                    row.line,
                    "value",
                    f"{name} is {value!r}; it must be {_setting_rule(spec)}",
                )
        for name, spec in catalog.items():
            if name not in seen:
                self.fail(
                    SETTINGS,
                    None,
                    None,
                    f"setting {name!r} is missing; add a row {name},<value> with "
                    f"{_setting_rule(spec)}",
                )

    def check_churn(self) -> None:
        """One churn rule per scorecard (the backtest's labels), each with its horizon."""
        rows = self.tables[CHURN]
        if rows is None:
            return
        seen: dict[str, int] = {}
        for row in rows:
            name = row["scorecard"]
            if self.scorecard_known(CHURN, row) and name in seen:
                self.fail(
                    CHURN,
                    row.line,
                    "scorecard",
                    f"scorecard {name!r} already has a churn rule on line {seen[name]}; keep one",
                )
            seen.setdefault(name, row.line)
            rule = row["churn_rule"].strip()
            if rule not in CHURN_RULES:
                self.fail(
                    CHURN,
                    row.line,
                    "churn_rule",
                    f"churn_rule {rule!r} is unknown; use {_names(CHURN_RULES)}",
                )
            days = row["horizon_days"].strip()
            if not days.isdigit() or not 1 <= int(days) <= MAX_HORIZON_DAYS:
                self.fail(
                    CHURN,
                    row.line,
                    "horizon_days",
                    f"horizon_days {days!r} is not a whole number of days from 1 to "
                    f"{MAX_HORIZON_DAYS}",
                )
        missing = [name for name in self.scorecards or () if name not in seen]
        if missing:
            self.fail(
                CHURN,
                None,
                None,
                f"no churn rule for scorecard{'s' if len(missing) > 1 else ''} "
                f"{_names(missing)}; add a row for each (the backtest labels churn by it)",
            )

    def check_overrides(self) -> None:
        rows = self.tables[OVERRIDES]
        if rows is None:
            return
        windows: dict[tuple[str, str], list[tuple[date, date | None, int]]] = defaultdict(list)
        for row in rows:
            account, component = row["account_id"], row["component"]
            if not account.strip():
                self.fail(OVERRIDES, row.line, "account_id", "account_id is empty; fill it in")
            self.component_known(OVERRIDES, row, self.catalog.overall_override)
            self.in_range(OVERRIDES, row, "score", 0, 100)
            for column in ("reason", "author"):
                if not row[column].strip():
                    self.fail(
                        OVERRIDES,
                        row.line,
                        column,
                        f"{column} is empty; every override says why and who set it",
                    )
            start = self.parse_date(OVERRIDES, row, "valid_from")
            end = self.parse_date(OVERRIDES, row, "valid_to", optional=True)
            if start is None or (end is None and row["valid_to"].strip()):
                continue
            if end is not None and end < start:
                self.fail(
                    OVERRIDES,
                    row.line,
                    "valid_to",
                    f"valid_to {end} is before valid_from {start}; fix the dates",
                )
                continue
            self.override_windows.append((start, end))
            earlier = windows[account, component]
            for other_start, other_end, other_line in earlier:
                if _in_window(start, other_start, other_end) or _in_window(other_start, start, end):
                    self.fail(
                        OVERRIDES,
                        row.line,
                        "valid_from",
                        f"override of {account!r} {component!r} from {start} to "
                        f"{end or 'open end'} overlaps the one on line {other_line} "
                        f"({other_start} to {other_end or 'open end'}); end one before the "
                        "other starts",
                    )
            earlier.append((start, end, row.line))

    def parse_date(
        self, file: str, row: Row, column: str, *, optional: bool = False
    ) -> date | None:
        raw = row[column].strip()
        if not raw:
            if not optional:
                self.fail(file, row.line, column, f"{column} is empty; write a date, YYYY-MM-DD")
            return None
        try:
            if not _DATE.fullmatch(raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            self.fail(file, row.line, column, f"{column} {raw!r} is not a date; write YYYY-MM-DD")
            return None


def _lower_first(band: tuple[float | None, float | None, int]) -> tuple[float, int]:
    lower, _, line = band
    return (-math.inf if lower is None else lower, line)


def _in_window(day: date, start: date, end: date | None) -> bool:
    return start <= day and (end is None or day <= end)


def _setting_rule(spec: Mapping[str, Any]) -> str:
    if spec["type"] == "choice":
        return f"one of {_names(spec['values'])}"
    rule = "a whole number of days >= 1"
    return f"empty (never) or {rule}" if spec["type"] == "optional_days" else rule


def _names(values: Iterable[Any]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lines(lines: Sequence[int]) -> str:
    """'line 4', or 'lines 2-4, 7' for several."""
    if len(lines) == 1:
        return f"line {lines[0]}"
    runs: list[list[int]] = []
    for line in lines:
        if runs and line == runs[-1][-1] + 1:
            runs[-1].append(line)
        else:
            runs.append([line])
    parts = [f"{run[0]}-{run[-1]}" if len(run) > 1 else f"{run[0]}" for run in runs]
    return f"lines {', '.join(parts)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m customer_health.scoring_config",
        description="Validate the scoring configuration (the scoring_*.csv seed files) "
        "against the catalog in dbt_project/dbt_project.yml.",
    )
    parser.add_argument(
        "config_dir",
        nargs="?",
        type=Path,
        help="folder holding the scoring_*.csv files (default: $HEALTH_CONFIG_DIR, else seeds/)",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print only the configuration's version (what dbt reads as HEALTH_CONFIG_VERSION)",
    )
    args = parser.parse_args(argv)
    try:
        config_dir = args.config_dir or Settings.from_env().config_dir
    except ValueError as exc:  # a bad HEALTH_* setting names the variable and the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = validate_config(config_dir)
    except ScoringConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(summary.config_version if args.version else f"scoring configuration OK: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
