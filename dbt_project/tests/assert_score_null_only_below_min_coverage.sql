{{ config(meta={'dagster': {'ref': {'name': 'fct_customer_health_daily'}}}) }}
-- Rule: without an overall override, the score is null exactly when score_coverage is
-- below the scorecard's min_coverage, and then the band is insufficient_data. Over the
-- days this run wrote (macros/test_scope.sql).
select fact.account_id, fact.as_of_date, fact.health_score, fact.score_coverage,
    scorecards.min_coverage
from {{ ref('fct_customer_health_daily') }} as fact
inner join {{ scoring_window_relation() }} as scoring_window
    on fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
inner join {{ ref('scoring_scorecards') }} as scorecards
    on scorecards.scorecard = fact.scorecard
where coalesce(fact.override_reason, '') not like 'overall:%'
    and (
        (fact.health_score is null) <> (fact.score_coverage < scorecards.min_coverage)
        or (fact.health_score is null) <> (fact.health_band = 'insufficient_data')
    )
