{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#-
    The daily customer health score: one row per account per day.

    Each component is the weighted mean of its measures, each measure scored 0-100
    linearly between the thresholds in scoring_measures.csv; measures without data
    are left out, and a component with no measure data is null. The health score is
    the weighted mean of the components that have data, with the weights of the
    account's scorecard (scoring_weights.csv); score_coverage is the share of the
    weight backed by data. Bands come from scoring_bands.csv.

    Each run writes the days in int_scoring_window (delete+insert by as_of_date). The
    scores 30 days before them are recomputed, not read back, so that deltas are the
    same whichever days a run covers.
-#}
{%- set components = health_components() -%}
{%- set measures = health_measures() -%}

with signals as (
    select * from {{ ref('int_account_signals_daily') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

measure_config as (
    select * from {{ ref('scoring_measures') }}
),

weight_config as (
    select * from {{ ref('scoring_weights') }}
),

band_config as (
    select * from {{ ref('scoring_bands') }}
),

scoring_config as (
    select * from {{ ref('int_scoring_config') }}
),

measure_thresholds as (
    select
        {%- for component in components %}
        {%- for measure in measures %}
        max(case when component = '{{ component }}' and measure = '{{ measure }}'
            then lower_bound end) as {{ component }}__{{ measure }}__lower,
        max(case when component = '{{ component }}' and measure = '{{ measure }}'
            then upper_bound end) as {{ component }}__{{ measure }}__upper,
        max(case when component = '{{ component }}' and measure = '{{ measure }}'
            then weight end) as {{ component }}__{{ measure }}__weight
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from measure_config
),

scorecard_weights as (
    select
        scorecard,
        {%- for component in components %}
        max(case when component = '{{ component }}' then weight end) as {{ component }}_weight
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weight_config
    group by scorecard
),

measure_points as (
    select
        signals.*,
        {%- for component in components %}
        {%- for measure in measures %}
        measure_thresholds.{{ component }}__{{ measure }}__weight
            as {{ component }}__{{ measure }}__weight,
        {{ linear_score(
            'signals.' ~ measure,
            'measure_thresholds.' ~ component ~ '__' ~ measure ~ '__lower',
            'measure_thresholds.' ~ component ~ '__' ~ measure ~ '__upper') }}
            as {{ component }}__{{ measure }}__points
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from signals
    cross join measure_thresholds
),

component_scores as (
    select
        account_id,
        as_of_date,
        segment,
        scorecard,
        is_churned,
        days_since_last_activity,
        {%- for component in components %}
        {%- set pairs = [] %}
        {%- for measure in measures %}
        {%- do pairs.append((component ~ '__' ~ measure ~ '__weight',
                             component ~ '__' ~ measure ~ '__points')) %}
        {%- endfor %}
        {{ weighted_mean(pairs) }} as {{ component }}_score
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from measure_points
),

health_scores as (
    {%- set pairs = [] %}
    {#- pairing each weight with a constant counts every weight: the scorecard's total -#}
    {%- set all_weights = [] %}
    {%- for component in components %}
    {%- do pairs.append(('scorecard_weights.' ~ component ~ '_weight',
                         'component_scores.' ~ component ~ '_score')) %}
    {%- do all_weights.append(('scorecard_weights.' ~ component ~ '_weight', '0')) %}
    {%- endfor %}
    select
        component_scores.*,
        {{ weighted_mean(pairs) }} as health_score_exact,
        {{ available_weight(pairs) }} / nullif({{ available_weight(all_weights) }}, 0)
            as score_coverage_exact
    from component_scores
    inner join scorecard_weights
        on scorecard_weights.scorecard = component_scores.scorecard
),

rounded as (
    select
        account_id,
        as_of_date,
        segment,
        scorecard,
        is_churned,
        days_since_last_activity,
        {{ round2('health_score_exact') }} as health_score,
        {%- for component in components %}
        {{ round2(component ~ '_score') }} as {{ component }}_score,
        {%- endfor %}
        {{ round2('score_coverage_exact') }} as score_coverage
    from health_scores
),

bands as (
    select
        band,
        min_score,
        lead(min_score) over (order by min_score) as next_min_score
    from band_config
),

final as (
    select
        rounded.account_id,
        rounded.as_of_date,
        rounded.segment,
        rounded.scorecard,
        rounded.health_score,
        coalesce(bands.band, 'insufficient_data') as health_band,
        {%- for component in components %}
        rounded.{{ component }}_score,
        {%- endfor %}
        rounded.score_coverage,
        {{ round2('rounded.health_score - score_7d_before.health_score') }} as health_score_delta_7d,
        {{ round2('rounded.health_score - score_30d_before.health_score') }}
            as health_score_delta_30d,
        cast(rounded.days_since_last_activity as integer) as days_since_last_activity,
        rounded.is_churned,
        scoring_config.config_version
    from rounded
    cross join scoring_window
    cross join scoring_config
    left join bands
        on rounded.health_score >= bands.min_score
        and (bands.next_min_score is null or rounded.health_score < bands.next_min_score)
    left join rounded as score_7d_before
        on score_7d_before.account_id = rounded.account_id
        and score_7d_before.as_of_date = {{ add_days('rounded.as_of_date', -7) }}
    left join rounded as score_30d_before
        on score_30d_before.account_id = rounded.account_id
        and score_30d_before.as_of_date = {{ add_days('rounded.as_of_date', -30) }}
    where rounded.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
)

select * from final
