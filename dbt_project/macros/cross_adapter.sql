{#- Helpers that keep one project across DuckDB, Postgres and Spark (dbt-spark, session
    or thrift). Each default__ is what DuckDB and Postgres always ran; spark__ is the
    Spark SQL equivalent. -#}

{#- The target's database for api.Relation.create: none on Spark, which has no database
    level (two-part names; `target.database` is undefined there). -#}
{% macro target_database() -%}
    {{ return(adapter.dispatch('target_database')()) }}
{%- endmacro %}

{% macro default__target_database() -%}
    {{ return(target.database) }}
{%- endmacro %}

{% macro spark__target_database() -%}
    {{ return(none) }}
{%- endmacro %}

{#- Column types for casts in models: `double precision` and `varchar` are not Spark
    types (Spark's `float` is 32-bit, so not dbt.type_float()). -#}
{% macro double_type() -%}
    {{ return(adapter.dispatch('double_type')()) }}
{%- endmacro %}

{% macro default__double_type() -%}
    {{ return('double precision') }}
{%- endmacro %}

{% macro spark__double_type() -%}
    {{ return('double') }}
{%- endmacro %}

{% macro string_type(length=none) -%}
    {{ return(adapter.dispatch('string_type')(length)) }}
{%- endmacro %}

{% macro default__string_type(length) -%}
    {{ return('varchar' ~ ('(' ~ length ~ ')' if length else '')) }}
{%- endmacro %}

{% macro spark__string_type(length) -%}
    {{ return('string') }}
{%- endmacro %}

{#- A type as written in YAML (contracts' data_type, seeds' column_types: the DuckDB and
    Postgres spelling) in Spark's: double precision -> double, varchar/text -> string,
    numeric -> decimal. Used by the spark__ overrides below only. -#}
{% macro spark_type(data_type) -%}
    {%- set t = (data_type | string | trim | lower) -%}
    {%- if t in ('double precision', 'float8', 'real', 'float4') -%}
        {{ return('double') }}
    {%- elif t.startswith('varchar') or t.startswith('character varying') or t in ('text', 'char') -%}
        {{ return('string') }}
    {%- elif t.startswith('numeric') -%}
        {{ return('decimal' ~ t[7:]) }}
    {%- endif -%}
    {{ return(t) }}
{%- endmacro %}

{#- Contracts: dbt builds `select cast(null as <data_type>) ...` from the YAML types to
    compare them with the model's; on Spark each type goes through spark_type() first. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = column.copy() if column.copy is defined else dict(column) -%}
        {%- if copy.get('data_type') -%}
            {%- do copy.update({'data_type': spark_type(copy['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{%- endmacro %}

{#- Seeds on Spark. dbt-spark's session method binds values by formatting them as
    '<value>' (dbt-spark#901): an empty cell loads as the string 'None' and a quote in a
    value breaks the statement. These write each value as a SQL literal instead (null for
    an empty cell), and translate column_types through spark_type(). -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        {{ return('null') }}
    {%- elif value is sameas true or value is sameas false -%}
        {{ return('true' if value else 'false') }}
    {%- elif value is number -%}
        {{ return(value | string) }}
    {%- else -%}
        {{ return("'" ~ (value | string | replace('\\', '\\\\') | replace("'", "\\'")) ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__create_csv_table(model, agate_table) %}
  {%- set column_override = model['config'].get('column_types', {}) -%}
  {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
  {% set sql %}
    create table {{ this.render() }} (
        {%- for col_name in agate_table.column_names -%}
            {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
            {%- set type = spark_type(column_override.get(col_name, inferred_type)) -%}
            {{ adapter.quote_seed_column(col_name | string, quote_seed_column) }} {{ type }} {%- if not loop.last -%}, {%- endif -%}
        {%- endfor -%}
    )
    {{ file_format_clause() }}
    {{ partition_cols(label="partitioned by") }}
    {{ clustered_cols(label="clustered by") }}
    {{ location_clause() }}
    {{ comment_clause() }}
  {% endset %}
  {% call statement('_') -%}
    {{ sql }}
  {%- endcall %}
  {{ return(sql) }}
{% endmacro %}

{% macro spark__load_csv_rows(model, agate_table) %}
  {% set batch_size = get_batch_size() %}
  {% set column_override = model['config'].get('column_types', {}) %}
  {% set statements = [] %}
  {% for chunk in agate_table.rows | batch(batch_size) %}
      {% set sql %}
          insert into {{ this.render() }} values
          {% for row in chunk -%}
              ({%- for col_name in agate_table.column_names -%}
                  {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                  {%- set type = spark_type(column_override.get(col_name, inferred_type)) -%}
                    cast({{ spark_seed_literal(row[loop.index0]) }} as {{ type }})
                  {%- if not loop.last %},{% endif %}
              {%- endfor -%})
              {%- if not loop.last %},{% endif %}
          {%- endfor %}
      {% endset %}
      {% do adapter.add_query(sql, abridge_sql_log=True) %}
      {% if loop.index0 == 0 %}
          {% do statements.append(sql) %}
      {% endif %}
  {% endfor %}
  {{ return(statements[0]) }}
{% endmacro %}

{#- Models rewritten by day. On DuckDB and Postgres they delete the days they rewrite
    (delete+insert on unique_key as_of_date, or a delete pre-hook); Spark's Parquet tables
    have no DELETE, so there the models are partitioned by their day column and replace
    whole day partitions: `insert_overwrite` (dynamic partition overwrite) instead of
    delete+insert, and dropped partitions instead of a delete pre-hook.
    In a model's config:
        incremental_strategy=replace_days_strategy(), partition_by=day_partition('as_of_date') -#}
{% macro replace_days_strategy() -%}
    {{ return(adapter.dispatch('replace_days_strategy')()) }}
{%- endmacro %}

{% macro default__replace_days_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__replace_days_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}

{#- The partition column of a model rewritten by day: none except on Spark. -#}
{% macro day_partition(day_column) -%}
    {{ return(adapter.dispatch('day_partition')(day_column)) }}
{%- endmacro %}

{% macro default__day_partition(day_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__day_partition(day_column) -%}
    {{ return(day_column) }}
{%- endmacro %}

{#- Spark: drop the partitions of `this` (partitioned by `day_column`) for the days that
    `days_sql` (a query of one date column) returns; nothing when it returns none. -#}
{% macro drop_day_partitions(day_column, days_sql) -%}
    {%- if execute -%}
        {%- set days = run_query(days_sql).columns[0].values() | reject('none') | list -%}
        {%- if days -%}
            alter table {{ this }} drop if exists
            {%- for day in days %}
                partition ({{ day_column }} = '{{ day }}'){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- A numeric literal (or expression) that must be a double on every engine. DuckDB and
    Postgres keep `expr` as written; on Spark a literal like 1.0 is a DECIMAL, and decimal
    arithmetic keeps a few digits only (avg(1.0/0.0 flags) is decimal(6,5): 0.14286, a
    count * 1.0 / count is cut to 6 decimals), so there it is cast to double. -#}
{% macro as_double(expr) -%}
    {{ return(adapter.dispatch('as_double')(expr)) }}
{%- endmacro %}

{% macro default__as_double(expr) -%}
    {{ return(expr) }}
{%- endmacro %}

{% macro spark__as_double(expr) -%}
    {{ return('cast(' ~ expr ~ ' as double)') }}
{%- endmacro %}

{#- Whole minutes from `start` to `end` (timestamps): the minute boundaries crossed, as
    DuckDB's and Postgres' dbt.datediff(.., 'minute') count them. dbt-spark's datediff
    rounds the seconds up instead (ceil), a minute more for most pairs; on Spark this
    counts boundaries too, as a double. -#}
{% macro minutes_between(start, end) -%}
    {{ return(adapter.dispatch('minutes_between')(start, end)) }}
{%- endmacro %}

{% macro default__minutes_between(start, end) -%}
    {{ return(dbt.datediff(start, end, 'minute')) }}
{%- endmacro %}

{% macro spark__minutes_between(start, end) -%}
    {{ return('cast(floor(unix_timestamp(' ~ end ~ ') / 60) - floor(unix_timestamp(' ~ start ~ ') / 60) as double)') }}
{%- endmacro %}

{#- Whether a table model may read its own previous build (dim_accounts does, to read
    only the run's days). The table materializations of DuckDB and Postgres build a new
    table and swap it in, so the old one is there while the query runs; dbt-spark's drops
    a Parquet table before `create table as`, so on Spark the model reads all history
    instead. -#}
{% macro table_reads_own_previous() -%}
    {{ return(adapter.dispatch('table_reads_own_previous')()) }}
{%- endmacro %}

{% macro default__table_reads_own_previous() -%}
    {{ return(true) }}
{%- endmacro %}

{% macro spark__table_reads_own_previous() -%}
    {{ return(false) }}
{%- endmacro %}
