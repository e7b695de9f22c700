"""Which days of a table changed, without keeping a copy of it: per `as_of_date`, the
row count and the sum of the rows' hashes (DuckDB's `hash` of the whole row). The
serving file, the Parquet exports and the Postgres copy each compare the fingerprints
of what they hold with those of what they publish, and rewrite the days that differ.
Equal fingerprints mean equal rows but for a 64-bit hash collision."""

from __future__ import annotations

from datetime import date

import duckdb

PARTITION_COLUMN = "as_of_date"

Fingerprints = dict[date, tuple[int, str]]
"""day -> (rows, sum of the rows' hashes as text)"""


def day_fingerprints(con: duckdb.DuckDBPyConnection, relation: str) -> Fingerprints:
    """The fingerprint of each day of `relation` (a quoted name or a subquery)."""
    rows = con.execute(
        f"select {PARTITION_COLUMN}, count(*), cast(sum(hash(t)) as varchar)"
        f" from {relation} as t group by 1"
    ).fetchall()
    return {day: (int(n), h) for day, n, h in rows}


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
