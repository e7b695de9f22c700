"""Copy DuckDB tables into PostgreSQL: the raw layer for `dbt --target postgres`, and
later the published marts for BI tools that speak Postgres.

Connection settings come from the same HEALTH_PG_* variables as dbt's `postgres`
target (dbt_project/profiles.yml). Each table is replaced inside one transaction and
streamed with COPY, so readers see the old table or the new one, never a mix.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import duckdb
import psycopg2
import psycopg2.extensions
import pyarrow.csv as pacsv
from psycopg2 import sql

from customer_health import duckdb_connection
from customer_health.fingerprints import (
    PARTITION_COLUMN,
    changed_days,
    days_in,
    fingerprints,
    from_json,
    to_json,
)

COPY_BATCH_ROWS = 100_000
T = TypeVar("T")

_TYPES = {
    "VARCHAR": "text",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "SMALLINT": "smallint",
    "HUGEINT": "numeric",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_env(cls) -> PostgresSettings:
        return cls(
            host=os.environ.get("HEALTH_PG_HOST", "127.0.0.1"),
            port=int(os.environ.get("HEALTH_PG_PORT", "5432")),
            user=os.environ.get("HEALTH_PG_USER", "postgres"),
            password=os.environ.get("HEALTH_PG_PASSWORD", ""),
            database=os.environ.get("HEALTH_PG_DATABASE", "test"),
        )

    def connect(self, database: str | None = None) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database or self.database,
            connect_timeout=5,
        )

    def describe(self) -> str:
        """Where the server is, without the password (safe to log)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


_TRANSIENT_CLASSES = ("08", "40", "53", "57", "58")
"""SQLSTATE classes that may pass on a retry: connection exception, transaction rollback
(serialization failure, deadlock), insufficient resources, operator intervention (a
shutdown, a cancelled statement), system error."""

_CONFIG_PROBLEMS = (
    "does not exist",  # the database or the role
    "authentication failed",
    "no pg_hba.conf entry",
    "permission denied",
    "could not translate host name",
    "invalid dsn",
    "invalid connection option",
    "invalid integer value",
    "invalid sslmode",
)
"""Words of a connection failure a retry cannot fix: the settings are wrong."""


def is_transient_error(exc: BaseException) -> bool:
    """Whether a psycopg2 error may pass on a retry: a refused, dropped or reset connection,
    a server starting up or shutting down, too many clients, a deadlock or a lock timeout.
    Not: a constraint violation, bad data, a missing table, a wrong database, user or
    password, or any other error a retry would only repeat."""
    if isinstance(exc, psycopg2.InterfaceError):
        return True  # "connection already closed": the server went away
    if not isinstance(exc, psycopg2.OperationalError):
        return False  # IntegrityError, DataError, ProgrammingError, ...
    code = getattr(exc, "pgcode", None)
    if code:
        return code[:2] in _TRANSIENT_CLASSES or code == "55P03"  # lock_not_available
    # no SQLSTATE: the client could not connect, or lost the connection
    text = str(exc).lower()
    return not any(problem in text for problem in _CONFIG_PROBLEMS)


def postgres_type(duckdb_type: str) -> str:
    """The Postgres column type for a DuckDB one (DECIMAL(p,s) keeps its precision)."""
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "numeric")
    try:
        return _TYPES[duckdb_type]
    except KeyError:
        raise ValueError(f"no Postgres type for DuckDB type {duckdb_type}") from None


def _columns(source: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    columns = source.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not columns:
        raise ValueError(f"DuckDB table {schema}.{table} does not exist")
    return columns


def _copy_rows(
    cur: psycopg2.extensions.cursor,
    source: duckdb.DuckDBPyConnection,
    query: str,
    qualified: sql.Composable,
) -> int:
    """Stream the rows of a DuckDB query into a Postgres table with COPY; rows copied."""
    copied = 0
    reader = source.sql(query).to_arrow_reader(COPY_BATCH_ROWS)
    # every value quoted, nulls left empty: COPY tells NULL from the empty string
    copy = sql.SQL("copy {} from stdin with (format csv)").format(qualified)
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    for batch in reader:
        if batch.num_rows == 0:
            continue
        buffer = io.BytesIO()
        pacsv.write_csv(batch, buffer, options)
        buffer.seek(0)
        cur.copy_expert(copy.as_string(cur), buffer)
        copied += batch.num_rows
    return copied


def _replace_table(
    cur: psycopg2.extensions.cursor,
    source: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: list[tuple],
    qualified: sql.Composable,
    *,
    index_days: bool = False,
) -> int:
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(postgres_type(kind)))
        for name, kind in columns
    )
    cur.execute(sql.SQL("drop table if exists {}").format(qualified))
    cur.execute(sql.SQL("create table {} ({})").format(qualified, definition))
    # names come from information_schema
    copied = _copy_rows(cur, source, f'select * from "{schema}"."{table}"', qualified)
    if index_days:  # what publish_table deletes by
        cur.execute(
            sql.SQL("create index on {} ({})").format(qualified, sql.Identifier(PARTITION_COLUMN))
        )
    return copied


def copy_table(
    source: duckdb.DuckDBPyConnection,
    target: psycopg2.extensions.connection,
    schema: str,
    table: str,
    target_schema: str | None = None,
) -> int:
    """Replace `target_schema.table` in Postgres with DuckDB's `schema.table`; rows copied."""
    target_schema = target_schema or schema
    columns = _columns(source, schema, table)
    qualified = sql.Identifier(target_schema, table)
    with target, target.cursor() as cur:  # one transaction: the old table or the new one
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target_schema)))
        return _replace_table(cur, source, schema, table, columns, qualified)


PUBLISHED_DAYS = "_published_days"
"""In the target schema of `publish_table`: per published table, its columns and the
fingerprint of each day as last written (customer_health/fingerprints.py)."""


@dataclass(frozen=True)
class TablePublication:
    rows: int
    """rows written"""
    days: int | None
    """days replaced; None when the table was replaced whole"""


def publish_table(
    source: duckdb.DuckDBPyConnection,
    target: psycopg2.extensions.connection,
    schema: str,
    table: str,
    target_schema: str,
) -> TablePublication:
    """Bring `target_schema.table` to DuckDB's `schema.table` in one transaction: a
    table with an `as_of_date` gets only the days whose fingerprint differs from the one
    recorded when it was last written (when its columns are the same and the record is
    there); any other table, or one without a matching record, is replaced whole."""
    columns = _columns(source, schema, table)
    signature = json.dumps([list(c) for c in columns])
    qualified = sql.Identifier(target_schema, table)
    state = sql.Identifier(target_schema, PUBLISHED_DAYS)
    partitioned = PARTITION_COLUMN in {name for name, _ in columns}
    with target, target.cursor() as cur:  # one transaction: the old table or the new one
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target_schema)))
        cur.execute(
            sql.SQL(
                "create table if not exists {} (table_name text primary key,"
                " columns text not null, days text not null)"
            ).format(state)
        )
        cur.execute(
            sql.SQL("select columns, days from {} where table_name = %s").format(state), [table]
        )
        recorded = cur.fetchone()
        cur.execute("select to_regclass(%s)", [qualified.as_string(cur)])
        exists = cur.fetchone()[0] is not None
        cur.execute(sql.SQL("delete from {} where table_name = %s").format(state), [table])
        if not partitioned:
            return TablePublication(
                _replace_table(cur, source, schema, table, columns, qualified), None
            )
        current = fingerprints(source, table, f'"{schema}"."{table}"')
        cur.execute(
            sql.SQL("insert into {} values (%s, %s, %s)").format(state),
            [table, signature, json.dumps(to_json(current))],
        )
        if not (exists and recorded and recorded[0] == signature):
            return TablePublication(
                _replace_table(cur, source, schema, table, columns, qualified, index_days=True),
                None,
            )
        days = changed_days(from_json(json.loads(recorded[1])), current)
        if not days:
            return TablePublication(0, 0)
        cur.execute(
            sql.SQL("delete from {} where {} = any(%s::date[])").format(
                qualified, sql.Identifier(PARTITION_COLUMN)
            ),
            [[d.isoformat() for d in days]],
        )
        rows = _copy_rows(
            cur, source, f'select * from "{schema}"."{table}" where {days_in(days)}', qualified
        )
        return TablePublication(rows, len(days))


def _each_table(
    duckdb_path: str,
    settings: PostgresSettings,
    schema: str,
    write: Callable[[duckdb.DuckDBPyConnection, psycopg2.extensions.connection, str], T],
    results: dict[str, T],
) -> dict[str, T]:
    """`write(source, target, table)` for every base table of a DuckDB schema, in name
    order, each result put in `results` as it comes (so a caller whose write failed
    part-way can tell what was already done)."""
    source = duckdb_connection.connect(duckdb_path, read_only=True)
    target = settings.connect()
    try:
        tables = [
            row[0]
            for row in source.execute(
                "select table_name from information_schema.tables"
                " where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [schema],
            ).fetchall()
        ]
        for table in tables:
            results[table] = write(source, target, table)
        return dict(results)
    finally:
        target.close()
        source.close()


def copy_schema(
    duckdb_path: str,
    settings: PostgresSettings,
    schema: str,
    target_schema: str | None = None,
    *,
    copied: dict[str, int] | None = None,
) -> dict[str, int]:
    """Copy every table of a DuckDB schema to Postgres; rows copied per table. `copied`, when
    given, is filled table by table (each committed), so a caller whose copy failed part-way
    can tell what was already replaced."""
    return _each_table(
        duckdb_path,
        settings,
        schema,
        lambda source, target, table: copy_table(source, target, schema, table, target_schema),
        {} if copied is None else copied,
    )


def publish_schema(
    duckdb_path: str,
    settings: PostgresSettings,
    schema: str,
    target_schema: str,
    *,
    published: dict[str, TablePublication] | None = None,
) -> dict[str, TablePublication]:
    """`publish_table` for every table of a DuckDB schema. `published`, when given, is
    filled table by table (each committed), so a caller whose publication failed
    part-way can tell what was already brought up to date."""
    return _each_table(
        duckdb_path,
        settings,
        schema,
        lambda source, target, table: publish_table(source, target, schema, table, target_schema),
        {} if published is None else published,
    )
