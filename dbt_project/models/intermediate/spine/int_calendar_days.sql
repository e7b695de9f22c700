{#- Every day from the data start to the as-of date (portable: no generate_series). -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

digits as (
    select 0 as digit union all select 1 union all select 2 union all select 3
    union all select 4 union all select 5 union all select 6 union all select 7
    union all select 8 union all select 9
),

day_offsets as (
    select
        d1.digit
        + 10 * d2.digit
        + 100 * d3.digit
        + 1000 * d4.digit
        + 10000 * d5.digit as day_offset
    from digits as d1
    cross join digits as d2
    cross join digits as d3
    cross join digits as d4
    cross join digits as d5
),

final as (
    select
        {{ add_days('scoring_window.data_start_date', 'day_offsets.day_offset') }} as calendar_date
    from day_offsets
    cross join scoring_window
    where day_offsets.day_offset
        <= {{ days_between('scoring_window.data_start_date', 'scoring_window.as_of_date') }}
)

select * from final
