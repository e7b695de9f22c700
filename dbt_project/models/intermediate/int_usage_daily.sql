{#- Product usage per account per active day (sparse: days without events have no row). -#}
with usage_events as (
    select * from {{ ref('stg_raw__usage_events') }}
),

final as (
    select
        account_id,
        occurred_date as activity_date,
        count(*) as events,
        sum(quantity) as quantity,
        count(distinct user_id) as active_users,
        count(distinct event_name) as distinct_features
    from usage_events
    group by account_id, occurred_date
)

select * from final
