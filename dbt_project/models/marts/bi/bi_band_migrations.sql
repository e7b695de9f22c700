{#- Band migrations: per day and scorecard, the accounts that moved from one band to another
    since the day before (accounts that stayed in their band are not counted). -#}
with fact as (
    select account_id, as_of_date, scorecard, health_band
    from {{ ref('fct_customer_health_daily') }}
),

with_previous as (
    select
        fact.*,
        lag(health_band) over (partition by account_id order by as_of_date) as previous_band,
        lag(as_of_date) over (partition by account_id order by as_of_date) as previous_date
    from fact
)

select
    as_of_date,
    scorecard,
    previous_band as from_band,
    health_band as to_band,
    count(*) as accounts
from with_previous
where previous_band is not null
    and previous_band <> health_band
    and previous_date = {{ add_days('as_of_date', -1) }}
group by as_of_date, scorecard, previous_band, health_band
