"""Which days of a table changed, without keeping a copy of it: per `as_of_date`, the
row count and the sum of the rows' hashes (DuckDB's `hash` of the whole row). The
serving file, the Parquet exports and the Postgres copy each compare the fingerprints
of what they hold with those of what they publish, and rewrite the days that differ.
Equal fingerprints mean equal rows but for a 64-bit hash collision.

Computing them reads every row of every day. So they are recorded where the rows are
written: the marts rewritten by day record theirs in the warehouse as dbt writes them
(RECORDED, dbt_project/macros/day_fingerprints.sql: a run pays for the days it wrote),
and a publication copies them into the serving file beside the rows, where the exports
and the Postgres copy find them. `fingerprints` takes the recorded ones and computes
only for a table that has none (a view published as a table, a serving file published
before they were recorded)."""

from __future__ import annotations

from datetime import date

import duckdb

from customer_health.duckdb_connection import insert_rows

PARTITION_COLUMN = "as_of_date"

Fingerprints = dict[date, tuple[int, str]]
"""day -> (rows, sum of the rows' hashes as text)"""

RECORDED_SCHEMA, RECORDED_TABLE = "publication", "day_fingerprints"
"""Where recorded fingerprints live, in the warehouse and in the serving file: one row
per table and day (table_name, as_of_date, row_count, row_hash_sum)."""


def day_fingerprints(con: duckdb.DuckDBPyConnection, relation: str) -> Fingerprints:
    """The fingerprint of each day of `relation` (a quoted name or a subquery)."""
    rows = con.execute(
        f"select {PARTITION_COLUMN}, count(*), cast(sum(hash(t)) as varchar)"
        f" from {relation} as t group by 1"
    ).fetchall()
    return {day: (int(n), h) for day, n, h in rows}


def recorded_fingerprints(
    con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None
) -> Fingerprints | None:
    """The fingerprints recorded for `table` in database `catalog` (default: the
    connection's), or None when none are (no record at all, or none of this table)."""
    found = con.execute(
        "select database_name from duckdb_tables() where schema_name = ? and table_name = ?"
        " and database_name = coalesce(?, current_database())",
        [RECORDED_SCHEMA, RECORDED_TABLE, catalog],
    ).fetchone()
    if found is None:
        return None
    rows = con.execute(
        f'select as_of_date, row_count, row_hash_sum from "{found[0]}".{RECORDED_SCHEMA}.'
        f"{RECORDED_TABLE} where table_name = ?",
        [table],
    ).fetchall()
    return {day: (int(n), h) for day, n, h in rows} or None


def fingerprints(
    con: duckdb.DuckDBPyConnection, table: str, relation: str, catalog: str | None = None
) -> Fingerprints:
    """`table`'s recorded fingerprints in `catalog`, else those of `relation` computed."""
    recorded = recorded_fingerprints(con, table, catalog)
    return recorded if recorded is not None else day_fingerprints(con, relation)


def record_fingerprints(con: duckdb.DuckDBPyConnection, table: str, days: Fingerprints) -> None:
    """Make `days` the fingerprints recorded for `table` in the connection's database
    (the serving file: what it holds of the table now)."""
    relation = f"{RECORDED_SCHEMA}.{RECORDED_TABLE}"
    con.execute(f"create schema if not exists {RECORDED_SCHEMA}")
    con.execute(
        f"create table if not exists {relation} (table_name varchar not null,"
        " as_of_date date not null, row_count bigint not null, row_hash_sum varchar not null)"
    )
    con.execute(f"delete from {relation} where table_name = ?", [table])
    rows = [(table, day, n, h) for day, (n, h) in sorted(days.items())]
    insert_rows(con, relation, ("table_name", "as_of_date", "row_count", "row_hash_sum"), rows)


def changed_days(old: Fingerprints, new: Fingerprints) -> list[date]:
    """The days whose fingerprint differs, or that exist on one side only."""
    return sorted(day for day in old.keys() | new.keys() if old.get(day) != new.get(day))


def to_json(fingerprints: Fingerprints) -> dict[str, list]:
    return {day.isoformat(): [n, h] for day, (n, h) in sorted(fingerprints.items())}


def from_json(recorded: dict[str, list]) -> Fingerprints:
    return {date.fromisoformat(day): (int(n), str(h)) for day, (n, h) in recorded.items()}


def days_in(days: list[date]) -> str:
    """`as_of_date in (...)` for a list of days from the database (dates, not user text)."""
    listed = ", ".join(f"date '{day.isoformat()}'" for day in days) or "null"
    return f"{PARTITION_COLUMN} in ({listed})"
