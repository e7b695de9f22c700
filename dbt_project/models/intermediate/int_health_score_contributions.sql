{#-
    How each component (and an `overall` override) makes up each scored account-day's
    health score (how it moved the score: fct_health_score_drivers).

    weight_used   the component's weight shared over the components with data:
                  weight / available weight; 0 for components without data.
    contribution  weight_used x component score, rounded to 0.01; the rounding remainder
                  goes to the largest contribution, so contributions sum exactly to the
                  (rounded) health score. An `override` row carries the difference an
                  overall override makes.
-#}
with component_scores as (
    select * from {{ ref('int_component_scores') }}
),

health_scores as (
    select * from {{ ref('int_health_scores') }}
),

parts as (
    select
        component_scores.account_id,
        component_scores.as_of_date,
        component_scores.component,
        component_scores.component_order,
        component_scores.component_weight,
        component_scores.component_score,
        health_scores.health_score,
        health_scores.computed_health_score,
        case when health_scores.computed_health_score is not null
                and component_scores.component_score is not null
            then component_scores.component_weight / health_scores.available_weight
            else 0
        end as weight_used
    from component_scores
    inner join health_scores
        on health_scores.account_id = component_scores.account_id
        and health_scores.as_of_date = component_scores.as_of_date
    union all
    select
        account_id,
        as_of_date,
        'override',
        {{ health_components() | length + 1 }},
        cast(null as double precision),
        cast(null as double precision),
        health_score,
        computed_health_score,
        0
    from health_scores
),

exact as (
    select
        parts.*,
        case
            when parts.health_score is null then null
            when parts.component = 'override'
                then parts.health_score - {{ round2('coalesce(parts.computed_health_score, 0)') }}
            else parts.weight_used * coalesce(parts.component_score, 0)
        end as contribution_exact
    from parts
),

ranked as (
    select
        exact.*,
        {{ round2('contribution_exact') }} as contribution_rounded,
        row_number() over (
            partition by account_id, as_of_date
            order by abs(contribution_exact) desc, component_order
        ) as size_rank
    from exact
),

contributions as (
    select
        ranked.*,
        case
            when size_rank = 1 then {{ round2(
                'contribution_rounded + health_score'
                ~ ' - sum(contribution_rounded) over (partition by account_id, as_of_date)') }}
            else contribution_rounded
        end as contribution
    from ranked
),

final as (
    select
        contributions.account_id,
        contributions.as_of_date,
        contributions.component,
        contributions.component_order,
        contributions.component_weight,
        {{ round_to('contributions.weight_used', 6) }} as weight_used,
        contributions.component_score,
        contributions.contribution,
        case when contributions.weight_used > 0
            then {{ round2('contributions.weight_used * (100 - contributions.component_score)') }}
        end as points_lost
    from contributions
)

select * from final
