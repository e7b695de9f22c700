{#-
    Daily models that rebuild only the days whose raw rows changed.

    The loader records, in the same transaction as every write, the event days of the
    rows it added or replaced and of every version of their keys (raw._changed_days,
    one change_seq per write: customer_health/loader.py). A model built with
    these macros is incremental (strategy `append`) and keeps the last change_seq it
    applied in `<model>__watermark`, beside it:

    - first build, or --full-refresh: every day; the watermark is saved after;
    - incremental build: the pre-hook deletes the days changed since the watermark
      (days whose rows all went are deleted too) and the model inserts those days again;
    - a model that exists without its watermark (built before it had one) is emptied
      by the pre-hook and rebuilt whole.

    Usage, in the model's config:
        pre_hook="{{ delete_changed_days('activity_date', 'usage_events') }}",
        post_hook=["{{ drop_watermark() }}", "{{ save_watermark('usage_events') }}"],
    and in its query, on the staging rows:
        {% if rebuilds_changed_days() %} where occurred_date in ({{ changed_days('usage_events') }}) {% endif %}
-#}

{% macro changed_days_relation() -%}
    {{ return(api.Relation.create(
        database=target_database(), schema='raw', identifier='_changed_days')) }}
{%- endmacro %}

{% macro watermark_relation() -%}
    {{ return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '__watermark')) }}
{%- endmacro %}

{#- True when this build rebuilds only the changed days (the model and its watermark exist). -#}
{% macro rebuilds_changed_days() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set watermark = watermark_relation() -%}
    {{ return(adapter.get_relation(
        database=watermark.database, schema=watermark.schema,
        identifier=watermark.identifier) is not none) }}
{%- endmacro %}

{#- The days of `entity` changed since the model's watermark. -#}
{% macro changed_days(entity) -%}
    select distinct day from {{ changed_days_relation() }}
    where entity = '{{ entity }}'
        and change_seq > (select change_seq from {{ watermark_relation() }})
{%- endmacro %}

{% macro delete_changed_days(day_column, entity) -%}
    {{ return(adapter.dispatch('delete_changed_days')(day_column, entity)) }}
{%- endmacro %}

{% macro default__delete_changed_days(day_column, entity) -%}
    {%- if rebuilds_changed_days() -%}
        delete from {{ this }} where {{ day_column }} in ({{ changed_days(entity) }})
    {%- elif execute and is_incremental() -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Spark (Parquet tables have no DELETE): the model is partitioned by its day column
    (day_partition()), and the changed days' partitions are dropped instead; an existing
    model without a watermark is truncated. -#}
{% macro spark__delete_changed_days(day_column, entity) -%}
    {%- if rebuilds_changed_days() -%}
        {{ drop_day_partitions(day_column, changed_days(entity)) }}
    {%- elif execute and is_incremental() -%}
        truncate table {{ this }}
    {%- endif -%}
{%- endmacro %}

{#- Post-hooks: the watermark becomes the last change_seq of `entity` (0 when none). -#}
{% macro drop_watermark() -%}
    drop table if exists {{ watermark_relation() }}
{%- endmacro %}

{% macro save_watermark(entity) -%}
    create table {{ watermark_relation() }} as
    select coalesce(max(change_seq), 0) as change_seq
    from {{ changed_days_relation() }}
    where entity = '{{ entity }}'
{%- endmacro %}
