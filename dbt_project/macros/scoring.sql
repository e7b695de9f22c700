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

{#- `linear_score` on a log scale, ln(1 + x) (the ratio taken first, so that both
    thresholds score exactly 0 and 100): each doubling of a count or a span of days
    moves the points by as much near the lower threshold as far out, so a long silence
    still ranks against a longer one. The thresholds are >= 0 (the configuration check);
    a value below 0 scores as 0. -#}
{% macro log_score(value, lower, upper) -%}
    case
        when {{ value }} is null or {{ lower }} is null or {{ upper }} is null
            or {{ upper }} = {{ lower }} then null
        else greatest(0.0, least(100.0, 100.0
            * ((ln(1 + greatest({{ value }}, 0)) - ln(1 + {{ lower }}))
                / (ln(1 + {{ upper }}) - ln(1 + {{ lower }})))))
    end
{%- endmacro %}

{#- Round a double to two decimals on every adapter (Postgres has no round(double, int)). -#}
{% macro round2(expression) -%}
    {{ round_to(expression, 2) }}
{%- endmacro %}

{#- Annual recurring revenue from a monthly figure (mrr x 12), to the cent: the one
    definition, for the fact's annual_revenue, dim_accounts and the segment mart. -#}
{% macro arr_of(mrr) -%}
    {{ round2(mrr ~ ' * 12') }}
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

{#- Round a double to `digits` decimals on every adapter. -#}
{% macro round_to(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric(38, 12)), {{ digits }}) as {{ double_type() }})
{%- endmacro %}

{#- The components of the health score, in output-column order (dbt_project.yml vars). -#}
{% macro health_components() -%}
    {{ return(var('health_components')) }}
{%- endmacro %}

{#- `pattern` (a component's name in place of each `{}`) for each component, in component
    order, joined by `separator`, skipping nulls; null when all are null. -#}
{% macro in_component_order(pattern, separator) -%}
    nullif(concat_ws({{ separator }}
    {%- for component, expression in named(health_components(), pattern) %},
        {{ expression }}
    {%- endfor %}), '')
{%- endmacro %}

{#- The sum of `pattern` (a component's name in place of each `{}`) over the components,
    nulls counting as 0, as SUM over the component rows would skip them. -#}
{% macro sum_over_components(pattern) -%}
    ({% for component, expression in named(health_components(), pattern) -%}
        coalesce({{ expression }}, 0)
        {%- if not loop.last %} + {% endif %}
    {%- endfor %})
{%- endmacro %}

{#- The component name of a manual override of the whole score (vars.health_overall_override,
    `overall`): in seeds/scoring_overrides.csv, and the part of the score it changes. -#}
{% macro overall_override() -%}
    {{ return(var('health_overall_override')) }}
{%- endmacro %}

{#- The parts a health score is split into: the components, then the overall override's
    (`overall`: what a manual override of the whole score changes). The drivers mart has
    one row per part. -#}
{% macro score_parts() -%}
    {{ return(health_components() + [overall_override()]) }}
{%- endmacro %}

{#- (name, expression) pairs: `pattern` with each name in place of `{}`. -#}
{% macro named(names, pattern) -%}
    {%- set pairs = [] -%}
    {%- for name in names -%}
        {%- do pairs.append((name, pattern | replace('{}', name))) -%}
    {%- endfor -%}
    {{ return(pairs) }}
{%- endmacro %}

{#- The name of the largest of `candidates` ((name, expression) pairs, in order), ties
    going to the earlier one: in one row, what `row_number() over (order by expression
    desc, position) = 1` picks over rows. The expressions must not be null (null when all
    of them are). -#}
{% macro first_largest(candidates) -%}
    case
    {%- for i in range(candidates | length) %}
        when {% for j in range(candidates | length) if j != i -%}
            {{ candidates[i][1] }} {{ '>' if j < i else '>=' }} {{ candidates[j][1] }}
            {%- if not loop.last %} and {% endif %}
        {%- else -%}
            1 = 1
        {%- endfor %} then '{{ candidates[i][0] }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- The periods, in days, of the score changes the output contract carries
    (health_score_delta_7d/_30d, the drivers' change_7d/_30d, the movers' lists). A day's
    changes compare it with the days this many days before it, so a run scores those too
    unless the score marts already hold them under this configuration (int_scoring_days,
    published_comparison_days). -#}
{% macro change_periods() -%}
    {{ return([7, 30]) }}
{%- endmacro %}

{#- A published mart this run's models may read by relation (not ref: they run before
    it): the mart as the last run left it, or none on a first run or a full refresh. -#}
{% macro published_mart(identifier) -%}
    {%- if flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=target_database(),
        schema=generate_schema_name('marts', none),
        identifier=identifier)) }}
{%- endmacro %}

{#- The comparison days (before the run's window, change_periods() days before one of
    its days) that the score marts already hold under this configuration: a run reads
    their scores and contributions from fct_customer_health_daily and
    fct_health_score_drivers instead of computing them again (int_scoring_days). A day
    counts only when both marts hold it with the current config_version; the marts write
    whole days, so a day they hold is complete. -#}
{% macro published_comparison_days(scoring_window, scoring_config) -%}
    {%- set marts = [published_mart('fct_customer_health_daily'),
                     published_mart('fct_health_score_drivers')] -%}
    {%- if none in marts -%}
    select cast(null as date) as as_of_date where 1 = 0
    {%- else -%}
    {%- for mart in marts %}
    select distinct published.as_of_date
    from {{ mart }} as published
    where published.as_of_date
        between (select {{ add_days('score_from_date', -(change_periods() | max)) }} from {{ scoring_window }})
        and (select {{ add_days('score_from_date', -1) }} from {{ scoring_window }})
        and published.config_version = (select config_version from {{ scoring_config }})
    {%- if not loop.last %}
    intersect{% endif %}
    {%- endfor %}
    {%- endif %}
{%- endmacro %}

{#- The sources that feed measures, other than the accounts themselves. -#}
{% macro health_feeds() -%}
    {{ return(var('health_sources').keys() | reject('equalto', 'accounts') | list) }}
{%- endmacro %}

{#- The run's first ('start') or last ('end') scored day, from dbt's event-time flags:
    the dbt asset runs `dbt build --event-time-start <first day> --event-time-end <the
    day after the last>` (the end is exclusive, as dbt's microbatch reads it). Null
    without the flags: a build by hand scores every day. Flags, not `--vars` (a changed
    var re-parses the whole project) nor environment variables set inside the step. -#}
{% macro run_window_date(bound) -%}
    {%- set value = invocation_args_dict.get('event_time_' ~ bound) -%}
    {%- if value -%}
        {%- set day = modules.datetime.date.fromisoformat((value | string)[:10]) -%}
        {%- if bound == 'end' -%}
            {%- set day = day - modules.datetime.timedelta(days=1) -%}
        {%- endif -%}
        cast('{{ day.isoformat() }}' as date)
    {%- else -%}
        cast(null as date)
    {%- endif -%}
{%- endmacro %}

{#- bi_band_migrations' pre-hook on an incremental run: empty the days it rewrites (the
    scoring window and the day after it). -#}
{% macro delete_band_migration_days() -%}
    {{ return(adapter.dispatch('delete_band_migration_days')()) }}
{%- endmacro %}

{% macro default__delete_band_migration_days() -%}
    {%- if is_incremental() -%}
        {%- set window = ref('int_scoring_window') -%}
        delete from {{ this }}
        where as_of_date between (select score_from_date from {{ window }})
            and (select {{ add_days('score_to_date', 1) }} from {{ window }})
    {%- endif -%}
{%- endmacro %}

{#- Spark: the same days' partitions dropped (no DELETE on Parquet tables). -#}
{% macro spark__delete_band_migration_days() -%}
    {%- if is_incremental() -%}
        {%- set window = ref('int_scoring_window') -%}
        {{ drop_day_partitions('as_of_date',
            'select explode(sequence(score_from_date, ' ~ add_days('score_to_date', 1) ~ ')) from ' ~ window) }}
    {%- endif -%}
{%- endmacro %}
