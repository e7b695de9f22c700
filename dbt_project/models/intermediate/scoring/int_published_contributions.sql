{#- The contributions of the comparison days this run does not compute because
    fct_health_score_drivers already holds them under this configuration
    (published_comparison_days, macros/scoring.sql): read from the drivers as the last
    run left them, so the changes of the run's days compare with them; one row per
    account-day, each part's contribution in a column, as in
    int_health_score_contributions. Empty on a first build or a full refresh, and when
    every comparison day is computed again. -#}
{%- set drivers = published_mart('fct_health_score_drivers') -%}
{%- set parts = score_parts() -%}

with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

{% if drivers is none -%}
final as (
    select
        cast(null as {{ string_type(128) }}) as account_id,
        cast(null as date) as as_of_date,
        {%- for part in parts %}
        cast(null as {{ double_type() }}) as {{ part }}_contribution
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    where 1 = 0
)
{%- else -%}
published_days as (
    {{ published_comparison_days('scoring_window', 'scoring_config') | indent(4) }}
),

final as (
    select
        drivers.account_id,
        drivers.as_of_date,
        {%- for part in parts %}
        max(case when drivers.component = '{{ part }}' then drivers.contribution end)
            as {{ part }}_contribution
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ drivers }} as drivers
    where drivers.as_of_date in (select as_of_date from published_days)
    group by drivers.account_id, drivers.as_of_date
)
{%- endif %}

select * from final
