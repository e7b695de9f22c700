{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#-
    The daily customer health score: one row per live account per day (the output
    contract, v2): an account's rows stop the day before it churns (int_account_days).
    Scores are computed in int_health_scores for the days in int_scoring_window; the
    deltas compare with the scores 7 and 30 days before, computed too (int_scoring_days)
    unless this table already holds those days under the same config_version
    (published_comparison_days, macros/scoring.sql), when they are read from it
    (int_published_scores). This model writes the window's days (delete+insert by
    as_of_date), so rebuilding any range gives the rows a full rebuild gives.
-#}
with health_scores as (
    select * from {{ ref('int_health_scores') }}
),

contributions as (
    select * from {{ ref('int_health_score_contributions') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

comparison_scores as (
    select account_id, as_of_date, health_score from health_scores
    union all
    select account_id, as_of_date, health_score from {{ ref('int_published_scores') }}
),

final as (
    select
        health_scores.account_id,
        health_scores.as_of_date,
        health_scores.segment,
        health_scores.scorecard,
        health_scores.parent_account_id,
        health_scores.health_score,
        health_scores.health_band,
        {%- for component in health_components() %}
        health_scores.{{ component }}_score,
        {%- endfor %}
        health_scores.score_coverage,
        {%- for days in change_periods() %}
        {{ round2('health_scores.health_score - before_' ~ days ~ 'd.health_score') }}
            as health_score_delta_{{ days }}d,
        {%- endfor %}
        contributions.top_positive_driver,
        contributions.top_negative_driver,
        health_scores.stale_components,
        health_scores.is_overridden,
        health_scores.override_reason,
        health_scores.mrr,
        health_scores.days_since_last_activity,
        {{ is_churned_on('health_scores.churned_date', 'health_scores.as_of_date') }}
            as is_churned,
        scoring_config.config_version,
        -- contract v2: what the account is worth a year, and in which measure
        case
            when health_scores.mrr is not null then 'subscription_arr'
            when health_scores.invoiced_revenue_12m is not null then 'invoiced_revenue_12m'
        end as revenue_measure,
        case
            when health_scores.mrr is not null then {{ arr_of('health_scores.mrr') }}
            else health_scores.invoiced_revenue_12m
        end as annual_revenue
    from health_scores
    cross join scoring_window
    cross join scoring_config
    left join contributions
        on contributions.account_id = health_scores.account_id
        and contributions.as_of_date = health_scores.as_of_date
    {%- for days in change_periods() %}
    left join comparison_scores as before_{{ days }}d
        on before_{{ days }}d.account_id = health_scores.account_id
        and before_{{ days }}d.as_of_date = {{ add_days('health_scores.as_of_date', -days) }}
    {%- endfor %}
    where health_scores.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
)

select * from final
