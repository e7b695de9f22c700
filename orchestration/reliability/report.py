"""The matrix's table for the console, and docs/reliability.md."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from orchestration.reliability.evidence import BOOKKEEPING_TABLES, RAW_VOLATILE, VOLATILE_COLUMNS

if TYPE_CHECKING:
    from orchestration.reliability.scenarios import HostileResult, Row

COLUMNS = ("scenario", "outcome", "rows lost", "serving file", "re-run identical")


def _cells(row: Row) -> list[str]:
    mark = "" if row.ok else "FAILED: "
    return [row.scenario, mark + row.outcome, row.rows_lost, row.serving, row.rerun]


def render_table(rows: Sequence[Row]) -> str:
    """One plain-text table: what the console shows at the end."""
    cells = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [min(60, max(len(c[i]) for c in cells)) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        return " | ".join(
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(values, widths, strict=True)
        ).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    rows: Sequence[Row],
    hostile: HostileResult | None,
    machine: dict[str, str],
    when: datetime,
    seconds: float,
    groups: list[str],
) -> str:
    out = [HEADER]
    out.append("## The latest run\n")
    out.append(
        f"- **started**: {when:%Y-%m-%d %H:%M} UTC; **took** {seconds / 60:.1f} minutes"
        f" (scenario groups: {', '.join(groups)})\n"
        f"- **machine**: `{machine['host']}`, {machine['system']}; load {machine['load']}\n"
        f"- **git commit**: `{machine['commit']}` ({machine['tree']})\n"
    )
    passed = sum(r.ok for r in rows)
    crashes = [r for r in rows if r.scenario.startswith("crash:")]
    hit = sum(1 for r in crashes if r.details and not r.details[0].startswith("kill: MISSED"))
    out.append(
        f"**{passed} of {len(rows)} rows as required.**"
        + (f" Crash points hit: {hit} of {len(crashes)} (once each)." if crashes else "")
        + "\n"
    )
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        out.append("| " + " | ".join(_md(c) for c in _cells(row)) + " |")
    findings = [f for r in rows for f in r.findings]
    if findings:
        out.append("\n## Findings outside the requirements\n")
        out.append(
            "Nothing here fails a row (the serving file, the rows and the re-runs are as"
            " required), but each needs a person or a fix:\n"
        )
        out += [f"- {_md(f)}" for f in findings]
    out.append("\n## Evidence per scenario\n")
    for row in rows:
        verdict = "as required" if row.ok else "**FAILED**"
        out.append(f"### {row.scenario}\n")
        out.append(f"{verdict}; {row.seconds:.0f} s. {row.outcome}.\n")
        out += [f"- {_md(d)}" for d in row.details]
        out.append("")
    if hostile is not None:
        out.append("## Hostile input, case by case\n")
        out.append(
            "Located by file and row in the raw table, the quarantine or the load audit after"
            " both runs, then followed into the serving file, the report, the outbox, the"
            " webhook and Postgres.\n"
        )
        out.append("| case | outcome | as required | detail |")
        out.append("|---|---|---|---|")
        for v in hostile.verdicts:
            out.append(
                f"| {_md(v.case)} | {_md(v.outcome)} | {'yes' if v.ok else '**NO**'} |"
                f" {_md(v.detail[:500])} |"
            )
        out.append("")
    return "\n".join(out) + "\n"


HEADER = f"""# The reliability matrix

`make reliability` (`python -m orchestration.reliability`) runs the pipeline the way cron
and people run it, `python -m orchestration.cli run` in real processes on real DuckDB
files, and breaks it on purpose: it kills runs at every stage, feeds hostile files,
hides secrets in every secret setting, publishes onto a full disk and points outputs at
destinations that refuse. Each scenario starts from a fresh copy; the table below is
rewritten by each run of the matrix (19 pipeline runs). The CI subset,
`tests/reliability/test_reliability.py` (marked `slow`), runs the hostile-input and
secrets scenarios through the same code; a crash and recovery during dbt runs in CI in
`tests/e2e/test_cli_runs.py`.

## How it works

**Data.** Sample data from `customer_health.sample_data.generator.generate` (16 accounts x
28 days). The *baseline* run scores every day but the last and publishes the *old*
serving file; its data folder (warehouse, Dagster storage, serving file, exports,
outbox) is copied fresh for every scenario. The scenarios' runs add the last day, plus a
re-sent copy of one of its usage events repeated 100,000 times (duplicates: no score
changes, but the file takes seconds to load, so a kill can land in it). The *reference*
is one uninterrupted run from the baseline. The sync destinations are the ones in
`sync.yml`, with the webhook's batch size set to 3 and its URL a local HTTP server
(`orchestration/reliability/servers.py`) that keeps every request.

**Crash anywhere.** Each run is started with `start_new_session=True`; the kill is
`os.killpg(pid, SIGKILL)`: the CLI and every child (dbt) at once, nothing gets to clean
up. The console shows Dagster's INFO events, and a step's start (`STEP_START`) is a
DEBUG event, so the stage is read from the run's own record: its event log
(`$DAGSTER_HOME/history/runs/<run_id>.db`, polled read-only while it is written), then,
for the stages too short to hit by the step start alone, from what the step does:

- *a landing file loading*: `raw__usage_events` has started and the CLI process has the
  re-sent file open (`/proc/<pid>/fd`); killed 0.3 s later;
- *a dbt model*: `health_dbt_models` has started and dbt has written the main statement
  of the incremental model `fct_customer_health_daily`
  (`target/<invocation>/run/.../fct_customer_health_daily.sql`, written just before the
  statement runs);
- *the exit checks*: `fact_exit_checks` started 0.3 s before and has not finished;
- *the publish copy*: `serving__health_duckdb` has started and its staging file
  `serving/.health.duckdb.<run_id>.tmp` exists (the copy is being written);
- *the Parquet export*: `serving__parquet_exports` has started and its staging folder
  `.exports.<run_id>.tmp` holds files;
- *between two sync batches*: the webhook server has answered batch 1 and receives
  batch 2; it kills the run before answering.

Then the next `cli run` starts, with no manual step, and is compared with the reference:

- **serving file**: after the kill it must be the *old* file (sha256 of the file from
  before) or the *new* one (the sha256 a run recorded when it published it, complete:
  the killed run's own publication when the kill came after it), never a third, and it
  must open read-only in DuckDB and answer a query on the fact table; after the next run,
  the file that run published;
- **published tables**: every table of the serving file, as a multiset of row hashes,
  equal to the reference's; left out are only the columns that carry the run that wrote
  them: {", ".join(f"`{t}.{c}`" for t, cs in VOLATILE_COLUMNS.items() for c in sorted(cs))},
  and `quality_check_results` is compared on the publishing run's own rows (the table
  keeps every run's checks, the killed run's too), with dbt's per-run target folder
  masked in the evidence. `scored_at` is the last day scored, not a run time: compared;
- **raw layer**: every table of the `raw` schema (loaded rows, quarantine, the load
  audit), without {", ".join(f"`{c}`" for c in sorted(RAW_VOLATILE))}
  ({", ".join(f"`{t}`" for t in sorted(BOOKKEEPING_TABLES))}, the loader's bookkeeping of
  which run validated which load, is left out): no row loaded twice, no file audited twice;
- **Parquet exports**: every exported table's rows;
- **sync destinations**: the webhook server's state (batches applied in order, a batch
  whose `Idempotency-Key` was already received dropped, as the protocol in
  `customer_health/sync/webhook.py` lets a receiver do) and the outbox files applied in
  order: every account once, equal to the reference's; duplicate deliveries are counted;
- **rows lost**: reference rows missing from the recovered run, summed over the
  published tables, the raw layer, the exports and the destinations.

**What the webhook's idempotency key covers** (`customer_health/sync/webhook.py`).
The sender does not dedupe; it lets the receiver. Each batch carries an
`Idempotency-Key`: a hash of the destination and of each record's op, key and row hash
(the mapped fields without `ignore_for_change`, so without `scoredAt`). The state
advances per accepted batch, so after a kill the accepted batches are a prefix and the
next run forms the same batches again from the first one not acknowledged: a batch the
receiver got but never answered comes again under the same key, and a receiver that
drops repeated keys applies it once (the matrix sees exactly that). The key changes when
a batch's records do (the data changed before the re-run, a record was rejected): the
receiver then gets those records again under a new key, harmless for upserts keyed on
`external_id`, but applied twice by a receiver that dedupes only by key. And a re-sent
batch that differs only in `scoredAt` has the old key, so it is dropped by key and the
destination keeps the older `scoredAt` (a `scoredAt`-only change is never sent anyway).

**Hostile input.** `orchestration/reliability/hostile.py` writes every case into one
landing folder beside generated data: SQL, Jinja, shell and HTML strings in every text
and id column of every entity (their own accounts, so they reach the marts and the
syncs), 1 MiB fields, NUL bytes, a byte-order mark, CRLF, latin-1, NaN, ±Infinity,
1e308, -1e308, 1e309 and -0 in every number column (CSV text, JSON, Parquet doubles),
JSON nested 10,000 deep, JSONL lines that are not objects, file names with glob
characters, spaces, unicode, a leading `-`, shell and Jinja, and symbolic links out of
the folder. Run A goes over all of it; run B runs again after removing the files run A
refused, as an operator would, and publishes. Each case must be **stored verbatim**,
**quarantined** with a reason or **refused** with a message; a shell string must not
create its marker file, no step may fail with an exception instead of a refusal.

**Secrets.** Every secret setting (the names in `.env.example` and the code that say
password, token, URL or DSN, and each `sync.yml` destination's `url_env`, `token_env`,
`dsn_env`) gets a sentinel value holding a random token; the webhook and alert URLs point
at the local server (the token in their path), the DSN and the Postgres password at the
local Postgres (trust authentication takes any password), so each is used. Every file
under the data folder and dbt's `target/` and `logs/` (bytes, and the decoded text of
every DuckDB, SQLite, Parquet and gzip file) and the consoles are searched for each
value, its URL-encoded form and its token.

**Full disk.** `$HEALTH_DATA_DIR/serving` is a tmpfs (`mount -t tmpfs -o size=…`) holding
the old serving file with 1 MiB to spare: the new file cannot be written beside it. The
run must fail naming the path, exit 1, and leave the serving file as it was; then the
tmpfs is made larger and the next run must publish what the reference did. (Where mount
is not permitted, the row says so and nothing is faked.)

**Failing outputs.** The webhook answers 401, the Postgres copy
(`HEALTH_PUBLISH_POSTGRES=true`) points at a closed port, and the exports folder is a
read-only tmpfs: each fails alone, the serving file, the report and the outbox go
through, and the run exits 3 ("published, but an output failed") with one line per
output. Its data folder and console are searched for the secrets too (error texts).

Every process a scenario starts is killed and every tmpfs unmounted in a `finally`;
the Postgres schemas the scenarios write are dropped.

"""
