with source as (
    select * from {{ source('raw', 'usage_events') }}
),

final as (
    select
        event_id,
        account_id,
        user_id,
        lower(trim(event_name)) as event_name,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        quantity
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
