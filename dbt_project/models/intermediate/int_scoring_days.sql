{#- The account-days whose scores this run computes: the days it writes
    (int_scoring_window) and, for each of them, the days its changes compare against
    (7 and 30 days before: change_periods()). Only those: a run of one day scores three
    days, not the month before it. Every signals model computes its measures for exactly
    these rows. -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

account_days as (
    select * from {{ ref('int_account_days') }}
),

final as (
    select account_days.*
    from account_days
    cross join scoring_window
    where account_days.as_of_date
        between {{ add_days('scoring_window.score_from_date', -(change_periods() | max)) }}
        and scoring_window.score_to_date
        and (
            account_days.as_of_date >= scoring_window.score_from_date
            {%- for days in change_periods() %}
            or {{ add_days('account_days.as_of_date', days) }}
                between scoring_window.score_from_date and scoring_window.score_to_date
            {%- endfor %}
        )
)

select * from final
