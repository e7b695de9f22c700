"""The scoring configuration (seeds/) as a Dagster asset, validated before a run writes anything."""
