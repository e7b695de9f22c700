{#-
    Support measures per scored account-day, over tickets opened in the trailing
    `support_window_days`: ticket volume against the mean of the account's scorecard
    (segment) that day, median hours to first response and to resolution, urgent tickets
    still open, and mean ticket satisfaction. Volume is 0 once the support feed has data;
    times and satisfaction are null without tickets that have them.
-#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

support_tickets as (
    select * from {{ ref('stg_raw__support_tickets') }}
),

feed as (
    select min(opened_date) as feed_start_date from support_tickets
),

tickets as (
    select
        days.account_id,
        days.as_of_date,
        support_tickets.priority,
        support_tickets.satisfaction,
        case when cast(support_tickets.first_response_at as date) <= days.as_of_date
            then {{ minutes_between('support_tickets.opened_at', 'support_tickets.first_response_at') }} / 60.0
        end as first_response_hours,
        case when cast(support_tickets.resolved_at as date) <= days.as_of_date
            then {{ minutes_between('support_tickets.opened_at', 'support_tickets.resolved_at') }} / 60.0
        end as resolution_hours
    from days
    cross join settings
    inner join support_tickets
        on support_tickets.account_id = days.account_id
        and support_tickets.opened_date <= days.as_of_date
        and support_tickets.opened_date
            > {{ add_days('days.as_of_date', '-settings.support_window_days') }}
),

per_day as (
    select
        account_id,
        as_of_date,
        count(*) as tickets,
        percentile_cont(0.5) within group (order by first_response_hours)
            as first_response_hours,
        percentile_cont(0.5) within group (order by resolution_hours) as resolution_hours,
        sum(case when priority = 'urgent' and resolution_hours is null then 1 else 0 end)
            as open_urgent_tickets,
        avg(case when resolution_hours is not null then satisfaction end)
            as ticket_satisfaction
    from tickets
    group by account_id, as_of_date
),

volumes as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        case when feed.feed_start_date <= days.as_of_date
            then coalesce(per_day.tickets, 0) end as tickets,
        per_day.first_response_hours,
        per_day.resolution_hours,
        case when feed.feed_start_date <= days.as_of_date
            then coalesce(per_day.open_urgent_tickets, 0) end as open_urgent_tickets,
        per_day.ticket_satisfaction
    from days
    cross join feed
    left join per_day
        on per_day.account_id = days.account_id
        and per_day.as_of_date = days.as_of_date
),

final as (
    select
        account_id,
        as_of_date,
        scorecard,
        tickets,
        tickets / nullif(avg(tickets * {{ as_double('1.0') }}) over (partition by scorecard, as_of_date), 0)
            as tickets_vs_segment,
        first_response_hours,
        resolution_hours,
        open_urgent_tickets,
        ticket_satisfaction
    from volumes
)

select * from final
