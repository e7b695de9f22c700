{{
    config(
        materialized='incremental',
        incremental_strategy=replace_days_strategy(),
        partition_by=day_partition('as_of_date'),
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}

{#- A rollup score per parent account per day over the parent and its direct children
    (`parent_account_id`), by the `rollup_method` in seeds/scoring_settings.csv:
    `mrr_weighted_mean` (the plain mean when the members have no MRR), `min`, or `mean`.
    Members without a score are left out; churned members have no row (the fact holds
    live account-days only). A parent has a row on the days a live account names it as
    its parent (itself included). -#}
with scoring_window as (
    select * from {{ ref('int_scoring_window') }}
),

-- the window's fact rows: read three times below, and DuckDB materializes such a CTE,
-- so it holds the window's days, never all history
fact as (
    select fct.*
    from {{ ref('fct_customer_health_daily') }} as fct
    cross join scoring_window
    where fct.as_of_date between scoring_window.score_from_date and scoring_window.score_to_date
),

settings as (
    select * from {{ ref('int_scoring_settings') }}
),

bands as (
    select * from {{ ref('scoring_bands') }}
),

-- the parents of each day: the accounts a row of that day names as its parent (itself
-- included). A day's rollup depends on that day's rows alone, so a re-run of some days
-- gives what the full build gave, and no run reads the history outside its window
parents as (
    select distinct parent_account_id, as_of_date
    from fact
    where parent_account_id is not null
),

-- each parent's own rows, and its direct children's (every parent a row of the day
-- names is in `parents`): two equality joins, not one on `account_id or
-- parent_account_id`, which no engine can hash (a nested loop over rows x parents: 43 s
-- a part at 100,000 accounts)
members as (
    select
        fact.account_id as rollup_account_id,
        fact.as_of_date,
        fact.health_score,
        fact.mrr
    from fact
    inner join parents
        on parents.parent_account_id = fact.account_id
        and parents.as_of_date = fact.as_of_date
    union all
    select
        fact.parent_account_id,
        fact.as_of_date,
        fact.health_score,
        fact.mrr
    from fact
    where fact.parent_account_id is not null
        and fact.parent_account_id <> fact.account_id  -- its own parent: counted once, above
),

rollup as (
    select
        members.rollup_account_id as parent_account_id,
        members.as_of_date,
        settings.rollup_method,
        count(*) as member_accounts,
        count(members.health_score) as scored_accounts,
        coalesce(sum(members.mrr), 0) as mrr,
        case settings.rollup_method
            when 'min' then min(members.health_score)
            when 'mean' then avg(members.health_score)
            else coalesce(
                sum(case when members.mrr > 0 then members.health_score * members.mrr end)
                    / nullif(sum(case when members.mrr > 0 and members.health_score is not null
                        then members.mrr end), 0),
                avg(members.health_score))
        end as rollup_score
    from members
    cross join settings
    group by members.rollup_account_id, members.as_of_date, settings.rollup_method
),

final as (
    select
        rollup.parent_account_id,
        rollup.as_of_date,
        rollup.rollup_method,
        rollup.member_accounts,
        rollup.scored_accounts,
        {{ round2('rollup.rollup_score') }} as rollup_score,
        {{ band_of('bands') }} as rollup_band,
        {{ round2('rollup.mrr') }} as mrr
    from rollup
    left join bands
        on {{ in_band(round2('rollup.rollup_score'), 'bands') }}
)

select * from final
