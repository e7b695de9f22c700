{#-
    Survey measures per scored account-day, over the trailing `survey_window_days`.
    Answers are normalised to 0-100 (NPS 0-10 x 10; CSAT 1-5 and CES 1-7 mapped from
    their lowest to their highest answer, CES 7 = easiest) and weighted by recency: an
    answer's weight halves every `survey_half_life_days`. Null without answers.
-#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

survey_responses as (
    select * from {{ ref('stg_raw__survey_responses') }}
),

answers as (
    select
        days.account_id,
        days.as_of_date,
        survey_responses.survey_type,
        survey_responses.score,
        case survey_responses.survey_type
            when 'nps' then survey_responses.score * 10.0
            when 'csat' then (survey_responses.score - 1) * 100.0 / 4
            when 'ces' then (survey_responses.score - 1) * 100.0 / 6
        end as normalized_score,
        power(0.5,
            {{ days_between('survey_responses.responded_date', 'days.as_of_date') }} * 1.0
            / settings.survey_half_life_days) as recency_weight
    from days
    cross join settings
    inner join survey_responses
        on survey_responses.account_id = days.account_id
        and survey_responses.responded_date <= days.as_of_date
        and survey_responses.responded_date
            > {{ add_days('days.as_of_date', '-settings.survey_window_days') }}
),

per_day as (
    select
        account_id,
        as_of_date,
        {%- for survey_type in ['nps', 'csat', 'ces'] %}
        sum(case when survey_type = '{{ survey_type }}'
                then recency_weight * normalized_score end)
            / nullif(sum(case when survey_type = '{{ survey_type }}'
                then recency_weight end), 0) as {{ survey_type }}_score,
        {%- endfor %}
        avg(case when survey_type = 'nps'
            then case when score >= 9 then {{ as_double('1.0') }} else {{ as_double('0.0') }} end end) as nps_promoter_share
    from answers
    group by account_id, as_of_date
),

final as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        per_day.nps_score,
        per_day.csat_score,
        per_day.ces_score,
        per_day.nps_promoter_share
    from days
    left join per_day
        on per_day.account_id = days.account_id
        and per_day.as_of_date = days.as_of_date
)

select * from final
