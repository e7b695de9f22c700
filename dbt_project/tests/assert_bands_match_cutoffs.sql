{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
-- Rule: every scored row's band is the band of seeds/scoring_bands.csv its score falls in.
-- Checked over the days this run wrote (every day on a full build), as every test of a
-- table rewritten by day (macros/test_scope.sql).
select fact.account_id, fact.as_of_date, fact.health_score, fact.health_band
from {{ ref('fct_customer_health_daily') }} as fact
inner join {{ scoring_window_relation() }} as scoring_window
    on fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
left join {{ ref('scoring_bands') }} as bands
    on bands.band = fact.health_band
where fact.health_score is not null
    and (
        bands.band is null
        or fact.health_score < bands.min_score
        or fact.health_score > bands.max_score
        or (fact.health_score = bands.max_score and bands.max_score < 100)
    )
