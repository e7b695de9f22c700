{#- The health score per scored account-day: the weighted mean of the component scores
    that have data, each component's weight shared over the others when it has none;
    null when the weight backed by data (score_coverage) is below the scorecard's
    min_coverage. An `overall` override replaces the score on the days it is valid.
    One row per account-day, each component in columns: its rounded score, and its
    unrounded score and weight, from which int_health_score_contributions splits the
    score without reading the component rows again. -#}
with days as (
    select * from {{ ref('int_scoring_days') }}
),

component_scores as (
    select * from {{ ref('int_component_scores') }}
),

scorecards as (
    select * from {{ ref('scoring_scorecards') }}
),

overrides as (
    select * from {{ ref('scoring_overrides') }}
),

bands as (
    select * from {{ ref('scoring_bands') }}
),

usage_signals as (
    select * from {{ ref('int_usage_signals_daily') }}
),

subscription_signals as (
    select * from {{ ref('int_subscription_signals_daily') }}
),

billing_signals as (
    select * from {{ ref('int_billing_signals_daily') }}
),

per_day as (
    select
        component_scores.*,
        {{ sum_over_components('case when {}_score is not null then {}_weight end') }}
            as available_weight,
        {{ sum_over_components('{}_weight') }} as total_weight,
        {{ sum_over_components('{}_weight * {}_score') }} as weighted_points,
        case when {{ named(health_components(), '{}_is_overridden') | map('last') | join(' or ') }}
            then 1 else 0
        end as has_component_override,
        {{ in_component_order("case when {}_is_overridden then '{}: ' || {}_override_reason end",
            "'; '") }} as component_override_reasons,
        {{ in_component_order("case when {}_is_stale and {}_weight > 0 then '{}' end",
            "','") }} as stale_components
    from component_scores
),

scored as (
    select
        days.account_id,
        days.as_of_date,
        days.segment,
        days.scorecard,
        days.parent_account_id,
        days.churned_date,
        per_day.available_weight,
        per_day.weighted_points,
        {%- for component in health_components() %}
        per_day.{{ component }}_score,
        per_day.{{ component }}_weight,
        {%- endfor %}
        {{ round_to('per_day.available_weight / nullif(per_day.total_weight, 0)', 6) }}
            as score_coverage,
        scorecards.min_coverage,
        per_day.has_component_override,
        per_day.component_override_reasons,
        per_day.stale_components,
        overrides.score as overall_override_score,
        overrides.reason as overall_override_reason
    from days
    inner join per_day
        on per_day.account_id = days.account_id
        and per_day.as_of_date = days.as_of_date
    inner join scorecards
        on scorecards.scorecard = days.scorecard
    left join overrides
        on overrides.account_id = days.account_id
        and overrides.component = '{{ overall_override() }}'
        and days.as_of_date >= overrides.valid_from
        and (overrides.valid_to is null or days.as_of_date <= overrides.valid_to)
),

computed as (
    select
        scored.*,
        case when scored.score_coverage >= scored.min_coverage
            then scored.weighted_points / nullif(scored.available_weight, 0)
        end as computed_health_score
    from scored
),

final as (
    select
        computed.account_id,
        computed.as_of_date,
        computed.segment,
        computed.scorecard,
        computed.parent_account_id,
        {{ round2('coalesce(computed.overall_override_score, computed.computed_health_score)') }}
            as health_score,
        computed.computed_health_score,
        computed.available_weight,
        {%- for component in health_components() %}
        {{ round2('computed.' ~ component ~ '_score') }} as {{ component }}_score,
        {%- endfor %}
        {#- unrounded, with the scorecard's weights: the contributions' inputs -#}
        {%- for component in health_components() %}
        computed.{{ component }}_score as {{ component }}_unrounded_score,
        computed.{{ component }}_weight,
        {%- endfor %}
        computed.score_coverage,
        computed.min_coverage,
        computed.stale_components,
        computed.overall_override_score is not null or computed.has_component_override = 1
            as is_overridden,
        case
            when computed.overall_override_score is not null
                then '{{ overall_override() }}: ' || computed.overall_override_reason
            else computed.component_override_reasons
        end as override_reason,
        subscription_signals.mrr,
        billing_signals.invoiced_revenue_12m,
        cast(usage_signals.days_since_last_activity as integer) as days_since_last_activity,
        computed.churned_date
    from computed
    left join usage_signals
        on usage_signals.account_id = computed.account_id
        and usage_signals.as_of_date = computed.as_of_date
    left join subscription_signals
        on subscription_signals.account_id = computed.account_id
        and subscription_signals.as_of_date = computed.as_of_date
    left join billing_signals
        on billing_signals.account_id = computed.account_id
        and billing_signals.as_of_date = computed.as_of_date
)

select
    final.*,
    {{ band_of('bands') }} as health_band
from final
left join bands
    on {{ in_band('final.health_score', 'bands') }}
