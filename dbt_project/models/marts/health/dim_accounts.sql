{#- One row per account: who it is and how it is doing on its latest scored day. A
    churned account keeps the score of its last live day (the fact stops the day before
    its churn day) and is_churned says it left; live figures leave it out. -#}
with accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

fact as (
    select * from {{ ref('fct_customer_health_daily') }}
),

latest as (
    select fact.*
    from fact
    inner join (
        select account_id, max(as_of_date) as as_of_date
        from fact
        group by account_id
    ) as latest_day
        on latest_day.account_id = fact.account_id
        and latest_day.as_of_date = fact.as_of_date
),

latest_scored_day as (
    select max(as_of_date) as as_of_date from fact
),

final as (
    select
        accounts.account_id,
        accounts.account_name,
        accounts.segment,
        coalesce(latest.scorecard, 'default') as scorecard,
        accounts.plan,
        accounts.region,
        accounts.csm_owner,
        accounts.parent_account_id,
        accounts.created_date,
        accounts.churned_date,
        {{ is_churned_on('accounts.churned_date', 'latest_scored_day.as_of_date') }}
            as is_churned,
        latest.as_of_date as scored_at,
        latest.health_score,
        coalesce(latest.health_band, {{ no_data_band() }}) as health_band,
        latest.health_score_delta_7d,
        latest.health_score_delta_30d,
        case
            when latest.health_score_delta_30d >= {{ var('health_trend_threshold') }} then 'improving'
            when latest.health_score_delta_30d <= -{{ var('health_trend_threshold') }}
                then 'declining'
            when latest.health_score_delta_30d is not null then 'stable'
        end as trend_30d,
        latest.score_coverage,
        latest.top_positive_driver,
        latest.top_negative_driver,
        latest.stale_components,
        latest.mrr,
        latest.mrr * 12 as arr,
        latest.config_version
    from accounts
    cross join latest_scored_day
    left join latest
        on latest.account_id = accounts.account_id
)

select * from final
