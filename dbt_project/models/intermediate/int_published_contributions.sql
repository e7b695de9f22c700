{#- The contributions of the comparison days this run does not compute because
    fct_health_score_drivers already holds them under this configuration
    (published_comparison_days, macros/scoring.sql): read from the drivers as the last
    run left them, so the changes of the run's days compare with them. Empty on a first
    build or a full refresh, and when every comparison day is computed again. -#}
{%- set drivers = published_mart('fct_health_score_drivers') -%}

with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

{% if drivers is none -%}
final as (
    select
        cast(null as varchar(128)) as account_id,
        cast(null as date) as as_of_date,
        cast(null as varchar(64)) as component,
        cast(null as double precision) as contribution
    where 1 = 0
)
{%- else -%}
published_days as (
    {{ published_comparison_days('scoring_window', 'scoring_config') | indent(4) }}
),

final as (
    select drivers.account_id, drivers.as_of_date, drivers.component, drivers.contribution
    from {{ drivers }} as drivers
    where drivers.as_of_date in (select as_of_date from published_days)
)
{%- endif %}

select * from final
