"""A database of a test module's own on the PostgreSQL server at HEALTH_PG_* (127.0.0.1:5432
by default), created fresh and dropped after. Locally a module skips, saying why, when no
server answers; under CI (CI=true) it fails instead: CI must exercise Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest

from customer_health.postgres import PostgresSettings


@contextmanager
def fresh_database(name: str) -> Iterator[PostgresSettings]:
    settings = PostgresSettings.from_env()
    try:
        admin = settings.connect()
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {settings.describe()}: {exc}".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must exercise Postgres)")
        pytest.skip(message)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"drop database if exists {name} with (force)")
        cur.execute(f"create database {name}")
    try:
        yield PostgresSettings(**{**settings.__dict__, "database": name})
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
        admin.close()
