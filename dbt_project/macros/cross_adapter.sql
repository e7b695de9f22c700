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
