{#- The effective scoring configuration's version: an md5 over every row of every
    scoring seed, in a stable order. Any change to weights, thresholds, bands or
    state points gives a new config_version. -#}
with config_rows as (
    select 'weights|' || scorecard || '|' || component || '|'
        || cast(weight as {{ dbt.type_string() }}) as config_row
    from {{ ref('scoring_weights') }}
    union all
    select 'measures|' || component || '|' || measure || '|'
        || cast(lower_bound as {{ dbt.type_string() }}) || '|'
        || cast(upper_bound as {{ dbt.type_string() }}) || '|'
        || cast(weight as {{ dbt.type_string() }})
    from {{ ref('scoring_measures') }}
    union all
    select 'bands|' || band || '|' || cast(min_score as {{ dbt.type_string() }})
    from {{ ref('scoring_bands') }}
    union all
    select 'states|' || subscription_state || '|' || cast(points as {{ dbt.type_string() }})
    from {{ ref('scoring_status_points') }}
),

final as (
    select md5({{ dbt.listagg('config_row', "'\n'", 'order by config_row') }}) as config_version
    from config_rows
)

select * from final
