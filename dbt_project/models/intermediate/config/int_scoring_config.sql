{#- The scoring configuration's version, written on every fact row as config_version.
    It has one definition: customer_health/scoring_config.py (`config_version`) computes
    it from the validated seed files (an md5 over every rule, in a stable text, manual
    overrides left out: they are flagged on the rows they change), and every run passes
    it to dbt as HEALTH_CONFIG_VERSION with the seeds it loads (the dbt asset;
    `python -m customer_health.scoring_config --version` prints it for a dbt run by hand). -#}
{%- set version = env_var('HEALTH_CONFIG_VERSION', '') -%}
{%- if execute and not version -%}
    {{ exceptions.raise_compiler_error(
        "HEALTH_CONFIG_VERSION is not set: a run sets it; for dbt by hand, set it to the output"
        ~ " of `python -m customer_health.scoring_config --version` (for the seeds you load)") }}
{%- endif %}

select cast('{{ version }}' as {{ dbt.type_string() }}) as config_version
