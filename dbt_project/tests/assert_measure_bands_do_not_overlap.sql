-- Rule: a measure's bands (seeds/scoring_measure_bands.csv, lower bound inclusive, upper
-- exclusive, empty = open) do not overlap, so a value falls in at most one band and each
-- scored measure has one row in int_measure_points. The configuration check refuses
-- overlaps before a run (customer_health/scoring_config.py); this holds for a build by
-- hand too, and is why int_measure_values and int_measure_points, the longest tables of
-- a run, carry no uniqueness test of their own (one row per account-day in each signals
-- model, one source per catalog measure, this rule: their keys cannot repeat).
with bands as (
    select
        measure,
        lower_bound,
        upper_bound,
        row_number() over (partition by measure order by lower_bound, upper_bound, points)
            as band_number
    from {{ ref('scoring_measure_bands') }}
)

select
    earlier.measure,
    earlier.lower_bound,
    earlier.upper_bound,
    later.lower_bound as overlapping_lower_bound,
    later.upper_bound as overlapping_upper_bound
from bands as earlier
inner join bands as later
    on later.measure = earlier.measure
    and later.band_number > earlier.band_number
where (earlier.lower_bound is null or later.upper_bound is null
        or earlier.lower_bound < later.upper_bound)
    and (later.lower_bound is null or earlier.upper_bound is null
        or later.lower_bound < earlier.upper_bound)
