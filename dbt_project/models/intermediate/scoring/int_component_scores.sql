{#- One row per scored account-day, each component of the catalog (health_components())
    in columns:
    <component>_weight              the weight the account's scorecard gives it (0 when none);
    <component>_measures_with_data  how many of its measures have points that day;
    <component>_computed_score      the weighted mean of its measures' points that have
                                    data; null when none has;
    <component>_score               the computed score, or a manual override's
                                    (seeds/scoring_overrides.csv) on the days of its
                                    validity window (<component>_is_overridden,
                                    <component>_override_reason);
    <component>_is_stale            whether a feed behind the component is stale that day. -#}
{%- set components = health_components() -%}

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

computed as (
    select
        account_id,
        as_of_date,
        {%- for component in components %}
        count(case when component = '{{ component }}' then measure_points end)
            as {{ component }}_measures_with_data,
        sum(case when component = '{{ component }}' then measure_weight * measure_points end)
            / nullif(sum(case when component = '{{ component }}' and measure_points is not null
                then measure_weight else 0 end), 0)
            as {{ component }}_computed_score
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from measure_points
    group by account_id, as_of_date
),

scorecard_weights as (
    select
        scorecard,
        {%- for component in components %}
        max(case when component = '{{ component }}' then weight end) as {{ component }}_weight
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from weights
    group by scorecard
),

day_overrides as (
    select
        days.account_id,
        days.as_of_date,
        {%- for component in components %}
        max(case when overrides.component = '{{ component }}' then overrides.score end)
            as {{ component }}_override_score,
        max(case when overrides.component = '{{ component }}' then overrides.reason end)
            as {{ component }}_override_reason
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from days
    inner join overrides
        on overrides.account_id = days.account_id
        and days.as_of_date >= overrides.valid_from
        and (overrides.valid_to is null or days.as_of_date <= overrides.valid_to)
    group by days.account_id, days.as_of_date
),

stale_components as (
    select
        scoring_measures.scorecard,
        freshness.as_of_date,
        {%- for component in components %}
        max(case when scoring_measures.component = '{{ component }}' then 1 else 0 end)
            as {{ component }}_stale
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from scoring_measures
    inner join freshness
        on freshness.source = scoring_measures.source
    where freshness.is_stale
    group by scoring_measures.scorecard, freshness.as_of_date
),

final as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        {%- for component in components %}
        coalesce(scorecard_weights.{{ component }}_weight, 0) as {{ component }}_weight,
        coalesce(computed.{{ component }}_measures_with_data, 0)
            as {{ component }}_measures_with_data,
        computed.{{ component }}_computed_score,
        coalesce(day_overrides.{{ component }}_override_score, computed.{{ component }}_computed_score)
            as {{ component }}_score,
        day_overrides.{{ component }}_override_score is not null as {{ component }}_is_overridden,
        day_overrides.{{ component }}_override_reason,
        coalesce(stale_components.{{ component }}_stale, 0) = 1 as {{ component }}_is_stale
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from days
    left join scorecard_weights
        on scorecard_weights.scorecard = days.scorecard
    left join computed
        on computed.account_id = days.account_id
        and computed.as_of_date = days.as_of_date
    left join day_overrides
        on day_overrides.account_id = days.account_id
        and day_overrides.as_of_date = days.as_of_date
    left join stale_components
        on stale_components.scorecard = days.scorecard
        and stale_components.as_of_date = days.as_of_date
)

select * from final
