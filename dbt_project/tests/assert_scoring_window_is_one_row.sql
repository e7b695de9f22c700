-- Rule: the scoring window is exactly one row with data_start <= score_from <= score_to <= as_of.
select count(*) as n_rows
from {{ ref('int_scoring_window') }}
having count(*) <> 1
    or max(case when data_start_date <= score_from_date
                and score_from_date <= score_to_date
                and score_to_date <= as_of_date then 0 else 1 end) = 1
