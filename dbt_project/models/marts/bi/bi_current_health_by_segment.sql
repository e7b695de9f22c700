{{ config(materialized='view') }}
{#- Current health by segment: live accounts per segment and band on their latest scored
    day, with their share of the segment, mean score and ARR (null when none of them has
    a subscription: not measured, not 0). The report's live figures and band bars. -#}
with accounts as (
    select * from {{ ref('dim_accounts') }}
    where not is_churned and scored_at is not null
),

per_band as (
    select
        coalesce(segment, 'unknown') as segment,
        health_band,
        count(*) as accounts,
        avg(health_score) as avg_health_score,
        sum(arr) as arr
    from accounts
    group by 1, 2
)

select
    segment,
    health_band,
    accounts,
    cast(accounts as {{ double_type() }})
        / sum(accounts) over (partition by segment) as share_of_segment,
    avg_health_score,
    arr
from per_band
