with source as (
    select * from {{ source('raw', 'accounts') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by account_id
            order by updated_at desc nulls last, _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
),

final as (
    select
        account_id,
        name as account_name,
        nullif(lower(trim(segment)), '') as segment,
        plan,
        region,
        csm_owner,
        nullif(trim(parent_account_id), '') as parent_account_id,
        created_at,
        cast(created_at as date) as created_date,
        churned_at,
        cast(churned_at as date) as churned_date,
        updated_at,
        _source_file as source_file
    from versions
    where version_rank = 1
)

select * from final
