{#-
    Subscription measures per scored account-day. Each subscription's state on a day
    is the worst-to-best ladder in the CASE below, scored by
    seeds/scoring_status_points.csv; the account takes its best subscription. The same
    rules are applied `mrr_change_window_days` earlier to measure contraction and
    expansion. Null for accounts without a subscription that day.

    Subscriptions arrive as latest-state rows, so a subscription's MRR is its current
    MRR on every day it was live; changes show when subscriptions start or end.
-#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

subscriptions as (
    select * from {{ ref('stg_raw__subscriptions') }}
),

state_points as (
    select * from {{ ref('scoring_status_points') }}
),

-- each scored day, and the day `mrr_change_window_days` before it
observation_days as (
    select account_id, as_of_date, scorecard, churned_date, as_of_date as observed_date,
        'current' as observation
    from days
    union all
    select days.account_id, days.as_of_date, days.scorecard, days.churned_date,
        {{ add_days('days.as_of_date', '-settings.mrr_change_window_days') }}, 'prior'
    from days
    cross join settings
),

subscription_states as (
    select
        observation_days.account_id,
        observation_days.as_of_date,
        observation_days.observation,
        subscriptions.mrr,
        case
            when observation_days.churned_date <= observation_days.observed_date then 'churned'
            when subscriptions.ended_date <= observation_days.observed_date then 'ended'
            when subscriptions.status = 'canceled' and subscriptions.canceled_date is null
                and subscriptions.status_since_date <= observation_days.observed_date then 'ended'
            when subscriptions.canceled_date <= observation_days.observed_date
                then 'cancel_requested'
            when subscriptions.status = 'past_due'
                and subscriptions.status_since_date <= observation_days.observed_date
                then 'past_due'
            when subscriptions.status = 'trialing' then 'trialing'
            else 'active'
        end as subscription_state,
        {{ days_between('subscriptions.started_date', 'observation_days.observed_date') }}
            as subscription_days
    from observation_days
    inner join subscriptions
        on subscriptions.account_id = observation_days.account_id
        and subscriptions.started_date <= observation_days.observed_date
),

live_subscriptions as (
    select
        subscription_states.*,
        case when subscription_state in ('active', 'past_due', 'cancel_requested')
            then 1 else 0 end as is_billed
    from subscription_states
),

per_day as (
    select
        live_subscriptions.account_id,
        live_subscriptions.as_of_date,
        live_subscriptions.observation,
        max(state_points.points) as subscription_state_points,
        -- tenure of the subscriptions still running: an ended one does not count
        max(case when live_subscriptions.subscription_state not in ('ended', 'churned')
            then live_subscriptions.subscription_days end) as subscription_tenure_days,
        sum(live_subscriptions.is_billed * live_subscriptions.mrr) as mrr,
        sum(case when live_subscriptions.subscription_state = 'past_due' then 1 else 0 end)
            as past_due_subscriptions,
        sum(live_subscriptions.is_billed
            * floor(live_subscriptions.subscription_days / 365.0)) as renewals,
        min(case when live_subscriptions.is_billed = 1
            then 365 - mod(live_subscriptions.subscription_days, 365) end) as days_to_renewal
    from live_subscriptions
    inner join state_points
        on state_points.subscription_state = live_subscriptions.subscription_state
    group by live_subscriptions.account_id, live_subscriptions.as_of_date,
        live_subscriptions.observation
),

final as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        current_day.subscription_state_points,
        current_day.subscription_tenure_days,
        current_day.mrr,
        current_day.past_due_subscriptions,
        cast(current_day.renewals as integer) as renewals,
        current_day.days_to_renewal,
        case when prior_day.mrr > 0
            then 100.0 * (coalesce(current_day.mrr, 0) - prior_day.mrr) / prior_day.mrr
        end as mrr_change_pct
    from days
    left join per_day as current_day
        on current_day.account_id = days.account_id
        and current_day.as_of_date = days.as_of_date
        and current_day.observation = 'current'
    left join per_day as prior_day
        on prior_day.account_id = days.account_id
        and prior_day.as_of_date = days.as_of_date
        and prior_day.observation = 'prior'
)

select * from final
