-- Rule: band_order follows the scores: 1 for the band of the highest scores, and so on
-- down (the configuration check refuses anything else before a run). Otherwise "the
-- worst band" of the report and of bi_arr_at_risk could name one band and show another.
select band, band_order, score_rank
from {{ ref('dim_health_bands') }}
where is_scored
    and band_order <> score_rank
