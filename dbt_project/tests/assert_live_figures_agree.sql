{{ config(meta={'dagster': {'ref': {'name': 'bi_current_health_by_segment'}}}) }}
-- Rule: every "live accounts" figure of the latest scored day is the same number, band by
-- band: the fact's rows that day, bi_current_health_by_segment (the report's KPIs and
-- bars, and the run summary's), bi_arr_at_risk, and the accounts the syncs send
-- (sync_account_health). A churned account is in none of them.
with latest_day as (
    select max(as_of_date) as as_of_date from {{ ref('fct_customer_health_daily') }}
),

figures as (
    select 'fct_customer_health_daily' as figure, fact.health_band, count(*) as accounts
    from {{ ref('fct_customer_health_daily') }} as fact
    inner join latest_day
        on latest_day.as_of_date = fact.as_of_date
    group by fact.health_band
    union all
    select 'bi_current_health_by_segment', health_band, sum(accounts)
    from {{ ref('bi_current_health_by_segment') }}
    group by health_band
    union all
    select 'sync_account_health', health_band, count(*)
    from {{ ref('sync_account_health') }}
    group by health_band
    union all
    select 'bi_arr_at_risk', 'all bands', sum(live_accounts)
    from {{ ref('bi_arr_at_risk') }}
    where as_of_date = (select as_of_date from latest_day)
    union all
    select 'fct_customer_health_daily (all bands)', 'all bands', count(*)
    from {{ ref('fct_customer_health_daily') }} as fact
    inner join latest_day
        on latest_day.as_of_date = fact.as_of_date
),

compared as (
    select
        health_band,
        min(accounts) as fewest,
        max(accounts) as most,
        count(*) as figures
    from figures
    group by health_band
)

-- a band missing from a figure shows as fewer figures than the band has elsewhere
select compared.*
from compared
where fewest <> most
    or (health_band <> 'all bands' and figures <> 3)
    or (health_band = 'all bands' and figures <> 2)
