with source as (
    select * from {{ source('raw', 'survey_responses') }}
),

final as (
    select
        response_id,
        account_id,
        respondent_id,
        survey_type,
        score,
        responded_at,
        cast(responded_at as date) as responded_date,
        comment
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
