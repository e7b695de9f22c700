{{ config(materialized='view') }}
{#- Trend per account: each scored day with the account's name, segment and owner, its
    score, band, 7- and 30-day change and the drivers, for line charts and drill-downs. -#}
select
    fact.account_id,
    accounts.account_name,
    accounts.segment,
    accounts.csm_owner,
    fact.as_of_date,
    fact.health_score,
    fact.health_band,
    fact.health_score_delta_7d,
    fact.health_score_delta_30d,
    fact.top_positive_driver,
    fact.top_negative_driver,
    fact.score_coverage
from {{ ref('fct_customer_health_daily') }} as fact
inner join {{ ref('dim_accounts') }} as accounts
    on accounts.account_id = fact.account_id
