"""Every DuckDB connection the pipeline opens has the configured resource limits; rows are
written in one statement."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from customer_health.duckdb_connection import DuckDBSettingsError, connect, insert_rows
from customer_health.settings import PROJECT_ROOT, Settings


def _settings_of(con) -> tuple:
    return con.execute(
        "select current_setting('memory_limit'), current_setting('threads'),"
        " current_setting('temp_directory')"
    ).fetchone()


def test_connections_take_the_limits_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dbt_manifest: Path
) -> None:
    from orchestration.defs.dbt.assets import dbt_environment

    monkeypatch.setenv("HEALTH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HEALTH_DUCKDB_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("HEALTH_DUCKDB_THREADS", raising=False)
    monkeypatch.delenv("HEALTH_DUCKDB_TEMP_DIR", raising=False)
    with connect() as con:  # the defaults: 2.5 GB, 2 threads, spilling under the data folder
        assert _settings_of(con) == ("2.3 GiB", 2, str(tmp_path / "data" / "tmp" / "duckdb"))

    monkeypatch.setenv("HEALTH_DUCKDB_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("HEALTH_DUCKDB_THREADS", "1")
    monkeypatch.setenv("HEALTH_DUCKDB_TEMP_DIR", str(tmp_path / "spill"))
    with connect(tmp_path / "file.duckdb") as con:
        assert _settings_of(con) == ("488.2 MiB", 1, str(tmp_path / "spill"))
    assert (tmp_path / "spill").is_dir()
    # dbt's profile reads the same values from the environment the dbt asset gives it
    settings = Settings.from_env()
    env = dbt_environment(settings, "2025-01-02", "v1")
    assert (env["HEALTH_DUCKDB_MEMORY_LIMIT"], env["HEALTH_DUCKDB_THREADS"]) == ("512MB", "1")
    assert env["HEALTH_DUCKDB_TEMP_DIR"] == str(tmp_path / "spill")


@pytest.mark.parametrize(
    ("name", "value"), [("HEALTH_DUCKDB_MEMORY_LIMIT", "lots"), ("HEALTH_DUCKDB_THREADS", "0")]
)
def test_a_bad_limit_names_its_setting(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(name, value)
    with pytest.raises(DuckDBSettingsError, match=f"{name}='{value}'"):
        connect()


def test_no_connection_bypasses_the_limits() -> None:
    """The pipeline's code opens DuckDB only through duckdb_connection.connect (the
    reliability harness inspects files from outside and may open them as it likes)."""
    package = PROJECT_ROOT / "orchestration"
    direct = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "duckdb_connection.py" and "reliability" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bduckdb\.connect\(", line)
    ]
    assert direct == []


def test_dbt_opens_duckdb_with_the_limits_once(tmp_path: Path) -> None:
    """dbt-duckdb runs `SET` for every profile `settings` entry on each new cursor, and
    DuckDB refuses to switch temp_directory once a query has spilled (seen at 5,000
    accounts: "Cannot switch temporary directory after the current one has been used"
    failed the build). So the limits are connect-time `config_options`, as here."""
    import duckdb
    import yaml

    profile = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    output = profile["customer_health"]["outputs"]["duckdb"]
    limits = {"memory_limit", "threads", "temp_directory"}
    assert limits <= set(output["config_options"])
    assert not limits & set(output.get("settings", {}))

    # why: after a spill, setting the same temp_directory again fails
    con = duckdb.connect(
        config={"memory_limit": "32MB", "threads": "1", "temp_directory": str(tmp_path)}
    )
    con.execute("select * from range(3000000) order by random()").fetchone()
    with pytest.raises(duckdb.NotImplementedException, match="temporary directory"):
        con.execute(f"set temp_directory = '{tmp_path}'")


def test_insert_rows_casts_to_the_columns_and_replaces_by_key() -> None:
    con = duckdb.connect()
    con.execute(
        "create table t (k varchar primary key, n bigint, payload json, seen timestamp,"
        " note varchar)"
    )
    at = datetime(2026, 6, 30, 12, 0)  # noqa: DTZ001 (a naive timestamp column)
    columns = ("k", "n", "payload", "seen", "note")
    assert insert_rows(con, "t", columns, []) == 0
    rows = [("a", 1, '{"x": 1}', at, None), ("b", 2, '{"x": 2}', at, None)]
    assert insert_rows(con, "t", columns, rows) == 2
    with pytest.raises(duckdb.ConstraintException):  # a plain insert keeps the key unique
        insert_rows(con, "t", columns, [("a", 9, "{}", at, "again")])
    assert insert_rows(con, "t", columns, [("a", 3, '{"x": 3}', at, "new")], replace=True) == 1
    assert con.execute("select k, n, payload ->> 'x', seen, note from t order by k").fetchall() == [
        ("a", 3, "3", at, "new"),
        ("b", 2, "2", at, None),
    ]
    assert con.execute("select typeof(payload) from t limit 1").fetchone() == ("JSON",)
