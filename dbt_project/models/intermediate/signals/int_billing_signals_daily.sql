{#-
    Invoice (or order) measures per scored account-day, over the trailing
    `billing_window_days`. Draft and void invoices are not orders. Counts are 0 once the
    invoice feed has data, null before; averages and shares are null without invoices.
    `invoiced_revenue_12m` is not a measure but the revenue of accounts without a
    subscription (fct_customer_health_daily.annual_revenue): invoices issued in the 365
    days to the day, uncollectible ones left out, whatever billing_window_days is; null
    until the account's first order (not measured, rather than 0).
-#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

invoices as (
    select * from {{ ref('stg_raw__invoices') }}
),

orders as (
    select * from invoices
    where status not in ('draft', 'void')
),

feed as (
    select min(issued_date) as feed_start_date from invoices
),

windows as (
    select
        days.account_id,
        days.as_of_date,
        days.scorecard,
        {{ add_days('days.as_of_date', '-settings.billing_window_days') }} as window_start_date
    from days
    cross join settings
),

issued as (
    select
        windows.account_id,
        windows.as_of_date,
        avg(case when orders.issued_date > windows.window_start_date
            then orders.amount end) as avg_order_value,
        max(orders.issued_date) as last_order_date,
        sum(case when orders.issued_date > windows.window_start_date
                and orders.due_date < windows.as_of_date
                and (orders.paid_date is null or orders.paid_date > windows.as_of_date)
            then 1 else 0 end) as overdue_invoices,
        sum(case when orders.issued_date > {{ add_days('windows.as_of_date', -365) }}
                and orders.status <> 'uncollectible'
            then orders.amount end) as invoiced_revenue_12m
    from windows
    inner join orders
        on orders.account_id = windows.account_id
        and orders.issued_date <= windows.as_of_date
    group by windows.account_id, windows.as_of_date
),

paid as (
    select
        windows.account_id,
        windows.as_of_date,
        count(*) as paid_invoices,
        avg(case when orders.due_date is null then null
            when orders.paid_date > orders.due_date then {{ as_double('1.0') }} else {{ as_double('0.0') }} end) as late_payment_share
    from windows
    inner join orders
        on orders.account_id = windows.account_id
        and orders.paid_date > windows.window_start_date
        and orders.paid_date <= windows.as_of_date
    group by windows.account_id, windows.as_of_date
),

final as (
    select
        windows.account_id,
        windows.as_of_date,
        windows.scorecard,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(paid.paid_invoices, 0) end as paid_invoices,
        {{ days_between('issued.last_order_date', 'windows.as_of_date') }}
            as days_since_last_purchase,
        issued.avg_order_value,
        case when feed.feed_start_date <= windows.as_of_date
            then coalesce(issued.overdue_invoices, 0) end as overdue_invoices,
        paid.late_payment_share,
        -- measured once the account has an order: 0 then means "bought nothing lately"
        case when issued.last_order_date is not null
            then {{ round2('coalesce(issued.invoiced_revenue_12m, 0)') }} end
            as invoiced_revenue_12m
    from windows
    cross join feed
    left join issued
        on issued.account_id = windows.account_id
        and issued.as_of_date = windows.as_of_date
    left join paid
        on paid.account_id = windows.account_id
        and paid.as_of_date = windows.as_of_date
)

select * from final
