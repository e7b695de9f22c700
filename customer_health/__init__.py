"""Customer health: the domain of the pipeline, with no Dagster in it.

The landing contract and its loader, the scoring configuration, the quality suites and
their results, publishing, the syncs and the sample-data generator. `orchestration`
wraps these in Dagster assets and runs them; nothing here imports Dagster.
"""
