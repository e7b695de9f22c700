{#- The largest drops and rises in health over 7 and 30 days to the latest scored day,
    with the two components that moved the score most in that direction
    (fct_health_score_drivers.change_<N>d); a component that stayed put or moved the
    other way is no driver. Top `health_movers_per_list` per list. The fact holds live
    accounts only, so a churned account is no mover. The fact is named in each place
    rather than through one CTE: DuckDB materializes a CTE read more than once, which
    here would copy all history every run. -#}
with latest_day as (
    select max(as_of_date) as as_of_date from {{ ref('fct_customer_health_daily') }}
),

fact as (
    select fct.*
    from {{ ref('fct_customer_health_daily') }} as fct
    inner join latest_day
        on latest_day.as_of_date = fct.as_of_date
),

drivers as (
    select * from {{ ref('fct_health_score_drivers') }}
),

accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

changes as (
    {%- for days in change_periods() %}
    select
        fact.account_id,
        fact.as_of_date,
        fact.scorecard,
        fact.health_score,
        fact.health_band,
        {{ days }} as window_days,
        fact.health_score_delta_{{ days }}d as score_change,
        case when fact.health_score_delta_{{ days }}d < 0 then 'drop' else 'rise' end as direction
    from fact
    where fact.health_score_delta_{{ days }}d <> 0
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

ranked as (
    select
        changes.*,
        row_number() over (
            partition by window_days, direction
            order by abs(score_change) desc, account_id
        ) as mover_rank
    from changes
),

driver_changes as (
    select
        ranked.account_id,
        ranked.window_days,
        ranked.direction,
        drivers.component,
        case ranked.window_days when 7 then drivers.change_7d else drivers.change_30d end
            as component_change
    from ranked
    inner join drivers
        on drivers.account_id = ranked.account_id
        and drivers.as_of_date = ranked.as_of_date
    where ranked.mover_rank <= {{ var('health_movers_per_list') }}
),

-- a driver moved the way the score moved: down for a drop, up for a rise
directed_drivers as (
    select
        driver_changes.*,
        row_number() over (
            partition by account_id, window_days
            order by
                case when direction = 'drop' then component_change else -component_change end,
                component
        ) as driver_rank
    from driver_changes
    where case when direction = 'drop' then -component_change else component_change end > 0
),

final as (
    select
        ranked.as_of_date,
        ranked.window_days,
        ranked.direction,
        cast(ranked.mover_rank as integer) as mover_rank,
        ranked.account_id,
        accounts.account_name,
        ranked.scorecard,
        ranked.health_score,
        ranked.health_band,
        ranked.score_change,
        first_driver.component as main_driver,
        first_driver.component_change as main_driver_change,
        second_driver.component as second_driver,
        second_driver.component_change as second_driver_change
    from ranked
    inner join accounts
        on accounts.account_id = ranked.account_id
    left join directed_drivers as first_driver
        on first_driver.account_id = ranked.account_id
        and first_driver.window_days = ranked.window_days
        and first_driver.driver_rank = 1
    left join directed_drivers as second_driver
        on second_driver.account_id = ranked.account_id
        and second_driver.window_days = ranked.window_days
        and second_driver.driver_rank = 2
    where ranked.mover_rank <= {{ var('health_movers_per_list') }}
)

select * from final
