{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=day_partition('activity_date'),
        pre_hook="{{ delete_changed_days('activity_date', 'usage_events') }}",
        post_hook=["{{ drop_watermark() }}", "{{ save_watermark('usage_events') }}"],
    )
}}

{#- The features (event names) each account used on each active day (sparse).
    Incremental by the days the loader changed, like int_usage_daily. -#}
with usage_events as (
    select * from {{ ref('stg_raw__usage_events') }}
    {%- if rebuilds_changed_days() %}
    where occurred_date in ({{ changed_days('usage_events') }})
    {%- endif %}
),

final as (
    select distinct
        account_id,
        occurred_date as activity_date,
        event_name
    from usage_events
)

select * from final
