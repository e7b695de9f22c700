{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
-- Rule (the churn rule, macros/churn.sql): no account is scored on or after its churn
-- day. Checked over the days this run wrote; earlier days change when they are re-run.
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

accounts as (
    select * from {{ ref('stg_raw__accounts') }}
)

select fact.account_id, fact.as_of_date, accounts.churned_date
from {{ ref('fct_customer_health_daily') }} as fact
cross join scoring_window
inner join accounts
    on accounts.account_id = fact.account_id
where fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
    and ({{ is_churned_on('accounts.churned_date', 'fact.as_of_date') }} or fact.is_churned)
