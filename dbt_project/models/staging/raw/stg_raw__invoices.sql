with source as (
    select * from {{ source('raw', 'invoices') }}
),

versions as (
    select
        *,
        row_number() over (
            partition by invoice_id
            order by _loaded_at desc, _source_file desc, _source_row desc
        ) as version_rank
    from source
),

final as (
    select
        invoice_id,
        account_id,
        subscription_id,
        issued_at,
        cast(issued_at as date) as issued_date,
        due_at,
        cast(due_at as date) as due_date,
        amount,
        upper(currency) as currency,
        status,
        paid_at,
        cast(paid_at as date) as paid_date
    from versions
    where version_rank = 1
)

select * from final
