{{ config(materialized='view') }}
{#- ARR at risk per day: ARR of live accounts in the worst band (the highest band_order of
    the scoring configuration), against all live ARR, per scorecard. -#}
with fact as (
    select * from {{ ref('fct_customer_health_daily') }}
    where not is_churned
),

worst_band as (
    select band from {{ ref('scoring_bands') }}
    where band_order = (select max(band_order) from {{ ref('scoring_bands') }})
)

select
    fact.as_of_date,
    fact.scorecard,
    count(*) as live_accounts,
    count(case when fact.health_band in (select band from worst_band) then 1 end)
        as accounts_at_risk,
    sum(coalesce(fact.mrr, 0)) * 12 as arr,
    coalesce(sum(
        case when fact.health_band in (select band from worst_band) then fact.mrr end
    ), 0) * 12 as arr_at_risk
from fact
group by fact.as_of_date, fact.scorecard
