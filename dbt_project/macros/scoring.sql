{#- Shared scoring expressions. Portable SQL only: these run on DuckDB and Postgres. -#}

{#- A measure scored 0-100, linear between two thresholds. `lower` scores 0 and
    `upper` scores 100; when lower > upper, higher values are worse. Values outside
    the thresholds are clamped; a null value or equal thresholds give null. -#}
{% macro linear_score(value, lower, upper) -%}
    case
        when {{ value }} is null or {{ lower }} is null or {{ upper }} is null
            or {{ upper }} = {{ lower }} then null
        else greatest(0.0, least(100.0,
            100.0 * ({{ value }} - {{ lower }}) / ({{ upper }} - {{ lower }})))
    end
{%- endmacro %}

{#- Round a double to two decimals on every adapter (Postgres has no round(double, int)). -#}
{% macro round2(expression) -%}
    cast(round(cast({{ expression }} as numeric), 2) as double precision)
{%- endmacro %}

{#- A date from an environment variable, or null when it is unset or empty. -#}
{% macro env_date(name) -%}
    {%- set value = env_var(name, '') | trim -%}
    {%- if value -%} cast('{{ value }}' as date) {%- else -%} cast(null as date) {%- endif -%}
{%- endmacro %}

{#- Whole days from `start` to `end` (dates). -#}
{% macro days_between(start, end) -%}
    {{ dbt.datediff(start, end, 'day') }}
{%- endmacro %}

{#- A date `n` days after `day` (n may be negative), as a date on every adapter. -#}
{% macro add_days(day, n) -%}
    cast({{ dbt.dateadd('day', n, day) }} as date)
{%- endmacro %}

{#- The components of the health score, in output-column order. -#}
{% macro health_components() -%}
    {{ return(['engagement', 'retention', 'loyalty']) }}
{%- endmacro %}

{#- The measures the signals model computes; scoring_measures.csv gives each
    (component, measure) pair its thresholds and weight. -#}
{% macro health_measures() -%}
    {{ return([
        'active_days_30d',
        'events_30d',
        'active_users_30d_avg',
        'subscription_state_points',
        'subscription_tenure_days',
        'tenure_days',
        'paid_invoices_365d',
        'nps_avg_365d',
    ]) }}
{%- endmacro %}

{#- Weight backed by data: the sum of the weights whose value is not null.
    `pairs` is a list of (weight expression, value expression). -#}
{% macro available_weight(pairs) -%}
    (
        {%- for weight, value in pairs %}
        case when {{ value }} is not null then coalesce({{ weight }}, 0) else 0 end
        {%- if not loop.last %} +{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- Weighted mean of the values that have data: values without data are left out
    and their weight is shared over the others. Null when no value has data. -#}
{% macro weighted_mean(pairs) -%}
    (
        {%- for weight, value in pairs %}
        coalesce({{ weight }} * {{ value }}, 0)
        {%- if not loop.last %} +{% endif %}
        {%- endfor %}
    ) / nullif({{ available_weight(pairs) }}, 0)
{%- endmacro %}
