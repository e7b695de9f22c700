"""What a run left behind, as comparable evidence: checksums of tables and files, the
state of each sync destination, and every place a secret value shows up.

Tables are compared as multisets of row hashes (DuckDB `hash()` over the compared
columns), so two runs agree when every row agrees, and `lost` counts the rows of one
missing from the other. Columns that legitimately carry the time or identity of the run
that wrote them are left out (`VOLATILE_COLUMNS`); everything else must be identical.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sqlite3
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.reliability.servers import DestinationState, apply_record

VOLATILE_COLUMNS = {
    # publish_log: one row per publication, naming the run and when it published
    "publish_log": {"run_id", "published_at"},
    # every check of every run: the run and when it checked
    "quality_check_results": {"run_id", "checked_at"},
}
"""Published columns that carry the run that wrote them (found by comparing two
uninterrupted runs of the same data: nothing else differs). `scored_at` is not one: it
is the last day scored (dim_accounts), not a time of the run."""
RAW_VOLATILE = {"_load_id", "_loaded_at", "load_id", "loaded_at", "validated_at"}
"""Raw-layer columns naming the loading run and when it loaded."""
RUN_TARGET = re.compile(r"health_dbt_models-[0-9a-f]+-[0-9a-f]+")
"""dbt's per-invocation target folder (named after the run), quoted in each dbt test's
evidence (the path of its compiled SQL)."""
BOOKKEEPING_TABLES = {"_validated_loads"}
"""Raw-schema tables of the loader's own bookkeeping (which load passed its suite, one row
per run that validated): not data, not compared."""


def sha256_file(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class ServingProbe:
    sha256: str | None
    readable: bool
    fact_rows: int | None
    error: str = ""


def probe_serving(path: Path) -> ServingProbe:
    """The serving file's checksum, and whether it opens read-only and answers a query on
    the fact table (what a BI tool does)."""
    sha = sha256_file(path)
    if sha is None:
        return ServingProbe(None, False, None, "missing")
    try:
        con = duckdb.connect(str(path), read_only=True)
        try:
            row = con.execute("select count(*) from fct_customer_health_daily").fetchone()
        finally:
            con.close()
    except duckdb.Error as exc:
        return ServingProbe(sha, False, None, f"{type(exc).__name__}: {exc}"[:300])
    return ServingProbe(sha, True, int(row[0]) if row else 0)


Digest = dict[str, Counter[int]]
"""table -> multiset of row hashes"""


def _row_hashes(
    con: duckdb.DuckDBPyConnection, relation: str, columns: list[str], where: str = ""
) -> Counter[int]:
    exprs = ", ".join(columns) or "1"
    rows = con.execute(f"select hash({exprs}) from {relation} {where}").fetchall()
    return Counter(int(h) for (h,) in rows)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        c
        for (c,) in con.execute(
            "select column_name from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


RUN_OWN_WORK = (
    "stage = 'door' and (check_name like 'contract\\_%' escape '\\'"
    " or check_name like 'raw\\_%' escape '\\')"
)
"""quality_check_results rows whose observed value and evidence describe the run's own
work, not the data: the landing contract (files this run loaded) and the row suite (rows
this run validated). After a killed run, the next run finds the files loaded and the
batches validated already, and says so: for these only the verdict is compared."""


def _compared(table: str, columns: list[str]) -> list[str]:
    """The expressions compared for a published table's columns."""
    skip = VOLATILE_COLUMNS.get(table, set())
    exprs = []
    for column in columns:
        if column in skip:
            continue
        expr = _quoted(column)
        if table == "quality_check_results" and column in ("observed_value", "evidence"):
            if column == "evidence":
                expr = f"regexp_replace({expr}, '{RUN_TARGET.pattern}', 'health_dbt_models-*', 'g')"
            expr = f"case when {RUN_OWN_WORK} then null else {expr} end"
        exprs.append(expr)
    return exprs


def _only_publishing_run(table: str, run_id: str | None) -> str:
    """quality_check_results keeps every run's checks (killed runs' too): the publishing
    run's own are compared."""
    if table == "quality_check_results" and run_id:
        return f"where run_id = '{run_id}'"
    return ""


def published_digest(serving: Path) -> Digest:
    """Every published table of a serving file, without the columns that carry its run;
    quality_check_results restricted to the publishing run's own checks, with dbt's
    per-run target folder masked and, for the checks of the run's own work, the verdict
    only (`RUN_OWN_WORK`)."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'main' order by 1"
            ).fetchall()
        ]
        row = con.execute("select run_id from publish_log").fetchone()
        run_id = str(row[0]) if row else None
        digest: Digest = {}
        for table in tables:
            exprs = _compared(table, _columns(con, "main", table))
            where = _only_publishing_run(table, run_id)
            digest[table] = _row_hashes(con, f"main.{_quoted(table)}", exprs, where)
        return digest
    finally:
        con.close()


def publishing_run(serving: Path) -> str | None:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        row = con.execute("select run_id from publish_log").fetchone()
        return str(row[0]) if row else None
    finally:
        con.close()


def raw_digest(warehouse: Path) -> Digest:
    """Every table of the warehouse's raw schema (loaded rows, quarantine, load audit),
    without the columns naming the loading run."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        digest: Digest = {}
        for table in tables:
            if table in BOOKKEEPING_TABLES:
                continue
            columns = [c for c in _columns(con, "raw", table) if c not in RAW_VOLATILE]
            digest[table] = _row_hashes(con, f"raw.{_quoted(table)}", [_quoted(c) for c in columns])
        return digest
    finally:
        con.close()


def table_digest(database: Path, relation: str) -> Counter[int]:
    """One table of a DuckDB file, every column."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        schema, _, table = relation.rpartition(".")
        columns = _columns(con, schema or "main", table)
        return _row_hashes(con, relation, [_quoted(c) for c in columns])
    finally:
        con.close()


def exports_digest(exports: Path, run_id: str | None) -> Digest:
    """Each exported table's Parquet rows (every file under exports/<table>/), compared
    as the published tables are (`run_id`: the run that published them)."""
    digest: Digest = {}
    if not exports.is_dir():
        return digest
    con = duckdb.connect()
    try:
        for folder in sorted(p for p in exports.iterdir() if p.is_dir()):
            files = sorted(str(f) for f in folder.rglob("*.parquet"))
            if not files:
                digest[folder.name] = Counter()
                continue
            relation = con.read_parquet(files, hive_partitioning=True)
            exprs = _compared(folder.name, list(relation.columns))
            where = _only_publishing_run(folder.name, run_id)
            rows = relation.query("t", f"select hash({', '.join(exprs)}) from t {where}").fetchall()
            digest[folder.name] = Counter(int(h) for (h,) in rows)
        return digest
    finally:
        con.close()


def files_digest(folder: Path) -> dict[str, str | None]:
    """sha256 of every file under a folder, by relative path."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


@dataclass
class Comparison:
    """How a digest compares with the reference one."""

    lost: int = 0
    """reference rows missing"""
    extra: int = 0
    """rows the reference does not have (duplicates among them)"""
    differing: list[str] = field(default_factory=list)
    """tables that differ, each with its counts"""

    @property
    def identical(self) -> bool:
        return not self.differing

    def __add__(self, other: Comparison) -> Comparison:
        return Comparison(
            self.lost + other.lost, self.extra + other.extra, self.differing + other.differing
        )


def compare(reference: Digest, got: Digest, what: str = "") -> Comparison:
    result = Comparison()
    for table in sorted(set(reference) | set(got)):
        ref, mine = reference.get(table, Counter()), got.get(table, Counter())
        if ref == mine:
            continue
        lost, extra = sum((ref - mine).values()), sum((mine - ref).values())
        result.lost += lost
        result.extra += extra
        name = f"{what}{table}"
        if table not in got:
            result.differing.append(f"{name} missing")
        elif table not in reference:
            result.differing.append(f"{name} not in the reference")
        else:
            result.differing.append(f"{name}: {lost} rows missing, {extra} extra")
    return result


# --- sync destinations ----------------------------------------------------------------


def outbox_state(folder: Path, key_field: str) -> tuple[DestinationState, list[str]]:
    """A file destination's state: its files applied in name order (names start with the
    sync's UTC time), and any scratch file a killed writer left."""
    state = DestinationState()
    leftovers: list[str] = []
    if not folder.is_dir():
        return state, leftovers
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            leftovers.append(path.name)
            continue
        state.batches += 1
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                apply_record(state, json.loads(line), key_field)
    return state, leftovers


def compare_states(reference: DestinationState, got: DestinationState) -> Comparison:
    """Records of the reference destination missing or different in `got`."""
    result = Comparison()
    missing = [k for k in reference.records if got.records.get(k) != reference.records[k]]
    extra = [k for k in got.records if k not in reference.records]
    result.lost, result.extra = len(missing), len(extra)
    if missing or extra:
        result.differing.append(f"{len(missing)} records missing or different, {len(extra)} extra")
    return result


# --- secrets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    where: str
    secret: str
    how: str


def needles(secrets: Mapping[str, str], tokens: Mapping[str, str]) -> dict[str, list[bytes]]:
    """What to look for, per secret setting: its value, its URL-encoded form, and the
    random token inside it (which any encoding that keeps the text keeps)."""
    found: dict[str, list[bytes]] = {}
    for name, value in secrets.items():
        forms = {value, urllib.parse.quote(value, safe=""), tokens.get(name, "")}
        found[name] = sorted({f.encode() for f in forms if f}, key=len)
    return found


DUCKDB_MAGIC = b"DUCK"
SQLITE_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"


def scan_files(roots: Iterable[Path], secrets: Mapping[str, list[bytes]]) -> list[Hit]:
    """Every file under `roots` (links not followed): its bytes, and where a format could
    hide text from a byte search, its decoded content: DuckDB and SQLite databases (every
    text column of every table), Parquet files, gzip files."""
    hits: list[Hit] = []
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else _walk(root)
        for path in paths:
            hits += scan_file(path, secrets)
    return hits


def _walk(root: Path) -> list[Path]:
    found = []
    for folder, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def scan_file(path: Path, secrets: Mapping[str, list[bytes]]) -> list[Hit]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    hits = [
        Hit(str(path), name, "bytes") for name, forms in secrets.items() if _any_in(forms, data)
    ]
    decoded: list[tuple[str, str]] = []
    try:
        if data[8:12] == DUCKDB_MAGIC:
            decoded = _duckdb_texts(path, secrets)
        elif data.startswith(SQLITE_MAGIC):
            decoded = _sqlite_texts(path, secrets)
        elif data.startswith(PARQUET_MAGIC):
            decoded = _parquet_texts(path, secrets)
        elif data.startswith(b"\x1f\x8b"):
            text = gzip.decompress(data)
            decoded = [(n, "gzip content") for n, f in secrets.items() if _any_in(f, text)]
    except Exception as exc:  # unreadable as its format: the byte search still ran
        decoded = [("?", f"could not decode ({type(exc).__name__}); bytes searched only")]
    for name, how in decoded:
        if name != "?":
            hits.append(Hit(str(path), name, how))
    return hits


def _any_in(forms: list[bytes], data: bytes) -> bool:
    return any(form in data for form in forms)


def _column_hits(
    con: Any, relation: str, where: str, contains: str, secrets: Mapping[str, list[bytes]]
) -> list[tuple[str, str]]:
    """(secret, where) for each secret some row of `relation` holds in one column;
    `contains` is the engine's test of that column for one `?` text."""
    found = []
    for name, forms in secrets.items():
        row = con.execute(
            f"select count(*) from {relation} where {' or '.join(contains for _ in forms)}",
            [f.decode() for f in forms],
        ).fetchone()
        if row and row[0]:
            found.append((name, f"{where}: {row[0]} rows"))
    return found


def _duckdb_texts(path: Path, secrets: Mapping[str, list[bytes]]) -> list[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    found = []
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where data_type in ('VARCHAR', 'JSON') and table_catalog = current_database()"
        ).fetchall()
        for schema, table, column in columns:
            found += _column_hits(
                con,
                f"{_quoted(schema)}.{_quoted(table)}",
                f"table {schema}.{table}, column {column}",
                f"contains(cast({_quoted(column)} as varchar), ?)",
                secrets,
            )
    finally:
        con.close()
    return found


def _sqlite_texts(path: Path, secrets: Mapping[str, list[bytes]]) -> list[tuple[str, str]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    found = []
    try:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            columns = [c[1] for c in con.execute(f"pragma table_info({_quoted(table)})")]
            for column in columns:
                found += _column_hits(
                    con,
                    _quoted(table),
                    f"table {table}, column {column}",
                    f"instr(cast({_quoted(column)} as text), ?) > 0",
                    secrets,
                )
    finally:
        con.close()
    return found


def _parquet_texts(path: Path, secrets: Mapping[str, list[bytes]]) -> list[tuple[str, str]]:
    con = duckdb.connect()
    found = []
    try:
        relation = con.read_parquet(str(path))
        texts = [
            c for c, t in zip(relation.columns, relation.types, strict=True) if "VARCHAR" in str(t)
        ]
        for column in texts:
            for name, forms in secrets.items():
                condition = " or ".join(
                    f"contains(cast({_quoted(column)} as varchar), ?)" for _ in forms
                )
                row = con.execute(
                    f"select count(*) from read_parquet(?) where {condition}",
                    [str(path), *[f.decode() for f in forms]],
                ).fetchone()
                if row and row[0]:
                    found.append((name, f"column {column}: {row[0]} rows"))
    finally:
        con.close()
    return found


def scan_text(label: str, text: str, secrets: Mapping[str, list[bytes]]) -> list[Hit]:
    data = text.encode("utf-8", "replace")
    return [Hit(label, name, "text") for name, forms in secrets.items() if _any_in(forms, data)]
