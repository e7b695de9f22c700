{#- The health bands: the configured ones (seeds/scoring_bands.csv), best first, with
    which is best and which is worst, and the band of a row without a score. What every
    reader of the bands reads (the exit checks, the report, bi_arr_at_risk): "the worst
    band" is `is_worst` here and nowhere else. band_order must follow the scores (1 for
    the band of the highest scores): the configuration check refuses anything else, and
    the test assert_band_order_follows_scores checks the loaded table again. -#}
with bands as (
    select * from {{ ref('scoring_bands') }}
),

ranked as (
    select
        band,
        min_score,
        max_score,
        band_order,
        row_number() over (order by min_score desc) as score_rank,
        count(*) over () as bands
    from bands
),

final as (
    select
        cast(band as {{ dbt.type_string() }}) as band,
        cast(min_score as {{ double_type() }}) as min_score,
        cast(max_score as {{ double_type() }}) as max_score,
        cast(band_order as integer) as band_order,
        cast(score_rank as integer) as score_rank,
        true as is_scored,
        score_rank = 1 as is_best,
        score_rank = bands as is_worst
    from ranked

    union all

    select
        cast({{ no_data_band() }} as {{ dbt.type_string() }}),
        cast(null as {{ double_type() }}),
        cast(null as {{ double_type() }}),
        cast(null as integer),
        cast(null as integer),
        false,
        false,
        false
)

select * from final
