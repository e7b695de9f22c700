{#- seeds/scoring_settings.csv as one row, one typed column per setting
    (the settings and their types are the `health_settings` var in dbt_project.yml). -#}
with settings as (
    select * from {{ ref('scoring_settings') }}
),

final as (
    select
        {%- for name, spec in var('health_settings').items() %}
        {%- set value = "max(case when setting = '" ~ name ~ "' then nullif(trim(value), '') end)" %}
        {%- if spec.type == 'choice' %}
        {{ value }} as {{ name }}
        {%- else %}
        cast({{ value }} as integer) as {{ name }}
        {%- endif %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from settings
)

select * from final
