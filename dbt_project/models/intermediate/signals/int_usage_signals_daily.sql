{#-
    Usage measures per scored account-day (int_scoring_days), over the trailing
    `usage_window_days` (seeds/scoring_settings.csv). Counts are 0 when the usage feed
    has data on or before the day and the account did nothing, null when it has none.
-#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

usage_daily as (
    select * from {{ ref('int_usage_daily') }}
),

usage_features as (
    select * from {{ ref('int_usage_features_daily') }}
),

feed as (
    select min(activity_date) as feed_start_date from usage_daily
),

windows as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        settings.usage_window_days as window_days,
        {{ add_days('days.as_of_date', '-settings.usage_window_days') }} as window_start_date,
        {{ add_days('days.as_of_date', '-2 * settings.usage_window_days') }} as prior_start_date
    from days
    cross join settings
),

-- the days any window reaches (the earliest prior window's start .. the last scored
-- day): the range joins below pair each scored day with its account's active days in
-- reach, not with all of its history
reach as (
    select min(prior_start_date) as after_date, max(as_of_date) as to_date from windows
),

usage_in_reach as (
    select usage_daily.*
    from usage_daily
    cross join reach
    where usage_daily.activity_date > reach.after_date
        and usage_daily.activity_date <= reach.to_date
),

features_in_reach as (
    select usage_features.*
    from usage_features
    cross join reach
    where usage_features.activity_date > reach.after_date
        and usage_features.activity_date <= reach.to_date
),

current_usage as (
    select
        windows.account_id,
        windows.as_of_date,
        count(*) as active_days,
        sum(usage_in_reach.events) as events,
        sum(usage_in_reach.active_users) as active_user_days
    from windows
    inner join usage_in_reach
        on usage_in_reach.account_id = windows.account_id
        and usage_in_reach.activity_date > windows.window_start_date
        and usage_in_reach.activity_date <= windows.as_of_date
    group by windows.account_id, windows.as_of_date
),

prior_usage as (
    select
        windows.account_id,
        windows.as_of_date,
        sum(usage_in_reach.events) as prior_events
    from windows
    inner join usage_in_reach
        on usage_in_reach.account_id = windows.account_id
        and usage_in_reach.activity_date > windows.prior_start_date
        and usage_in_reach.activity_date <= windows.window_start_date
    group by windows.account_id, windows.as_of_date
),

features_used as (
    select
        windows.account_id,
        windows.as_of_date,
        count(distinct features_in_reach.event_name) as distinct_features
    from windows
    inner join features_in_reach
        on features_in_reach.account_id = windows.account_id
        and features_in_reach.activity_date > windows.window_start_date
        and features_in_reach.activity_date <= windows.as_of_date
    group by windows.account_id, windows.as_of_date
),

-- the last active day on or before each scored day: the last one before the first
-- scored day (one aggregate, whatever the history), then one ordered pass over the
-- scored days and the active days among them (usage first on a shared date)
scored_range as (
    select min(as_of_date) as first_date, max(as_of_date) as last_date from days
),

earlier_activity as (
    select usage_daily.account_id, max(usage_daily.activity_date) as last_active_date
    from usage_daily
    cross join scored_range
    where usage_daily.activity_date < scored_range.first_date
    group by usage_daily.account_id
),

activity_and_days as (
    select usage_daily.account_id, usage_daily.activity_date as as_of_date,
        usage_daily.activity_date, 0 as is_scored_day
    from usage_daily
    cross join scored_range
    where usage_daily.activity_date
        between scored_range.first_date and scored_range.last_date
    union all
    select account_id, as_of_date, cast(null as date), 1
    from days
),

last_activity as (
    select
        ordered.account_id,
        ordered.as_of_date,
        coalesce(ordered.last_active_date, earlier_activity.last_active_date)
            as last_active_date
    from (
        select
            account_id,
            as_of_date,
            is_scored_day,
            max(activity_date) over (
                partition by account_id order by as_of_date, is_scored_day
                rows between unbounded preceding and current row
            ) as last_active_date
        from activity_and_days
    ) as ordered
    left join earlier_activity
        on earlier_activity.account_id = ordered.account_id
    where ordered.is_scored_day = 1
),

final as (
    select
        windows.account_id,
        windows.as_of_date,
        windows.scorecard,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(current_usage.active_days, 0) end as active_days,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(current_usage.events, 0) end as events,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(current_usage.active_user_days, 0) * {{ as_double('1.0') }} / windows.window_days
        end as active_users_avg,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(features_used.distinct_features, 0) end as distinct_features,
        -- only when the prior window lies wholly after the feed started and had events
        case when feed.feed_start_date <= {{ add_days('windows.prior_start_date', 1) }}
                and prior_usage.prior_events > 0
            then 100.0 * (coalesce(current_usage.events, 0) - prior_usage.prior_events)
                / prior_usage.prior_events
        end as usage_trend_pct,
        {{ days_between('last_activity.last_active_date', 'windows.as_of_date') }}
            as days_since_last_activity
    from windows
    cross join feed
    left join current_usage
        on current_usage.account_id = windows.account_id
        and current_usage.as_of_date = windows.as_of_date
    left join prior_usage
        on prior_usage.account_id = windows.account_id
        and prior_usage.as_of_date = windows.as_of_date
    left join features_used
        on features_used.account_id = windows.account_id
        and features_used.as_of_date = windows.as_of_date
    left join last_activity
        on last_activity.account_id = windows.account_id
        and last_activity.as_of_date = windows.as_of_date
)

select * from final
