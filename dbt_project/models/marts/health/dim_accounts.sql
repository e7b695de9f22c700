{#- One row per account: who it is and how it is doing on its latest scored day. A
    churned account keeps the score of its last live day (the fact stops the day before
    its churn day) and is_churned says it left; live figures leave it out.

    The latest day is found without reading all history on a run that writes a few days:
    an account's latest fact row outside the run's window (int_scoring_window) is the one
    this table holds from the last run, since those rows did not change; only the
    window's rows are read from the fact (and, for an account whose latest day was in the
    window and which has no row there any more, its rows before the window), with the
    fact's rows after the last day this table saw (a run that failed after writing the
    fact but before this table). A first build or a full refresh reads the whole fact. -#}
{%- set previous = published_mart('dim_accounts') if table_reads_own_previous() else none -%}
{%- set latest_columns = ['scorecard', 'health_score', 'health_band', 'health_score_delta_7d',
    'health_score_delta_30d', 'score_coverage', 'top_positive_driver', 'top_negative_driver',
    'stale_components', 'mrr', 'config_version'] -%}
{%- set fact_columns = 'fact.account_id, fact.as_of_date, fact.' ~ latest_columns | join(', fact.') -%}
{#- The fact is named in each branch, not through a CTE: DuckDB materializes a CTE a query
    names more than once, which here would copy all history every night (57 s at 100,000
    accounts x 730 days, against 4 s). -#}
{%- set fact = ref('fct_customer_health_daily') -%}

with accounts as (
    select * from {{ ref('stg_raw__accounts') }}
),

scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

{% if previous is none -%}
candidates as (
    select {{ fact_columns }}
    from {{ fact }} as fact
),
{%- else -%}
{#- the last run's latest rows: an account's latest day, with its figures -#}
previous_latest as (
    select previous.account_id, previous.scored_at as as_of_date,
        previous.{{ latest_columns | join(', previous.') }}
    from {{ previous }} as previous
    where previous.scored_at is not null
),

window_rows as (
    select {{ fact_columns }}
    from {{ fact }} as fact
    cross join scoring_window
    where fact.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
),

-- accounts whose latest day was in the window and which have no row there any more
lost as (
    select previous_latest.account_id
    from previous_latest
    cross join scoring_window
    where previous_latest.as_of_date
        between scoring_window.score_from_date and scoring_window.score_to_date
        and previous_latest.account_id not in (select account_id from window_rows)
),

candidates as (
    select previous_latest.*
    from previous_latest
    cross join scoring_window
    where previous_latest.as_of_date < scoring_window.score_from_date
        or previous_latest.as_of_date > scoring_window.score_to_date
    union all
    select * from window_rows
    union all
    select {{ fact_columns }}
    from {{ fact }} as fact
    cross join scoring_window
    where fact.as_of_date > (select max(as_of_date) from previous_latest)
        and (fact.as_of_date < scoring_window.score_from_date
            or fact.as_of_date > scoring_window.score_to_date)
    union all
    select {{ fact_columns }}
    from {{ fact }} as fact
    cross join scoring_window
    where fact.as_of_date < scoring_window.score_from_date
        and fact.account_id in (select account_id from lost)
),

{%- endif %}

latest as (
    select candidates.*
    from candidates
    inner join (
        select account_id, max(as_of_date) as as_of_date
        from candidates
        group by account_id
    ) as latest_day
        on latest_day.account_id = candidates.account_id
        and latest_day.as_of_date = candidates.as_of_date
),

latest_scored_day as (
    select max(as_of_date) as as_of_date from {{ fact }} as fact
),

final as (
    select
        accounts.account_id,
        accounts.account_name,
        accounts.segment,
        coalesce(latest.scorecard, 'default') as scorecard,
        accounts.plan,
        accounts.region,
        accounts.csm_owner,
        accounts.parent_account_id,
        accounts.created_date,
        accounts.churned_date,
        {{ is_churned_on('accounts.churned_date', 'latest_scored_day.as_of_date') }}
            as is_churned,
        latest.as_of_date as scored_at,
        latest.health_score,
        coalesce(latest.health_band, {{ no_data_band() }}) as health_band,
        latest.health_score_delta_7d,
        latest.health_score_delta_30d,
        case
            when latest.health_score_delta_30d >= {{ var('health_trend_threshold') }} then 'improving'
            when latest.health_score_delta_30d <= -{{ var('health_trend_threshold') }}
                then 'declining'
            when latest.health_score_delta_30d is not null then 'stable'
        end as trend_30d,
        latest.score_coverage,
        latest.top_positive_driver,
        latest.top_negative_driver,
        latest.stale_components,
        latest.mrr,
        {{ arr_of('latest.mrr') }} as arr,
        latest.config_version
    from accounts
    cross join latest_scored_day
    left join latest
        on latest.account_id = accounts.account_id
)

select * from final
