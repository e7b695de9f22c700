{#- Generic test: every non-null value of the column lies within [min_value, max_value]. -#}
{% test value_between(model, column_name, min_value, max_value) %}
select *
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{#- Generic test: the combination of columns is unique. -#}
{% test unique_combination(model, combination) %}
select {{ combination | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}

{#- The model has exactly one row. -#}
{% test assert_one_row(model) %}
select count(*) as n_rows
from {{ model }}
having count(*) <> 1
{% endtest %}
