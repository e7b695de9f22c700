{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#- Why each score is what it is and why it moved: one row per account, day and
    component (plus `overall`, what an overall override changed), keyed like fct_customer_health_daily. See
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
{%- set parts = score_parts() %}

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
    {%- for source in ['contributions', ref('int_published_contributions')] %}
    select
        account_id,
        as_of_date,
        {%- for part in parts %}
        {{ part }}_contribution
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ source }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

{#- the window's account-days with their parts' contributions 7 and 30 days before, in
    columns; then one row per part -#}
compared as (
    select
        contributions.*,
        {%- for days in change_periods() %}
        {%- set outer_loop = loop %}
        {%- for part in parts %}
        before_{{ days }}d.{{ part }}_contribution as {{ part }}_contribution_{{ days }}d_before
        {%- if not (outer_loop.last and loop.last) %},{% endif %}
        {%- endfor %}
        {%- endfor %}
    from contributions
    cross join scoring_window
    {%- for days in change_periods() %}
    left join comparison_contributions as before_{{ days }}d
        on before_{{ days }}d.account_id = contributions.account_id
        and before_{{ days }}d.as_of_date = {{ add_days('contributions.as_of_date', -days) }}
    {%- endfor %}
    where contributions.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
),

final as (
    {%- for part in parts %}
    select
        compared.account_id,
        compared.as_of_date,
        '{{ part }}' as component,
        compared.{{ part }}_weight as component_weight,
        compared.{{ part }}_weight_used as weight_used,
        {{ round2('compared.' ~ part ~ '_unrounded_score') }} as component_score,
        compared.{{ part }}_contribution as contribution,
        compared.{{ part }}_points_lost as points_lost,
        {%- for days in change_periods() %}
        {{ round2('compared.' ~ part ~ '_contribution - compared.' ~ part ~ '_contribution_' ~ days ~ 'd_before') }}
            as change_{{ days }}d,
        {%- endfor %}
        scoring_config.config_version
    from compared
    cross join scoring_config
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from final
