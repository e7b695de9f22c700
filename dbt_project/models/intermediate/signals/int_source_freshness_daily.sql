{#- Per scored day and feed: the newest data on or before that day, and whether it is
    older than the feed's `<feed>_stale_after_days` (seeds/scoring_settings.csv; empty
    means the feed is never stale). A feed with no data at all is missing, not stale. -#}
with scored_days as (
    select distinct as_of_date from {{ ref('int_scoring_days') }}
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

feed_dates as (
    select distinct 'usage' as source, activity_date as data_date
    from {{ ref('int_usage_daily') }}
    union all
    select distinct 'subscriptions', status_since_date from {{ ref('stg_raw__subscriptions') }}
    union all
    select distinct 'invoices', issued_date from {{ ref('stg_raw__invoices') }}
    union all
    select distinct 'surveys', responded_date from {{ ref('stg_raw__survey_responses') }}
    union all
    select distinct 'support', opened_date from {{ ref('stg_raw__support_tickets') }}
),

feeds as (
    {%- for feed in health_feeds() %}
    select '{{ feed }}' as source, settings.{{ feed }}_stale_after_days as stale_after_days
    from settings
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

newest as (
    select
        scored_days.as_of_date,
        feed_dates.source,
        max(feed_dates.data_date) as newest_data_date
    from scored_days
    inner join feed_dates
        on feed_dates.data_date <= scored_days.as_of_date
    group by scored_days.as_of_date, feed_dates.source
),

final as (
    select
        scored_days.as_of_date,
        feeds.source,
        newest.newest_data_date,
        feeds.stale_after_days,
        coalesce(
            {{ days_between('newest.newest_data_date', 'scored_days.as_of_date') }}
                > feeds.stale_after_days,
            false
        ) as is_stale
    from scored_days
    cross join feeds
    left join newest
        on newest.as_of_date = scored_days.as_of_date
        and newest.source = feeds.source
)

select * from final
