{#-
    The measures behind the component scores, per account per day, for the days this
    run scores plus the 30 days before them (so 30-day deltas can be computed).
    A measure is null when its feed has no data on or before that day; zero when the
    feed has data and the account did nothing.
-#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

account_days as (
    select * from {{ ref('int_account_days') }}
),

usage_daily as (
    select * from {{ ref('int_usage_daily') }}
),

subscriptions as (
    select * from {{ ref('stg_raw__subscriptions') }}
),

invoices as (
    select * from {{ ref('stg_raw__invoices') }}
),

survey_responses as (
    select * from {{ ref('stg_raw__survey_responses') }}
),

state_points as (
    select * from {{ ref('scoring_status_points') }}
),

bounds as (
    select
        {{ add_days('score_from_date', -30) }} as signal_from_date,
        {{ add_days('score_from_date', -59) }} as history_from_date,
        score_to_date
    from scoring_window
),

feed_starts as (
    select
        (select min(activity_date) from usage_daily) as usage_start_date,
        (select min(issued_date) from invoices) as invoices_start_date
),

days_in_range as (
    select account_days.*
    from account_days
    cross join bounds
    where account_days.as_of_date between bounds.signal_from_date and bounds.score_to_date
),

-- usage: dense daily rows so that trailing windows are plain window functions
dense_usage as (
    select
        account_days.account_id,
        account_days.as_of_date,
        coalesce(usage_daily.events, 0) as events,
        coalesce(usage_daily.active_users, 0) as active_users,
        case when usage_daily.events > 0 then 1 else 0 end as is_active_day,
        case when usage_daily.events > 0 then account_days.as_of_date end as active_date
    from account_days
    cross join bounds
    left join usage_daily
        on usage_daily.account_id = account_days.account_id
        and usage_daily.activity_date = account_days.as_of_date
    where account_days.as_of_date between bounds.history_from_date and bounds.score_to_date
),

usage_windows as (
    select
        account_id,
        as_of_date,
        sum(is_active_day) over trailing_30d as active_days_30d,
        sum(events) over trailing_30d as events_30d,
        sum(active_users) over trailing_30d / 30.0 as active_users_30d_avg,
        max(active_date) over (
            partition by account_id order by as_of_date
            rows between unbounded preceding and current row
        ) as last_active_date_in_range
    from dense_usage
    window trailing_30d as (
        partition by account_id order by as_of_date rows between 29 preceding and current row
    )
),

usage_before_range as (
    select
        usage_daily.account_id,
        max(usage_daily.activity_date) as last_active_date
    from usage_daily
    cross join bounds
    where usage_daily.activity_date < bounds.history_from_date
    group by usage_daily.account_id
),

-- subscriptions: the state each subscription was in on each day, best state wins
subscription_states as (
    select
        days_in_range.account_id,
        days_in_range.as_of_date,
        case
            when days_in_range.is_churned then 'churned'
            when subscriptions.ended_date <= days_in_range.as_of_date then 'ended'
            when subscriptions.status = 'canceled' and subscriptions.canceled_date is null
                and subscriptions.status_since_date <= days_in_range.as_of_date then 'ended'
            when subscriptions.canceled_date <= days_in_range.as_of_date then 'cancel_requested'
            when subscriptions.status = 'past_due'
                and subscriptions.status_since_date <= days_in_range.as_of_date then 'past_due'
            when subscriptions.status = 'trialing' then 'trialing'
            else 'active'
        end as subscription_state,
        {{ days_between('subscriptions.started_date', 'days_in_range.as_of_date') }}
            as subscription_days
    from days_in_range
    inner join subscriptions
        on subscriptions.account_id = days_in_range.account_id
        and subscriptions.started_date <= days_in_range.as_of_date
),

subscription_days as (
    select
        subscription_states.account_id,
        subscription_states.as_of_date,
        max(state_points.points) as subscription_state_points,
        max(subscription_states.subscription_days) as subscription_tenure_days
    from subscription_states
    inner join state_points
        on state_points.subscription_state = subscription_states.subscription_state
    group by subscription_states.account_id, subscription_states.as_of_date
),

-- billing: invoices paid in the trailing year
paid_invoices as (
    select
        days_in_range.account_id,
        days_in_range.as_of_date,
        count(*) as paid_invoices_365d
    from days_in_range
    inner join invoices
        on invoices.account_id = days_in_range.account_id
        and invoices.paid_date <= days_in_range.as_of_date
        and invoices.paid_date > {{ add_days('days_in_range.as_of_date', -365) }}
    where invoices.status = 'paid'
    group by days_in_range.account_id, days_in_range.as_of_date
),

-- surveys: NPS answers in the trailing year
nps_answers as (
    select
        days_in_range.account_id,
        days_in_range.as_of_date,
        avg(survey_responses.score) as nps_avg_365d
    from days_in_range
    inner join survey_responses
        on survey_responses.account_id = days_in_range.account_id
        and survey_responses.responded_date <= days_in_range.as_of_date
        and survey_responses.responded_date > {{ add_days('days_in_range.as_of_date', -365) }}
    where survey_responses.survey_type = 'nps'
    group by days_in_range.account_id, days_in_range.as_of_date
),

final as (
    select
        days_in_range.account_id,
        days_in_range.as_of_date,
        days_in_range.segment,
        days_in_range.scorecard,
        days_in_range.is_churned,
        days_in_range.tenure_days,
        case when feed_starts.usage_start_date <= days_in_range.as_of_date
            then usage_windows.active_days_30d end as active_days_30d,
        case when feed_starts.usage_start_date <= days_in_range.as_of_date
            then usage_windows.events_30d end as events_30d,
        case when feed_starts.usage_start_date <= days_in_range.as_of_date
            then usage_windows.active_users_30d_avg end as active_users_30d_avg,
        {{ days_between(
            'coalesce(usage_windows.last_active_date_in_range, usage_before_range.last_active_date)',
            'days_in_range.as_of_date') }} as days_since_last_activity,
        subscription_days.subscription_state_points,
        subscription_days.subscription_tenure_days,
        case when feed_starts.invoices_start_date <= days_in_range.as_of_date
            then coalesce(paid_invoices.paid_invoices_365d, 0) end as paid_invoices_365d,
        nps_answers.nps_avg_365d
    from days_in_range
    cross join feed_starts
    left join usage_windows
        on usage_windows.account_id = days_in_range.account_id
        and usage_windows.as_of_date = days_in_range.as_of_date
    left join usage_before_range
        on usage_before_range.account_id = days_in_range.account_id
    left join subscription_days
        on subscription_days.account_id = days_in_range.account_id
        and subscription_days.as_of_date = days_in_range.as_of_date
    left join paid_invoices
        on paid_invoices.account_id = days_in_range.account_id
        and paid_invoices.as_of_date = days_in_range.as_of_date
    left join nps_answers
        on nps_answers.account_id = days_in_range.account_id
        and nps_answers.as_of_date = days_in_range.as_of_date
)

select * from final
