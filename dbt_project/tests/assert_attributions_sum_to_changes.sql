{{ config(meta={'dagster': {'ref': {'name': 'fct_health_score_drivers'}}}) }}
-- Rule: the components' 7- and 30-day changes sum to the score's 7- and 30-day deltas
-- (to 0.001), and are null exactly when the delta is. Over the days this run wrote
-- (macros/test_scope.sql).
with scoring_window as (
    select * from {{ scoring_window_relation() }}
),

changes as (
    select
        drivers.account_id,
        drivers.as_of_date,
        sum(drivers.change_7d) as change_7d,
        count(drivers.change_7d) as n_7d,
        sum(drivers.change_30d) as change_30d,
        count(drivers.change_30d) as n_30d
    from {{ ref('fct_health_score_drivers') }} as drivers
    cross join scoring_window
    where drivers.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
    group by drivers.account_id, drivers.as_of_date
)

select fact.account_id, fact.as_of_date
from {{ ref('fct_customer_health_daily') }} as fact
inner join changes
    on changes.account_id = fact.account_id
    and changes.as_of_date = fact.as_of_date
where
    {%- for days in change_periods() %}
    (fact.health_score_delta_{{ days }}d is null) <> (changes.n_{{ days }}d = 0)
    or abs(fact.health_score_delta_{{ days }}d - changes.change_{{ days }}d) > 0.001
    {%- if not loop.last %} or{% endif %}
    {%- endfor %}
