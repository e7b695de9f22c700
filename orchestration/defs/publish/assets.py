"""The published serving file, downstream of every model and check of the run, and the
outputs made from it: Parquet exports, a Postgres copy and the health report. How each
reports (its metadata and failures): orchestration/defs/outcomes.py."""

import os
import time
from collections.abc import Mapping

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.defs.keys import (
    EXPORTS_KEY,
    POSTGRES_KEY,
    QUALITY_GATE_KEY,
    REPORT_KEY,
    SERVING_KEY,
    mart_keys,
)
from orchestration.defs.outcomes import output_failure, skipped_metadata
from orchestration.defs.policies import DAILY_FRESHNESS, OWNERS, TRANSIENT_RETRY, WAREHOUSE_POOL
from orchestration.defs.resources import WarehouseResource


def _rows(rows: Mapping[str, int]) -> dict[str, dg.MetadataValue]:
    return {f"rows_{name}": dg.MetadataValue.int(n) for name, n in rows.items()}


@dg.asset(
    key=SERVING_KEY,
    description=(
        "The published serving file ($HEALTH_DATA_DIR/serving/health.duckdb) that BI reads: "
        "the marts, swapped in atomically only after the quality gate passed."
    ),
    deps=[QUALITY_GATE_KEY, *mart_keys()],
    group_name="publish",
    owners=OWNERS,
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=TRANSIENT_RETRY,
    freshness_policy=DAILY_FRESHNESS,
)
def serving_health_duckdb(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.monotonic()
    engine = warehouse.engine()
    try:
        published = engine.publish(context.run_id)
        summary = engine.score_summary()
    except Exception as exc:
        raise output_failure(SERVING_KEY, "publishing the serving file", exc) from None
    whole = sorted(t for t, days in published.replaced_days.items() if days is None)
    days_replaced = {t: d for t, d in published.replaced_days.items() if d is not None}
    context.log.info(
        f"published {published.path} ({len(published.tables)} tables; changed days replaced:"
        f" {', '.join(f'{t} {d}' for t, d in sorted(days_replaced.items())) or 'none'};"
        f" replaced whole: {', '.join(whole) or 'none'})"
    )
    metadata: dict[str, dg.MetadataValue] = {
        "status": dg.MetadataValue.text("published"),
        "path": dg.MetadataValue.path(str(published.path)),
        "checksum": dg.MetadataValue.text(published.checksum),
        "rows": dg.MetadataValue.int(sum(published.tables.values())),
        "tables": dg.MetadataValue.int(len(published.tables)),
        "publish_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
        "days_replaced": dg.MetadataValue.json(days_replaced),
        "tables_replaced_whole": dg.MetadataValue.json(whole),
        **_rows(published.tables),
    }
    if summary is not None:
        metadata.update(
            {
                "as_of_date": dg.MetadataValue.text(summary.as_of_date),
                "accounts": dg.MetadataValue.int(summary.accounts),
                "band_counts": dg.MetadataValue.json(summary.bands),
                "score_mean": dg.MetadataValue.float(summary.mean or 0.0),
                "score_p10_p50_p90": dg.MetadataValue.text(
                    f"{summary.p10} / {summary.median} / {summary.p90}"
                ),
                "config_version": dg.MetadataValue.text(", ".join(summary.config_versions)),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


def _from_serving_file(key: dg.AssetKey, kind: str, description: str):
    """An output made from the published serving file, after each publish: it depends on
    the serving file alone, so it runs whatever its sibling outputs do."""
    return dg.asset(
        key=key,
        description=description,
        deps=[serving_health_duckdb.key],
        group_name="publish",
        owners=OWNERS,
        kinds={kind},
        retry_policy=TRANSIENT_RETRY,
    )


@_from_serving_file(
    EXPORTS_KEY,
    "parquet",
    (
        "Parquet files of every published table under $HEALTH_DATA_DIR/exports/<table>/, for "
        "tools that read files: the fact tables partitioned by as_of_date, the others one "
        "file each. After each publish, the partitions whose rows changed are rewritten."
    ),
)
def parquet_exports(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    try:
        exported = warehouse.engine().export_parquet(context.run.run_id)
    except Exception as exc:
        raise output_failure(EXPORTS_KEY, "the Parquet export", exc) from None
    context.log.info(
        f"exported {len(exported.rows)} tables to {exported.path}: {exported.files} files"
        f" and {exported.partitions} partitions written,"
        f" {exported.unchanged_partitions} partitions unchanged"
    )
    return dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text("ok"),
            "path": dg.MetadataValue.path(str(exported.path)),
            "rows": dg.MetadataValue.int(sum(exported.rows.values())),
            "tables": dg.MetadataValue.int(len(exported.rows)),
            "files": dg.MetadataValue.int(exported.files),
            "partitions": dg.MetadataValue.int(exported.partitions),
            "unchanged_partitions": dg.MetadataValue.int(exported.unchanged_partitions),
            **_rows(exported.rows),
        }
    )


@_from_serving_file(
    POSTGRES_KEY,
    "postgres",
    (
        "The published tables copied to PostgreSQL (schema $HEALTH_PG_SERVING_SCHEMA, default "
        "`health`, on the HEALTH_PG_* server) for BI tools that speak Postgres; each table "
        "replaced in one transaction. Runs when HEALTH_PUBLISH_POSTGRES=true."
    ),
)
def serving_postgres(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    if os.environ.get("HEALTH_PUBLISH_POSTGRES", "").strip().lower() != "true":
        reason = "HEALTH_PUBLISH_POSTGRES is not true"
        context.log.info(f"{reason}: not published to Postgres")
        return dg.MaterializeResult(metadata=skipped_metadata(reason))
    from customer_health.postgres import PostgresSettings, TablePublication

    schema = os.environ.get("HEALTH_PG_SERVING_SCHEMA", "health")
    password = os.environ.get("HEALTH_PG_PASSWORD", "")
    published: dict[str, TablePublication] = {}  # the tables brought up to date before a failure
    where = {"schema": schema}
    try:
        target = PostgresSettings.from_env()
        where["target"] = target.describe()  # no password
        warehouse.engine().publish_postgres(target, schema, published)
    except Exception as exc:
        copied = {table: p.rows for table, p in published.items()}
        raise output_failure(
            POSTGRES_KEY,
            "the Postgres copy",
            exc,
            rows=sum(copied.values()),
            secrets=[password],
            tables=len(copied),
            **where,
        ) from None
    copied = {table: p.rows for table, p in published.items()}
    days = {table: p.days for table, p in published.items() if p.days is not None}
    context.log.info(
        f"published {len(copied)} tables to {target.describe()} schema {schema}"
        f" ({sum(copied.values())} rows written; changed days replaced:"
        f" {', '.join(f'{t} {d}' for t, d in sorted(days.items())) or 'none'})"
    )
    return dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text("ok"),
            "rows": dg.MetadataValue.int(sum(copied.values())),
            "tables": dg.MetadataValue.int(len(copied)),
            **{k: dg.MetadataValue.text(v) for k, v in where.items()},
            **_rows(copied),
        }
    )


@_from_serving_file(
    REPORT_KEY,
    "html",
    (
        "The health report ($HEALTH_DATA_DIR/reports/health_report.html): one self-contained "
        "HTML file with charts (portfolio and segments by band, band trend, ARR at risk), "
        "top movers and their drivers, accounts with insufficient data, and the run's "
        "data-quality status. Opens offline."
    ),
)
def health_report(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    try:
        report = engine.report()
        summary = engine.score_summary()
    except Exception as exc:
        raise output_failure(REPORT_KEY, "the health report", exc) from None
    context.log.info(f"health report: {report.path}")
    return dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text("ok"),
            "rows": dg.MetadataValue.int(summary.accounts if summary else 0),
            "path": dg.MetadataValue.path(str(report.path)),
            "link": dg.MetadataValue.url(report.path.as_uri()),
            "as_of_date": dg.MetadataValue.text(report.as_of_date),
            "charts": dg.MetadataValue.int(report.charts),
        }
    )
