{#- The model has exactly one row. -#}
{% test assert_one_row(model) %}
select count(*) as n_rows
from {{ model }}
having count(*) <> 1
{% endtest %}
