{#- What the reverse-ETL syncs send: one row per live, scored account with its current
    health, why, and how it moves. A churned account leaves this set, so the next sync
    deletes or tombstones it in each destination (sync.yml `on_delete`). A stable
    contract: destinations map these columns to their own field names (sync.yml), so
    renaming a column here is a breaking change. -#}
select
    account_id,
    account_name,
    csm_owner,
    segment,
    scorecard,
    health_score,
    health_band,
    trend_30d as health_trend,
    health_score_delta_7d,
    health_score_delta_30d,
    top_positive_driver,
    top_negative_driver,
    score_coverage,
    is_churned,
    arr,
    config_version,
    scored_at
from {{ ref('dim_accounts') }}
where scored_at is not null
    and not is_churned
