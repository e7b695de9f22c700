"""What every asset shares: its owners, the pool of warehouse writers, the retry policy,
and the freshness expected of the daily outputs."""

from datetime import timedelta

import dagster as dg

OWNERS = ["team:customer-health"]
"""Owners of every asset (shown in the UI; the on-call rotation's team)."""

DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=30), warn_window=timedelta(hours=26)
)
"""The fact table and the serving file are rebuilt daily: late after 26 hours, failed
after 30 (the daily schedule plus time for a retry or a re-run)."""

WAREHOUSE_POOL = "duckdb_warehouse"
"""Every asset that writes the warehouse runs in this pool (limit 1: one writer)."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A backfill of the ingest assets loads its days in one run."""

TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
"""Retries for what may pass on a second try (a locked file, a flaky disk or network):
5, 10, 20 s, with jitter. What cannot pass on a retry (bad data, a broken configuration,
a failed check, a failed dbt model or test) raises `dagster.Failure(allow_retries=False)`
and fails at once."""
