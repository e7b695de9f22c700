with source as (
    select * from {{ source('raw', 'support_tickets') }}
),

final as (
    select
        ticket_id,
        account_id,
        opened_at,
        cast(opened_at as date) as opened_date,
        first_response_at,
        resolved_at,
        priority,
        lower(trim(status)) as status,
        satisfaction
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
