"""Customer-health warehouse pipeline: Dagster code, loaders and the sample-data generator."""
