{{ config(materialized='view') }}
{#- Revenue at risk per day, scorecard and revenue measure: the annual revenue of the
    live accounts in the worst band (dim_health_bands.is_worst: the band of the lowest
    scores), next to all their annual revenue. Subscription ARR and invoiced
    revenue are kept apart (revenue_measure); accounts with neither are counted under
    `not_measured` with null money, never a 0 that only means "not measured". -#}
with fact as (
    select * from {{ ref('fct_customer_health_daily') }}
),

worst_band as (
    select band from {{ ref('dim_health_bands') }}
    where is_worst
),

accounts as (
    select
        fact.as_of_date,
        fact.scorecard,
        coalesce(fact.revenue_measure, 'not_measured') as revenue_measure,
        fact.annual_revenue,
        worst_band.band is not null as is_at_risk
    from fact
    left join worst_band
        on worst_band.band = fact.health_band
),

final as (
    select
        as_of_date,
        scorecard,
        revenue_measure,
        count(*) as live_accounts,
        count(case when is_at_risk then 1 end) as accounts_at_risk,
        {{ round2('sum(annual_revenue)') }} as annual_revenue,
        case when revenue_measure <> 'not_measured' then
            {{ round2('coalesce(sum(case when is_at_risk then annual_revenue end), 0)') }}
        end as annual_revenue_at_risk
    from accounts
    group by as_of_date, scorecard, revenue_measure
)

select * from final
