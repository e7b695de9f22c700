"""A warehouse's sync model (marts.sync_account_health) with made-up accounts, for tests
of the sync machinery itself (the pipeline's own model is tested end to end)."""

from __future__ import annotations

import duckdb


def create_sync_source(con: duckdb.DuckDBPyConnection, accounts: int, base_score: int) -> None:
    """ACC-000001.. with score base_score + n, owner csm0/csm1, band `watch`, config v1."""
    con.execute("create schema if not exists marts")
    con.execute(
        """
        create table marts.sync_account_health as
        select
            printf('ACC-%06d', i) as account_id, 'Account ' || i as account_name,
            'csm' || (i % 2) as csm_owner, 'smb' as segment, 'default' as scorecard,
            cast(? + i as double) as health_score, 'watch' as health_band,
            'stable' as health_trend,
            0.0::double as health_score_delta_7d, 0.0::double as health_score_delta_30d,
            'engagement' as top_positive_driver, 'billing' as top_negative_driver,
            1.0::double as score_coverage, false as is_churned, 1200.0::double * i as arr,
            'v1' as config_version, date '2025-06-01' as scored_at
        from range(1, ? + 1) as t(i)
        """,
        [base_score, accounts],
    )
