with source as (
    select * from {{ source('raw', 'usage_events') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by event_id
            order by _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
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
    from versions
    where version_rank = 1
)

select * from final
