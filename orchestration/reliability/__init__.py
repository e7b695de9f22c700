"""The reliability matrix (issue 13): real `cli run` processes, on small generated data,
crashed, fed hostile input, given secrets, a full disk and failing destinations, each
on a fresh copy, with the evidence of what happened to every output.

    make reliability        (python -m orchestration.reliability [--only NAME ...])

prints one table (scenario, outcome, rows lost, serving file, re-run identical) and
writes it to docs/reliability.md. `tests/reliability/` runs the hostile-input and secrets
scenarios as a CI subset, through the same code.

- `runs`: starting a `cli run` in its own session, watching it through the run's own
  record (Dagster's event log) and what its steps write, killing its process tree.
- `servers`: a local HTTP endpoint for the sync webhook and the alert webhook, which
  keeps what it received and dedupes batches by their idempotency key.
- `evidence`: checksums of published and raw tables, the serving file, sync destination
  state, and the scan for secret values.
- `hostile`: the hostile landing files and the verdict on each.
- `scenarios`: the scenarios and the matrix; `report`: the table and docs/reliability.md.
"""
