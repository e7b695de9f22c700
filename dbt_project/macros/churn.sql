{#- The churn rule, written once: an account is churned on `day` when its churn day
    (`churned_date`, the UTC date of churned_at) is on or before it, and live before it.
    int_account_days keeps live days only, so every score, band count, mover and sync
    after it sees live accounts; dim_accounts says which accounts have churned. -#}
{% macro is_churned_on(churned_date, day) -%}
    coalesce({{ churned_date }} <= {{ day }}, false)
{%- endmacro %}
