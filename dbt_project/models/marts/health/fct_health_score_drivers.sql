{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#- Why each score is what it is and why it moved: one row per account, day and
    component (plus `override`), keyed like fct_customer_health_daily. See
    int_health_score_contributions for the contributions.

    change_7d / change_30d
                  contribution minus the same component's contribution 7 / 30 days
                  earlier: they sum exactly to the score's 7- / 30-day change, weight
                  redistribution included. Null when either score is null (a null score
                  has null contributions). The earlier contributions are computed in
                  this run (int_scoring_days) unless this table already holds those days
                  under the same config_version, when they are read from it
                  (int_published_contributions), as fct_customer_health_daily reads
                  its earlier scores. -#}
with contributions as (
    select * from {{ ref('int_health_score_contributions') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

comparison_contributions as (
    select account_id, as_of_date, component, contribution from contributions
    union all
    select account_id, as_of_date, component, contribution from {{ ref('int_published_contributions') }}
),

final as (
    select
        contributions.account_id,
        contributions.as_of_date,
        contributions.component,
        contributions.component_weight,
        contributions.weight_used,
        {{ round2('contributions.component_score') }} as component_score,
        contributions.contribution,
        contributions.points_lost,
        {%- for days in change_periods() %}
        {{ round2('contributions.contribution - before_' ~ days ~ 'd.contribution') }}
            as change_{{ days }}d,
        {%- endfor %}
        scoring_config.config_version
    from contributions
    cross join scoring_window
    cross join scoring_config
    {%- for days in change_periods() %}
    left join comparison_contributions as before_{{ days }}d
        on before_{{ days }}d.account_id = contributions.account_id
        and before_{{ days }}d.component = contributions.component
        and before_{{ days }}d.as_of_date = {{ add_days('contributions.as_of_date', -days) }}
    {%- endfor %}
    where contributions.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
)

select * from final
