{#- Every measure of the catalog (`health_measures` in dbt_project.yml) per scored
    account-day, in long form, with its percentile within the account's scorecard that
    day: the mid-rank percentile 100 * (values below + half the values equal) / values,
    so a lone value or a tie of all values is 50. Null values have no percentile. -#}
{%- set sources = var('health_sources') %}

with measure_values as (
    {%- for measure, source in var('health_measures').items() %}
    select
        account_id,
        as_of_date,
        scorecard,
        '{{ measure }}' as measure,
        cast({{ measure }} as double precision) as measure_value
    from {{ ref(sources[source]) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

ranked as (
    select
        account_id,
        as_of_date,
        measure,
        100.0 * (
            rank() over (
                partition by scorecard, as_of_date, measure order by measure_value
            ) - 1
            + 0.5 * count(*) over (partition by scorecard, as_of_date, measure, measure_value)
        ) / count(*) over (partition by scorecard, as_of_date, measure) as segment_percentile
    from measure_values
    where measure_value is not null
),

final as (
    select
        measure_values.*,
        ranked.segment_percentile
    from measure_values
    left join ranked
        on ranked.account_id = measure_values.account_id
        and ranked.as_of_date = measure_values.as_of_date
        and ranked.measure = measure_values.measure
)

select * from final
