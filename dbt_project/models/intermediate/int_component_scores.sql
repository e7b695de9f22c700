{#- One row per scored account-day and component: the component score (the weighted
    mean of its measures' points that have data; null when none has), the weight the
    account's scorecard gives it (0 when none), manual overrides
    (seeds/scoring_overrides.csv, applied on the days of their validity window only),
    and whether a feed behind the component is stale that day. -#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

measure_points as (
    select * from {{ ref('int_measure_points') }}
),

scoring_measures as (
    select * from {{ ref('int_scoring_measures') }}
),

weights as (
    select * from {{ ref('scoring_weights') }}
),

overrides as (
    select * from {{ ref('scoring_overrides') }}
),

freshness as (
    select * from {{ ref('int_source_freshness_daily') }}
),

components as (
    {%- for component in health_components() %}
    select '{{ component }}' as component, {{ loop.index }} as component_order
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

computed as (
    select
        account_id,
        as_of_date,
        component,
        count(measure_points) as measures_with_data,
        sum(measure_weight * measure_points)
            / nullif(sum(case when measure_points is not null then measure_weight else 0 end), 0)
            as computed_score
    from measure_points
    group by account_id, as_of_date, component
),

stale_components as (
    select
        scoring_measures.scorecard,
        scoring_measures.component,
        freshness.as_of_date
    from scoring_measures
    inner join freshness
        on freshness.source = scoring_measures.source
    where freshness.is_stale
    group by scoring_measures.scorecard, scoring_measures.component, freshness.as_of_date
),

final as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        components.component,
        components.component_order,
        coalesce(weights.weight, 0) as component_weight,
        coalesce(computed.measures_with_data, 0) as measures_with_data,
        computed.computed_score,
        coalesce(overrides.score, computed.computed_score) as component_score,
        overrides.score is not null as is_overridden,
        overrides.reason as override_reason,
        stale_components.component is not null as is_stale
    from days
    cross join components
    left join weights
        on weights.scorecard = days.scorecard
        and weights.component = components.component
    left join computed
        on computed.account_id = days.account_id
        and computed.as_of_date = days.as_of_date
        and computed.component = components.component
    left join overrides
        on overrides.account_id = days.account_id
        and overrides.component = components.component
        and days.as_of_date >= overrides.valid_from
        and (overrides.valid_to is null or days.as_of_date <= overrides.valid_to)
    left join stale_components
        on stale_components.scorecard = days.scorecard
        and stale_components.component = components.component
        and stale_components.as_of_date = days.as_of_date
)

select * from final
