"""The days of a long build, cut into parts a bounded memory holds."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from customer_health.build_chunks import (
    DEFAULT_CHUNK_ACCOUNT_DAYS,
    BuildChunkSettingError,
    build_chunks,
    chunk_account_days,
)

FIRST = date(2025, 7, 1)


def test_chunks_cover_the_days_in_order_without_gaps_or_overlaps() -> None:
    last = FIRST + timedelta(days=364)
    chunks = build_chunks(FIRST, last, accounts=100_000, account_days=2_000_000)
    assert [(s - FIRST).days for s, _ in chunks[:3]] == [0, 20, 40]  # 20 days each
    assert chunks[0][0] == FIRST and chunks[-1][1] == last
    assert all(b[0] == a[1] + timedelta(days=1) for a, b in pairwise(chunks))
    assert all((end - start).days + 1 <= 20 for start, end in chunks)
    assert len(chunks) == 19  # 18 x 20 days + 5


def test_small_warehouses_and_single_days_are_one_chunk() -> None:
    last = FIRST + timedelta(days=364)
    assert build_chunks(FIRST, last, accounts=5_000, account_days=2_000_000) == [(FIRST, last)]
    assert build_chunks(FIRST, FIRST, accounts=10**7, account_days=1) == [(FIRST, FIRST)]
    assert build_chunks(FIRST, last, accounts=0, account_days=10) == build_chunks(
        FIRST, last, accounts=1, account_days=10
    )


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS", raising=False)
    assert chunk_account_days() == DEFAULT_CHUNK_ACCOUNT_DAYS
    monkeypatch.setenv("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS", "500000")
    assert chunk_account_days() == 500_000
    for bad in ("0", "-3", "lots", "1e6"):
        monkeypatch.setenv("HEALTH_BUILD_CHUNK_ACCOUNT_DAYS", bad)
        with pytest.raises(BuildChunkSettingError, match="HEALTH_BUILD_CHUNK_ACCOUNT_DAYS"):
            chunk_account_days()
