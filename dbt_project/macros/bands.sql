{#- The band rule, written once: every model that gives a score its band joins the
    bands with `in_band` and labels a score with no band `no_data_band()`. A band holds
    the scores from its min_score up to, not including, its max_score; the band that ends
    at 100 holds 100 too. dim_health_bands publishes the bands, which is worst and best,
    and the no-data band, for everything that reads them (the exit checks, the report). -#}

{% macro no_data_band() -%}
    '{{ var("health_no_data_band") }}'
{%- endmacro %}


{% macro in_band(score, bands='bands') -%}
    ({{ score }} >= {{ bands }}.min_score
        and ({{ score }} < {{ bands }}.max_score
            or ({{ bands }}.max_score >= 100 and {{ score }} <= {{ bands }}.max_score)))
{%- endmacro %}


{% macro band_of(bands='bands') -%}
    coalesce({{ bands }}.band, {{ no_data_band() }})
{%- endmacro %}
