"""The published serving file, downstream of every model and check of the run, and its
copies for other readers: Parquet files and a Postgres schema."""

import os
import time

import dagster as dg
from dagster import AssetExecutionContext

from orchestration.defs.publish.report import build_report
from orchestration.defs.publish.serving import export_parquet, publish_serving_file, score_summary
from orchestration.defs.quality.assets import MART_KEYS, QUALITY_GATE_KEY
from orchestration.defs.warehouse import (
    DAILY_FRESHNESS,
    OWNERS,
    TRANSIENT_RETRY,
    WAREHOUSE_POOL,
    WarehouseResource,
)


def _rows(rows: dict[str, int]) -> dict[str, dg.MetadataValue]:
    return {f"rows_{name}": dg.MetadataValue.int(n) for name, n in rows.items()}


@dg.asset(
    key=dg.AssetKey(["serving", "health_duckdb"]),
    description=(
        "The published serving file ($HEALTH_DATA_DIR/serving/health.duckdb) that BI reads: "
        "the marts, swapped in atomically only after the quality gate passed."
    ),
    deps=[QUALITY_GATE_KEY, *MART_KEYS],
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
    settings = warehouse.settings()
    published = publish_serving_file(
        settings.warehouse_path, settings.serving_path, run_id=context.run_id
    )
    context.log.info(f"published {published.path} ({len(published.tables)} tables)")
    metadata: dict[str, dg.MetadataValue] = {
        "path": dg.MetadataValue.path(str(published.path)),
        "publish_seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
        **_rows(published.tables),
    }
    summary = score_summary(published.path)
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


def _from_serving_file(name: str, kind: str, description: str):
    """An asset made from the published serving file, after each publish."""
    return dg.asset(
        key=dg.AssetKey(["serving", name]),
        description=description,
        deps=[serving_health_duckdb.key],
        group_name="publish",
        owners=OWNERS,
        kinds={kind},
        retry_policy=TRANSIENT_RETRY,
    )


@_from_serving_file(
    "parquet_exports",
    "parquet",
    (
        "Parquet files of every published table under $HEALTH_DATA_DIR/exports/<table>/, for "
        "tools that read files: the fact tables partitioned by as_of_date, the others one "
        "file each. Rewritten from the serving file after each publish."
    ),
)
def parquet_exports(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    settings = warehouse.settings()
    exports = settings.data_dir / "exports"
    rows = export_parquet(settings.serving_path, exports, run_id=context.run.run_id)
    context.log.info(f"exported {len(rows)} tables to {exports}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(exports)),
            **_rows(rows),
        }
    )


@_from_serving_file(
    "postgres",
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
        context.log.info("HEALTH_PUBLISH_POSTGRES is not true: not published to Postgres")
        return dg.MaterializeResult(metadata={"skipped": "HEALTH_PUBLISH_POSTGRES is not true"})
    from orchestration.postgres import PostgresSettings, copy_schema

    target = PostgresSettings.from_env()
    schema = os.environ.get("HEALTH_PG_SERVING_SCHEMA", "health")
    rows = copy_schema(str(warehouse.settings().serving_path), target, "main", schema)
    context.log.info(f"published {len(rows)} tables to {target.describe()} schema {schema}")
    return dg.MaterializeResult(
        metadata={
            "postgres": dg.MetadataValue.text(f"{target.describe()} schema {schema}"),
            **_rows(rows),
        }
    )


@_from_serving_file(
    "health_report",
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
    settings = warehouse.settings()
    report = build_report(settings.serving_path, settings.data_dir / "reports")
    context.log.info(f"health report: {report.path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "link": dg.MetadataValue.url(report.path.as_uri()),
            "as_of_date": dg.MetadataValue.text(report.as_of_date),
            "charts": dg.MetadataValue.int(report.charts),
        }
    )
