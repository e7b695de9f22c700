with source as (
    select * from {{ source('raw', 'subscriptions') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by subscription_id
            order by updated_at desc nulls last, _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
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
    from versions
    where version_rank = 1
)

select * from final
