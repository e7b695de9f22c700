{#- The effective scoring configuration's version: an md5 over every row of every
    scoring seed (scorecards, weights, measures, measure bands, score bands, state
    points, settings), in a stable order, the same on every adapter. Any change to them gives a new config_version.
    Manual overrides are not part of it: they are flagged on the rows they change. -#}
{%- set config_seeds = {
    'scoring_scorecards': ['scorecard', 'min_coverage'],
    'scoring_weights': ['scorecard', 'component', 'weight'],
    'scoring_measures': ['scorecard', 'component', 'measure', 'method', 'lower_bound',
                         'upper_bound', 'higher_is_better', 'weight'],
    'scoring_measure_bands': ['measure', 'lower_bound', 'upper_bound', 'points'],
    'scoring_bands': ['band', 'min_score', 'max_score', 'band_order'],
    'scoring_status_points': ['subscription_state', 'points'],
    'scoring_settings': ['setting', 'value'],
} %}
{#- numbers are written with six decimals, so that every adapter hashes the same text -#}
{%- set numeric_columns = ['min_coverage', 'weight', 'lower_bound', 'upper_bound', 'min_score',
                           'max_score', 'points', 'band_order'] %}

with config_rows as (
    {%- for seed, columns in config_seeds.items() %}
    select '{{ seed }}'
        {%- for column in columns %}
        {%- if column in numeric_columns %}
        || '|' || coalesce(cast(cast({{ column }} as numeric(38, 6)) as {{ dbt.type_string() }}), '')
        {%- else %}
        || '|' || coalesce(cast({{ column }} as {{ dbt.type_string() }}), '')
        {%- endif %}
        {%- endfor %} as config_row
    from {{ ref(seed) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select md5({{ dbt.listagg('config_row', "'\n'", 'order by config_row') }}) as config_version
    from config_rows
)

select * from final
