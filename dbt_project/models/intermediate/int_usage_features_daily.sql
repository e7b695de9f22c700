{#- The features (event names) each account used on each active day (sparse). -#}
with usage_events as (
    select * from {{ ref('stg_raw__usage_events') }}
),

final as (
    select distinct
        account_id,
        occurred_date as activity_date,
        event_name
    from usage_events
)

select * from final
