"""The exit suite's day batches (pure): whole days, bounded rows, every day once."""

from __future__ import annotations

from datetime import date, timedelta

from customer_health.quality.exit_checks import day_batches

FIRST = date(2026, 1, 1)


def _days(counts: list[int]) -> dict[date, int]:
    return {FIRST + timedelta(days=n): c for n, c in enumerate(counts) if c}


def test_batches_hold_whole_days_up_to_the_bound() -> None:
    live = _days([4, 4, 4, 4, 4])
    assert day_batches(live, FIRST, FIRST + timedelta(days=4), 8) == [
        (FIRST, FIRST + timedelta(days=1), 8),
        (FIRST + timedelta(days=2), FIRST + timedelta(days=3), 8),
        (FIRST + timedelta(days=4), FIRST + timedelta(days=4), 4),
    ]


def test_a_day_larger_than_the_bound_is_a_batch_of_its_own() -> None:
    live = _days([2, 10, 2])
    assert day_batches(live, FIRST, FIRST + timedelta(days=2), 5) == [
        (FIRST, FIRST, 2),
        (FIRST + timedelta(days=1), FIRST + timedelta(days=1), 10),
        (FIRST + timedelta(days=2), FIRST + timedelta(days=2), 2),
    ]


def test_days_without_live_accounts_are_still_covered() -> None:
    """A day the spine has no account for is inside a batch (expecting 0 rows there), so
    fact rows written on it cannot escape the row count."""
    live = _days([0, 0, 3, 0])
    batches = day_batches(live, FIRST, FIRST + timedelta(days=3), 100)
    assert batches == [(FIRST, FIRST + timedelta(days=3), 3)]
    empty = day_batches({}, FIRST, FIRST + timedelta(days=1), 100)
    assert empty == [(FIRST, FIRST + timedelta(days=1), 0)]


def test_one_batch_when_everything_fits() -> None:
    live = _days([3] * 30)
    assert day_batches(live, FIRST, FIRST + timedelta(days=29), 500_000) == [
        (FIRST, FIRST + timedelta(days=29), 90)
    ]
