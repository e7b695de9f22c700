{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#- Band distribution per scorecard (segment) per day: accounts, their share, MRR/ARR and
    mean score per band, over the live accounts (the fact has no churned day). MRR is null
    for a band whose accounts have no subscription (not measured, not 0). -#}
with fact as (
    select * from {{ ref('fct_customer_health_daily') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

per_band as (
    select
        fact.as_of_date,
        fact.scorecard,
        fact.health_band,
        count(*) as accounts,
        avg(fact.health_score) as avg_health_score,
        sum(fact.mrr) as mrr
    from fact
    cross join scoring_window
    where fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
    group by fact.as_of_date, fact.scorecard, fact.health_band
),

final as (
    select
        as_of_date,
        scorecard,
        health_band,
        accounts,
        {{ round_to('accounts * ' ~ as_double('1.0') ~ ' / sum(accounts) over (partition by as_of_date, scorecard)', 6) }}
            as share_of_accounts,
        {{ round2('avg_health_score') }} as avg_health_score,
        {{ round2('mrr') }} as mrr,
        {{ arr_of('mrr') }} as arr
    from per_band
)

select * from final
