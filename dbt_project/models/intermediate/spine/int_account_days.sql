{{ config(materialized='view') }}

{#- The spine: one row per live account per day, from the account's creation (or the
    data start) to the as-of date or the day before the account churned, whichever
    comes first (macros/churn.sql). Nothing after it scores a churned day. A view:
    consumers filter it to the days they need. -#}
with accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

calendar_days as (
    select * from {{ ref('int_calendar_days') }}
),

scorecards as (
    select scorecard from {{ ref('scoring_scorecards') }}
),

final as (
    select
        accounts.account_id,
        calendar_days.calendar_date as as_of_date,
        accounts.segment,
        accounts.parent_account_id,
        coalesce(scorecards.scorecard, 'default') as scorecard,
        accounts.created_date,
        accounts.churned_date,
        {{ days_between('accounts.created_date', 'calendar_days.calendar_date') }} as tenure_days
    from accounts
    inner join calendar_days
        on calendar_days.calendar_date >= accounts.created_date
    left join scorecards
        on scorecards.scorecard = accounts.segment
    where not {{ is_churned_on('accounts.churned_date', 'calendar_days.calendar_date') }}
)

select * from final
