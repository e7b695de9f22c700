"""Dagster definitions, one module per integration; `orchestration.definitions` assembles them."""
