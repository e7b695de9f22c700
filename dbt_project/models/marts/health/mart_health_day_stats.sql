{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#- One row per scored day: how many accounts were live (the account spine) and how many
    fact rows the day has, and how the day moved against the day before: the share of
    accounts that changed band, the share in the worst band and its change, the mean
    coverage. What the exit checks validate and the drift check flags, derived here so
    that Python reads a published relation rather than the intermediate models.
    `is_settled` is false for the days within the first usage window after the data
    start, when trailing windows are still filling and scores move for that reason
    alone: the drift check leaves those out. -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

-- the window's fact rows and the day before it: this CTE is read three times, and
-- DuckDB materializes such a CTE, so it holds the days read, never all history
fact as (
    select fct.*
    from {{ ref('fct_customer_health_daily') }} as fct
    cross join scoring_window
    where fct.as_of_date
        between {{ add_days('scoring_window.score_from_date', -1) }} and scoring_window.score_to_date
),

account_days as (
    select * from {{ ref('int_account_days') }}
),

bands as (
    select * from {{ ref('dim_health_bands') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

live as (
    select account_days.as_of_date, count(*) as live_accounts
    from account_days
    cross join scoring_window
    where account_days.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
    group by account_days.as_of_date
),

-- the day before the window too: the first written day's change is against it
fact_days as (
    select
        fact.as_of_date,
        count(*) as fact_rows,
        count(fact.health_score) as scored_rows,
        avg(case when bands.is_worst then {{ as_double('1.0') }} else {{ as_double('0.0') }} end) as worst_band_share,
        avg(fact.score_coverage) as mean_coverage
    from fact
    cross join scoring_window
    left join bands
        on bands.band = fact.health_band
    where fact.as_of_date
        between {{ add_days('scoring_window.score_from_date', -1) }} and scoring_window.score_to_date
    group by fact.as_of_date
),

band_changes as (
    select
        today.as_of_date,
        avg(case when today.health_band <> yesterday.health_band then {{ as_double('1.0') }} else {{ as_double('0.0') }} end)
            as band_change_share
    from fact as today
    cross join scoring_window
    inner join fact as yesterday
        on yesterday.account_id = today.account_id
        and yesterday.as_of_date = {{ add_days('today.as_of_date', -1) }}
    where today.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
        -- said outright, so that the join reads the window's days, not all history
        and yesterday.as_of_date
            between {{ add_days('scoring_window.score_from_date', -1) }} and scoring_window.score_to_date
    group by today.as_of_date
),

changes as (
    select
        as_of_date,
        fact_rows,
        scored_rows,
        worst_band_share,
        worst_band_share - lag(worst_band_share) over (order by as_of_date)
            as worst_band_share_change,
        mean_coverage
    from fact_days
),

days as (
    select as_of_date from live
    union
    select changes.as_of_date
    from changes
    cross join scoring_window
    where changes.as_of_date >= scoring_window.score_from_date
),

final as (
    select
        days.as_of_date,
        coalesce(live.live_accounts, 0) as live_accounts,
        coalesce(changes.fact_rows, 0) as fact_rows,
        coalesce(changes.scored_rows, 0) as scored_rows,
        {{ round_to('coalesce(band_changes.band_change_share, 0.0)', 6) }} as band_change_share,
        {{ round_to('changes.worst_band_share', 6) }} as worst_band_share,
        {{ round_to('coalesce(changes.worst_band_share_change, 0.0)', 6) }}
            as worst_band_share_change,
        {{ round_to('changes.mean_coverage', 6) }} as mean_coverage,
        days.as_of_date >= {{ add_days('scoring_window.data_start_date', 'settings.usage_window_days') }}
            as is_settled
    from days
    cross join scoring_window
    cross join settings
    left join live
        on live.as_of_date = days.as_of_date
    left join changes
        on changes.as_of_date = days.as_of_date
    left join band_changes
        on band_changes.as_of_date = days.as_of_date
)

select * from final
