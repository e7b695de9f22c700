"""Command line for the sample-data generator.

    python -m customer_health.sample_data --out data/landing --accounts 500 --days 180

Writes the landing contract for all six entities into `--out`. Refuses a non-empty
folder unless `--force` is given; `--force` deletes only the six entity folders.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from customer_health.contract import ENTITY_NAMES
from customer_health.sample_data.generator import GenerationSummary, generate


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be between 0 and 0.5, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    parser = argparse.ArgumentParser(
        prog="python -m customer_health.sample_data",
        description="Write synthetic landing files (landing contract v1) for all six entities.",
    )
    parser.add_argument("--out", type=Path, required=True, help="landing folder to write into")
    parser.add_argument("--accounts", type=_positive_int, default=500, help="default: 500")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--start", type=_date, help="first day, YYYY-MM-DD")
    when.add_argument(
        "--days", type=_positive_int, default=180, help="days up to --end (default: 180)"
    )
    parser.add_argument(
        "--end", type=_date, default=yesterday, help="last day, YYYY-MM-DD (default: yesterday UTC)"
    )
    parser.add_argument("--seed", type=int, default=42, help="default: 42")
    parser.add_argument(
        "--bad-rate", type=_rate, default=0.0, help="fraction of bad fact rows (default: 0)"
    )
    parser.add_argument("--truth", type=Path, help="also write the hidden ground truth (Parquet)")
    parser.add_argument(
        "--force", action="store_true", help="delete the six entity folders in --out first"
    )
    return parser


def _prepare_out_dir(parser: argparse.ArgumentParser, out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        parser.error(f"--out {out} is not empty; pass --force to replace its entity folders")
    for entity in ENTITY_NAMES:
        shutil.rmtree(out / entity, ignore_errors=True)


def _report(summary: GenerationSummary, out: Path, seconds: float) -> str:
    lines = [
        f"{entity:<18} {summary.rows[entity]:>12,} rows  {summary.files[entity]:>5} files"
        for entity in ENTITY_NAMES
    ]
    bad = ", ".join(f"{name}={count:,}" for name, count in summary.bad_rows.items() if count)
    lines.append(f"bad rows: {bad or 'none'}")
    lines.append(f"{summary.start} .. {summary.end} written to {out} in {seconds:.1f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    start = args.start if args.start is not None else args.end - timedelta(days=args.days - 1)
    if start > args.end:
        parser.error(f"--start {start} is after --end {args.end}")
    _prepare_out_dir(parser, args.out, args.force)
    began = time.perf_counter()
    try:
        summary = generate(
            args.out,
            accounts=args.accounts,
            start=start,
            end=args.end,
            seed=args.seed,
            bad_rate=args.bad_rate,
            truth_path=args.truth,
        )
    except (ValueError, FileExistsError) as exc:
        parser.error(str(exc))
    print(_report(summary, args.out, time.perf_counter() - began))
    return 0


if __name__ == "__main__":
    sys.exit(main())
