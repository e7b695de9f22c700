with source as (
    select * from {{ source('raw', 'accounts') }}
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
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
