"""Synthetic landing data for the customer-health pipeline.

`generate` writes the landing contract (`customer_health.contract`,
`docs/landing-contract.md`) for all six entities as daily files, in every
format a customer may bring: CSV, gzipped CSV, JSONL and Parquet.

Behind the data sits a hidden story. Every account follows an archetype
(healthy, declining, recovering, steady-low) with a latent daily health
h(t) in [0, 1]. Health drives usage volume and breadth, payment behaviour,
`past_due` subscriptions, survey answers, support load and, for accounts whose
health stays low, churn. The ground truth can be written to a separate Parquet
file so that a health score can be evaluated against it.

Optionally, a fraction of fact rows is made bad on purpose (duplicates,
orphans, future or unparseable timestamps, bad numbers, out-of-range values,
empty ids) and counted per class, to exercise the loaders' quarantine.

Everything is vectorised with NumPy; Python loops run only per day (one day of
usage events, one file), per segment or per entity. Output is deterministic:
the same arguments give byte-identical files.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from customer_health.contract import ENTITIES, ENTITY_NAMES, SURVEY_RANGES

# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

DAY_S = 86_400
HOUR_S = 3_600
FUTURE_SHIFT_DAYS = 36_500
"""Future-dated bad rows move ~100 years on: in the future even for historical sample data."""
TRIAL_DAYS = 14
TRIAL_SEGMENTS = ("b2b_saas", "b2c_subscription")
SORT_TIME = {"subscriptions": "updated_at"}
"""Rows are sorted within a file by this time column (default: the entity's event time)."""
ORPHAN_POOL = 1_000
HISTORY_DAYS = 3 * 365
"""Accounts created before `start` are spread over this many days before it."""

FILE_EXTENSIONS: dict[str, str] = {
    "accounts": "csv",
    "usage_events": "parquet",
    "subscriptions": "csv",
    "invoices": "csv",
    "survey_responses": "jsonl",
    "support_tickets": "csv.gz",
}

BAD_CLASSES: tuple[str, ...] = (
    "duplicate_key",
    "orphan_account",
    "future_timestamp",
    "unparseable_timestamp",
    "bad_number",
    "out_of_range",
    "empty_id",
)
BAD_CLASSES_BY_ENTITY: dict[str, tuple[str, ...]] = {
    "usage_events": ("duplicate_key", "orphan_account", "future_timestamp"),
    "subscriptions": ("orphan_account", "unparseable_timestamp", "out_of_range"),
    "invoices": ("orphan_account", "future_timestamp", "unparseable_timestamp", "bad_number"),
    "survey_responses": (
        "orphan_account",
        "future_timestamp",
        "unparseable_timestamp",
        "out_of_range",
    ),
    "support_tickets": ("orphan_account", "future_timestamp", "unparseable_timestamp", "empty_id"),
}
UNPARSEABLE_TIMESTAMPS = ("2025-13-45T99:00:00Z", "2024-02-30T25:61:00+00:00", "not a date")
BAD_NUMBERS = ("n/a", "unknown", "#VALUE!")
BLANK_IDS = ("", "   ")

SEGMENTS = ("b2b_saas", "b2b", "b2c_subscription", "b2c_webshop", "government", "charity")
UNKNOWN_SEGMENTS = ("other", "partner")
ARCHETYPES = ("healthy", "declining", "recovering", "steady_low")
ARCHETYPE_WEIGHTS = (0.50, 0.20, 0.15, 0.15)
HEALTHY, DECLINING, RECOVERING, STEADY_LOW = range(4)
NOISE_CHURN = {HEALTHY: 0.03, RECOVERING: 0.04, STEADY_LOW: 0.08}
"""Probability that an account of this archetype churns anyway (not health driven)."""

REGIONS = ("emea", "north_america", "apac", "latam")
REGION_WEIGHTS = (0.40, 0.35, 0.17, 0.08)
CSM_OWNERS = (
    "Alex Morgan", "Priya Shah", "Jonas Weber", "Maria Garcia", "Chen Wei",
    "Sam Okafor", "Lena Fischer", "Tom Becker", "Aisha Khan", "Lucas Martin",
)  # fmt: skip
CURRENCIES = ("USD", "EUR")

EVENT_NAMES = (
    "login", "dashboard_view", "report_run", "search", "export",
    "api_call", "feature_x_used", "invite_sent", "integration_sync", "settings_changed",
)  # fmt: skip
"""Ordered by popularity: low health reaches only the first few."""
API_CALL = EVENT_NAMES.index("api_call")
EXPORT = EVENT_NAMES.index("export")
HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 11, 13, 14, 13, 11, 9, 7, 6, 5, 4, 3, 2], float
)
HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

SUB_STATUSES = ENTITIES["subscriptions"].column("status").values
TRIALING, ACTIVE, PAST_DUE, CANCELED = (
    SUB_STATUSES.index(s) for s in ("trialing", "active", "past_due", "canceled")
)
INVOICE_STATUSES = ENTITIES["invoices"].column("status").values
DRAFT, OPEN, PAID, VOID, UNCOLLECTIBLE = (
    INVOICE_STATUSES.index(s) for s in ("draft", "open", "paid", "void", "uncollectible")
)
SURVEY_TYPES = ENTITIES["survey_responses"].column("survey_type").values
SURVEY_EVERY_DAYS = {"nps": 90, "csat": 45, "ces": 120}
"""A typical account answers a survey of this type about once per this many days."""
PRIORITIES = ENTITIES["support_tickets"].column("priority").values
TICKET_STATUSES = ("open", "pending", "solved", "closed")
COMMENTS = {
    "good": ("Great product", 'Our team says "it just works"', "Support was fast and helpful",
             "Love the new dashboards", "Easy to roll out to new users"),
    "neutral": ("Works fine", "Some features are hard to find", "OK, but reports are slow",
                "Pricing could be clearer"),
    "bad": ("Too slow, we are considering alternatives", "Billing issues again",
            "Missing integrations we need", "Nobody on our team uses it anymore",
            "Support takes days to answer"),
}  # fmt: skip
COMMENT_LIST = tuple(c for band in COMMENTS.values() for c in band)
TIMESTAMP_SUFFIXES = ("Z", "+00:00", "+02:00", "+01:00", "-05:00", "+05:30", "-08:00")
TIMESTAMP_OFFSET_MINUTES = np.array([0, 0, 120, 60, -300, 330, -480])
TIMESTAMP_SUFFIX_P = np.array([0.82, 0.13, 0.015, 0.01, 0.01, 0.005, 0.01])
"""Mostly UTC (`Z` or `+00:00`); a few percent carry another offset (same instant)."""


@dataclass(frozen=True)
class _Segment:
    """How accounts of one segment behave and are billed."""

    weight: float
    plans: tuple[str, ...]
    plan_prices: tuple[float, ...]
    plan_weights: tuple[float, ...]
    users: float  # typical number of users
    usage_rate: float  # usage events per active day at full health, typical size
    weekend_factor: float
    payment_terms_days: int
    ticket_rate: float  # relative support load
    billing: str  # "subscription", "orders" or "donations"
    negotiated: bool  # mrr varies around the list price
    name_parts: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


_COMPANY_A = ("Blue", "Bright", "North", "Swift", "Silver", "Green", "Clear", "Nova", "Iron",
              "Pixel", "Summit", "Atlas", "Cedar", "Maple", "Harbor", "Vertex")  # fmt: skip
_COMPANY_B = (" Harbor", " Peak", " Stack", " Loop", " Signal", " Forge", " Orbit", " Grid",
              " Wave", " Beacon", " Field", " Bridge", " Works", " Point")  # fmt: skip
_FIRST = ("Anna", "Ben", "Clara", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jack",
          "Kira", "Liam", "Mia", "Noah", "Olga", "Paul", "Rosa", "Sven", "Tara")  # fmt: skip
_LAST = (" Smith", " Jansen", " Müller", " Rossi", " Dubois", " Novak", " Silva", " Berg",
         " Kowalski", " O'Brien", " Tanaka", " Nguyen", " Schmidt", " Lopez")  # fmt: skip
_PLACES = ("Springfield", "Riverton", "Lakeside", "Fairview", "Greenville", "Kingsport",
           "Oakdale", "Westbrook", "Millbrook", "Ashford")  # fmt: skip

_COMPANY_SUFFIXES = (" Labs", " Software", " AI", " Cloud", " Analytics")
_BUSINESS_SUFFIXES = (" Ltd", " GmbH", ", Inc.", " BV", " Group", " & Co.")
_CAUSES = (" Food Bank", " Animal Rescue", " Children's Trust", " Arts Foundation", " Hospice",
           " Rivers Trust")  # fmt: skip

SEGMENT_PROFILES: dict[str, _Segment] = {
    "b2b_saas": _Segment(
        weight=0.26,
        plans=("starter", "growth", "enterprise"),
        plan_prices=(149.0, 590.0, 2400.0),
        plan_weights=(0.45, 0.40, 0.15),
        users=25,
        usage_rate=5.5,
        weekend_factor=0.25,
        payment_terms_days=14,
        ticket_rate=1.0,
        billing="subscription",
        negotiated=True,
        name_parts=(_COMPANY_A, _COMPANY_B, _COMPANY_SUFFIXES),
    ),
    "b2b": _Segment(
        weight=0.20,
        plans=("standard", "professional", "enterprise"),
        plan_prices=(290.0, 990.0, 3900.0),
        plan_weights=(0.50, 0.35, 0.15),
        users=12,
        usage_rate=3.8,
        weekend_factor=0.2,
        payment_terms_days=30,
        ticket_rate=0.8,
        billing="subscription",
        negotiated=True,
        name_parts=(_COMPANY_A, _COMPANY_B, _BUSINESS_SUFFIXES),
    ),
    "b2c_subscription": _Segment(
        weight=0.20,
        plans=("basic", "plus", "family"),
        plan_prices=(9.99, 14.99, 24.99),
        plan_weights=(0.55, 0.30, 0.15),
        users=1.5,
        usage_rate=1.5,
        weekend_factor=1.2,
        payment_terms_days=0,
        ticket_rate=0.15,
        billing="subscription",
        negotiated=False,
        name_parts=(_FIRST, _LAST, ("",)),
    ),
    "b2c_webshop": _Segment(
        weight=0.14,
        plans=("pay_as_you_go",),
        plan_prices=(0.0,),
        plan_weights=(1.0,),
        users=1.2,
        usage_rate=1.0,
        weekend_factor=1.3,
        payment_terms_days=0,
        ticket_rate=0.25,
        billing="orders",
        negotiated=False,
        name_parts=(_FIRST, _LAST, ("",)),
    ),
    "government": _Segment(
        weight=0.08,
        plans=("public_sector", "public_sector_plus"),
        plan_prices=(1500.0, 4500.0),
        plan_weights=(0.7, 0.3),
        users=30,
        usage_rate=3.8,
        weekend_factor=0.1,
        payment_terms_days=30,
        ticket_rate=1.2,
        billing="subscription",
        negotiated=True,
        name_parts=(
            ("City of ", "County of ", "Port of "),
            _PLACES,
            ("", " Council", " Public Works"),
        ),
    ),
    "charity": _Segment(
        weight=0.12,
        plans=("monthly_giving", "one_off"),  # monthly donors and one-off donors
        plan_prices=(0.0, 0.0),
        plan_weights=(0.5, 0.5),
        users=3,
        usage_rate=1.5,
        weekend_factor=0.6,
        payment_terms_days=0,
        ticket_rate=0.3,
        billing="donations",
        negotiated=False,
        name_parts=(_PLACES, _CAUSES, ("",)),
    ),
}

Columns = dict[str, np.ndarray]
"""One entity's rows column by column, before rendering: timestamps as datetime64[s]
(NaT for null), enums and references as integer codes, numbers as floats."""

BadPlan = dict[str, np.ndarray]
"""Row positions to spoil, per bad-row class."""


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate` wrote: rows per entity (bad rows included), bad rows per class."""

    rows: dict[str, int]
    bad_rows: dict[str, int]
    start: date
    end: date
    accounts: int = 0
    files: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def generate(
    out_dir: Path,
    *,
    accounts: int = 500,
    start: date,
    end: date,
    seed: int = 42,
    bad_rate: float = 0.0,
    truth_path: Path | None = None,
) -> GenerationSummary:
    """Write sample landing data for `accounts` accounts dated `start`..`end` (inclusive).

    Files go to `out_dir/<entity>/<YYYY-MM-DD>.<ext>`; the entity folders must be
    absent or empty. `bad_rate` is the fraction of rows per fact entity made bad on
    purpose (0 gives clean data). `truth_path`, when given, receives the hidden
    ground truth per account as Parquet; it may not lie inside an entity folder.
    """
    out_dir = Path(out_dir)
    _validate(out_dir, accounts, start, end, bad_rate, truth_path)
    timeline = _Timeline.of(start, end)
    rng = _streams(seed)
    book = _make_accounts(accounts, timeline, rng["accounts"])
    health = _make_health(book.archetype, timeline.days, rng["health"])
    _set_churn(book, health, timeline, rng["health"])
    subs = _plan_subscriptions(book, timeline, rng["subscriptions"])

    writer = _Writer(out_dir, timeline, _Renderer(book, rng["render"]))
    bad = _BadRows(bad_rate, rng["bad"], book.count)
    writer.write_accounts(book)
    writer.write_facts(
        "subscriptions", _make_subscriptions(subs, health, timeline, rng["subscriptions"]), bad
    )
    writer.write_facts(
        "invoices", _make_invoices(book, subs, health, timeline, rng["invoices"]), bad
    )
    writer.write_facts(
        "survey_responses", _make_surveys(book, health, timeline, rng["surveys"]), bad
    )
    writer.write_facts(
        "support_tickets", _make_tickets(book, health, timeline, rng["tickets"]), bad
    )
    writer.write_usage(_UsageDays(book, health, timeline, rng["usage"]), bad)
    if truth_path is not None:
        _write_truth(Path(truth_path), book)
    return GenerationSummary(
        rows={name: writer.rows[name] for name in ENTITY_NAMES},
        bad_rows={name: bad.counts[name] for name in BAD_CLASSES},
        start=start,
        end=end,
        accounts=accounts,
        files={name: writer.files[name] for name in ENTITY_NAMES},
    )


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams, so that one part's draws do not shift another's."""
    names = ("accounts", "health", "subscriptions", "invoices", "surveys", "tickets", "usage",
             "bad", "render")  # fmt: skip
    seeds = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(s) for name, s in zip(names, seeds, strict=True)}


def _validate(
    out_dir: Path, accounts: int, start: date, end: date, bad_rate: float, truth: Path | None
) -> None:
    if accounts < 1:
        raise ValueError(f"accounts must be at least 1, got {accounts}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    if not 0.0 <= bad_rate <= 0.5:
        raise ValueError(f"bad_rate must be between 0 and 0.5, got {bad_rate}")
    for entity in ENTITY_NAMES:
        folder = out_dir / entity
        if folder.is_dir() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; remove it first")
        if truth is not None and folder.resolve() in Path(truth).resolve().parents:
            raise ValueError(f"truth file {truth} may not be inside the landing folder {folder}")


# --------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Timeline:
    start: date
    days: int
    start_ts: np.datetime64  # 00:00:00 UTC on start
    end_ts: np.datetime64  # 23:59:59 UTC on end

    @classmethod
    def of(cls, start: date, end: date) -> _Timeline:
        days = (end - start).days + 1
        start_ts = np.datetime64(start.isoformat(), "s")
        return cls(start, days, start_ts, start_ts + np.timedelta64(days * DAY_S - 1, "s"))

    def day_of(self, ts: np.ndarray) -> np.ndarray:
        """Day index (0 = start) of each timestamp; negative before start."""
        return (ts - self.start_ts).astype(np.int64) // DAY_S

    def at(self, day: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Timestamp `seconds` into day index `day`."""
        return self.start_ts + (day.astype(np.int64) * DAY_S + seconds.astype(np.int64)).astype(
            "m8[s]"
        )

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=day)


def _seconds(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64).astype("m8[s]")


def _daytime(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day, following office hours."""
    return rng.choice(24, size=n, p=HOUR_P) * HOUR_S + rng.integers(0, HOUR_S, n)


# --------------------------------------------------------------------------------------
# Accounts and their hidden health
# --------------------------------------------------------------------------------------


@dataclass
class _Accounts:
    """All accounts, column by column (index i is account `ACC-{i+1:06d}`)."""

    segment: np.ndarray  # behaviour segment, index into SEGMENTS
    label: pa.Array  # segment as written: mostly SEGMENTS, some empty or unknown
    archetype: np.ndarray
    created_at: np.ndarray
    created_day: np.ndarray
    size: np.ndarray  # relative account size (lognormal around 1)
    plan: np.ndarray  # index into the segment's plans
    mrr: np.ndarray  # 0 for segments without a subscription
    currency: np.ndarray  # index into CURRENCIES
    region: np.ndarray  # index into REGIONS
    ids: pa.Array  # account ids, then the orphan pool
    numbers: pa.Array  # zero-padded account numbers (for user ids)
    names: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    parent: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # -1: none
    csm: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    churn_day: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    churned_at: np.ndarray = field(default_factory=lambda: np.empty(0, "M8[s]"))

    @property
    def count(self) -> int:
        return len(self.segment)

    def profile(self, attribute: str) -> np.ndarray:
        """A `_Segment` attribute per account."""
        values = [getattr(SEGMENT_PROFILES[s], attribute) for s in SEGMENTS]
        return np.asarray(values)[self.segment]

    def active_window(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        """First and last+1 day index on which the account is active in the range."""
        first = np.clip(self.created_day + 1, 0, days)
        return first, np.maximum(np.minimum(self.churn_day, days), first)


def _make_accounts(n: int, timeline: _Timeline, rng: np.random.Generator) -> _Accounts:
    weights = np.array([SEGMENT_PROFILES[s].weight for s in SEGMENTS])
    segment = rng.choice(len(SEGMENTS), size=n, p=weights / weights.sum())
    archetype = rng.choice(len(ARCHETYPES), size=n, p=ARCHETYPE_WEIGHTS)
    created_at = np.sort(_creation_times(n, timeline, rng))  # ids follow creation order
    plan = _pick_plans(segment, rng)
    size = rng.lognormal(0.0, 0.5, n)
    region = rng.choice(len(REGIONS), size=n, p=REGION_WEIGHTS)
    book = _Accounts(
        segment=segment,
        label=_segment_labels(segment, rng),
        archetype=archetype,
        created_at=created_at,
        created_day=timeline.day_of(created_at),
        size=size,
        plan=plan,
        mrr=np.zeros(n),
        currency=((region == 0) & (rng.random(n) < 0.15)).astype(np.int64),  # some EUR
        region=region,
        ids=_account_ids(n),
        numbers=_padded(np.arange(1, n + 1), 6),
    )
    book.mrr = _mrr(book, rng)
    book.names = _account_names(book, rng)
    book.parent = _parents(n, rng)
    book.csm = rng.integers(0, len(CSM_OWNERS), n)
    return book


def _creation_times(n: int, timeline: _Timeline, rng: np.random.Generator) -> np.ndarray:
    before = rng.random(n) < 0.7
    offset = np.where(
        before,
        -rng.integers(1, HISTORY_DAYS * DAY_S, n),
        rng.integers(0, timeline.days * DAY_S, n),
    )
    return timeline.start_ts + _seconds(offset)


def _pick_plans(segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    plan = np.zeros(segment.size, np.int64)
    for code, name in enumerate(SEGMENTS):
        members = np.flatnonzero(segment == code)
        weights = np.array(SEGMENT_PROFILES[name].plan_weights)
        plan[members] = rng.choice(weights.size, size=members.size, p=weights / weights.sum())
    return plan


def _mrr(book: _Accounts, rng: np.random.Generator) -> np.ndarray:
    mrr = np.zeros(book.count)
    for code, name in enumerate(SEGMENTS):
        profile = SEGMENT_PROFILES[name]
        if profile.billing != "subscription":
            continue
        members = np.flatnonzero(book.segment == code)
        price = np.asarray(profile.plan_prices)[book.plan[members]]
        if profile.negotiated:
            price = price * np.clip(rng.lognormal(0.0, 0.35, members.size), 0.5, 4.0)
        mrr[members] = np.round(price, 2)
    return mrr


def _segment_labels(segment: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Segment as written: ~3% empty, ~1% a segment no scorecard knows."""
    u = rng.random(segment.size)
    unknown = rng.integers(0, len(UNKNOWN_SEGMENTS), segment.size) + len(SEGMENTS)
    codes = np.where(u < 0.03, -1, np.where(u < 0.04, unknown, segment))
    return _lookup(SEGMENTS + UNKNOWN_SEGMENTS, codes)


def _account_ids(n: int) -> pa.Array:
    real = _prefixed("ACC-", np.arange(1, n + 1), 6)
    orphans = _prefixed("ACC-ORPHAN-", np.arange(1, ORPHAN_POOL + 1), 6)
    return pa.concat_arrays([real, orphans])


def _account_names(book: _Accounts, rng: np.random.Generator) -> pa.Array:
    """Three parts, each a random word from the segment's list for that part."""
    parts = []
    for position in range(3):
        lists = [SEGMENT_PROFILES[s].name_parts[position] for s in SEGMENTS]
        words, codes = _pick_from_lists(lists, book.segment, rng)
        parts.append(_lookup(words, codes))
    return pc.binary_join_element_wise(*parts, "")


def _pick_from_lists(
    lists: Sequence[Sequence[str]], group: np.ndarray, rng: np.random.Generator
) -> tuple[tuple[str, ...], np.ndarray]:
    """A random word from `lists[group]` per row: the flat word list and codes into it."""
    sizes = np.array([len(words) for words in lists])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    codes = offsets[group] + (rng.random(group.size) * sizes[group]).astype(np.int64)
    return tuple(w for words in lists for w in words), codes


def _parents(n: int, rng: np.random.Generator) -> np.ndarray:
    """~10% of accounts roll up to an older account (-1: no parent)."""
    index = np.arange(n)
    parent = (rng.random(n) * index).astype(np.int64)
    return np.where((rng.random(n) < 0.10) & (index > 0), parent, -1)


def _make_health(archetype: np.ndarray, days: int, rng: np.random.Generator) -> np.ndarray:
    """Latent daily health, shape (days, accounts), float32 in [0, 1]."""
    n = archetype.size
    h0, h1 = _health_levels(archetype, rng)
    scale = max(days, 90)
    onset = rng.uniform(-0.15, 0.55, n).astype(np.float32) * scale
    duration = rng.uniform(0.15, 0.4, n).astype(np.float32) * scale
    health = np.arange(days, dtype=np.float32)[:, None] - onset  # (days, n)
    health /= duration
    np.clip(health, 0.0, 1.0, out=health)
    health *= h1 - h0
    health += h0
    noise = np.zeros(n, np.float32)
    for day in range(days):  # AR(1) noise, one vector per day
        noise = 0.9 * noise + rng.normal(0.0, 0.045, n).astype(np.float32)
        health[day] += noise
    return np.clip(health, 0.0, 1.0, out=health)


def _health_levels(archetype: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Health at the start and the end of each account's trend."""
    n = archetype.size
    levels = {  # archetype: (start range, end range or None for flat)
        HEALTHY: ((0.70, 0.95), None),
        DECLINING: ((0.60, 0.90), (0.02, 0.22)),
        RECOVERING: ((0.12, 0.35), (0.65, 0.90)),
        STEADY_LOW: ((0.28, 0.45), None),
    }
    h0 = np.zeros(n, np.float32)
    h1 = np.zeros(n, np.float32)
    for code, (first, last) in levels.items():
        members = archetype == code
        h0[members] = rng.uniform(*first, members.sum())
        h1[members] = h0[members] if last is None else rng.uniform(*last, members.sum())
    return h0, h1


def _set_churn(
    book: _Accounts, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
) -> None:
    """Declining accounts mostly churn once health stays low; a few others churn anyway."""
    days, n = timeline.days, book.count
    churn = np.full(n, days, np.int64)
    declining = np.flatnonzero(book.archetype == DECLINING)
    if declining.size:
        first_low = _first_sustained_low(health[:, declining], threshold=0.3, window=21)
        lag = rng.integers(0, 21, declining.size)
        churns = (first_low >= 0) & (rng.random(declining.size) < 0.85)
        churn[declining[churns]] = first_low[churns] + lag[churns]
    for archetype, probability in NOISE_CHURN.items():
        members = np.flatnonzero((book.archetype == archetype) & (rng.random(n) < probability))
        churn[members] = rng.integers(0, days, members.size)
    valid = (churn >= book.created_day + 30) & (churn >= 14) & (churn < days)
    book.churn_day = np.where(valid, churn, days)
    churned_at = timeline.at(book.churn_day, rng.integers(8 * HOUR_S, 20 * HOUR_S, n))
    book.churned_at = np.where(valid, churned_at, np.datetime64("NaT", "s"))


def _first_sustained_low(health: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """First day on which the trailing `window`-day mean is below threshold (-1: never)."""
    window = min(window, health.shape[0])
    total = np.cumsum(health, axis=0, dtype=np.float64)
    total[window:] -= total[:-window].copy()
    low = total[window - 1 :] < threshold * window
    hit = low.any(axis=0)
    return np.where(hit, low.argmax(axis=0) + window - 1, -1)


def _health_at(health: np.ndarray, day: np.ndarray, account: np.ndarray) -> np.ndarray:
    return health[np.clip(day, 0, health.shape[0] - 1), account].astype(np.float64)


# --------------------------------------------------------------------------------------
# Fact entities, as typed columns
# --------------------------------------------------------------------------------------


def _sample_events(
    book: _Accounts,
    health: np.ndarray,
    accounts: np.ndarray,
    max_rate: np.ndarray,
    accept: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events per account-day by thinning: candidates at `max_rate` a day over the
    active window, each kept with probability `accept(h)`. Returns account, day, h."""
    first, last = book.active_window(health.shape[0])
    span = (last - first)[accounts]
    count = rng.poisson(max_rate * span)
    owner = np.repeat(accounts, count)
    day = first[owner] + (rng.random(owner.size) * np.repeat(span, count)).astype(np.int64)
    h = _health_at(health, day, owner)
    keep = rng.random(owner.size) < accept(h)
    return owner[keep], day[keep], h[keep]


@dataclass(frozen=True)
class _Subscriptions:
    """The one subscription of each subscription account (index = position in `owner`)."""

    owner: np.ndarray  # account index, ascending
    started_at: np.ndarray
    trial: np.ndarray  # starts with a 14-day trial
    billing_from: np.ndarray  # first invoice on or after this (end of trial)
    ends_at: np.ndarray  # churn time, NaT while the account lives
    mrr: np.ndarray


def _plan_subscriptions(
    book: _Accounts, timeline: _Timeline, rng: np.random.Generator
) -> _Subscriptions:
    owner = np.flatnonzero(book.profile("billing") == "subscription")
    n = owner.size
    started = book.created_at[owner] + _seconds(rng.integers(60, 4 * HOUR_S, n))
    can_trial = np.isin(book.segment[owner], [SEGMENTS.index(s) for s in TRIAL_SEGMENTS])
    trial = can_trial & (started >= timeline.start_ts) & (rng.random(n) < 0.5)
    trial_end = started + np.timedelta64(TRIAL_DAYS * DAY_S, "s")
    return _Subscriptions(
        owner=owner,
        started_at=started,
        trial=trial,
        billing_from=np.where(trial, trial_end, started),
        ends_at=book.churned_at[owner],
        mrr=book.mrr[owner],
    )


def _make_subscriptions(
    subs: _Subscriptions, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
) -> Columns:
    """Subscription versions: a full row per change (trial end, past_due spell, cancel)."""
    owner, n = subs.owner, subs.owner.size
    churned = ~np.isnat(subs.ends_at)
    floor = np.maximum(subs.started_at, timeline.start_ts) + np.timedelta64(HOUR_S, "s")
    cancel = np.maximum(subs.ends_at - _seconds(rng.integers(3, 31, n) * DAY_S), floor)
    horizon = np.where(churned, cancel, timeline.end_ts)  # later changes happen before this
    ends_trial = subs.trial & (subs.billing_from < horizon)
    versions = [
        _version(owner, subs.started_at, np.where(subs.trial, TRIALING, ACTIVE)),
        _version(owner[ends_trial], subs.billing_from[ends_trial], ACTIVE),
        *_past_due_spells(owner, subs.billing_from, horizon, health, timeline, rng),
        _version(owner[churned], cancel[churned], CANCELED, cancel[churned], subs.ends_at[churned]),
    ]
    cols = {key: np.concatenate([v[key] for v in versions]) for key in versions[0]}
    position = np.searchsorted(owner, cols["acc"])
    cols["started_at"] = subs.started_at[position]
    cols["mrr"] = subs.mrr[position]
    cols["initial"] = np.arange(cols["acc"].size) < n
    cols["file_day"] = np.maximum(timeline.day_of(cols["updated_at"]), 0)
    return cols


def _version(
    owner: np.ndarray,
    at: np.ndarray,
    status: np.ndarray | int,
    canceled_at: np.ndarray | None = None,
    ended_at: np.ndarray | None = None,
) -> Columns:
    nat = np.full(owner.size, np.datetime64("NaT", "s"))
    return {
        "acc": owner,
        "status": np.broadcast_to(status, owner.shape).astype(np.int64),
        "updated_at": at,
        "canceled_at": nat if canceled_at is None else canceled_at,
        "ended_at": nat if ended_at is None else ended_at,
    }


def _past_due_spells(
    owner: np.ndarray,
    after: np.ndarray,
    horizon: np.ndarray,
    health: np.ndarray,
    timeline: _Timeline,
    rng: np.random.Generator,
) -> list[Columns]:
    """At most one `past_due` spell per subscription, likelier when health is low,
    followed by a return to `active` unless the subscription is canceled first."""
    lo = np.maximum(timeline.day_of(after) + 1, 0)
    hi = timeline.day_of(horizon)  # exclusive: the spell starts on a day before the horizon
    span = hi - lo
    day = lo + (rng.random(owner.size) * np.maximum(span, 0)).astype(np.int64)
    h = _health_at(health, day, owner)
    hit = (span > 0) & (rng.random(owner.size) < np.clip(1.4 * (0.55 - h), 0.01, 0.8))
    begin = timeline.at(day, rng.integers(0, DAY_S, owner.size))
    back = begin + _seconds(rng.integers(3, 22, owner.size) * DAY_S)
    recovers = hit & (back < horizon)
    return [
        _version(owner[hit], begin[hit], PAST_DUE),
        _version(owner[recovers], back[recovers], ACTIVE),
    ]


def _make_invoices(
    book: _Accounts,
    subs: _Subscriptions,
    health: np.ndarray,
    timeline: _Timeline,
    rng: np.random.Generator,
) -> Columns:
    """Monthly subscription invoices, webshop orders and charity donations."""
    parts = [
        _subscription_invoices(book, subs, timeline, rng),
        _monthly_donations(book, timeline, rng),
        _irregular_invoices(book, health, timeline, rng),
    ]
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    day = timeline.day_of(cols["issued_at"])
    h = _health_at(health, day, cols["acc"])
    terms = book.profile("payment_terms_days")[cols["acc"]] * cols["has_terms"]
    cols["due_at"] = cols["issued_at"] + _seconds(terms * DAY_S)
    cols["status"], cols["paid_at"] = _payments(cols["issued_at"], terms, h, timeline, rng)
    cols["file_day"] = day
    return cols


def _subscription_invoices(
    book: _Accounts, subs: _Subscriptions, timeline: _Timeline, rng: np.random.Generator
) -> Columns:
    until = np.where(np.isnat(subs.ends_at), timeline.end_ts, subs.ends_at)
    acc, issued = _monthly(subs.owner, subs.billing_from, subs.billing_from, until, timeline)
    amount = book.mrr[acc]
    overage = (book.segment[acc] == SEGMENTS.index("b2b_saas")) & (rng.random(acc.size) < 0.2)
    amount = np.round(np.where(overage, amount * rng.uniform(1.05, 1.3, acc.size), amount), 2)
    return _invoice_part(acc, issued, amount, True, True)


def _monthly_donations(book: _Accounts, timeline: _Timeline, rng: np.random.Generator) -> Columns:
    charity = SEGMENTS.index("charity")
    owner = np.flatnonzero((book.segment == charity) & (book.plan == 0))
    gift = np.array([10.0, 25.0, 50.0, 100.0, 250.0])[rng.integers(0, 5, owner.size)]
    until = np.where(np.isnat(book.churned_at[owner]), timeline.end_ts, book.churned_at[owner])
    acc, issued = _monthly(owner, book.created_at[owner], book.created_at[owner], until, timeline)
    amount = gift[np.searchsorted(owner, acc)]
    return _invoice_part(acc, issued, amount, False, False)


def _irregular_invoices(
    book: _Accounts, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
) -> Columns:
    """Webshop orders and one-off donations: rate and basket size driven by health."""
    webshop = np.flatnonzero(book.segment == SEGMENTS.index("b2c_webshop"))
    one_off = np.flatnonzero((book.segment == SEGMENTS.index("charity")) & (book.plan == 1))
    owner = np.concatenate([webshop, one_off])
    max_rate = np.where(book.segment[owner] == SEGMENTS.index("charity"), 1 / 45, 1 / 12)
    max_rate = max_rate * np.clip(book.size[owner], 0.3, 3.0)
    acc, day, h = _sample_events(book, health, owner, max_rate, lambda h: 0.15 + 0.85 * h, rng)
    issued = timeline.at(day, _daytime(rng, acc.size))
    order = book.segment[acc] == SEGMENTS.index("b2c_webshop")
    basket = rng.lognormal(np.log(45), 0.7, acc.size) * (0.6 + 0.8 * h)
    amount = np.where(order, basket, rng.lognormal(np.log(80), 0.9, acc.size))
    return _invoice_part(acc, issued, np.round(amount, 2), False, False)


def _monthly(
    owner: np.ndarray,
    anchor: np.ndarray,
    since: np.ndarray,
    until: np.ndarray,
    timeline: _Timeline,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly dates on the anchor's day of month (at most the 28th) and time of day,
    from `since` to `until`, within the range."""
    month_of_anchor = anchor.astype("M8[M]")
    dom = np.minimum((anchor.astype("M8[D]") - month_of_anchor.astype("M8[D]")).astype(int), 27)
    time_of_day = (anchor - anchor.astype("M8[D]")).astype(np.int64)
    months = np.arange(timeline.start_ts.astype("M8[M]"), timeline.end_ts.astype("M8[M]") + 1)
    dates = months.astype("M8[D]")[None, :] + dom[:, None].astype("m8[D]")
    issued = dates.astype("M8[s]") + _seconds(time_of_day)[:, None]
    low = np.maximum(since, timeline.start_ts)[:, None]
    high = np.minimum(until, timeline.end_ts)[:, None]
    row, col = np.nonzero((issued >= low) & (issued <= high))
    return owner[row], issued[row, col]


def _invoice_part(
    acc: np.ndarray, issued: np.ndarray, amount: np.ndarray, has_sub: bool, has_terms: bool
) -> Columns:
    return {
        "acc": acc,
        "issued_at": issued,
        "amount": amount.astype(np.float64),
        "has_sub": np.full(acc.size, has_sub),
        "has_terms": np.full(acc.size, has_terms, np.int64),
    }


def _payments(
    issued: np.ndarray,
    terms: np.ndarray,
    h: np.ndarray,
    timeline: _Timeline,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Invoice status and paid_at: late, overdue and uncollectible likelier at low health."""
    n = issued.size
    never_p = 0.005 + 0.25 * (1 - h) ** 3
    late_p = 0.04 + 0.5 * (1 - h) ** 2
    u = rng.random(n)
    never = u < never_p
    late = ~never & (u < never_p + late_p)
    on_time = rng.uniform(0.0, 1.0, n) * np.maximum(terms, 0.05)
    delay = np.where(late, terms + 1 + rng.exponential(5 + 25 * (1 - h)), on_time)
    paid_at = issued + _seconds(delay * DAY_S)
    status = np.where(paid_at <= timeline.end_ts, PAID, OPEN)
    written_off = issued + _seconds((terms + 60) * DAY_S) < timeline.end_ts
    status = np.where(never, np.where(written_off, UNCOLLECTIBLE, OPEN), status)
    status = np.where(rng.random(n) < 0.01, VOID, status)
    fresh = issued > timeline.end_ts - np.timedelta64(DAY_S, "s")
    status = np.where(fresh & (rng.random(n) < 0.3), DRAFT, status)
    return status, np.where(status == PAID, paid_at, np.datetime64("NaT", "s"))


def _make_surveys(
    book: _Accounts, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
) -> Columns:
    """NPS, CSAT and CES answers; scores rise with health."""
    everyone = np.arange(book.count)
    users = np.maximum(1, np.round(book.profile("users") * book.size)).astype(np.int64)
    reach = np.clip(1 + users / 10, 1, 3)
    parts = []
    for kind, every_days in SURVEY_EVERY_DAYS.items():
        acc, day, h = _sample_events(
            book, health, everyone, reach / every_days, lambda h: 0.5 + 0.5 * h, rng
        )
        kind_code = np.full(acc.size, SURVEY_TYPES.index(kind))
        parts.append(
            {"acc": acc, "day": day, "h": h, "type": kind_code, "score": _scores(kind, h, rng)}
        )
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    n = cols["acc"].size
    cols["responded_at"] = timeline.at(cols["day"], _daytime(rng, n))
    cols["respondent"] = 1 + (rng.random(n) * users[cols["acc"]]).astype(np.int64)
    cols["comment"] = _comments(cols["h"], rng)
    cols["file_day"] = cols.pop("day")
    return cols


def _scores(kind: str, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Survey answers: the mean rises with health across the type's range."""
    lo, hi = SURVEY_RANGES[kind]
    mean = lo + (hi - lo) * np.power(h, 0.8)
    noise = rng.normal(0.0, 0.12 * (hi - lo), h.size)
    return np.clip(np.round(mean + noise), lo, hi).astype(np.int64)


def _comments(h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into `COMMENT_LIST` matching the mood, -1 for none (~65% leave none)."""
    band = np.where(h > 0.65, 0, np.where(h > 0.4, 1, 2))
    _, codes = _pick_from_lists(list(COMMENTS.values()), band, rng)
    return np.where(rng.random(h.size) < 0.35, codes, -1)


def _make_tickets(
    book: _Accounts, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
) -> Columns:
    """Support tickets: more, more urgent, slower and less satisfying at low health."""
    everyone = np.arange(book.count)
    max_rate = book.profile("ticket_rate") * np.sqrt(book.size) * 0.055
    acc, day, h = _sample_events(
        book, health, everyone, max_rate, lambda h: (0.003 + 0.05 * (1 - h) ** 2) / 0.055, rng
    )
    n = acc.size
    opened = timeline.at(day, _daytime(rng, n))
    priority = _priorities(h, rng)
    slowness = 1 + 1.5 * (1 - h)
    respond_h = np.array([24.0, 10.0, 4.0, 1.0])[priority] * slowness * rng.exponential(1.0, n)
    resolve_d = (
        np.array([5.0, 3.0, 1.5, 0.5])[priority] * (1 + 2 * (1 - h)) * rng.exponential(1.0, n)
    )
    first_response = opened + _seconds(60 + respond_h * HOUR_S)
    resolved = first_response + _seconds(600 + resolve_d * DAY_S)
    never_resolved = rng.random(n) < 0.05
    responded = first_response <= timeline.end_ts
    solved = responded & ~never_resolved & (resolved <= timeline.end_ts)
    recent = resolved > timeline.end_ts - np.timedelta64(5 * DAY_S, "s")
    status = np.where(solved, np.where(recent, 2, 3), np.where(responded, 1, 0))
    nat = np.datetime64("NaT", "s")
    rated = solved & (rng.random(n) < 0.55)
    mood = 1 + 4 * h - 0.4 * (resolve_d > 4) + rng.normal(0.0, 0.7, n)
    return {
        "acc": acc,
        "opened_at": opened,
        "first_response_at": np.where(responded, first_response, nat),
        "resolved_at": np.where(solved, resolved, nat),
        "priority": priority,
        "status": status,
        "satisfaction": np.where(rated, np.clip(np.round(mood), 1, 5), np.nan),
        "file_day": day,
    }


def _priorities(h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Index into PRIORITIES (low, normal, high, urgent)."""
    urgent = 0.02 + 0.15 * (1 - h)
    high = urgent + 0.10 + 0.20 * (1 - h)
    low = 1 - 0.30 * h
    u = rng.random(h.size)
    return np.where(u < urgent, 3, np.where(u < high, 2, np.where(u >= low, 0, 1)))


# --------------------------------------------------------------------------------------
# Bad rows
# --------------------------------------------------------------------------------------


class _BadRows:
    """Chooses the rows to spoil and counts them per class."""

    def __init__(self, rate: float, rng: np.random.Generator, accounts: int) -> None:
        self.rate = rate
        self.rng = rng
        self.accounts = accounts
        self.counts = dict.fromkeys(BAD_CLASSES, 0)
        self._usage_turn = 0

    def choose(self, entity: str, n: int, eligible: np.ndarray | None = None) -> BadPlan:
        """Positions per bad class for an entity of n rows (each row in one class at most)."""
        classes = BAD_CLASSES_BY_ENTITY[entity]
        pool = np.arange(n) if eligible is None else eligible
        k = min(round(self.rate * n), pool.size)
        chosen = self.rng.choice(pool, size=k, replace=False) if k else np.empty(0, np.int64)
        kind = self.rng.permutation(np.arange(k) % len(classes))
        return self._count({c: np.sort(chosen[kind == i]) for i, c in enumerate(classes)})

    def choose_usage(self, n: int) -> BadPlan:
        """Like `choose`, for one day of usage events; classes rotate across days."""
        classes = BAD_CLASSES_BY_ENTITY["usage_events"]
        k = int(self.rng.binomial(n, self.rate)) if self.rate and n else 0
        chosen = self.rng.choice(n, size=k, replace=False) if k else np.empty(0, np.int64)
        kind = (self._usage_turn + np.arange(k)) % len(classes)
        self._usage_turn += k
        return self._count({c: np.sort(chosen[kind == i]) for i, c in enumerate(classes)})

    def orphans(self, k: int) -> np.ndarray:
        """References into the orphan id pool that follows the real account ids."""
        return self.accounts + self.rng.integers(0, ORPHAN_POOL, k)

    def _count(self, plan: BadPlan) -> BadPlan:
        for name, rows in plan.items():
            self.counts[name] += int(rows.size)
        return plan


def _shift_to_future(cols: Columns, rows: np.ndarray, timestamp_columns: Sequence[str]) -> None:
    for name in timestamp_columns:
        cols[name][rows] += np.timedelta64(FUTURE_SHIFT_DAYS * DAY_S, "s")


def _spoil(entity: str, cols: Columns, bad: _BadRows) -> BadPlan:
    """Apply the typed bad-row classes in place; return the plan for the text ones."""
    eligible = np.flatnonzero(cols["initial"]) if entity == "subscriptions" else None
    plan = bad.choose(entity, cols["acc"].size, eligible)
    if "orphan_account" in plan:
        cols["acc"][plan["orphan_account"]] = bad.orphans(plan["orphan_account"].size)
    if "future_timestamp" in plan:
        timestamps = [c.name for c in ENTITIES[entity].columns if c.kind == "timestamp"]
        _shift_to_future(cols, plan["future_timestamp"], timestamps)
    if entity == "subscriptions":
        cols["mrr"][plan["out_of_range"]] *= -1
    if entity == "survey_responses":
        cols["type"][plan["out_of_range"]] = SURVEY_TYPES.index("nps")
        cols["score"][plan["out_of_range"]] = 11
    return plan


# --------------------------------------------------------------------------------------
# Rendering and writing
# --------------------------------------------------------------------------------------


def _lookup(values: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Strings by code; negative codes give null."""
    codes = np.asarray(codes, np.int64)
    index = pa.array(codes, mask=codes < 0)
    return pa.array(list(values), pa.string()).take(index)


def _padded(numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal text; negative numbers give null."""
    numbers = np.asarray(numbers, np.int64)
    text = pc.cast(pa.array(numbers, mask=numbers < 0), pa.string())
    return pc.utf8_lpad(text, width, "0")


def _prefixed(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded number; negative numbers give null."""
    return pc.binary_join_element_wise(prefix, _padded(numbers, width), "")


def _user_ids(book: _Accounts, acc: np.ndarray, user: np.ndarray) -> pa.Array:
    number = book.numbers.take(pa.array(acc))
    return pc.binary_join_element_wise("U-", number, "-", pc.cast(pa.array(user), pa.string()), "")


def _iso(ts: np.ndarray, style: np.ndarray) -> pa.Array:
    """ISO-8601 text with the offset `TIMESTAMP_SUFFIXES[style]` (same instant); NaT -> null."""
    local = ts + (TIMESTAMP_OFFSET_MINUTES[style] * 60).astype("m8[s]")
    text = pa.array(np.datetime_as_string(local, unit="s"), pa.string(), mask=np.isnat(ts))
    suffix = pa.array(TIMESTAMP_SUFFIXES, pa.string()).take(pa.array(style))
    return pc.binary_join_element_wise(text, suffix, "")


def _replace(values: pa.Array, rows: np.ndarray, choices: Sequence[str]) -> pa.Array:
    """Replace the values at `rows` by the `choices`, in turn."""
    if rows.size == 0:
        return values
    mask = np.zeros(len(values), bool)
    mask[rows] = True
    new = _lookup(choices, np.arange(rows.size) % len(choices))
    return pc.replace_with_mask(values, pa.array(mask), new)


class _Renderer:
    """Turns typed columns into the contract's columns, as text where the file is text."""

    def __init__(self, book: _Accounts, rng: np.random.Generator) -> None:
        self.book = book
        self.rng = rng

    def styles(self, n: int) -> np.ndarray:
        return self.rng.choice(len(TIMESTAMP_SUFFIXES), size=n, p=TIMESTAMP_SUFFIX_P)

    def event_time(self, ts: np.ndarray, style: np.ndarray, plan: BadPlan) -> pa.Array:
        """ISO text of the event time, unparseable in the rows planned so."""
        text = _iso(ts, style)
        return _replace(text, plan["unparseable_timestamp"], UNPARSEABLE_TIMESTAMPS)

    def account(self, acc: np.ndarray) -> pa.Array:
        return self.book.ids.take(pa.array(acc))

    def subscriptions(self, cols: Columns, plan: BadPlan) -> dict[str, pa.Array]:
        owner = cols["owner"]
        style = self.styles(owner.size)
        return {
            "subscription_id": _prefixed("SUB-", owner + 1, 6),
            "account_id": self.account(cols["acc"]),
            "plan": self._plans(owner),
            "mrr": pa.array(cols["mrr"]),
            "currency": _lookup(CURRENCIES, self.book.currency[owner]),
            "status": _lookup(SUB_STATUSES, cols["status"]),
            "started_at": self.event_time(cols["started_at"], style, plan),
            "canceled_at": _iso(cols["canceled_at"], style),
            "ended_at": _iso(cols["ended_at"], style),
            "updated_at": _iso(cols["updated_at"], style),
        }

    def invoices(self, cols: Columns, plan: BadPlan) -> dict[str, pa.Array]:
        owner = cols["owner"]
        style = self.styles(owner.size)
        sub = np.where(cols["has_sub"], owner + 1, -1)  # SUB-<account number>
        amount = pc.cast(pa.array(cols["amount"]), pa.string())
        return {
            "invoice_id": _prefixed("INV-", cols["number"], 8),
            "account_id": self.account(cols["acc"]),
            "issued_at": self.event_time(cols["issued_at"], style, plan),
            "due_at": _iso(cols["due_at"], style),
            "amount": _replace(amount, plan["bad_number"], BAD_NUMBERS),
            "currency": _lookup(CURRENCIES, self.book.currency[owner]),
            "status": _lookup(INVOICE_STATUSES, cols["status"]),
            "paid_at": _iso(cols["paid_at"], style),
            "subscription_id": _prefixed("SUB-", sub, 6),
        }

    def survey_responses(self, cols: Columns, plan: BadPlan) -> dict[str, pa.Array]:
        style = self.styles(cols["acc"].size)
        return {
            "response_id": _prefixed("RSP-", cols["number"], 8),
            "account_id": self.account(cols["acc"]),
            "respondent_id": _user_ids(self.book, cols["owner"], cols["respondent"]),
            "survey_type": _lookup(SURVEY_TYPES, cols["type"]),
            "score": pa.array(cols["score"]),
            "responded_at": self.event_time(cols["responded_at"], style, plan),
            "comment": _lookup(COMMENT_LIST, cols["comment"]),
        }

    def support_tickets(self, cols: Columns, plan: BadPlan) -> dict[str, pa.Array]:
        style = self.styles(cols["acc"].size)
        ids = _replace(_prefixed("TCK-", cols["number"], 8), plan["empty_id"], BLANK_IDS)
        satisfaction = cols["satisfaction"]
        return {
            "ticket_id": ids,
            "account_id": self.account(cols["acc"]),
            "opened_at": self.event_time(cols["opened_at"], style, plan),
            "first_response_at": _iso(cols["first_response_at"], style),
            "resolved_at": _iso(cols["resolved_at"], style),
            "priority": _lookup(PRIORITIES, cols["priority"]),
            "status": _lookup(TICKET_STATUSES, cols["status"]),
            "satisfaction": pa.array(
                np.nan_to_num(satisfaction).astype(np.int64), mask=np.isnan(satisfaction)
            ),
        }

    def accounts(self, rows: Columns) -> dict[str, pa.Array]:
        acc = rows["acc"]
        book = self.book
        index = pa.array(acc)
        style = self.styles(acc.size)
        return {
            "account_id": self.account(acc),
            "name": book.names.take(index),
            "segment": book.label.take(index),
            "plan": self._plans(acc),
            "region": _lookup(REGIONS, book.region[acc]),
            "csm_owner": _lookup(CSM_OWNERS, book.csm[acc]),
            "parent_account_id": _lookup_ids(book, book.parent[acc]),
            "created_at": _iso(book.created_at[acc], style),
            "churned_at": _iso(rows["churned_at"], style),
            "updated_at": _iso(rows["updated_at"], style),
        }

    def _plans(self, acc: np.ndarray) -> pa.Array:
        names = [p for s in SEGMENTS for p in SEGMENT_PROFILES[s].plans]
        offsets = np.cumsum([0] + [len(SEGMENT_PROFILES[s].plans) for s in SEGMENTS])[:-1]
        return _lookup(names, offsets[self.book.segment[acc]] + self.book.plan[acc])


def _lookup_ids(book: _Accounts, acc: np.ndarray) -> pa.Array:
    """Account ids by index; negative indexes give null."""
    return book.ids.take(pa.array(acc, mask=acc < 0))


def _write_csv(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, pacsv.WriteOptions(eol="\r\n"))


def _write_csv_gz(table: pa.Table, path: Path) -> None:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(eol="\r\n"))
    path.write_bytes(gzip.compress(sink.getvalue().to_pybytes(), compresslevel=6, mtime=0))


def _write_jsonl(table: pa.Table, path: Path) -> None:
    table.to_pandas().to_json(path, orient="records", lines=True, force_ascii=False)


def _write_parquet(table: pa.Table, path: Path) -> None:
    repeated = [f.name for f in table.schema if f.type == pa.string() and f.name != "event_id"]
    pq.write_table(table, path, compression="zstd", use_dictionary=repeated)


WRITERS: dict[str, Callable[[pa.Table, Path], None]] = {
    "csv": _write_csv,
    "csv.gz": _write_csv_gz,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
}

USAGE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("account_id", pa.string()),
        ("user_id", pa.string()),
        ("event_name", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("quantity", pa.float64()),
    ]
)


class _Writer:
    """Writes each entity's rows into one file per day and counts rows and files."""

    def __init__(self, out_dir: Path, timeline: _Timeline, renderer: _Renderer) -> None:
        self.out_dir = out_dir
        self.timeline = timeline
        self.renderer = renderer
        self.rows = dict.fromkeys(ENTITY_NAMES, 0)
        self.files = dict.fromkeys(ENTITY_NAMES, 0)

    def write_accounts(self, book: _Accounts) -> None:
        """First versions dated by creation (earlier ones in the first file), then a full
        row per churn on the churn day."""
        churned = np.flatnonzero(book.churn_day < self.timeline.days)
        nat = np.full(book.count, np.datetime64("NaT", "s"))
        rows: Columns = {
            "acc": np.concatenate([np.arange(book.count), churned]),
            "churned_at": np.concatenate([nat, book.churned_at[churned]]),
            "updated_at": np.concatenate([book.created_at, book.churned_at[churned]]),
        }
        file_day = np.maximum(self.timeline.day_of(rows["updated_at"]), 0)
        order = np.lexsort((rows["acc"], rows["updated_at"], file_day))
        rows = {key: value[order] for key, value in rows.items()}
        self._write_days("accounts", self.renderer.accounts(rows), file_day[order])

    def write_facts(self, entity: str, cols: Columns, bad: _BadRows) -> None:
        """Sort by file day and time, number the rows, spoil some, render and write."""
        order = np.lexsort((cols["acc"], cols[SORT_TIME.get(entity, ENTITIES[entity].event_time)],
                            cols["file_day"]))  # fmt: skip
        cols = {key: value[order] for key, value in cols.items()}
        cols["owner"] = cols["acc"].copy()  # the real account, kept when the id is spoiled
        cols["number"] = np.arange(1, cols["acc"].size + 1)
        plan = _spoil(entity, cols, bad)
        columns = getattr(self.renderer, entity)(cols, plan)
        self._write_days(entity, columns, cols["file_day"])

    def write_usage(self, days: _UsageDays, bad: _BadRows) -> None:
        folder = self._folder("usage_events")
        for day in range(self.timeline.days):
            table = days.table(day, bad)
            if table.num_rows:
                _write_parquet(table, folder / f"{self.timeline.date_of(day)}.parquet")
                self.rows["usage_events"] += table.num_rows
                self.files["usage_events"] += 1

    def _folder(self, entity: str) -> Path:
        folder = self.out_dir / entity
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _write_days(self, entity: str, columns: dict[str, pa.Array], file_day: np.ndarray) -> None:
        names = ENTITIES[entity].column_names
        if set(columns) != set(names):
            difference = sorted(set(columns) ^ set(names))
            raise AssertionError(f"{entity}: columns differ from the contract: {difference}")
        table = pa.table({name: columns[name] for name in names})
        extension = FILE_EXTENSIONS[entity]
        folder = self._folder(entity)
        bounds = np.searchsorted(file_day, np.arange(self.timeline.days + 1))
        for day in np.flatnonzero(np.diff(bounds)):
            part = table.slice(bounds[day], bounds[day + 1] - bounds[day])
            WRITERS[extension](part, folder / f"{self.timeline.date_of(int(day))}.{extension}")
            self.files[entity] += 1
        self.rows[entity] += table.num_rows


class _UsageDays:
    """Draws usage events one day at a time (vectorised over accounts and events)."""

    def __init__(
        self, book: _Accounts, health: np.ndarray, timeline: _Timeline, rng: np.random.Generator
    ) -> None:
        self.book = book
        self.health = health
        self.timeline = timeline
        self.rng = rng
        self.users = np.maximum(1, np.round(book.profile("users") * book.size)).astype(np.int64)
        self.rate = book.profile("usage_rate") * book.size
        self.weekend = book.profile("weekend_factor")
        self.first, self.last = book.active_window(timeline.days)
        self.next_id = 1
        self.names = pa.array(EVENT_NAMES, pa.string())

    def table(self, day: int, bad: _BadRows) -> pa.Table:
        acc, seconds, name, user, quantity = self._draw(day)
        n = acc.size
        event = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        owner = acc.copy()
        plan = bad.choose_usage(n)
        acc[plan["orphan_account"]] = bad.orphans(plan["orphan_account"].size)
        seconds[plan["future_timestamp"]] += FUTURE_SHIFT_DAYS * DAY_S
        dup = plan["duplicate_key"]
        rows = np.insert(np.arange(n), dup + 1, dup)
        micros = (self.timeline.start_ts.astype(np.int64) + day * DAY_S + seconds[rows]) * 1_000_000
        return pa.table(
            [
                _prefixed("EV-", event[rows], 10),
                self.book.ids.take(pa.array(acc[rows])),
                _user_ids(self.book, owner[rows], user[rows]),
                self.names.take(pa.array(name[rows])),
                pa.array(micros, pa.timestamp("us", tz="UTC")),
                pa.array(quantity[rows]),
            ],
            schema=USAGE_SCHEMA,
        )

    def _draw(self, day: int) -> tuple[np.ndarray, ...]:
        """One day's events sorted by time: account, second of day, event, user, quantity."""
        rng = self.rng
        h = self.health[day].astype(np.float64)
        weekend = self.timeline.date_of(day).weekday() >= 5
        lam = self.rate * (0.08 + 0.92 * h**1.5) * (self.weekend if weekend else 1.0)
        lam[(self.first > day) | (self.last <= day)] = 0.0
        acc = np.repeat(np.arange(lam.size), rng.poisson(lam))
        n = acc.size
        seconds = _daytime(rng, n)
        reach = h[acc]
        name = (rng.random(n) ** 1.6 * np.round(2 + 8 * reach)).astype(np.int64)
        user_pool = np.ceil(self.users[acc] * (0.15 + 0.85 * reach))
        user = 1 + (rng.random(n) ** 1.3 * user_pool).astype(np.int64)
        quantity = np.ones(n)
        api = name == API_CALL
        quantity[api] += rng.poisson(20 * reach[api])
        export = name == EXPORT
        quantity[export] = rng.integers(1, 4, export.sum())
        order = np.lexsort((acc, seconds))
        return acc[order], seconds[order], name[order], user[order], quantity[order]


def _write_truth(path: Path, book: _Accounts) -> None:
    n = book.count
    table = pa.table(
        {
            "account_id": book.ids.slice(0, n),
            "segment": book.label,
            "archetype": _lookup(ARCHETYPES, book.archetype),
            "churned_at": pa.array(book.churned_at).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
