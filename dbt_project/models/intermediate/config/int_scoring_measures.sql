{#- The measures each scorecard uses, per component: the scorecard's own rows in
    seeds/scoring_measures.csv for that component, else the `default` scorecard's rows.
    One row per (scorecard, component, measure), with the source that feeds the measure. -#}
with scorecards as (
    select * from {{ ref('scoring_scorecards') }}
),

measures as (
    select * from {{ ref('scoring_measures') }}
),

measure_sources as (
    {%- for measure, source in var('health_measures').items() %}
    select '{{ measure }}' as measure, '{{ source }}' as source
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

own_measures as (
    select scorecards.scorecard, measures.component, measures.measure, measures.method,
        measures.lower_bound, measures.upper_bound, measures.higher_is_better, measures.weight
    from scorecards
    inner join measures
        on measures.scorecard = scorecards.scorecard
),

inherited_measures as (
    select scorecards.scorecard, measures.component, measures.measure, measures.method,
        measures.lower_bound, measures.upper_bound, measures.higher_is_better, measures.weight
    from scorecards
    cross join measures
    where measures.scorecard = 'default'
        and not exists (
            select 1
            from measures as own
            where own.scorecard = scorecards.scorecard
                and own.component = measures.component
        )
),

final as (
    select effective.*, measure_sources.source
    from (
        select * from own_measures
        union all
        select * from inherited_measures
    ) as effective
    inner join measure_sources
        on measure_sources.measure = effective.measure
)

select * from final
