with source as (
    select * from {{ source('raw', 'subscriptions') }}
),

final as (
    select
        subscription_id,
        account_id,
        plan,
        mrr,
        upper(currency) as currency,
        status,
        started_at,
        cast(started_at as date) as started_date,
        canceled_at,
        cast(canceled_at as date) as canceled_date,
        ended_at,
        cast(ended_at as date) as ended_date,
        updated_at,
        cast(coalesce(updated_at, started_at) as date) as status_since_date
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
