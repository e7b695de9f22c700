with source as (
    select * from {{ source('raw', 'invoices') }}
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
    from source
    where _is_current  -- the current version of each key (the loader decides)
)

select * from final
