{#- The scores of the comparison days this run does not compute because
    fct_customer_health_daily already holds them under this configuration
    (published_comparison_days, macros/scoring.sql): read from the fact as the last run
    left it, so the deltas of the run's days compare with them. Empty on a first build
    or a full refresh, and when every comparison day is computed again. -#}
{%- set fact = published_mart('fct_customer_health_daily') -%}

with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

{% if fact is none -%}
final as (
    select
        cast(null as {{ string_type(128) }}) as account_id,
        cast(null as date) as as_of_date,
        cast(null as {{ double_type() }}) as health_score
    where 1 = 0
)
{%- else -%}
published_days as (
    {{ published_comparison_days('scoring_window', 'scoring_config') | indent(4) }}
),

final as (
    select fact.account_id, fact.as_of_date, fact.health_score
    from {{ fact }} as fact
    where fact.as_of_date in (select as_of_date from published_days)
)
{%- endif %}

select * from final
