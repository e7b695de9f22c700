{#- A view: the long tables (account-days x measures, ~25 rows per account-day) are read
    once, by int_component_scores through int_measure_points, so they are computed as
    that model aggregates them rather than written and read back (7.4 s -> 3.2 s for a
    100-day part at 5,000 accounts). -#}
{{ config(materialized='view') }}

{#- Each measure of the catalog (`health_measures` in dbt_project.yml) that the account's
    scorecard uses (int_scoring_measures), per scored account-day, in long form, with its
    percentile within the account's scorecard that day where the scorecard scores the
    measure by percentile (else null): the mid-rank percentile 100 * (values below + half
    the values equal) / values, so a lone value or a tie of all values is 50. Null values
    have no percentile and are not counted.
    The long table is the widest of the run (account-days x measures): measures the
    scorecard does not use are left out here, not after a join downstream, and only the
    percentile measures pay for ranking. -#}
{%- set sources = var('health_sources') %}

with measure_values as (
    {%- for measure, source in var('health_measures').items() %}
    select
        account_id,
        as_of_date,
        scorecard,
        '{{ measure }}' as measure,
        cast({{ measure }} as {{ double_type() }}) as measure_value
    from {{ ref(sources[source]) }}
    where scorecard in (
        select scorecard from {{ ref('int_scoring_measures') }} where measure = '{{ measure }}'
    )
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

percentile_pairs as (
    select distinct scorecard, measure
    from {{ ref('int_scoring_measures') }}
    where method = 'percentile'
),

by_method as (
    select
        measure_values.*,
        percentile_pairs.measure is not null as by_percentile
    from measure_values
    left join percentile_pairs
        on percentile_pairs.scorecard = measure_values.scorecard
        and percentile_pairs.measure = measure_values.measure
),

final as (
    select account_id, as_of_date, scorecard, measure, measure_value,
        cast(null as {{ double_type() }}) as segment_percentile
    from by_method
    where not by_percentile
    union all
    select account_id, as_of_date, scorecard, measure, measure_value,
        {#- nulls form their own partition, wherever an engine sorts them -#}
        case when measure_value is not null then
            {{ as_double('100.0') }} * (
                rank() over (
                    partition by scorecard, as_of_date, measure, measure_value is null
                    order by measure_value
                ) - 1
                + 0.5 * count(*) over (
                    partition by scorecard, as_of_date, measure, measure_value
                )
            ) / count(*) over (
                partition by scorecard, as_of_date, measure, measure_value is null
            )
        end as segment_percentile
    from by_method
    where by_percentile
)

select * from final
