-- The benchmark's baseline: marts.fct_customer_health_daily computed by one hand-written
-- DuckDB script, without dbt or Dagster (bench/baseline.py runs it).
--
-- Reads the raw tables of a pipeline warehouse attached read-only as `wh`, and the scoring
-- seeds from getvariable('seeds_dir'). Scores the days getvariable('score_from') ..
-- getvariable('score_to') as of getvariable('as_of') (HEALTH_AS_OF), and writes
-- main.fct_customer_health_daily with the mart's columns and types.
--
-- Same formulas as the dbt project (dbt_project/models/intermediate/*/*.sql, the mart and
-- dbt_project/macros/), written the way DuckDB runs them fast rather than model by model:
--   - only the scored days (the requested ones and the days 7 and 30 before them) and the
--     raw rows their trailing windows reach are read;
--   - trailing windows are window frames over a per-account timeline (the source's rows and
--     the scored days, sorted by day), not range joins;
--   - one wide row per account-day carries every measure; a scorecard's measures are
--     scored with list functions over its configuration, not through a long
--     account-day x measure table.
-- The scoring configuration is expected to be valid (customer_health/scoring_config.py checks
-- it before every pipeline run): measure bands do not overlap, overrides do not overlap.

-- The catalog: dbt_project.yml `vars:` health_components, health_measures (with the source
-- of each, health_sources) and health_settings, written out.
create or replace temp table component_catalog as
select * from (values
    (1, 'engagement'),
    (2, 'usage_frequency'),
    (3, 'retention'),
    (4, 'loyalty'),
    (5, 'satisfaction'),
    (6, 'support'),
    (7, 'billing')
) as catalog (component_index, component);
set variable components = (select list(component order by component_index) from component_catalog);

create or replace temp table measure_catalog as
select * from (values
    (1, 'active_days', 'usage'),
    (2, 'events', 'usage'),
    (3, 'active_users_avg', 'usage'),
    (4, 'distinct_features', 'usage'),
    (5, 'usage_trend_pct', 'usage'),
    (6, 'days_since_last_activity', 'usage'),
    (7, 'tenure_days', 'accounts'),
    (8, 'subscription_state_points', 'subscriptions'),
    (9, 'subscription_tenure_days', 'subscriptions'),
    (10, 'days_to_renewal', 'subscriptions'),
    (11, 'renewals', 'subscriptions'),
    (12, 'mrr_change_pct', 'subscriptions'),
    (13, 'past_due_subscriptions', 'subscriptions'),
    (14, 'paid_invoices', 'invoices'),
    (15, 'days_since_last_purchase', 'invoices'),
    (16, 'avg_order_value', 'invoices'),
    (17, 'overdue_invoices', 'invoices'),
    (18, 'late_payment_share', 'invoices'),
    (19, 'nps_score', 'surveys'),
    (20, 'csat_score', 'surveys'),
    (21, 'ces_score', 'surveys'),
    (22, 'nps_promoter_share', 'surveys'),
    (23, 'tickets_vs_segment', 'support'),
    (24, 'first_response_hours', 'support'),
    (25, 'resolution_hours', 'support'),
    (26, 'open_urgent_tickets', 'support'),
    (27, 'ticket_satisfaction', 'support')
) as catalog (measure_index, measure, source);

-- The seeds, typed as dbt_project.yml `seeds: column_types` types them (dbt-duckdb loads a
-- seed with COPY ... (FORMAT CSV, HEADER TRUE) into a table of those types).
create or replace temp table scorecards as
select * from read_csv(getvariable('seeds_dir') || '/scoring_scorecards.csv', header = true,
    delim = ',', columns = {'scorecard': 'varchar', 'min_coverage': 'double',
    'description': 'varchar'});

create or replace temp table weights as
select * from read_csv(getvariable('seeds_dir') || '/scoring_weights.csv', header = true,
    delim = ',', columns = {'scorecard': 'varchar', 'component': 'varchar',
    'weight': 'double'});

create or replace temp table measures as
select * from read_csv(getvariable('seeds_dir') || '/scoring_measures.csv', header = true,
    delim = ',', columns = {'scorecard': 'varchar', 'component': 'varchar',
    'measure': 'varchar', 'method': 'varchar', 'lower_bound': 'double',
    'upper_bound': 'double', 'higher_is_better': 'boolean', 'weight': 'double'});

create or replace temp table measure_bands as
select * from read_csv(getvariable('seeds_dir') || '/scoring_measure_bands.csv',
    header = true, delim = ',', columns = {'measure': 'varchar', 'lower_bound': 'double',
    'upper_bound': 'double', 'points': 'double'});

create or replace temp table bands as
select * from read_csv(getvariable('seeds_dir') || '/scoring_bands.csv', header = true,
    delim = ',', columns = {'band': 'varchar', 'min_score': 'double', 'max_score': 'double',
    'band_order': 'integer'});

create or replace temp table status_points as
select * from read_csv(getvariable('seeds_dir') || '/scoring_status_points.csv',
    header = true, delim = ',', columns = {'subscription_state': 'varchar',
    'points': 'double'});

create or replace temp table settings_rows as
select * from read_csv(getvariable('seeds_dir') || '/scoring_settings.csv', header = true,
    delim = ',', columns = {'setting': 'varchar', 'value': 'varchar'});

create or replace temp table overrides as
select * from read_csv(getvariable('seeds_dir') || '/scoring_overrides.csv', header = true,
    delim = ',', columns = {'account_id': 'varchar', 'component': 'varchar',
    'score': 'double', 'reason': 'varchar', 'author': 'varchar', 'valid_from': 'date',
    'valid_to': 'date'});

-- int_scoring_settings: one typed value per setting (health_settings: all but
-- rollup_method are whole days; rollup_method does not enter the fact table).
create or replace temp macro setting_days(name) as (
    select cast(max(case when setting = name then nullif(trim(value), '') end) as integer)
    from settings_rows
);
set variable usage_window_days = setting_days('usage_window_days');
set variable billing_window_days = setting_days('billing_window_days');
set variable survey_window_days = setting_days('survey_window_days');
set variable survey_half_life_days = setting_days('survey_half_life_days');
set variable support_window_days = setting_days('support_window_days');
set variable mrr_change_window_days = setting_days('mrr_change_window_days');

create or replace temp table feed_staleness as
select * from (values
    ('usage', setting_days('usage_stale_after_days')),
    ('subscriptions', setting_days('subscriptions_stale_after_days')),
    ('invoices', setting_days('invoices_stale_after_days')),
    ('surveys', setting_days('surveys_stale_after_days')),
    ('support', setting_days('support_stale_after_days'))
) as feeds (source, stale_after_days);

-- int_scoring_config: md5 over every row of the scoring seeds but the overrides, numbers
-- with six decimals, rows sorted, joined by newlines.
create or replace temp macro config_text(value) as coalesce(cast(value as varchar), '');
create or replace temp macro config_number(value) as
    coalesce(cast(cast(value as numeric(38, 6)) as varchar), '');
set variable config_version = (
    with config_rows as (
        select 'scoring_scorecards' || '|' || config_text(scorecard)
            || '|' || config_number(min_coverage) as config_row
        from scorecards
        union all
        select 'scoring_weights' || '|' || config_text(scorecard) || '|' || config_text(component)
            || '|' || config_number(weight)
        from weights
        union all
        select 'scoring_measures' || '|' || config_text(scorecard) || '|' || config_text(component)
            || '|' || config_text(measure) || '|' || config_text(method)
            || '|' || config_number(lower_bound) || '|' || config_number(upper_bound)
            || '|' || config_text(higher_is_better) || '|' || config_number(weight)
        from measures
        union all
        select 'scoring_measure_bands' || '|' || config_text(measure)
            || '|' || config_number(lower_bound) || '|' || config_number(upper_bound)
            || '|' || config_number(points)
        from measure_bands
        union all
        select 'scoring_bands' || '|' || config_text(band) || '|' || config_number(min_score)
            || '|' || config_number(max_score) || '|' || config_number(band_order)
        from bands
        union all
        select 'scoring_status_points' || '|' || config_text(subscription_state)
            || '|' || config_number(points)
        from status_points
        union all
        select 'scoring_settings' || '|' || config_text(setting) || '|' || config_text(value)
        from settings_rows
    )
    select md5(string_agg(config_row, chr(10) order by config_row)) from config_rows
);

-- The shared expressions of dbt_project/macros/scoring.sql.
create or replace temp macro round_to(value, digits) as
    cast(round(cast(value as numeric(38, 12)), digits) as double);
create or replace temp macro round2(value) as round_to(value, 2);
create or replace temp macro linear_score(value, lower, upper) as
    case
        when value is null or lower is null or upper is null or upper = lower then null
        else greatest(0.0, least(100.0, 100.0 * (value - lower) / (upper - lower)))
    end;
create or replace temp macro log_score(value, lower, upper) as
    case
        when value is null or lower is null or upper is null or upper = lower then null
        else greatest(0.0, least(100.0, 100.0
            * ((ln(1 + greatest(value, 0)) - ln(1 + lower)) / (ln(1 + upper) - ln(1 + lower)))))
    end;

-- The current version of each raw row, cleaned and cast as the staging views do
-- (dbt_project/models/staging/raw/stg_raw__*.sql).
create or replace temp view accounts as
select
    account_id,
    nullif(lower(trim(segment)), '') as segment,
    nullif(trim(parent_account_id), '') as parent_account_id,
    cast(created_at as date) as created_date,
    cast(churned_at as date) as churned_date,
from wh.raw.accounts
where _is_current;

create or replace temp view usage_events as
select
    account_id,
    user_id,
    lower(trim(event_name)) as event_name,
    occurred_at,
    cast(occurred_at as date) as occurred_date,
from wh.raw.usage_events
where _is_current;

create or replace temp view subscriptions as
select
    account_id,
    mrr,
    status,
    cast(started_at as date) as started_date,
    cast(canceled_at as date) as canceled_date,
    cast(ended_at as date) as ended_date,
    cast(coalesce(updated_at, started_at) as date) as status_since_date,
from wh.raw.subscriptions
where _is_current;

create or replace temp view invoices as
select
    account_id,
    cast(issued_at as date) as issued_date,
    cast(due_at as date) as due_date,
    amount,
    status,
    cast(paid_at as date) as paid_date,
from wh.raw.invoices
where _is_current;

create or replace temp view survey_responses as
select
    account_id,
    survey_type,
    score,
    cast(responded_at as date) as responded_date,
from wh.raw.survey_responses
where _is_current;

create or replace temp view support_tickets as
select
    account_id,
    opened_at,
    cast(opened_at as date) as opened_date,
    first_response_at,
    resolved_at,
    priority,
    satisfaction,
from wh.raw.support_tickets
where _is_current;

-- int_scoring_window: the data's first and last days, and the days to write.
create or replace temp table feed_bounds as
select 'usage' as source, min(occurred_date) as first_date, max(occurred_date) as last_date
from usage_events
union all
select 'invoices', min(issued_date), max(issued_date) from invoices
union all
select 'surveys', min(responded_date), max(responded_date) from survey_responses
union all
select 'support', min(opened_date), max(opened_date) from support_tickets;

set variable data_start_date = coalesce(
    (select min(first_date) from feed_bounds),
    (select least(min(created_date), (select min(started_date) from subscriptions))
        from accounts)
);
set variable as_of_date = coalesce(
    cast(getvariable('as_of') as date),
    (select max(last_date) from (
        select last_date from feed_bounds
        union all
        select max(created_date) from accounts
        union all
        select max(started_date) from subscriptions
    ))
);
set variable score_from_date = greatest(getvariable('data_start_date'),
    coalesce(cast(getvariable('score_from') as date), getvariable('data_start_date')));
set variable score_to_date = least(getvariable('as_of_date'),
    coalesce(cast(getvariable('score_to') as date), getvariable('as_of_date')));

-- int_scoring_days: the days written, and the days 7 and 30 before each (change_periods)
-- that the score deltas compare against.
create or replace temp table scored_days as
select
    as_of_date,
    as_of_date >= getvariable('score_from_date') as is_written,
from (
    select cast(day as date) as as_of_date
    from generate_series(
        cast(getvariable('score_from_date') - 30 as timestamp),
        cast(getvariable('score_to_date') as timestamp),
        interval 1 day
    ) as days (day)
)
where as_of_date >= getvariable('data_start_date')
    and (
        as_of_date >= getvariable('score_from_date')
        or as_of_date + 7 between getvariable('score_from_date') and getvariable('score_to_date')
        or as_of_date + 30 between getvariable('score_from_date') and getvariable('score_to_date')
    );

set variable first_scored_date = (select min(as_of_date) from scored_days);

-- int_account_days: every live account on every scored day, from its creation to the day
-- before it churns (macros/churn.sql), with its scorecard (its segment's, else default).
create or replace temp table account_days as
select
    accounts.account_id,
    scored_days.as_of_date,
    scored_days.is_written,
    accounts.segment,
    accounts.parent_account_id,
    coalesce(scorecards.scorecard, 'default') as scorecard,
    accounts.churned_date,
    date_diff('day', accounts.created_date, scored_days.as_of_date) as tenure_days,
from accounts
inner join scored_days
    on scored_days.as_of_date >= accounts.created_date
left join scorecards
    on scorecards.scorecard = accounts.segment
where not coalesce(accounts.churned_date <= scored_days.as_of_date, false);

-- Usage (int_usage_signals_daily) over the trailing usage_window_days, and the window
-- before it for the trend. The timeline holds the account's active days, the features it
-- used each day, its last active day before the first window, and the scored days.
set variable usage_from_date =
    getvariable('first_scored_date') - 2 * getvariable('usage_window_days');

create or replace temp table usage_signals as
with recent_events as (
    select *
    from usage_events
    where occurred_at >= cast(getvariable('usage_from_date') + 1 as timestamp)
        and occurred_at < cast(getvariable('score_to_date') + 1 as timestamp)
),

active_days as (
    select
        account_id,
        occurred_date as day,
        count(*) as events,
        count(distinct user_id) as active_users,
    from recent_events
    group by account_id, occurred_date
),

features_used as (
    select distinct account_id, occurred_date as day, event_name
    from recent_events
),

earlier_activity as (
    select account_id, max(occurred_date) as day
    from usage_events
    where occurred_at < cast(getvariable('usage_from_date') + 1 as timestamp)
    group by account_id
),

timeline as (
    select account_id, day, events, active_users, null as event_name, day as active_date,
        false as is_scored
    from active_days
    union all
    select account_id, day, null, null, event_name, null, false
    from features_used
    union all
    select account_id, day, null, null, null, day, false
    from earlier_activity
    union all
    select account_id, as_of_date, null, null, null, null, true
    from account_days
),

windowed as (
    select
        account_id,
        day as as_of_date,
        is_scored,
        count(events) over usage_window as active_days,
        sum(events) over usage_window as events,
        sum(active_users) over usage_window as active_user_days,
        count(distinct event_name) over usage_window as distinct_features,
        sum(events) over prior_window as prior_events,
        max(active_date) over (
            partition by account_id order by day
            range between unbounded preceding and current row
        ) as last_active_date,
    from timeline
    window
        usage_window as (
            partition by account_id order by day
            range between interval (getvariable('usage_window_days') - 1) day preceding
                and current row
        ),
        prior_window as (
            partition by account_id order by day
            range between interval (2 * getvariable('usage_window_days') - 1) day preceding
                and interval (getvariable('usage_window_days')) day preceding
        )
)

select
    account_id,
    as_of_date,
    active_days,
    events,
    active_user_days,
    distinct_features,
    prior_events,
    last_active_date,
from windowed
where is_scored;

-- Subscriptions (int_subscription_signals_daily): each subscription's state on the day
-- and mrr_change_window_days before it; the account takes its best state.
create or replace temp macro subscription_state(
    observed_date, churned_date, ended_date, status, canceled_date, status_since_date
) as
    case
        when churned_date <= observed_date then 'churned'
        when ended_date <= observed_date then 'ended'
        when status = 'canceled' and canceled_date is null
            and status_since_date <= observed_date then 'ended'
        when canceled_date <= observed_date then 'cancel_requested'
        when status = 'past_due' and status_since_date <= observed_date then 'past_due'
        when status = 'trialing' then 'trialing'
        else 'active'
    end;

create or replace temp table subscription_signals as
with states as (
    select
        account_days.account_id,
        account_days.as_of_date,
        subscriptions.mrr,
        date_diff('day', subscriptions.started_date, account_days.as_of_date)
            as subscription_days,
        subscription_state(account_days.as_of_date, account_days.churned_date,
            subscriptions.ended_date, subscriptions.status, subscriptions.canceled_date,
            subscriptions.status_since_date) as current_state,
        case when subscriptions.started_date
                <= account_days.as_of_date - getvariable('mrr_change_window_days')
            then subscription_state(
                account_days.as_of_date - getvariable('mrr_change_window_days'),
                account_days.churned_date, subscriptions.ended_date, subscriptions.status,
                subscriptions.canceled_date, subscriptions.status_since_date)
        end as prior_state,
    from account_days
    inner join subscriptions
        on subscriptions.account_id = account_days.account_id
        and subscriptions.started_date <= account_days.as_of_date
),

scored as (
    select
        states.*,
        current_points.points as current_points,
        prior_points.points as prior_points,
        case when current_state in ('active', 'past_due', 'cancel_requested')
            then 1 else 0 end as is_billed,
        case when prior_state in ('active', 'past_due', 'cancel_requested')
            then 1 else 0 end as was_billed,
    from states
    left join status_points as current_points
        on current_points.subscription_state = states.current_state
    left join status_points as prior_points
        on prior_points.subscription_state = states.prior_state
)

-- a state without points in seeds/scoring_status_points.csv leaves the subscription out
select
    account_id,
    as_of_date,
    max(current_points) as subscription_state_points,
    max(case when current_state not in ('ended', 'churned') then subscription_days end)
        filter (where current_points is not null) as subscription_tenure_days,
    sum(is_billed * mrr) filter (where current_points is not null) as mrr,
    sum(case when current_state = 'past_due' then 1 else 0 end)
        filter (where current_points is not null) as past_due_subscriptions,
    cast(sum(is_billed * floor(subscription_days / 365.0))
        filter (where current_points is not null) as integer) as renewals,
    min(case when is_billed = 1 then 365 - mod(subscription_days, 365) end)
        filter (where current_points is not null) as days_to_renewal,
    sum(was_billed * mrr) filter (where prior_points is not null) as prior_mrr,
from scored
group by account_id, as_of_date;

-- Invoices and orders (int_billing_signals_daily). Orders are invoices neither draft nor
-- void. The timeline holds each order on its issue day and on its payment day, the days
-- it starts and stops being overdue, the last order before the windows, and the scored
-- days.
set variable billing_from_date = getvariable('first_scored_date')
    - greatest(getvariable('billing_window_days'), 365);

create or replace temp table billing_signals as
with orders as (
    select *
    from invoices
    where status not in ('draft', 'void')
),

-- overdue from the day after it is due to the day it is paid, while it is in the window
overdue_spells as (
    select
        account_id,
        greatest(issued_date, due_date + 1) as first_day,
        least(issued_date + getvariable('billing_window_days'), coalesce(paid_date, 'infinity'))
            as end_day,
    from orders
    where due_date is not null
),

timeline as (
    select account_id, issued_date as day, issued_date, amount,
        case when status <> 'uncollectible' then amount end as revenue_amount,
        null as paid, null as late, null as overdue_change, false as is_scored
    from orders
    where issued_date > getvariable('billing_from_date')
        and issued_date <= getvariable('score_to_date')
    union all
    select account_id, max(issued_date), max(issued_date), null, null, null, null, null, false
    from orders
    where issued_date <= getvariable('billing_from_date')
    group by account_id
    union all
    select account_id, paid_date, null, null, null, 1,
        case when due_date is null then null when paid_date > due_date then 1.0 else 0.0 end,
        null, false
    from orders
    where paid_date > getvariable('billing_from_date')
        and paid_date <= getvariable('score_to_date')
    union all
    select account_id, unnest([first_day, end_day]), null, null, null, null, null,
        unnest([1, -1]), false
    from overdue_spells
    where first_day < end_day
        and end_day > getvariable('first_scored_date')
        and first_day <= getvariable('score_to_date')
    union all
    select account_id, as_of_date, null, null, null, null, null, null, true
    from account_days
),

windowed as (
    select
        account_id,
        day as as_of_date,
        is_scored,
        avg(amount) over billing_window as avg_order_value,
        sum(revenue_amount) over (
            partition by account_id order by day
            range between interval 364 day preceding and current row
        ) as invoiced_revenue,
        max(issued_date) over history as last_order_date,
        count(paid) over billing_window as paid_invoices,
        avg(late) over billing_window as late_payment_share,
        sum(overdue_change) over history as overdue_invoices,
    from timeline
    window
        billing_window as (
            partition by account_id order by day
            range between interval (getvariable('billing_window_days') - 1) day preceding
                and current row
        ),
        history as (
            partition by account_id order by day
            range between unbounded preceding and current row
        )
)

select
    account_id,
    as_of_date,
    avg_order_value,
    last_order_date,
    overdue_invoices,
    paid_invoices,
    late_payment_share,
    -- measured once the account has an order: 0 then means "bought nothing lately"
    case when last_order_date is not null
        then round2(coalesce(invoiced_revenue, 0)) end as invoiced_revenue_12m,
from windowed
where is_scored;

-- Surveys (int_survey_signals_daily): answers of the trailing survey_window_days,
-- normalised to 0-100 and weighted by recency, halving every survey_half_life_days. The
-- weight 0.5 ^ (age / half-life) is 2 ^ (answer day / half-life) scaled by a factor of
-- the scored day alone, which the weighted mean cancels: so it is a window frame.
create or replace temp table survey_signals as
with answers as (
    select
        account_id,
        responded_date as day,
        survey_type,
        case survey_type
            when 'nps' then score * 10.0
            when 'csat' then (score - 1) * 100.0 / 4
            when 'ces' then (score - 1) * 100.0 / 6
        end as normalized_score,
        power(2.0, date_diff('day', getvariable('first_scored_date'), responded_date) * 1.0
            / getvariable('survey_half_life_days')) as recency_weight,
        case when survey_type = 'nps'
            then case when score >= 9 then 1.0 else 0.0 end end as is_promoter,
        false as is_scored,
    from survey_responses
    where responded_date
            > getvariable('first_scored_date') - getvariable('survey_window_days')
        and responded_date <= getvariable('score_to_date')
),

timeline as (
    select * from answers
    union all
    select account_id, as_of_date, null, null, null, null, true
    from account_days
),

windowed as (
    select
        account_id,
        day as as_of_date,
        is_scored,
        sum(case when survey_type = 'nps' then recency_weight * normalized_score end)
            over survey_window
            / nullif(sum(case when survey_type = 'nps' then recency_weight end)
                over survey_window, 0) as nps_score,
        sum(case when survey_type = 'csat' then recency_weight * normalized_score end)
            over survey_window
            / nullif(sum(case when survey_type = 'csat' then recency_weight end)
                over survey_window, 0) as csat_score,
        sum(case when survey_type = 'ces' then recency_weight * normalized_score end)
            over survey_window
            / nullif(sum(case when survey_type = 'ces' then recency_weight end)
                over survey_window, 0) as ces_score,
        avg(is_promoter) over survey_window as nps_promoter_share,
    from timeline
    window survey_window as (
        partition by account_id order by day
        range between interval (getvariable('survey_window_days') - 1) day preceding
            and current row
    )
)

select account_id, as_of_date, nps_score, csat_score, ces_score, nps_promoter_share
from windowed
where is_scored;

-- Support (int_support_signals_daily): tickets opened in the trailing support_window_days.
-- What is known of a ticket depends on the day (answered yet? resolved yet?), so the few
-- tickets of each window are joined to the day.
create or replace temp table support_signals as
with tickets as (
    select
        account_days.account_id,
        account_days.as_of_date,
        support_tickets.priority,
        support_tickets.satisfaction,
        case when cast(support_tickets.first_response_at as date) <= account_days.as_of_date
            then date_diff('minute', support_tickets.opened_at,
                support_tickets.first_response_at) / 60.0
        end as first_response_hours,
        case when cast(support_tickets.resolved_at as date) <= account_days.as_of_date
            then date_diff('minute', support_tickets.opened_at,
                support_tickets.resolved_at) / 60.0
        end as resolution_hours,
    from account_days
    inner join support_tickets
        on support_tickets.account_id = account_days.account_id
        and support_tickets.opened_date <= account_days.as_of_date
        and support_tickets.opened_date
            > account_days.as_of_date - getvariable('support_window_days')
)

select
    account_id,
    as_of_date,
    count(*) as tickets,
    percentile_cont(0.5) within group (order by first_response_hours)
        as first_response_hours,
    percentile_cont(0.5) within group (order by resolution_hours) as resolution_hours,
    sum(case when priority = 'urgent' and resolution_hours is null then 1 else 0 end)
        as open_urgent_tickets,
    avg(case when resolution_hours is not null then satisfaction end) as ticket_satisfaction,
from tickets
group by account_id, as_of_date;

-- int_source_freshness_daily: a feed is stale on a day when its newest data on or before
-- the day is older than <feed>_stale_after_days.
create or replace temp table stale_sources as
with feed_dates as (
    select distinct 'usage' as source, occurred_date as data_date from usage_events
    union all
    select distinct 'subscriptions', status_since_date from subscriptions
    union all
    select distinct 'invoices', issued_date from invoices
    union all
    select distinct 'surveys', responded_date from survey_responses
    union all
    select distinct 'support', opened_date from support_tickets
),

newest as (
    select scored_days.as_of_date, feed_dates.source, max(feed_dates.data_date) as newest_date
    from scored_days
    inner join feed_dates
        on feed_dates.data_date <= scored_days.as_of_date
    group by scored_days.as_of_date, feed_dates.source
)

select newest.as_of_date, newest.source
from newest
inner join feed_staleness
    on feed_staleness.source = newest.source
where date_diff('day', newest.newest_date, newest.as_of_date) > feed_staleness.stale_after_days;

-- int_scoring_measures: a scorecard's own measures of a component, else the default's.
create or replace temp table scoring_measures as
with own_measures as (
    select scorecards.scorecard, measures.* exclude (scorecard)
    from scorecards
    inner join measures
        on measures.scorecard = scorecards.scorecard
),

inherited_measures as (
    select scorecards.scorecard, measures.* exclude (scorecard)
    from scorecards
    cross join measures
    where measures.scorecard = 'default'
        and not exists (
            select 1
            from measures as own
            where own.scorecard = scorecards.scorecard
                and own.component = measures.component
        )
)

select effective.*, measure_catalog.measure_index, measure_catalog.source
from (
    select * from own_measures
    union all
    select * from inherited_measures
) as effective
inner join measure_catalog
    on measure_catalog.measure = effective.measure;

-- The measures scored by their percentile within the scorecard and day: at most three per
-- scorecard, each in a slot of its own (the wide rows rank each slot in one window).
create or replace temp table percentile_slots as
select
    scorecard,
    measure_index,
    row_number() over (partition by scorecard order by measure_index) as slot,
from (select distinct scorecard, measure_index from scoring_measures where method = 'percentile');

select case when max(slot) > 3 then error('bench/baseline.sql ranks at most 3 percentile '
    || 'measures per scorecard; seeds/scoring_measures.csv has ' || max(slot)
    || ': add slots to the measure_values step') end
from percentile_slots;

-- Each scorecard's configuration as one row. Its measures ("entries", in component order)
-- as parallel lists: the measure, its percentile slot (0: none), its weight and its rule
-- (method, bounds, direction, bands); per component its weight and the positions of its
-- entries. List functions then score a wide row without a lambda capturing a list.
create or replace temp table scorecard_config as
with entries as (
    select
        scoring_measures.scorecard,
        component_catalog.component_index,
        scoring_measures.measure_index,
        coalesce(percentile_slots.slot, 0) as slot,
        scoring_measures.weight,
        {
            'method': scoring_measures.method,
            'lower_bound': scoring_measures.lower_bound,
            'upper_bound': scoring_measures.upper_bound,
            'higher_is_better': scoring_measures.higher_is_better,
            'bands': (
                select list({
                    'lower_bound': measure_bands.lower_bound,
                    'upper_bound': measure_bands.upper_bound,
                    'points': measure_bands.points,
                })
                from measure_bands
                where measure_bands.measure = scoring_measures.measure
            ),
        } as rule,
        row_number() over (
            partition by scoring_measures.scorecard
            order by component_catalog.component_index, scoring_measures.measure_index
        ) as position,
    from scoring_measures
    inner join component_catalog
        on component_catalog.component = scoring_measures.component
    left join percentile_slots
        on percentile_slots.scorecard = scoring_measures.scorecard
        and percentile_slots.measure_index = scoring_measures.measure_index
),

components as (
    select
        scorecards.scorecard,
        component_catalog.component_index,
        coalesce(weights.weight, 0) as component_weight,
        coalesce(list(entries.position order by entries.position)
            filter (where entries.position is not null), []) as positions,
    from scorecards
    cross join component_catalog
    left join weights
        on weights.scorecard = scorecards.scorecard
        and weights.component = component_catalog.component
    left join entries
        on entries.scorecard = scorecards.scorecard
        and entries.component_index = component_catalog.component_index
    group by scorecards.scorecard, component_catalog.component_index, weights.weight
)

select
    scorecards.scorecard,
    scorecards.min_coverage,
    (select list(component_weight order by component_index) from components
        where components.scorecard = scorecards.scorecard) as component_weights,
    (select list(positions order by component_index) from components
        where components.scorecard = scorecards.scorecard) as component_entries,
    coalesce((select list(measure_index order by position) from entries
        where entries.scorecard = scorecards.scorecard), []) as entry_measures,
    coalesce((select list(slot order by position) from entries
        where entries.scorecard = scorecards.scorecard), []) as entry_slots,
    coalesce((select list(weight order by position) from entries
        where entries.scorecard = scorecards.scorecard), []) as entry_weights,
    coalesce((select list(rule order by position) from entries
        where entries.scorecard = scorecards.scorecard), []) as entry_rules,
    [
        coalesce((select measure_index from percentile_slots
            where percentile_slots.scorecard = scorecards.scorecard and slot = 1), 0),
        coalesce((select measure_index from percentile_slots
            where percentile_slots.scorecard = scorecards.scorecard and slot = 2), 0),
        coalesce((select measure_index from percentile_slots
            where percentile_slots.scorecard = scorecards.scorecard and slot = 3), 0),
    ] as percentile_measures,
from scorecards;

-- The stale components of each scorecard and day: a component with weight whose measures
-- read a stale feed, in component order.
create or replace temp table stale_components as
with stale as (
    select distinct
        scoring_measures.scorecard,
        stale_sources.as_of_date,
        component_catalog.component_index,
        component_catalog.component,
    from scoring_measures
    inner join stale_sources
        on stale_sources.source = scoring_measures.source
    inner join component_catalog
        on component_catalog.component = scoring_measures.component
    inner join weights
        on weights.scorecard = scoring_measures.scorecard
        and weights.component = scoring_measures.component
    where weights.weight > 0
)

select
    scorecard,
    as_of_date,
    string_agg(component, ',' order by component_index) as stale_components,
from stale
group by scorecard, as_of_date;

-- int_measure_values: the percentile of a measure within the scorecard and day, mid-rank:
-- 100 * (values below + half the values equal) / values; null values have none.
create or replace temp macro mid_rank_percentile(value, rank_, equal, values_) as
    case when value is not null then 100.0 * (rank_ - 1 + 0.5 * equal) / values_ end;

-- Every measure of an account-day in one row, in catalog order, and the percentiles of
-- the measures its scorecard scores by percentile.
create or replace temp table measure_values as
with feeds as (
    select
        max(first_date) filter (where source = 'usage') as usage_start_date,
        max(first_date) filter (where source = 'invoices') as invoices_start_date,
        max(first_date) filter (where source = 'support') as support_start_date,
    from feed_bounds
),

signals as (
    select
        account_days.*,
        subscription_signals.mrr,
        billing_signals.invoiced_revenue_12m,
        usage_signals.last_active_date,
        -- usage: counts are 0 once the feed has data, null before
        case when feeds.usage_start_date <= account_days.as_of_date
            then coalesce(usage_signals.active_days, 0) end as active_days,
        case when feeds.usage_start_date <= account_days.as_of_date
            then coalesce(usage_signals.events, 0) end as events,
        case when feeds.usage_start_date <= account_days.as_of_date
            then coalesce(usage_signals.active_user_days, 0) * 1.0
                / getvariable('usage_window_days') end as active_users_avg,
        case when feeds.usage_start_date <= account_days.as_of_date
            then coalesce(usage_signals.distinct_features, 0) end as distinct_features,
        -- only when the prior window lies wholly after the feed started and had events
        case when feeds.usage_start_date
                <= account_days.as_of_date - 2 * getvariable('usage_window_days') + 1
                and usage_signals.prior_events > 0
            then 100.0 * (coalesce(usage_signals.events, 0) - usage_signals.prior_events)
                / usage_signals.prior_events
        end as usage_trend_pct,
        date_diff('day', usage_signals.last_active_date, account_days.as_of_date)
            as days_since_last_activity,
        subscription_signals.subscription_state_points,
        subscription_signals.subscription_tenure_days,
        subscription_signals.days_to_renewal,
        subscription_signals.renewals,
        case when subscription_signals.prior_mrr > 0
            then 100.0 * (coalesce(subscription_signals.mrr, 0) - subscription_signals.prior_mrr)
                / subscription_signals.prior_mrr
        end as mrr_change_pct,
        subscription_signals.past_due_subscriptions,
        case when feeds.invoices_start_date <= account_days.as_of_date
            then coalesce(billing_signals.paid_invoices, 0) end as paid_invoices,
        date_diff('day', billing_signals.last_order_date, account_days.as_of_date)
            as days_since_last_purchase,
        billing_signals.avg_order_value,
        case when feeds.invoices_start_date <= account_days.as_of_date
            then coalesce(billing_signals.overdue_invoices, 0) end as overdue_invoices,
        billing_signals.late_payment_share,
        survey_signals.nps_score,
        survey_signals.csat_score,
        survey_signals.ces_score,
        survey_signals.nps_promoter_share,
        case when feeds.support_start_date <= account_days.as_of_date
            then coalesce(support_signals.tickets, 0) end as tickets,
        support_signals.first_response_hours,
        support_signals.resolution_hours,
        case when feeds.support_start_date <= account_days.as_of_date
            then coalesce(support_signals.open_urgent_tickets, 0) end as open_urgent_tickets,
        support_signals.ticket_satisfaction,
    from account_days
    cross join feeds
    left join usage_signals
        on usage_signals.account_id = account_days.account_id
        and usage_signals.as_of_date = account_days.as_of_date
    left join subscription_signals
        on subscription_signals.account_id = account_days.account_id
        and subscription_signals.as_of_date = account_days.as_of_date
    left join billing_signals
        on billing_signals.account_id = account_days.account_id
        and billing_signals.as_of_date = account_days.as_of_date
    left join survey_signals
        on survey_signals.account_id = account_days.account_id
        and survey_signals.as_of_date = account_days.as_of_date
    left join support_signals
        on support_signals.account_id = account_days.account_id
        and support_signals.as_of_date = account_days.as_of_date
),

-- tickets against the mean of the scorecard's accounts that day
wide as (
    select
        signals.*,
        cast([
            signals.active_days,
            signals.events,
            signals.active_users_avg,
            signals.distinct_features,
            signals.usage_trend_pct,
            signals.days_since_last_activity,
            signals.tenure_days,
            signals.subscription_state_points,
            signals.subscription_tenure_days,
            signals.days_to_renewal,
            signals.renewals,
            signals.mrr_change_pct,
            signals.past_due_subscriptions,
            signals.paid_invoices,
            signals.days_since_last_purchase,
            signals.avg_order_value,
            signals.overdue_invoices,
            signals.late_payment_share,
            signals.nps_score,
            signals.csat_score,
            signals.ces_score,
            signals.nps_promoter_share,
            signals.tickets / nullif(avg(signals.tickets * 1.0)
                over (partition by signals.scorecard, signals.as_of_date), 0),
            signals.first_response_hours,
            signals.resolution_hours,
            signals.open_urgent_tickets,
            signals.ticket_satisfaction,
        ] as double[]) as measure_values,
    from signals
),

slotted as (
    select
        wide.account_id,
        wide.as_of_date,
        wide.is_written,
        wide.segment,
        wide.scorecard,
        wide.parent_account_id,
        wide.churned_date,
        wide.mrr,
        wide.invoiced_revenue_12m,
        wide.days_since_last_activity,
        wide.measure_values,
        list_select(wide.measure_values, scorecard_config.percentile_measures) as slot_values,
    from wide
    inner join scorecard_config
        on scorecard_config.scorecard = wide.scorecard
)

-- the mid-rank percentile of each slot's measure within the scorecard and day
select
    slotted.* exclude (slot_values),
    [
        mid_rank_percentile(slot_values[1], rank() over slot_1, count(*) over slot_1_peers,
            count(slot_values[1]) over scorecard_day),
        mid_rank_percentile(slot_values[2], rank() over slot_2, count(*) over slot_2_peers,
            count(slot_values[2]) over scorecard_day),
        mid_rank_percentile(slot_values[3], rank() over slot_3, count(*) over slot_3_peers,
            count(slot_values[3]) over scorecard_day),
    ] as percentiles,
from slotted
window
    scorecard_day as (partition by scorecard, as_of_date),
    slot_1 as (partition by scorecard, as_of_date order by slot_values[1]),
    slot_1_peers as (slot_1 range between current row and current row),
    slot_2 as (partition by scorecard, as_of_date order by slot_values[2]),
    slot_2_peers as (slot_2 range between current row and current row),
    slot_3 as (partition by scorecard, as_of_date order by slot_values[3]),
    slot_3_peers as (slot_3 range between current row and current row);

-- int_measure_points: a measure scored 0-100 by its method.
create or replace temp macro measure_points(rule, value, percentile) as
    case
        when value is null then null
        when rule.method = 'linear' then
            case when rule.higher_is_better
                then linear_score(value, rule.lower_bound, rule.upper_bound)
                else linear_score(value, rule.upper_bound, rule.lower_bound)
            end
        when rule.method = 'log' then
            case when rule.higher_is_better
                then log_score(value, rule.lower_bound, rule.upper_bound)
                else log_score(value, rule.upper_bound, rule.lower_bound)
            end
        when rule.method = 'bands' then list_filter(rule.bands, lambda band:
            (band.lower_bound is null or value >= band.lower_bound)
            and (band.upper_bound is null or value < band.upper_bound))[1].points
        when rule.method = 'percentile' then
            case when rule.higher_is_better then percentile else 100 - percentile end
    end;

-- int_component_scores: the weighted mean of the points of a component's measures with
-- data (`positions`: its entries).
create or replace temp macro component_score(weighted_points, weights_with_data, positions) as
    list_sum(list_select(weighted_points, positions))
    / nullif(list_sum(list_select(weights_with_data, positions)), 0);

-- Manual overrides (seeds/scoring_overrides.csv) of each account-day, on the days they are
-- valid: a score per component (in component order), and an `overall` one.
create or replace temp table account_day_overrides as
with valid as (
    select
        overrides.account_id,
        scored_days.as_of_date,
        overrides.component,
        component_catalog.component_index,
        overrides.score,
        overrides.reason,
    from overrides
    inner join scored_days
        on scored_days.as_of_date >= overrides.valid_from
        and (overrides.valid_to is null or scored_days.as_of_date <= overrides.valid_to)
    left join component_catalog
        on component_catalog.component = overrides.component
),

per_day as (
    select
        account_id,
        as_of_date,
        list({'component': component, 'score': score}) as component_overrides,
        bool_or(component_index is not null and score is not null) as has_component_override,
        string_agg(
            case when component_index is not null and score is not null
                then component || ': ' || reason end,
            '; ' order by component_index
        ) as component_override_reasons,
        max(score) filter (where component = 'overall') as overall_score,
        max(reason) filter (where component = 'overall') as overall_reason,
    from valid
    group by account_id, as_of_date
)

select
    per_day.* exclude (component_overrides),
    list_transform(getvariable('components'), lambda component:
        list_filter(component_overrides, lambda o: o.component = component)[1].score)
        as override_scores,
from per_day;

-- int_component_scores and int_health_scores, for every scored account-day.
create or replace temp table health_scores as
with entry_points as (
    select
        measure_values.* exclude (measure_values, percentiles),
        scorecard_config.min_coverage,
        scorecard_config.component_weights,
        scorecard_config.component_entries,
        scorecard_config.entry_weights,
        list_transform(
            list_zip(
                scorecard_config.entry_rules,
                list_select(measure_values.measure_values, scorecard_config.entry_measures),
                list_select(measure_values.percentiles, scorecard_config.entry_slots)
            ),
            lambda entry: measure_points(entry[1], entry[2], entry[3])
        ) as entry_points,
    from measure_values
    inner join scorecard_config
        on scorecard_config.scorecard = measure_values.scorecard
),

weighted_entries as (
    select
        entry_points.* exclude (entry_points, entry_weights),
        list_transform(list_zip(entry_weights, entry_points), lambda entry:
            entry[1] * entry[2]) as weighted_points,
        list_transform(list_zip(entry_weights, entry_points), lambda entry:
            case when entry[2] is not null then entry[1] else 0 end) as weights_with_data,
    from entry_points
),

components as (
    select
        weighted_entries.* exclude (weighted_points, weights_with_data, component_entries),
        [
            component_score(weighted_points, weights_with_data, component_entries[1]),
            component_score(weighted_points, weights_with_data, component_entries[2]),
            component_score(weighted_points, weights_with_data, component_entries[3]),
            component_score(weighted_points, weights_with_data, component_entries[4]),
            component_score(weighted_points, weights_with_data, component_entries[5]),
            component_score(weighted_points, weights_with_data, component_entries[6]),
            component_score(weighted_points, weights_with_data, component_entries[7]),
        ] as computed_scores,
    from weighted_entries
),

overridden as (
    select
        components.* exclude (computed_scores),
        case when account_day_overrides.override_scores is null then computed_scores
            else list_transform(
                list_zip(account_day_overrides.override_scores, computed_scores),
                lambda score: coalesce(score[1], score[2]))
        end as component_scores,
        account_day_overrides.overall_score,
        account_day_overrides.overall_reason,
        coalesce(account_day_overrides.has_component_override, false)
            as has_component_override,
        account_day_overrides.component_override_reasons,
    from components
    left join account_day_overrides
        on account_day_overrides.account_id = components.account_id
        and account_day_overrides.as_of_date = components.as_of_date
),

weighted as (
    select
        overridden.*,
        list_sum(list_transform(list_zip(component_scores, component_weights), lambda c:
            case when c[1] is not null then c[2] else 0 end)) as available_weight,
        list_sum(component_weights) as total_weight,
        list_sum(list_transform(list_zip(component_scores, component_weights), lambda c:
            c[2] * c[1])) as weighted_points,
    from overridden
),

computed as (
    select
        weighted.*,
        round_to(available_weight / nullif(total_weight, 0), 6) as score_coverage,
    from weighted
)

select
    account_id,
    as_of_date,
    is_written,
    segment,
    scorecard,
    parent_account_id,
    churned_date,
    mrr,
    invoiced_revenue_12m,
    days_since_last_activity,
    component_weights,
    component_scores,
    available_weight,
    score_coverage,
    case when score_coverage >= min_coverage
        then weighted_points / nullif(available_weight, 0)
    end as computed_health_score,
    round2(coalesce(overall_score,
        case when score_coverage >= min_coverage
            then weighted_points / nullif(available_weight, 0) end)) as health_score,
    overall_score is not null or has_component_override as is_overridden,
    case
        when overall_score is not null then 'overall: ' || overall_reason
        else component_override_reasons
    end as override_reason,
from computed;

-- The fact rows: the written days, with the score changes over 7 and 30 days, the top
-- drivers (int_health_score_contributions), the band and the revenue.
create or replace temp table fact_rows as
with changes as (
    select
        health_scores.*,
        first(health_score) over (
            partition by account_id order by as_of_date
            range between interval 7 day preceding and interval 7 day preceding
        ) as health_score_7d_before,
        first(health_score) over (
            partition by account_id order by as_of_date
            range between interval 30 day preceding and interval 30 day preceding
        ) as health_score_30d_before,
    from health_scores
),

-- a component's weight shared over the components with data
parts as (
    select
        changes.*,
        list_transform(list_zip(component_scores, component_weights), lambda c:
            case when computed_health_score is not null and c[1] is not null
                then c[2] / available_weight else 0 end) as weights_used,
    from changes
    where is_written
),

-- the components' contributions, then the `override` part
exact as (
    select
        parts.*,
        list_append(
            list_transform(list_zip(weights_used, component_scores), lambda c:
                case when health_score is not null then c[1] * coalesce(c[2], 0) end),
            case when health_score is not null
                then health_score - round2(coalesce(computed_health_score, 0)) end
        ) as contributions_exact,
    from parts
),

-- the largest contribution (at 9 decimals; the first of equals) takes the rounding
-- remainder, so the contributions sum to the health score
rounded as (
    select
        exact.*,
        list_transform(contributions_exact, lambda c: round2(c)) as contributions_rounded,
        list_position(
            list_transform(contributions_exact, lambda c: round(abs(c) * 1e9)),
            list_max(list_transform(contributions_exact, lambda c: round(abs(c) * 1e9)))
        ) as largest_part,
    from exact
),

contributions as (
    select
        rounded.*,
        list_transform(contributions_rounded, lambda c, i:
            case when i = largest_part
                then round2(c + health_score - rounded_total)
                else c end)[1:7] as contributions,
        list_transform(list_zip(weights_used, component_scores), lambda c:
            case when c[1] > 0 then round2(c[1] * (100 - c[2])) end) as points_lost,
    from (select *, list_sum(contributions_rounded) as rounded_total from rounded) as rounded
),

drivers as (
    select
        contributions.*,
        list_position(contributions, list_max(contributions)) as top_positive_index,
        list_position(
            list_transform(points_lost, lambda p: coalesce(p, 0)),
            list_max(list_transform(points_lost, lambda p: coalesce(p, 0)))
        ) as top_negative_index,
    from contributions
)

select
    drivers.account_id,
    drivers.as_of_date,
    drivers.segment,
    drivers.scorecard,
    drivers.parent_account_id,
    drivers.health_score,
    coalesce(bands.band, 'insufficient_data') as health_band,
    round2(drivers.component_scores[1]) as engagement_score,
    round2(drivers.component_scores[2]) as usage_frequency_score,
    round2(drivers.component_scores[3]) as retention_score,
    round2(drivers.component_scores[4]) as loyalty_score,
    round2(drivers.component_scores[5]) as satisfaction_score,
    round2(drivers.component_scores[6]) as support_score,
    round2(drivers.component_scores[7]) as billing_score,
    drivers.score_coverage,
    round2(drivers.health_score - drivers.health_score_7d_before) as health_score_delta_7d,
    round2(drivers.health_score - drivers.health_score_30d_before) as health_score_delta_30d,
    case when drivers.contributions[drivers.top_positive_index] > 0
        then getvariable('components')[drivers.top_positive_index] end as top_positive_driver,
    case when drivers.points_lost[drivers.top_negative_index] > 0
        then getvariable('components')[drivers.top_negative_index] end as top_negative_driver,
    stale_components.stale_components,
    drivers.is_overridden,
    drivers.override_reason,
    drivers.mrr,
    cast(drivers.days_since_last_activity as integer) as days_since_last_activity,
    coalesce(drivers.churned_date <= drivers.as_of_date, false) as is_churned,
    getvariable('config_version') as config_version,
    case
        when drivers.mrr is not null then 'subscription_arr'
        when drivers.invoiced_revenue_12m is not null then 'invoiced_revenue_12m'
    end as revenue_measure,
    case
        when drivers.mrr is not null then round2(drivers.mrr * 12)
        else drivers.invoiced_revenue_12m
    end as annual_revenue,
from drivers
left join stale_components
    on stale_components.scorecard = drivers.scorecard
    and stale_components.as_of_date = drivers.as_of_date
left join bands
    on drivers.health_score >= bands.min_score
    and (drivers.health_score < bands.max_score
        or (bands.max_score >= 100 and drivers.health_score <= bands.max_score));

create or replace table main.fct_customer_health_daily as
select * from fact_rows;
