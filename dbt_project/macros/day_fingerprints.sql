{#-
    Day fingerprints, recorded as the marts are written: so that publishing one day costs
    one day, not a hash of all history (customer_health/fingerprints.py reads them).

    `publication.day_fingerprints` holds, per mart rewritten by day (incremental, unique
    key as_of_date: the models whose tests test_scope.sql scopes to the run's days) and
    per as_of_date, the day's row count and the sum of its rows' hashes. Each such mart
    updates its own rows in a post-hook (dbt_project.yml), in the same transaction as
    its rows: the days of int_scoring_window and the day after it (bi_band_migrations
    writes that one too), every day the table holds without a fingerprint (a first build,
    a full refresh), and none of the days it no longer holds. Other models record nothing.
-#}
{% macro day_fingerprints_relation() -%}
    {{- return(api.Relation.create(database=target_database(),
        schema=generate_schema_name('publication', none), identifier='day_fingerprints')) -}}
{%- endmacro %}

{#- on-run-start (dbt_project.yml): the table, before models that write it run in
    parallel (two threads creating it at once conflict). -#}
{% macro create_day_fingerprints_table() -%}
    {{ return(adapter.dispatch('create_day_fingerprints_table')()) }}
{%- endmacro %}

{% macro default__create_day_fingerprints_table() -%}
    {%- set fingerprints = day_fingerprints_relation() -%}
    create schema if not exists {{ adapter.quote(fingerprints.schema) }};
    create table if not exists {{ fingerprints }} (
        table_name varchar(128) not null,
        as_of_date date not null,
        row_count bigint not null,
        row_hash_sum varchar(64) not null
    )
{%- endmacro %}

{#- Spark: one statement per hook (the schema is made here), a Parquet table partitioned
    by table name, so that a mart replaces its fingerprints by overwriting its partition
    (no delete on Parquet tables). -#}
{% macro spark__create_day_fingerprints_table() -%}
    {%- set fingerprints = day_fingerprints_relation() -%}
    {%- if execute -%}
        {%- do run_query('create schema if not exists ' ~ fingerprints.schema) -%}
    {%- endif -%}
    create table if not exists {{ fingerprints }} (
        as_of_date date,
        row_count bigint,
        row_hash_sum string,
        table_name string
    ) using parquet partitioned by (table_name)
{%- endmacro %}

{% macro record_day_fingerprints() -%}
    {{ return(adapter.dispatch('record_day_fingerprints')()) }}
{%- endmacro %}

{% macro default__record_day_fingerprints() -%}
    {%- if config.get('materialized') == 'incremental'
        and config.get('unique_key') == 'as_of_date' -%}
        {%- set fingerprints = day_fingerprints_relation() -%}
        {%- set window = ref('int_scoring_window') -%}
        {%- set written -%}
            as_of_date between (select score_from_date from {{ window }})
                and (select {{ add_days('score_to_date', 1) }} from {{ window }})
        {%- endset -%}
        delete from {{ fingerprints }}
        where table_name = '{{ this.identifier }}'
            and ({{ written }}
                {#- distinct: a `not in` over every row of a long mart took 1.3 s a table
                    (22 M rows), over its distinct days 0.08 s -#}
                or as_of_date not in (select distinct as_of_date from {{ this }}));
        insert into {{ fingerprints }}
        select '{{ this.identifier }}', as_of_date, count(*), {{ row_hash_sum('t') }}
        from {{ this }} as t
        where {{ written }}
            or as_of_date not in (
                select as_of_date from {{ fingerprints }}
                where table_name = '{{ this.identifier }}'
            )
        group by as_of_date
    {%- endif -%}
{%- endmacro %}

{#- Spark (Parquet: no delete): the mart's partition of the fingerprints is overwritten
    with every day the mart holds. Same result as the default, but it reads the mart's
    whole history, not just the run's days. -#}
{% macro spark__record_day_fingerprints() -%}
    {%- if config.get('materialized') == 'incremental'
        and config.get('unique_key') == 'as_of_date' -%}
        insert overwrite table {{ day_fingerprints_relation() }}
        partition (table_name = '{{ this.identifier }}')
        select as_of_date, count(*), {{ row_hash_sum('t') }}
        from {{ this }} as t
        group by as_of_date
    {%- endif -%}
{%- endmacro %}

{#- The sum of the hashes of a relation's rows (`alias`: the relation's alias), as text:
    DuckDB's `hash` of the whole row, which customer_health/fingerprints.py computes where
    nothing was recorded, so that recorded and computed fingerprints compare. -#}
{% macro row_hash_sum(alias) -%}
    {{ return(adapter.dispatch('row_hash_sum')(alias)) }}
{%- endmacro %}

{% macro default__row_hash_sum(alias) -%}
    cast(sum(hash({{ alias }})) as varchar)
{%- endmacro %}

{#- Spark: xxhash64 of the row (no DuckDB hash: Spark's fingerprints compare with Spark's
    only), summed as a decimal so that it cannot overflow. -#}
{% macro spark__row_hash_sum(alias) -%}
    cast(sum(cast(xxhash64({{ alias }}.*) as decimal(38, 0))) as string)
{%- endmacro %}

{% macro postgres__row_hash_sum(alias) -%}
    cast(sum(hashtextextended(cast({{ alias }} as text), 0)) as varchar)
{%- endmacro %}
