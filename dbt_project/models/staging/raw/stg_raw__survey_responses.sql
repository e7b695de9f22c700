with source as (
    select * from {{ source('raw', 'survey_responses') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by response_id
            order by _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
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
    from versions
    where version_rank = 1
)

select * from final
