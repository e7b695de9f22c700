with source as (
    select * from {{ source('raw', 'support_tickets') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by ticket_id
            order by _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
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
    from versions
    where version_rank = 1
)

select * from final
