{#-
    What a backtest judges: one row per live, scored account on each as-of date, with
    what was known that day (the score, its band, each component, and the simple
    baselines) and whether the account churned in the horizon after it.

    As-of dates: every `backtest_every_days` (vars) counted back from the last scored day
    that has a whole horizon after it (the scorecard's horizon: `horizon_days` of
    seeds/scoring_churn.csv), so the latest labels are complete.

    Features use only what happened on or before the as-of date: the fact row of that day
    (computed from trailing windows ending on it), the days since the last activity (the
    fact's), and the orders up to it (days since the last purchase; RFM over the 365 days
    to it: recency, frequency, monetary value).

    Label (seeds/scoring_churn.csv, per scorecard), using only what happened after:
    - `subscription`: the account churned (churned_at) in (as_of, as_of + horizon], or its
      last subscription ended in that window with none running after it;
    - `inactivity` (webshops, charities: no subscription to end): no order or donation in
      (as_of, as_of + horizon], or churned_at in it.
-#}
with fact as (
    select * from {{ ref('fct_customer_health_daily') }}
),

bands as (
    select * from {{ ref('dim_health_bands') }}
),

churn_rules as (
    select * from {{ ref('scoring_churn') }}
),

accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

subscriptions as (
    select * from {{ ref('stg_raw__subscriptions') }}
),

orders as (
    select * from {{ ref('stg_raw__invoices') }}
    where status not in ('draft', 'void')
),

last_day as (
    select max(as_of_date) as last_scored_date from fact
),

as_of_dates as (
    select distinct
        fact.as_of_date,
        fact.scorecard,
        churn_rules.churn_rule,
        churn_rules.horizon_days
    from fact
    inner join churn_rules
        on churn_rules.scorecard = fact.scorecard
    cross join last_day
    where {{ days_between('fact.as_of_date', 'last_day.last_scored_date') }}
            >= churn_rules.horizon_days
        and mod(
            {{ days_between('fact.as_of_date', 'last_day.last_scored_date') }}
                - churn_rules.horizon_days,
            {{ var('backtest_every_days') }}
        ) = 0
),

observed as (
    select
        fact.as_of_date,
        fact.account_id,
        fact.scorecard,
        fact.segment,
        as_of_dates.churn_rule,
        as_of_dates.horizon_days,
        fact.health_score,
        fact.health_band,
        bands.band_order,
        {%- for component in health_components() %}
        fact.{{ component }}_score,
        {%- endfor %}
        fact.days_since_last_activity,
        fact.config_version
    from fact
    inner join as_of_dates
        on as_of_dates.as_of_date = fact.as_of_date
        and as_of_dates.scorecard = fact.scorecard
    left join bands
        on bands.band = fact.health_band
    where not fact.is_churned
        and fact.health_score is not null
),

purchases_before as (
    select
        observed.as_of_date,
        observed.account_id,
        max(orders.issued_date) as last_purchase_date,
        count(case when orders.issued_date > {{ add_days('observed.as_of_date', -365) }}
            then orders.invoice_id end) as orders_365d,
        coalesce(sum(case when orders.issued_date > {{ add_days('observed.as_of_date', -365) }}
            then orders.amount end), 0) as order_value_365d
    from observed
    inner join orders
        on orders.account_id = observed.account_id
        and orders.issued_date <= observed.as_of_date
    group by observed.as_of_date, observed.account_id
),

purchases_after as (
    select
        observed.as_of_date,
        observed.account_id
    from observed
    inner join orders
        on orders.account_id = observed.account_id
        and orders.issued_date > observed.as_of_date
        and orders.issued_date <= {{ add_days('observed.as_of_date', 'observed.horizon_days') }}
    group by observed.as_of_date, observed.account_id
),

subscriptions_ended as (
    {#- the last subscription ended in the horizon, and none ran past it -#}
    select
        observed.as_of_date,
        observed.account_id
    from observed
    inner join subscriptions
        on subscriptions.account_id = observed.account_id
        and subscriptions.started_date <= {{ add_days('observed.as_of_date', 'observed.horizon_days') }}
    group by observed.as_of_date, observed.account_id, observed.horizon_days
    having max(case when subscriptions.ended_date is null then 1 else 0 end) = 0
        and max(subscriptions.ended_date) > observed.as_of_date
        and max(subscriptions.ended_date)
            <= {{ add_days('observed.as_of_date', 'observed.horizon_days') }}
),

final as (
    select
        observed.as_of_date,
        observed.account_id,
        observed.scorecard,
        observed.segment,
        observed.health_score,
        observed.health_band,
        observed.band_order,
        {%- for component in health_components() %}
        observed.{{ component }}_score,
        {%- endfor %}
        observed.days_since_last_activity,
        case when purchases_before.last_purchase_date is not null
            then {{ days_between('purchases_before.last_purchase_date', 'observed.as_of_date') }}
        end as days_since_last_purchase,
        coalesce(purchases_before.orders_365d, 0) as orders_365d,
        coalesce(purchases_before.order_value_365d, 0) as order_value_365d,
        observed.churn_rule,
        observed.horizon_days,
        coalesce(
            accounts.churned_date > observed.as_of_date
            and accounts.churned_date
                <= {{ add_days('observed.as_of_date', 'observed.horizon_days') }},
            false
        )
        or (observed.churn_rule = 'subscription' and subscriptions_ended.account_id is not null)
        or (observed.churn_rule = 'inactivity' and purchases_after.account_id is null)
            as churned_in_horizon,
        observed.config_version
    from observed
    inner join accounts
        on accounts.account_id = observed.account_id
    left join purchases_before
        on purchases_before.account_id = observed.account_id
        and purchases_before.as_of_date = observed.as_of_date
    left join purchases_after
        on purchases_after.account_id = observed.account_id
        and purchases_after.as_of_date = observed.as_of_date
    left join subscriptions_ended
        on subscriptions_ended.account_id = observed.account_id
        and subscriptions_ended.as_of_date = observed.as_of_date
)

select * from final
