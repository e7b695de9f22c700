{#- The account-days whose scores this run computes: the days it writes
    (int_scoring_window) and the 30 days before them, which the 7- and 30-day changes
    compare against. Every signals model computes its measures for exactly these rows. -#}
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
        between {{ add_days('scoring_window.score_from_date', -30) }}
        and scoring_window.score_to_date
)

select * from final
