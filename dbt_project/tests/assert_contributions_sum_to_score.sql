{{ config(meta={'dagster': {'ref': {'name': 'fct_health_score_drivers'}}}) }}
-- Rule: an account-day's contributions sum to its health score (to 0.001; they are
-- built to sum exactly at two decimals), and there are none when the score is null.
-- Over the days this run wrote (macros/test_scope.sql).
with scoring_window as (
    select * from {{ scoring_window_relation() }}
),

contributions as (
    select drivers.account_id, drivers.as_of_date, sum(drivers.contribution) as contributions,
        count(drivers.contribution) as n
    from {{ ref('fct_health_score_drivers') }} as drivers
    cross join scoring_window
    where drivers.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
    group by drivers.account_id, drivers.as_of_date
)

select fact.account_id, fact.as_of_date, fact.health_score, contributions.contributions
from {{ ref('fct_customer_health_daily') }} as fact
inner join contributions
    on contributions.account_id = fact.account_id
    and contributions.as_of_date = fact.as_of_date
where (fact.health_score is null and contributions.n > 0)
    or abs(fact.health_score - contributions.contributions) > 0.001
