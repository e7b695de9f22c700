{#-
    The dates this run scores, one row.

    data_start_date  first day with activity data (usage, billing, surveys, support),
                     or the first account creation when there is none; HEALTH_START_DATE overrides.
    as_of_date       last day scored: HEALTH_AS_OF, else the latest date in the data.
    score_from_date / score_to_date
                     the days this run (re)writes in the fact table: the Dagster partition
                     window (dbt's --event-time-start/--event-time-end flags, see
                     run_window_date in macros/scoring.sql), clamped to the data's days;
                     when the fact table holds no history yet, from data_start_date (a
                     first run builds the history up to its window's end; the dbt asset
                     builds a long one in chunks, orchestration/defs/dbt/assets.py).
-#}
{%- set fact_has_history = published_mart('fct_customer_health_daily') is not none -%}

with accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

usage_events as (
    select * from {{ ref('stg_raw__usage_events') }}
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

support_tickets as (
    select * from {{ ref('stg_raw__support_tickets') }}
),

activity_dates as (
    select min(occurred_date) as first_date, max(occurred_date) as last_date from usage_events
    union all
    select min(issued_date), max(issued_date) from invoices
    union all
    select min(responded_date), max(responded_date) from survey_responses
    union all
    select min(opened_date), max(opened_date) from support_tickets
),

all_dates as (
    select first_date, last_date from activity_dates
    union all
    select min(created_date), max(created_date) from accounts
    union all
    select min(started_date), max(started_date) from subscriptions
),

bounds as (
    select
        coalesce(
            {{ env_date('HEALTH_START_DATE') }},
            (select min(first_date) from activity_dates),
            (select min(first_date) from all_dates)
        ) as data_start_date,
        coalesce(
            {{ env_date('HEALTH_AS_OF') }},
            (select max(last_date) from all_dates)
        ) as as_of_date
),

final as (
    select
        data_start_date,
        as_of_date,
        {% if fact_has_history -%}
        greatest(data_start_date, coalesce({{ run_window_date('start') }}, data_start_date))
        {%- else -%}
        data_start_date
        {%- endif %} as score_from_date,
        least(as_of_date, coalesce({{ run_window_date('end') }}, as_of_date))
            as score_to_date
    from bounds
)

select * from final
