{#- The account-days whose scores this run computes: the days it writes
    (int_scoring_window) and, for each of them, the days its changes compare against
    (7 and 30 days before: change_periods()) unless the score marts already hold those
    under this configuration (published_comparison_days, macros/scoring.sql): the marts
    then read them from there. A run of one day after the last scores one day, not the
    month before it; a range re-run under a new configuration scores its comparison days
    too. Every signals model computes its measures for exactly these rows. -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

account_days as (
    select * from {{ ref('int_account_days') }}
),

published_days as (
    {{ published_comparison_days('scoring_window', 'scoring_config') | indent(4) }}
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
            or (
                (
                    {%- for days in change_periods() %}
                    {% if not loop.first %}or {% endif -%}
                    {{ add_days('account_days.as_of_date', days) }}
                        between scoring_window.score_from_date and scoring_window.score_to_date
                    {%- endfor %}
                )
                and account_days.as_of_date not in (select as_of_date from published_days)
            )
        )
)

select * from final
