{#- Layers land in schemas named for the layer (staging, intermediate, marts, config),
    not "<target schema>_<layer>", so BI and syncs find stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
