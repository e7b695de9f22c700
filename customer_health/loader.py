"""Loading landing files into the raw layer under the landing contract.

For each new or changed file of an entity: read it (a file that cannot be read
fails alone, audited with its error), type and check every row in SQL, and in one
transaction replace what that file loaded before with its good rows
(`raw.<entity>`), its bad rows (`raw.<entity>__quarantine`, with reasons) and an
audit row (`raw._load_audit`). Files are checked and written in batches (BATCH_FILES),
one transaction per batch: a daily export is thousands of small files, and one
query plan per file cost more than the rows. Keys are unique per file (a repeated key
is a duplicate); the same key in two files is two versions. Which version is the
current one is decided here, as each batch is written: `_is_current` is recomputed for
every key the batch adds or replaces (`version_order_sql`), so staging reads the current
rows without ranking every version ever loaded on each read; the days a batch changed go
to raw._changed_days, so the daily models rebuild only those. Counts always reconcile per
file: rows_read = rows_loaded + rows_quarantined + rows_duplicate.

Quarantined rows whose only problems depend on time or on other data (an
account that had not arrived yet, a date after the as-of time) are checked
again on every load and move to the raw table once they pass.

No Dagster here: the assets call `load_entity`, and tests call it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from customer_health.contract import ENTITIES, LINEAGE_COLUMNS, Column, Entity, number_text
from customer_health.landing import (
    JSON_LINE_COLUMN,
    JSON_TYPE_COLUMN,
    NUL_SHOWN,
    LandingFile,
    LandingFileError,
    column_keys,
    landing_suffix,
    open_landing_file,
    scan_entity_folder,
    sql_ident,
    sql_string,
    utc_now,
)

log = logging.getLogger(__name__)

AUDIT_TABLE = "raw._load_audit"
VALIDATED_TABLE = "raw._validated_loads"
CHANGED_DAYS_TABLE = "raw._changed_days"
"""Per write, the days whose rows it changed; models rebuild those days (see
`_settle_versions`)."""
"""Loads whose rows passed their entity's GX suite; rows of other loads are pending."""
RECHECKED_CODES = ("orphan_account", "future_timestamp")
"""Reason codes that can stop applying later; rows with only these are re-checked."""
ONLY_RECHECKED_SQL = f"list_has_all({list(RECHECKED_CODES)}, string_split(_reason_codes, ','))"
"""True for a quarantined row whose every reason code is in RECHECKED_CODES."""


@dataclass
class FileLoad:
    source_file: str
    status: str  # loaded | unchanged | deferred | failed | readmitted
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    error: str | None = None


@dataclass
class EntityLoad:
    entity: str
    load_id: str
    files: list[FileLoad] = field(default_factory=list)
    rows_readmitted: int = 0

    def _total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def rows_read(self) -> int:
        return self._total("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self._total("rows_loaded") + self.rows_readmitted

    @property
    def rows_quarantined(self) -> int:
        return self._total("rows_quarantined") - self.rows_readmitted

    @property
    def rows_duplicate(self) -> int:
        return self._total("rows_duplicate")

    @property
    def failed(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == "failed"]

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


CURRENT_COLUMN = "_is_current"
"""Raw column: true on the one current version of each key (see version_order_sql)."""


def version_order_sql(entity: Entity) -> str:
    """The order of a key's versions in the raw table, current first: the latest
    `version_column` (accounts and subscriptions carry `updated_at`), then the latest
    load, then the last file and row of that load."""
    version = f"{entity.version_column} desc nulls last, " if entity.version_column else ""
    return f"{version}_loaded_at desc, _source_file desc, _source_row desc"


def quarantine_table(entity: Entity) -> str:
    return f"raw.{entity.name}__quarantine"


def raw_table(entity: Entity) -> str:
    return f"raw.{entity.name}"


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Commit the block's statements together, or none of them."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def ensure_raw_tables(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Create the raw, quarantine and audit tables if missing.

    Absent entities still get their (empty) raw table, so the models downstream
    always find their sources and score missing data as missing.
    """
    con.execute("create schema if not exists raw")
    lineage = ", ".join(f"{name} {dtype}" for name, dtype in LINEAGE_COLUMNS.items())
    typed = ", ".join(f"{c.name} {c.raw_type}" for c in entity.columns)
    texts = ", ".join(f"{c.name} VARCHAR" for c in entity.columns)
    raw = raw_table(entity)
    con.execute(f"create table if not exists {raw} ({typed}, {lineage}, {CURRENT_COLUMN} BOOLEAN)")
    has_current = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'raw'"
        " and table_name = ? and column_name = ?",
        [entity.name, CURRENT_COLUMN],
    ).fetchone()
    if has_current and not has_current[0]:  # a raw table from before the column existed
        with _transaction(con):
            con.execute(f"alter table {raw} add column {CURRENT_COLUMN} BOOLEAN")
            _changed_keys(con, _keys_and_days_sql(entity, f"from {raw}"), first=True)
            _settle_versions(con, entity, load_id=None)
    con.execute(
        f"create table if not exists {quarantine_table(entity)} ({texts}, {lineage},"
        " _reason_codes VARCHAR, _reasons VARCHAR)"
    )
    con.execute(
        f"""
        create table if not exists {AUDIT_TABLE} (
            load_id VARCHAR, entity VARCHAR, source_file VARCHAR, status VARCHAR,
            file_size BIGINT, file_mtime DOUBLE, file_sha256 VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, rows_duplicate BIGINT,
            error VARCHAR, as_of_time TIMESTAMP, loaded_at TIMESTAMP
        )
        """
    )
    con.execute(
        f"create table if not exists {CHANGED_DAYS_TABLE}"
        " (entity VARCHAR, day DATE, change_seq BIGINT, load_id VARCHAR, changed_at TIMESTAMP)"
    )
    con.execute(
        f"create table if not exists {VALIDATED_TABLE}"
        " (entity VARCHAR, load_id VARCHAR, validated_at TIMESTAMP)"
    )


# --- typing and checking rows ----------------------------------------------------------


def _typed_sql(col: Column, default_currency: str) -> str:
    text = f"s_{col.name}"
    if col.default is not None:
        literal = col.default.format(default_currency=default_currency)
        text = f"coalesce(s_{col.name}, '{literal}')"
    if col.kind == "number":
        # -0 is stored as 0: IEEE keeps the sign of a negative zero, and it would show.
        number = f"try_cast({text} as double)"
        return f"case when {number} = 0 then cast(0 as double) else {number} end"
    if col.kind == "timestamp":
        return f"timezone('UTC', try_cast({text} as timestamptz))"
    if col.kind == "enum":
        return f"lower({text})"
    return text


def _column_checks(
    col: Column, future_limit: str, dates_row: bool, range_by_rule: bool
) -> Iterator[tuple[str, str, str]]:
    """(reason code, violated condition, message) for one column's rules.

    `dates_row`: the column dates the row (event time or version time), so it may not
    lie in the future. Other timestamps (`due_at`, `ended_at`) legitimately may.
    `range_by_rule`: a row rule of the entity checks this number's range (a survey score's
    scale depends on the survey type), so the column's own range check is left out.
    """
    s, t, name = f"s_{col.name}", f"t_{col.name}", col.name
    shown = f"'''' || {s} || ''''"
    if col.required:
        yield "missing_value", f"{s} is null", f"'{name}: required value is empty'"
    if col.kind == "number":
        yield (
            "bad_number",
            f"{s} is not null and ({t} is null or not isfinite({t}))",
            f"'{name}: ' || {shown} || ' is not a finite number'",
        )
        if not range_by_rule:
            allowed = f"(allowed {col.range_text})"
            yield (
                "out_of_range",
                f"isfinite({t}) and {t} < {col.min_value!r}",  # not finite: bad_number
                f"'{name}: ' || {shown} || ' is below {number_text(col.min_value)} {allowed}'",
            )
            yield (
                "out_of_range",
                f"isfinite({t}) and {t} > {col.max_value!r}",
                f"'{name}: ' || {shown} || ' is above {number_text(col.max_value)} {allowed}'",
            )
    elif col.kind == "timestamp":
        yield (
            "unparseable_timestamp",
            f"{s} is not null and {t} is null",
            f"'{name}: ' || {shown} || ' is not an ISO-8601 timestamp'",
        )
        if dates_row:
            yield (
                "future_timestamp",
                f"{t} > {future_limit}",
                f"'{name}: ' || {shown} || ' is after the as-of time plus one day'",
            )
    elif col.kind == "enum":
        accepted = ", ".join(f"'{v}'" for v in col.values)
        yield (
            "invalid_value",
            f"{s} is not null and {t} not in ({accepted})",
            f"'{name}: ' || {shown} || ' is not one of {'/'.join(col.values)}'",
        )


_NOT_AN_OBJECT_SQL = (
    "'row ' || __row || ': not a JSON object but ' || case __json_type"
    " when 'ARRAY' then 'an array' when 'VARCHAR' then 'a string' when 'NULL' then 'null'"
    " when 'BOOLEAN' then 'a boolean' else 'a number' end"
    " || '; each line of a .jsonl file must be one JSON object'"
)
"""The reason of a JSONL line that is not an object (rows are its non-empty lines)."""


def _keys_and_days_sql(entity: Entity, from_sql: str, prefix: str = "") -> str:
    """Key and event day of the rows `from_sql` (a FROM clause and filter) selects;
    `prefix` is `t_` for the typed columns of `_checked`."""
    pk, day = f"{prefix}{entity.primary_key}", f"{prefix}{entity.event_time}"
    return f"select {pk}, cast({day} as date) {from_sql}"


def _changed_keys(
    con: duckdb.DuckDBPyConnection, keys_sql: str, params: list | None = None, *, first: bool
) -> None:
    """Add the (key, day) rows `keys_sql` selects to temp table `_changed_keys` (new when
    `first`): the keys whose current version `_settle_versions` recomputes, and the
    days of the rows written or replaced."""
    if first:
        keys = f"select * from ({keys_sql}) as k(key, day)"
        con.execute(f"create or replace temp table _changed_keys as {keys}", params)
    else:
        con.execute(f"insert into _changed_keys {keys_sql}", params)


def _settle_versions(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    *,
    load_id: str | None,
    changed_at: datetime | None = None,
) -> None:
    """For the keys in `_changed_keys`, from one read of their versions: record, under the
    next change_seq, the event days of every row written or replaced and of every version
    of those keys (a key's current version can move to another day; the daily models
    rebuild exactly these days, dbt_project/macros/changed_days.sql), unless `load_id` is
    None; then set `_is_current`, true on the first version in version_order_sql and false
    on the others. Costs the versions of those keys (plus a scan of the key column), not
    the whole table's ranking."""
    raw, pk = raw_table(entity), entity.primary_key
    con.execute(
        f"""
        create or replace temp table _versions as
        select rowid as row_id, cast({entity.event_time} as date) as day,
            row_number() over (partition by {pk} order by {version_order_sql(entity)})
                as version_rank
        from {raw}
        where {pk} in (select key from _changed_keys)
        """
    )
    if load_id is not None:
        con.execute(
            f"""
            insert into {CHANGED_DAYS_TABLE}
            select distinct ?, day,
                (select coalesce(max(change_seq), 0) + 1 from {CHANGED_DAYS_TABLE}), ?, ?
            from (select day from _changed_keys union all select day from _versions) as days
            where day is not null
            """,
            [entity.name, load_id, changed_at],
        )
    con.execute(
        f"""
        update {raw} as r
        set {CURRENT_COLUMN} = v.version_rank = 1
        from _versions as v
        where r.rowid = v.row_id
        """
    )
    con.execute("drop table _versions")
    con.execute("drop table _changed_keys")


def _build_checked_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    source_sql: str,
    present: set[str],
    *,
    as_of_time: datetime,
    default_currency: str,
) -> None:
    """Create temp table `_checked` from a batch relation, with typed values and reasons.

    `source_sql` yields the landing columns (any names) plus `__file`, `__row`, `__extra`,
    and the problems only reading the file could see: `__json_type` (the JSON type of a
    JSONL line that is not an object: nothing else is checked on such a row) and
    `__nul_reasons` (the columns holding a NUL character).
    """
    future_limit = f"timestamp '{(as_of_time + timedelta(days=1)).isoformat(sep=' ')}'"
    texts = []
    for col in entity.columns:
        if col.name in present:
            texts.append(
                f"nullif(trim(cast({sql_ident(col.name)} as varchar)), '') as s_{col.name}"
            )
        else:
            texts.append(f"cast(null as varchar) as s_{col.name}")
    typed = [f"{_typed_sql(c, default_currency)} as t_{c.name}" for c in entity.columns]
    dating = {entity.event_time, entity.version_column}
    ranged_by_rule = {r.range_of for r in entity.row_rules}
    checks = [
        chk
        for col in entity.columns
        for chk in _column_checks(col, future_limit, col.name in dating, col.name in ranged_by_rule)
    ]
    checks.insert(0, ("nul_character", "__nul_reasons is not null", "__nul_reasons"))
    checks += [(r.code, r.violated_sql, r.message_sql) for r in entity.row_rules]
    if entity.is_fact:
        checks.append(
            (
                "orphan_account",
                (
                    "t_account_id is not null and not exists "
                    "(select 1 from raw.accounts a where a.account_id = t_account_id)"
                ),
                "'account_id: ' || t_account_id || ' matches no account'",
            )
        )
    codes = ", ".join(f"case when {cond} then '{code}' end" for code, cond, _ in checks)
    reasons = ", ".join(f"case when {cond} then {msg} end" for _, cond, msg in checks)
    order = f"t_{entity.version_column} desc nulls last, " if entity.version_column else ""
    con.execute(
        f"""
        create or replace temp table _checked as
        with texts as (
            select __file, __row, __extra, __json_type, __nul_reasons, {", ".join(texts)}
            from ({source_sql})
        ),
        typed as (select *, {", ".join(typed)} from texts),
        reasoned as (
            select *,
                case when __json_type is not null then 'not_an_object'
                     else nullif(concat_ws(',', {codes}), '') end as reason_codes,
                case when __json_type is not null then {_NOT_AN_OBJECT_SQL}
                     else nullif(concat_ws('; ', {reasons}), '') end as reasons
            from typed
        )
        select *,
            case when reason_codes is null then row_number() over (
                partition by __file, reason_codes is null, t_{entity.primary_key}
                order by {order}__row desc
            ) end as key_rank
        from reasoned
        """
    )


_LOADED = "from _checked where reason_codes is null and key_rank = 1"


def _write_checked_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    *,
    load_id: str,
    loaded_at: datetime,
) -> dict[str, tuple[int, int, int]]:
    """Insert `_checked` into raw and quarantine tables; return (loaded, quarantined,
    duplicates) per source file (files without rows are absent)."""
    typed = ", ".join(f"t_{c.name}" for c in entity.columns)
    # Quarantine keeps the text as it arrived, but no table anywhere can hold a NUL.
    nul_shown = sql_string(NUL_SHOWN)
    texts = ", ".join(f"replace(s_{c.name}, chr(0), {nul_shown})" for c in entity.columns)
    lineage = f"__extra, __file, __row, '{load_id}', timestamp '{loaded_at}'"
    con.execute(
        f"insert into {raw_table(entity)} select {typed}, {lineage}, null from _checked"
        " where reason_codes is null and key_rank = 1"
    )
    _changed_keys(con, _keys_and_days_sql(entity, _LOADED, "t_"), first=False)
    con.execute(
        f"""
        insert into {quarantine_table(entity)}
        select {texts}, {lineage},
            coalesce(reason_codes, 'duplicate_key'),
            coalesce(reasons, '{entity.primary_key}: ' || t_{entity.primary_key}
                     || ' appears again in this file; a later or newer row was kept')
        from _checked where reason_codes is not null or key_rank > 1
        """
    )
    rows = con.execute(
        """
        select __file,
               count(*) filter (where reason_codes is null and key_rank = 1),
               count(*) filter (where reason_codes is not null),
               count(*) filter (where key_rank > 1)
        from _checked
        group by __file
        """
    ).fetchall()
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows}


# --- files -----------------------------------------------------------------------------


def _file_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"describe select * from {relation}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _stage_file(
    con: duckdb.DuckDBPyConnection, entity: Entity, landing_file: LandingFile
) -> set[str]:
    """Read a file into temp table `_landing`; return the contract columns it has."""
    if landing_file.size == 0:
        raise LandingFileError(
            landing_file.rel_path, "the file is empty.", "Drop a file with a header and rows."
        )
    with open_landing_file(con, landing_file) as relation:
        return _stage_relation(con, entity, landing_file, relation)


def _stage_relation(
    con: duckdb.DuckDBPyConnection, entity: Entity, landing_file: LandingFile, relation: str
) -> set[str]:
    """`_stage_file` over the file's open relation (the reader's path lives as long as it).

    Besides the file's columns as text and `__extra`, `_landing` gets the row problems
    that only reading can see (see `_build_checked_batch`): a JSONL line's JSON type when
    it is not an object (its `__extra` is then the line as read), and the columns that
    hold a NUL character.
    """
    columns = _file_columns(con, relation)
    jsonl = landing_suffix(landing_file.path) == ".jsonl"
    if jsonl:
        del columns[JSON_TYPE_COLUMN], columns[JSON_LINE_COLUMN]
    names = column_keys(list(columns), landing_file.rel_path)
    missing = [c for c in entity.required_columns if c not in names]
    if missing:
        raise LandingFileError(
            landing_file.rel_path,
            f"required column missing (an {entity.name} file needs "
            f"{', '.join(entity.required_columns)}).",
            "Add the column to the file and drop it again; nothing of this file was loaded.",
            column=missing[0],
        )
    selects = []
    for key, original in names.items():
        value = sql_ident(original)
        # Parquet JSON columns: take the scalar text, unquoted.
        expr = f"{value} ->> '$'" if columns[original] == "JSON" else f"cast({value} as varchar)"
        selects.append(f"{expr} as {sql_ident(key)}")
    extras = [k for k in names if k not in entity.column_names]
    extra_sql = (
        "to_json(struct_pack("
        + ", ".join(f"{sql_ident(k)} := {sql_ident(k)}" for k in extras)
        + "))"
        if extras
        else "cast(null as varchar)"
    )
    if jsonl:
        json_type = f"nullif({JSON_TYPE_COLUMN}, 'OBJECT')"
        extra_sql = f"case when __json_type is null then {extra_sql} else __json_line end"
    else:
        json_type = "cast(null as varchar)"
    json_line = JSON_LINE_COLUMN if jsonl else "cast(null as varchar)"
    nul_reasons = ", ".join(
        f"case when strpos({sql_ident(key)}, chr(0)) > 0 then {sql_string(_nul_reason(key))} end"
        for key in names
    )
    con.execute(
        f"""
        create or replace temp table _landing as
        with typed as (
            select {", ".join(selects)}, {json_type} as __json_type, {json_line} as __json_line
            from {relation}
        )
        select * exclude (__json_line),
            cast({extra_sql} as varchar) as __extra,
            nullif(concat_ws('; ', {nul_reasons}), '') as __nul_reasons
        from typed
        """
    )
    return {c for c in entity.column_names if c in names}


def _nul_reason(column: str) -> str:
    return (
        f"{column}: contains a NUL character (\\x00, shown as {NUL_SHOWN} here), "
        "which text columns cannot hold"
    )


def _last_loaded(con: duckdb.DuckDBPyConnection, entity: Entity) -> dict[str, tuple]:
    rows = con.execute(
        f"""
        select source_file, file_size, file_mtime, file_sha256
        from {AUDIT_TABLE}
        where entity = ? and status = 'loaded'
        qualify row_number() over (partition by source_file order by loaded_at desc, rowid desc) = 1
        """,
        [entity.name],
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _audit(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    load_id: str,
    result: FileLoad,
    landing_file: LandingFile | None,
    sha256: str | None,
    as_of_time: datetime,
    loaded_at: datetime,
) -> None:
    con.execute(
        f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            load_id,
            entity.name,
            result.source_file,
            result.status,
            landing_file.size if landing_file else None,
            landing_file.mtime if landing_file else None,
            sha256,
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.rows_duplicate,
            result.error,
            as_of_time,
            loaded_at,
        ],
    )


BATCH_FILES = 200
BATCH_ROWS = 1_000_000
"""Files staged together before their rows are checked and written in one transaction:
checking a batch costs one query plan, not one per file (a plan costs ~50 ms, a file of
a daily export holds a few thousand rows). The rows bound the memory a batch takes."""


@dataclass
class _Staged:
    landing_file: LandingFile
    sha256: str
    result: FileLoad


def _append_to_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_file: LandingFile,
    present: set[str],
    first: bool,
) -> int:
    """Add `_landing` (one staged file) to temp table `_batch`, every contract column as
    text (null where the file lacks it), with the file's name and row numbers; return the
    file's rows."""
    columns = ", ".join(
        sql_ident(c.name) if c.name in present else f"cast(null as varchar) as {sql_ident(c.name)}"
        for c in entity.columns
    )
    select = (
        f"select {columns}, __extra, __json_type, __nul_reasons,"
        f" {sql_string(landing_file.rel_path)} as __file, rowid + 1 as __row from _landing"
    )
    con.execute(f"create or replace temp table _batch as {select}" if first else
                f"insert into _batch {select}")  # fmt: skip
    row = con.execute("select count(*) from _landing").fetchone()
    assert row is not None
    return int(row[0])


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    staged: list[_Staged],
    *,
    load_id: str,
    as_of_time: datetime,
    default_currency: str,
) -> None:
    """Check the rows of `_batch` and, in one transaction, replace what each of its files
    loaded before with its good and bad rows, and audit each file."""
    _build_checked_batch(
        con,
        entity,
        "select * from _batch",
        set(entity.column_names),
        as_of_time=as_of_time,
        default_currency=default_currency,
    )
    loaded_at = utc_now()
    files = [item.landing_file.rel_path for item in staged]
    with _transaction(con):
        # A changed file replaces everything its previous version loaded.
        raw, replaced = raw_table(entity), "where list_contains(?, _source_file)"
        _changed_keys(
            con, _keys_and_days_sql(entity, f"from {raw} {replaced}"), [files], first=True
        )
        for table in (raw, quarantine_table(entity)):
            con.execute(f"delete from {table} {replaced}", [files])
        counts = _write_checked_batch(con, entity, load_id=load_id, loaded_at=loaded_at)
        _settle_versions(con, entity, load_id=load_id, changed_at=loaded_at)
        for item in staged:
            result = item.result
            loaded, quarantined, duplicates = counts.get(result.source_file, (0, 0, 0))
            result.rows_loaded, result.rows_quarantined, result.rows_duplicate = (
                loaded,
                quarantined,
                duplicates,
            )
            result.rows_read = loaded + quarantined + duplicates
            _audit(
                con, entity, load_id, result, item.landing_file, item.sha256, as_of_time, loaded_at
            )
    con.execute("drop table if exists _batch")
    for item in staged:
        result = item.result
        log.info(
            "%s: %s (%d loaded, %d quarantined, %d duplicate)",
            result.source_file,
            result.status,
            result.rows_loaded,
            result.rows_quarantined,
            result.rows_duplicate,
        )


def _load_files(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: list[tuple[LandingFile, str]],
    *,
    load_id: str,
    as_of_time: datetime,
    default_currency: str,
) -> list[FileLoad]:
    """Load new or changed files (with their sha256), in batches of up to BATCH_FILES
    files or BATCH_ROWS rows. A file that cannot be read fails alone, audited with its
    error; the others load."""
    results: list[FileLoad] = []
    staged: list[_Staged] = []
    rows = 0
    options = {"load_id": load_id, "as_of_time": as_of_time, "default_currency": default_currency}
    for landing_file, sha256 in files:
        result = FileLoad(landing_file.rel_path, "loaded")
        results.append(result)
        try:
            present = _stage_file(con, entity, landing_file)
        except LandingFileError as exc:
            result.status, result.error = "failed", str(exc)
            _audit(con, entity, load_id, result, landing_file, sha256, as_of_time, utc_now())
            log.info("%s: failed (%s)", landing_file.rel_path, exc)
            continue
        rows += _append_to_batch(con, entity, landing_file, present, first=not staged)
        staged.append(_Staged(landing_file, sha256, result))
        if len(staged) >= BATCH_FILES or rows >= BATCH_ROWS:
            _load_batch(con, entity, staged, **options)
            staged, rows = [], 0
    if staged:
        _load_batch(con, entity, staged, **options)
    return results


def readmit_quarantined(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    *,
    load_id: str,
    as_of_time: datetime,
    default_currency: str,
) -> int:
    """Move quarantined rows whose time- or reference-dependent problems are gone.

    Only rows quarantined for nothing but RECHECKED_CODES are checked again, with
    every rule; they keep their original file and row. Returns the rows moved.
    """
    table = quarantine_table(entity)
    pk = entity.primary_key
    # A key already loaded from the same file makes the candidate a duplicate, not a row.
    con.execute(
        f"""
        update {table} as q
        set _reason_codes = 'duplicate_key',
            _reasons = '{pk}: ' || q.{pk} || ' was already loaded from this file'
        where {ONLY_RECHECKED_SQL}
          and exists (select 1 from {raw_table(entity)} as r
                      where r.{pk} = trim(q.{pk}) and r._source_file = q._source_file)
        """
    )
    source = f"""
        select *, _source_row as __row, _extra as __extra, _source_file as __file,
            cast(null as varchar) as __json_type, cast(null as varchar) as __nul_reasons
        from {table} where {ONLY_RECHECKED_SQL}
    """
    _build_checked_batch(
        con,
        entity,
        source,
        set(entity.column_names),
        as_of_time=as_of_time,
        default_currency=default_currency,
    )
    counts = con.execute(
        "select __file, count(*) from _checked where reason_codes is null and key_rank = 1"
        " group by __file order by __file"
    ).fetchall()
    if not counts:
        return 0
    loaded_at = utc_now()
    typed = ", ".join(f"t_{c.name}" for c in entity.columns)
    with _transaction(con):
        con.execute(
            f"insert into {raw_table(entity)} select {typed}, __extra, __file, __row,"
            f" '{load_id}', timestamp '{loaded_at}', null"
            " from _checked where reason_codes is null and key_rank = 1"
        )
        _changed_keys(con, _keys_and_days_sql(entity, _LOADED, "t_"), first=True)
        _settle_versions(con, entity, load_id=load_id, changed_at=loaded_at)
        con.execute(
            f"""
            delete from {table} q using _checked c
            where c.reason_codes is null and c.key_rank = 1
              and q._source_file = c.__file and q._source_row = c.__row
            """
        )
        for source_file, moved in counts:
            moved_result = FileLoad(
                source_file, "readmitted", rows_loaded=moved, rows_quarantined=-moved
            )
            _audit(con, entity, load_id, moved_result, None, None, as_of_time, loaded_at)
    return sum(int(n) for _, n in counts)


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    landing_dir: Path,
    *,
    load_id: str,
    as_of_time: datetime,
    default_currency: str = "USD",
) -> EntityLoad:
    """Load every new or changed landing file of an entity; see the module docstring.

    `as_of_time` is the end of the run's last day (naive UTC): rows dated more than a
    day after it are quarantined, and files whose name carries a later date wait.
    """
    con.execute("set TimeZone = 'UTC'")
    ensure_raw_tables(con, entity)
    result = EntityLoad(entity.name, load_id)
    result.rows_readmitted = readmit_quarantined(
        con, entity, load_id=load_id, as_of_time=as_of_time, default_currency=default_currency
    )
    previous = _last_loaded(con, entity)
    scan = scan_entity_folder(landing_dir, entity)
    for refusal in scan.refused:  # recorded like any file that cannot be loaded
        refused = FileLoad(refusal.source_file, "failed", error=str(refusal))
        _audit(con, entity, load_id, refused, None, None, as_of_time, utc_now())
        log.warning("%s", refused.error)
        result.files.append(refused)
    changed: list[tuple[LandingFile, str]] = []
    in_order: list[FileLoad | None] = []  # None: a changed file, loaded below
    for landing_file in scan.files:
        name_date = landing_file.name_date
        if name_date is not None and name_date > as_of_time.date():
            in_order.append(FileLoad(landing_file.rel_path, "deferred"))
            continue
        before = previous.get(landing_file.rel_path)
        if before and before[0] == landing_file.size and before[1] == landing_file.mtime:
            in_order.append(FileLoad(landing_file.rel_path, "unchanged"))
            continue
        sha256 = landing_file.sha256()
        if before and before[2] == sha256:
            in_order.append(FileLoad(landing_file.rel_path, "unchanged"))
            continue
        changed.append((landing_file, sha256))
        in_order.append(None)
    loads = iter(
        _load_files(
            con,
            entity,
            changed,
            load_id=load_id,
            as_of_time=as_of_time,
            default_currency=default_currency,
        )
    )
    result.files += [next(loads) if file is None else file for file in in_order]
    return result


def raw_layer_counts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    """Rows the raw layer holds now per entity: (loaded, quarantined, duplicates)."""
    counts: dict[str, tuple[int, int, int]] = {}
    for entity in ENTITIES.values():
        try:
            loaded = con.execute(f"select count(*) from {raw_table(entity)}").fetchone()
            bad = con.execute(
                "select count(*) filter (where _reason_codes <> 'duplicate_key'),"
                " count(*) filter (where _reason_codes = 'duplicate_key')"
                f" from {quarantine_table(entity)}"
            ).fetchone()
        except duckdb.CatalogException:
            continue
        assert loaded is not None and bad is not None
        counts[entity.name] = (int(loaded[0]), int(bad[0]), int(bad[1]))
    return counts


def unvalidated_rows_sql(entity: Entity) -> str:
    """Raw rows whose load has not passed the entity's suite yet.

    A batch that failed its check stays pending, so a plain re-run checks it again
    instead of letting it through; a corrected file replaces its rows.
    Each row carries `_latest_allowed_at`: the as-of time of the run that loaded it plus
    the day of tolerance the loader allows (later rows wait in quarantine), so the suite
    can check that the rows' timestamps lie within that run's window.
    """
    name = sql_string(entity.name)
    return f"""
        select r.*, a.as_of_time + interval 1 day as _latest_allowed_at
        from {raw_table(entity)} as r
        left join (
            select load_id, max(as_of_time) as as_of_time
            from {AUDIT_TABLE} where entity = {name} group by load_id
        ) as a on a.load_id = r._load_id
        where r._load_id not in (select load_id from {VALIDATED_TABLE} where entity = {name})
    """


def mark_validated(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """Record every pending load of the entity as having passed its suite."""
    con.execute(
        f"insert into {VALIDATED_TABLE} select distinct {sql_string(entity.name)}, _load_id, ?"
        f" from ({unvalidated_rows_sql(entity)})",
        [utc_now()],
    )
