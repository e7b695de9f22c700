{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
-- Rule: no account-day of the spine in the scored window is missing from the fact table.
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

spine as (
    select account_days.account_id, account_days.as_of_date
    from {{ ref('int_account_days') }} as account_days
    cross join scoring_window
    where account_days.as_of_date between scoring_window.score_from_date
        and scoring_window.score_to_date
)

select spine.account_id, spine.as_of_date
from spine
left join {{ ref('fct_customer_health_daily') }} as fact
    on fact.account_id = spine.account_id
    and fact.as_of_date = spine.as_of_date
where fact.account_id is null
