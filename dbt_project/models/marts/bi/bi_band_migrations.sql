{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_band_migration_days() }}",
    )
}}

{#- Band migrations: per day and scorecard, the accounts that moved from one band to another
    since the day before (accounts that stayed in their band are not counted).
    Incremental: a day's migrations compare it with the day before, so a run that writes
    the days of int_scoring_window rewrites those days and the day after them (the
    pre-hook empties them first: a day where nobody moves any more has no row to
    replace its old ones). -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

fact as (
    select fact.account_id, fact.as_of_date, fact.scorecard, fact.health_band
    from {{ ref('fct_customer_health_daily') }} as fact
    cross join scoring_window
    where fact.as_of_date between {{ add_days('scoring_window.score_from_date', -1) }}
        and {{ add_days('scoring_window.score_to_date', 1) }}
),

with_previous as (
    select
        fact.*,
        lag(health_band) over (partition by account_id order by as_of_date) as previous_band,
        lag(as_of_date) over (partition by account_id order by as_of_date) as previous_date
    from fact
)

select
    with_previous.as_of_date,
    with_previous.scorecard,
    with_previous.previous_band as from_band,
    with_previous.health_band as to_band,
    count(*) as accounts
from with_previous
cross join scoring_window
where with_previous.previous_band is not null
    and with_previous.previous_band <> with_previous.health_band
    and with_previous.previous_date = {{ add_days('with_previous.as_of_date', -1) }}
    and with_previous.as_of_date >= scoring_window.score_from_date
group by with_previous.as_of_date, with_previous.scorecard, with_previous.previous_band,
    with_previous.health_band
