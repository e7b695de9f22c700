{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
-- Rule: every row's band is the band its score falls in under the configured bands, by
-- the one band rule (macros/bands.sql), and a row without a score has the no-data band.
-- Checked over the days this run wrote (every day on a full build), as every test of a
-- table rewritten by day (macros/test_scope.sql).
select fact.account_id, fact.as_of_date, fact.health_score, fact.health_band
from {{ ref('fct_customer_health_daily') }} as fact
inner join {{ scoring_window_relation() }} as scoring_window
    on fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
left join {{ ref('scoring_bands') }} as bands
    on {{ in_band('fact.health_score', 'bands') }}
where fact.health_band <> {{ band_of('bands') }}
