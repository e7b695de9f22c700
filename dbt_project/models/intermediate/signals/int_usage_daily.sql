{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=day_partition('activity_date'),
        pre_hook="{{ delete_changed_days('activity_date', 'usage_events') }}",
        post_hook=["{{ drop_watermark() }}", "{{ save_watermark('usage_events') }}"],
    )
}}

{#- Product usage per account per active day (sparse: days without events have no row).
    Incremental by the days the loader changed (macros/changed_days.sql): a run rebuilds
    the days its loads touched, not the whole history. -#}
with usage_events as (
    select * from {{ ref('stg_raw__usage_events') }}
    {%- if rebuilds_changed_days() %}
    where occurred_date in ({{ changed_days('usage_events') }})
    {%- endif %}
),

final as (
    select
        account_id,
        occurred_date as activity_date,
        count(*) as events,
        sum(quantity) as quantity,
        count(distinct user_id) as active_users,
        count(distinct event_name) as distinct_features
    from usage_events
    group by account_id, occurred_date
)

select * from final
