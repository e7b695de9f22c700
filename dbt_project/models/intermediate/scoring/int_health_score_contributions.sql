{#-
    How each component (and an `overall` override) makes up each scored account-day's
    health score: one row per account-day, each part (score_parts(): the components,
    then `overall`, what a manual override of the whole score changed) in columns;
    fct_health_score_drivers turns them into a row per part and adds how each moved the
    score.

    <part>_weight_used   the component's weight shared over the components with data:
                         weight / available weight; 0 for components without data and
                         for `overall`.
    <part>_contribution  weight_used x component score, rounded to 0.01; the rounding
                         remainder goes to the largest contribution (at 9 decimals; ties to
                         the earlier part), so contributions sum exactly to the (rounded) health
                         score. `overall` carries the difference an overall override
                         makes. Null when the score is null.
    <part>_points_lost   weight_used x (100 - component score), when weight_used > 0.
    top_positive_driver  the component with the largest contribution, when above 0;
    top_negative_driver  the component losing the most points, when above 0 (ties to the
                         earlier component; `overall` is never a driver).
-#}
{%- set components = health_components() -%}
{%- set parts = score_parts() -%}
{%- set overall = overall_override() -%}

with health_scores as (
    select * from {{ ref('int_health_scores') }}
),

shares as (
    select
        account_id,
        as_of_date,
        health_score,
        computed_health_score,
        {%- for component in components %}
        {{ component }}_weight,
        {{ component }}_unrounded_score,
        case when computed_health_score is not null and {{ component }}_unrounded_score is not null
            then {{ component }}_weight / available_weight
            else 0
        end as {{ component }}_weight_used,
        {%- endfor %}
        cast(null as {{ double_type() }}) as {{ overall }}_weight,
        cast(null as {{ double_type() }}) as {{ overall }}_unrounded_score,
        0 as {{ overall }}_weight_used
    from health_scores
),

exact as (
    select
        shares.*,
        {%- for component in components %}
        case when health_score is not null
            then {{ component }}_weight_used * coalesce({{ component }}_unrounded_score, 0)
        end as {{ component }}_exact,
        {%- endfor %}
        health_score - {{ round2('coalesce(computed_health_score, 0)') }} as {{ overall }}_exact
    from shares
),

rounded as (
    select
        exact.*,
        {%- for part in parts %}
        {{ round2(part ~ '_exact') }} as {{ part }}_rounded,
        {%- endfor %}
        {#- compared at 9 decimals: two contributions equal in exact arithmetic (equal
            weights, equal scores) can differ in the last bit by the order of the float
            operations, which must not decide which part takes the remainder. A float
            round, not round_to's numeric one: first_largest names each expression up
            to 14 times, and Postgres inlines them into every later use -#}
        {{ first_largest(named(parts, 'round(abs({}_exact) * 1e9)')) }} as largest_part
    from exact
),

contributions as (
    select
        rounded.*,
        {%- for part in parts %}
        case when largest_part = '{{ part }}'
            then {{ round2(part ~ '_rounded + health_score - ('
                ~ (parts | map('string') | join('_rounded + ')) ~ '_rounded)') }}
            else {{ part }}_rounded
        end as {{ part }}_contribution,
        {%- endfor %}
        {%- for part in parts %}
        case when {{ part }}_weight_used > 0
            then {{ round2(part ~ '_weight_used * (100 - ' ~ part ~ '_unrounded_score)') }}
        end as {{ part }}_points_lost
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from rounded
),

drivers as (
    select
        contributions.*,
        {{ first_largest(named(components, '{}_contribution')) }} as most_contributing,
        {{ first_largest(named(components, 'coalesce({}_points_lost, 0)')) }} as most_losing
    from contributions
),

final as (
    select
        account_id,
        as_of_date,
        {%- for part in parts %}
        {{ part }}_weight,
        {{ round_to(part ~ '_weight_used', 6) }} as {{ part }}_weight_used,
        {{ part }}_unrounded_score,
        {{ part }}_contribution,
        {{ part }}_points_lost,
        {%- endfor %}
        case most_contributing
            {%- for component in components %}
            when '{{ component }}' then case when {{ component }}_contribution > 0 then '{{ component }}' end
            {%- endfor %}
        end as top_positive_driver,
        case most_losing
            {%- for component in components %}
            when '{{ component }}' then case when {{ component }}_points_lost > 0 then '{{ component }}' end
            {%- endfor %}
        end as top_negative_driver
    from drivers
)

select * from final
