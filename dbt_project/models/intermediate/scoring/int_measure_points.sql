{#- A view, as int_measure_values: int_component_scores aggregates it as it is computed. -#}
{{ config(materialized='view') }}

{#- Each measure a scorecard uses (int_scoring_measures), scored 0-100 by its method:
    `linear` between the two thresholds (clamped; `higher_is_better` false reverses it),
    `log` the same on a log scale (ln(1 + value)),
    `bands` by the points of the band the value falls in (seeds/scoring_measure_bands.csv,
    lower bound inclusive, upper exclusive, empty = open), `percentile` by the value's
    percentile within the scorecard that day (reversed when lower is better).
    Null when the measure has no value. -#}
with measure_values as (
    select * from {{ ref('int_measure_values') }}
),

scoring_measures as (
    select * from {{ ref('int_scoring_measures') }}
),

measure_bands as (
    select * from {{ ref('scoring_measure_bands') }}
),

final as (
    select
        measure_values.account_id,
        measure_values.as_of_date,
        measure_values.scorecard,
        scoring_measures.component,
        measure_values.measure,
        scoring_measures.source,
        scoring_measures.method,
        scoring_measures.weight as measure_weight,
        measure_values.measure_value,
        case
            when measure_values.measure_value is null then null
            when scoring_measures.method = 'linear' then
                case when scoring_measures.higher_is_better
                    then {{ linear_score('measure_values.measure_value',
                        'scoring_measures.lower_bound', 'scoring_measures.upper_bound') }}
                    else {{ linear_score('measure_values.measure_value',
                        'scoring_measures.upper_bound', 'scoring_measures.lower_bound') }}
                end
            when scoring_measures.method = 'log' then
                case when scoring_measures.higher_is_better
                    then {{ log_score('measure_values.measure_value',
                        'scoring_measures.lower_bound', 'scoring_measures.upper_bound') }}
                    else {{ log_score('measure_values.measure_value',
                        'scoring_measures.upper_bound', 'scoring_measures.lower_bound') }}
                end
            when scoring_measures.method = 'bands' then measure_bands.points
            when scoring_measures.method = 'percentile' then
                case when scoring_measures.higher_is_better
                    then measure_values.segment_percentile
                    else 100 - measure_values.segment_percentile
                end
        end as measure_points
    from measure_values
    inner join scoring_measures
        on scoring_measures.scorecard = measure_values.scorecard
        and scoring_measures.measure = measure_values.measure
    left join measure_bands
        on scoring_measures.method = 'bands'
        and measure_bands.measure = measure_values.measure
        and (measure_bands.lower_bound is null
            or measure_values.measure_value >= measure_bands.lower_bound)
        and (measure_bands.upper_bound is null
            or measure_values.measure_value < measure_bands.upper_bound)
)

select * from final
