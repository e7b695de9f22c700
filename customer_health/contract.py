"""Landing contract v1, as data.

This module is the single definition of the landing interface described in
`docs/landing-contract.md`. The loaders, the raw table schemas and the sample-data
generator all read it, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CONTRACT_VERSION = 1

Kind = Literal["id", "text", "timestamp", "number", "enum"]

# DuckDB type of each kind in the raw layer. Timestamps are stored as naive UTC.
RAW_TYPES: dict[str, str] = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "enum": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "number": "DOUBLE",
}

# Lineage columns every raw table carries after the contract columns.
LINEAGE_COLUMNS: dict[str, str] = {
    "_extra": "VARCHAR",  # JSON object of the columns the contract does not know
    "_source_file": "VARCHAR",  # path relative to the landing folder
    "_source_row": "BIGINT",  # 1-based data row within the file (header excluded)
    "_load_id": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}

FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    """Required columns must be present in every file and non-empty in every row."""
    min_value: float | None = None
    max_value: float | None = None
    """The plausible range of a number column, both ends allowed. Every number column
    declares both: a value outside is quarantined at the door, so no sum or cast
    downstream (dbt rounds through DECIMAL(38, 12)) can overflow on an export's junk."""
    values: tuple[str, ...] = ()
    """Accepted values of an enum column (compared lower-cased and trimmed)."""
    default: str | None = None
    """Value used when the column is absent or empty (a literal SQL expression)."""

    def __post_init__(self) -> None:
        if self.kind == "number" and (self.min_value is None or self.max_value is None):
            raise ValueError(f"number column {self.name!r} needs a min_value and a max_value")

    @property
    def raw_type(self) -> str:
        return RAW_TYPES[self.kind]

    @property
    def range_text(self) -> str:
        """The allowed range as people read it: `0 to 1000000000`."""
        return f"{number_text(self.min_value)} to {number_text(self.max_value)}"


def number_text(value: float | None) -> str:
    """A bound as plain digits where it is whole (1000000000, not 1e+09)."""
    return "" if value is None else format(value, ".15g")


@dataclass(frozen=True)
class RowRule:
    """A rule that spans columns: rows for which `violated_sql` is true are quarantined."""

    code: str
    violated_sql: str
    """Boolean SQL over the already-typed columns (`t_<column>`)."""
    message_sql: str
    """SQL text expression describing the violation for a person."""
    range_of: str | None = None
    """The number column whose range this rule checks in place of the column's own
    range check (which would give the same row a second, vaguer reason)."""


@dataclass(frozen=True)
class Entity:
    name: str
    primary_key: str
    columns: tuple[Column, ...]
    event_time: str
    """The timestamp column that dates a row: finds the data's date range."""
    version_column: str | None = None
    """Tie-break for duplicate keys: the latest value wins (else the last row read)."""
    row_rules: tuple[RowRule, ...] = field(default=())

    @property
    def is_fact(self) -> bool:
        """Fact entities reference an account and are checked for orphans."""
        return self.name != "accounts"

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")


SURVEY_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}

_survey_range_sql = (
    "isfinite(t_score) and ("
    + " or ".join(
        f"(t_survey_type = '{kind}' and (t_score < {lo} or t_score > {hi}))"
        for kind, (lo, hi) in SURVEY_RANGES.items()
    )
    + ")"
)
_survey_scale_sql = (
    "case t_survey_type "
    + " ".join(f"when '{kind}' then '{lo} to {hi}'" for kind, (lo, hi) in SURVEY_RANGES.items())
    + " end"
)

# Plausible ranges of the money and count columns. Far beyond any real export (a single
# subscription billing a billion a month), yet a billion rows of them sum (times twelve,
# for ARR) well inside DECIMAL(38, 12), whose 26 integer digits dbt rounds through.
MAX_QUANTITY = 1e9
"""One usage event's quantity (a count of calls, seats, units)."""
MAX_MRR = 1e9
"""One subscription's monthly recurring revenue."""
MAX_AMOUNT = 1e10
"""One invoice's amount, either sign (credit notes are negative)."""

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            name="accounts",
            primary_key="account_id",
            event_time="created_at",
            version_column="updated_at",
            columns=(
                Column("account_id", "id", required=True),
                Column("name", "text"),
                Column("segment", "text"),
                Column("plan", "text"),
                Column("region", "text"),
                Column("csm_owner", "text"),
                Column("parent_account_id", "text"),
                Column("created_at", "timestamp", required=True),
                Column("churned_at", "timestamp"),
                Column("updated_at", "timestamp"),
            ),
        ),
        Entity(
            name="usage_events",
            primary_key="event_id",
            event_time="occurred_at",
            columns=(
                Column("event_id", "id", required=True),
                Column("account_id", "id", required=True),
                Column("user_id", "text"),
                Column("event_name", "text", required=True),
                Column("occurred_at", "timestamp", required=True),
                Column("quantity", "number", min_value=0, max_value=MAX_QUANTITY, default="1"),
            ),
        ),
        Entity(
            name="subscriptions",
            primary_key="subscription_id",
            event_time="started_at",
            version_column="updated_at",
            columns=(
                Column("subscription_id", "id", required=True),
                Column("account_id", "id", required=True),
                Column("plan", "text"),
                Column("mrr", "number", required=True, min_value=0, max_value=MAX_MRR),
                Column("currency", "text", default="{default_currency}"),
                Column(
                    "status",
                    "enum",
                    required=True,
                    values=("trialing", "active", "past_due", "canceled"),
                ),
                Column("started_at", "timestamp", required=True),
                Column("canceled_at", "timestamp"),
                Column("ended_at", "timestamp"),
                Column("updated_at", "timestamp"),
            ),
        ),
        Entity(
            name="invoices",
            primary_key="invoice_id",
            event_time="issued_at",
            columns=(
                Column("invoice_id", "id", required=True),
                Column("account_id", "id", required=True),
                Column("issued_at", "timestamp", required=True),
                Column("due_at", "timestamp"),
                Column(
                    "amount", "number", required=True, min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT
                ),
                Column("currency", "text", default="{default_currency}"),
                Column(
                    "status",
                    "enum",
                    required=True,
                    values=("draft", "open", "paid", "void", "uncollectible"),
                ),
                Column("paid_at", "timestamp"),
                Column("subscription_id", "text"),
            ),
        ),
        Entity(
            name="survey_responses",
            primary_key="response_id",
            event_time="responded_at",
            columns=(
                Column("response_id", "id", required=True),
                Column("account_id", "id", required=True),
                Column("respondent_id", "text"),
                Column("survey_type", "enum", required=True, values=tuple(SURVEY_RANGES)),
                Column(
                    "score",
                    "number",
                    required=True,
                    min_value=min(lo for lo, _ in SURVEY_RANGES.values()),
                    max_value=max(hi for _, hi in SURVEY_RANGES.values()),
                ),
                Column("responded_at", "timestamp", required=True),
                Column("comment", "text"),
            ),
            row_rules=(
                RowRule(
                    code="out_of_range",
                    violated_sql=_survey_range_sql,
                    message_sql=(
                        "'score: ' || cast(t_score as varchar) || ' is outside the range of a '"
                        f" || t_survey_type || ' answer (allowed ' || {_survey_scale_sql} || ')'"
                    ),
                    range_of="score",
                ),
            ),
        ),
        Entity(
            name="support_tickets",
            primary_key="ticket_id",
            event_time="opened_at",
            columns=(
                Column("ticket_id", "id", required=True),
                Column("account_id", "id", required=True),
                Column("opened_at", "timestamp", required=True),
                Column("first_response_at", "timestamp"),
                Column("resolved_at", "timestamp"),
                Column("priority", "enum", values=("low", "normal", "high", "urgent")),
                Column("status", "text"),
                Column("satisfaction", "number", min_value=1, max_value=5),
            ),
        ),
    )
}

# Load order: accounts first, so that fact rows can be checked for orphans.
ENTITY_NAMES: tuple[str, ...] = tuple(ENTITIES)
