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
    int_health_score_contributions for the arithmetic. -#}
with contributions as (
    select * from {{ ref('int_health_score_contributions') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
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
        contributions.change_7d,
        contributions.change_30d,
        scoring_config.config_version
    from contributions
    cross join scoring_window
    cross join scoring_config
    where contributions.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
)

select * from final
