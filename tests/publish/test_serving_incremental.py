"""A publication after a change of a few days copies the last one and replaces only
those days; the Parquet exports rewrite only the partitions that changed. Over small
warehouses made here, on real DuckDB files: after every publication the serving file
and the exports hold exactly the warehouse's rows."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from customer_health.fingerprints import (
    day_fingerprints,
    record_fingerprints,
    recorded_fingerprints,
)
from customer_health.publish.serving import (
    FINGERPRINTS,
    export_parquet,
    publish_serving_file,
)

DAY1 = date(2026, 3, 1)


def _days(*numbers: int) -> list[date]:
    return [date(2026, 3, n) for n in numbers]


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts; create schema quality")
    con.execute(
        """
        create table marts.fct_customer_health_daily as
        select printf('ACC-%03d', a) as account_id, date '2026-02-28' + d::integer as as_of_date,
            cast(40 + a + d as double) as health_score
        from range(1, 6) as t(a), range(1, 5) as s(d)
        """
    )
    con.execute(
        "create table marts.dim_accounts as"
        " select printf('ACC-%03d', a) as account_id, 'b2b' as segment from range(1, 6) t(a)"
    )
    con.execute("create table quality.quality_check_results as select 'ok' as status")
    con.close()
    return {
        "warehouse": warehouse,
        "serving": tmp_path / "serving" / "health.duckdb",
        "exports": tmp_path / "exports",
    }


def _rows(database: Path, table: str, schema: str = "main") -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(f"select * from {schema}.{table} order by all").fetchall()
    finally:
        con.close()


def _exported(exports: Path, table: str) -> list[tuple]:
    con = duckdb.connect()
    return con.execute(
        f"select * exclude (as_of_date), as_of_date from read_parquet("
        f"'{exports / table}/**/*.parquet', hive_partitioning = true) order by all"
    ).fetchall()


def _warehouse(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(sql)
    finally:
        con.close()


def _publish(folders: dict[str, Path], run: str):
    published = publish_serving_file(folders["warehouse"], folders["serving"], run_id=run)
    exported = export_parquet(folders["serving"], folders["exports"], run_id=run)
    for table, schema in (
        ("fct_customer_health_daily", "marts"),
        ("dim_accounts", "marts"),
        ("quality_check_results", "quality"),
    ):
        assert _rows(folders["serving"], table) == _rows(folders["warehouse"], table, schema)
    fact = _rows(folders["warehouse"], "fct_customer_health_daily", "marts")
    assert _exported(folders["exports"], "fct_customer_health_daily") == sorted(
        (account, score, day) for account, day, score in fact
    )
    return published, exported


def _partition_inodes(exports: Path) -> dict[str, int]:
    folder = exports / "fct_customer_health_daily"
    return {p.parent.name: os.stat(p).st_ino for p in folder.glob("as_of_date=*/*.parquet")}


def test_a_changed_day_replaces_that_day_only(folders: dict[str, Path]) -> None:
    first, first_export = _publish(folders, "run-1")
    assert first.replaced_days["fct_customer_health_daily"] is None  # nothing to start from
    assert first_export.partitions == 4 and first_export.unchanged_partitions == 0
    assert (folders["exports"] / "fct_customer_health_daily" / FINGERPRINTS).is_file()
    inodes = _partition_inodes(folders["exports"])

    # day 2 re-scored, day 5 new, day 1 gone (say, the history start moved)
    _warehouse(
        folders["warehouse"],
        "update marts.fct_customer_health_daily set health_score = health_score + 1"
        " where as_of_date = date '2026-03-02' and account_id = 'ACC-001';"
        " insert into marts.fct_customer_health_daily"
        " select account_id, date '2026-03-05', 70 from marts.dim_accounts;"
        " delete from marts.fct_customer_health_daily where as_of_date = date '2026-03-01'",
    )
    second, second_export = _publish(folders, "run-2")
    assert second.replaced_days == {
        "fct_customer_health_daily": 3,  # days 1 (gone), 2 and 5
        "dim_accounts": None,  # no as_of_date: replaced whole
        "quality_check_results": None,
    }
    assert second_export.partitions == 2 and second_export.unchanged_partitions == 2
    after = _partition_inodes(folders["exports"])
    assert sorted(after) == [f"as_of_date={d}" for d in _days(2, 3, 4, 5)]
    for day in _days(3, 4):  # not rewritten
        assert after[f"as_of_date={day}"] == inodes[f"as_of_date={day}"]
    assert after["as_of_date=2026-03-02"] != inodes["as_of_date=2026-03-02"]

    # nothing changed: nothing replaced, nothing rewritten
    third, third_export = _publish(folders, "run-3")
    assert third.replaced_days["fct_customer_health_daily"] == 0
    assert third_export.partitions == 0 and third_export.unchanged_partitions == 4
    assert _partition_inodes(folders["exports"]) == after
    assert _rows(folders["serving"], "publish_log")[0][0] == "run-3"


def test_new_columns_or_a_lost_partition_rewrite_what_they_must(
    folders: dict[str, Path],
) -> None:
    _publish(folders, "run-1")
    # a partition folder removed by hand is written again although its rows are the same
    lost = folders["exports"] / "fct_customer_health_daily" / "as_of_date=2026-03-03"
    for file in lost.iterdir():
        file.unlink()
    lost.rmdir()
    _, exported = _publish(folders, "run-2")
    # the recorded fingerprint no longer vouches for it: that partition alone is written
    assert exported.partitions == 1 and exported.unchanged_partitions == 3
    assert lost.is_dir()

    # a new column: the table is replaced whole in the serving file and its export
    _warehouse(
        folders["warehouse"],
        "alter table marts.fct_customer_health_daily add column health_band varchar"
        " default 'watch'",
    )
    published = publish_serving_file(folders["warehouse"], folders["serving"], run_id="run-3")
    assert published.replaced_days["fct_customer_health_daily"] is None
    exported = export_parquet(folders["serving"], folders["exports"], run_id="run-3")
    assert exported.partitions == 4
    con = duckdb.connect()
    bands = con.execute(
        "select distinct health_band from read_parquet("
        f"'{folders['exports']}/fct_customer_health_daily/**/*.parquet')"
    ).fetchall()
    assert bands == [("watch",)]


def test_an_unreadable_last_publication_is_rebuilt_whole(folders: dict[str, Path]) -> None:
    _publish(folders, "run-1")
    folders["serving"].write_bytes(b"not a duckdb file")
    published, _ = _publish(folders, "run-2")
    assert published.replaced_days["fct_customer_health_daily"] is None


def _record_computed(path: Path, table: str, schema: str, *days: date) -> None:
    """Record in `path` the computed fingerprints of `table` on `days` (all when none),
    as dbt's post-hook does for what it writes; the other days keep their record."""
    con = duckdb.connect(str(path))
    try:
        computed = day_fingerprints(con, f"{schema}.{table}")
        kept = recorded_fingerprints(con, table) or {}
        chosen = set(days) or set(computed)
        record = {d: computed[d] if d in chosen else kept[d] for d in computed}
        record_fingerprints(con, table, record)
    finally:
        con.close()


def test_recorded_fingerprints_are_used_and_carried_to_the_serving_file(
    folders: dict[str, Path],
) -> None:
    """Where the warehouse records the fingerprints of what it wrote, a publication
    compares those (it hashes no history) and copies them into the serving file, where
    the exports take them: a day whose record did not change is not touched, even when
    its rows did behind the record's back."""
    fact = "fct_customer_health_daily"
    _record_computed(folders["warehouse"], fact, "marts")
    _publish(folders, "run-1")
    con = duckdb.connect(str(folders["serving"]), read_only=True)
    try:
        assert recorded_fingerprints(con, fact) == day_fingerprints(con, f"main.{fact}")
    finally:
        con.close()

    _warehouse(
        folders["warehouse"],
        "update marts.fct_customer_health_daily set health_score = health_score + 1"
        " where as_of_date in (date '2026-03-02', date '2026-03-03')",
    )
    _record_computed(folders["warehouse"], fact, "marts", date(2026, 3, 2))  # not day 3
    published = publish_serving_file(folders["warehouse"], folders["serving"], run_id="run-2")
    exported = export_parquet(folders["serving"], folders["exports"], run_id="run-2")
    assert published.replaced_days[fact] == 1
    assert exported.partitions == 1 and exported.unchanged_partitions == 3
    served = {row[:2]: row[2] for row in _rows(folders["serving"], fact)}
    assert served[("ACC-001", date(2026, 3, 2))] == 40 + 1 + 2 + 1  # replaced
    assert served[("ACC-001", date(2026, 3, 3))] == 40 + 1 + 3  # trusted its record
