"""Hostile landing files, and the verdict on each after a real pipeline run.

`write_hostile_landing` adds to a landing folder (beside ordinary generated data):

- SQL, Jinja, shell and HTML strings in every text and id column of every entity (rows
  of their own accounts, so they reach the marts and the syncs), and in an enum column;
- a 1 MiB text field (CSV and JSON), NUL bytes (CSV and JSON), a UTF-8 byte-order mark,
  CRLF line ends, a latin-1 file;
- NaN, ±Infinity, 1e308, -1e308, 1e309 and -0 in every number column (CSV text, JSON
  numbers, Parquet doubles);
- a JSON value nested 10,000 deep, and JSONL lines that are not objects;
- file names with glob characters, spaces, unicode, a leading `-`, shell and Jinja;
- symbolic links out of the landing folder (to a file, to a folder, to /etc/passwd).

The files to be refused are all of fact entities: a refused accounts file fails the
accounts load, and every fact entity's load depends on it, so in that run no fact file
would be read (and judged) at all.

Every case ends one of three acceptable ways: its rows are **stored verbatim**, a row is
**quarantined** with a reason, or the file is **refused** with a message naming it.
Anything else is a failure: a value stored altered, a row silently gone or loaded
twice, a string executed (a shell command creating its marker file, Jinja rendered),
a file read from outside the landing folder, or a crash (a step failing with an
exception instead of a refusal).

`judge` reads the verdicts from the warehouse (raw tables, quarantine and load audit,
located by file and row number), the serving file and the sync destinations.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from customer_health.contract import ENTITIES

MIB = 1 << 20
NESTING = 10_000


def hostile_strings(token: str) -> dict[str, str]:
    """One string per kind of injection; `token` names the marker files a shell would make."""
    return {
        "sql": (
            'x\'); drop table raw.accounts; -- " or "1"="1";'
            " select * from information_schema.tables; /*"
        ),
        "jinja": (
            "{{ run_query('drop table raw.accounts') }}"
            "{% do adapter.drop_schema(api.Relation.create(schema='raw')) %}"
            "{{ env_var('HEALTH_SYNC_WEBHOOK_TOKEN', 'jinja-not-rendered') }}{#"
        ),
        "shell": (
            f"$(touch /tmp/pwned-{token}-dollar) `touch /tmp/pwned-{token}-tick`;"
            f" touch /tmp/pwned-{token}-semi | touch pwned-{token}-rel && echo"
        ),
        "html": f'<script>alert("pwned-{token}")</script><img src=x onerror="alert(1)">',
    }


KIND_NAMES = {"sql": "SQL", "jinja": "Jinja", "shell": "shell", "html": "HTML"}


def marker_names(token: str) -> list[str]:
    """The files an executed shell string (or file name) would create."""
    return [f"pwned-{token}-{s}" for s in ("dollar", "tick", "semi", "rel", "name")]


NUMBER_VALUES = {
    "NaN": "NaN",
    "+Infinity": "+Infinity",
    "-Infinity": "-Infinity",
    "1e308": "1e308",
    "-1e308": "-1e308",
    "1e309": "1e309",
    "-0": "-0",
}
"""As written in CSV; JSON and Parquet get the same numbers as numbers where they can."""


@dataclass
class Item:
    """One row (or one file) whose fate is judged: located by its file and data row."""

    file: str
    row: int | None
    """1-based data row; None for a file judged as a whole"""
    entity: str
    written: dict[str, Any] = field(default_factory=dict)
    """column -> the value written, compared with what was stored"""
    allowed: frozenset[str] = frozenset({"stored verbatim", "quarantined", "refused"})
    label: str = ""


@dataclass
class Case:
    name: str
    items: list[Item]
    note: str = ""
    extra: Callable[[Evidence], list[str]] | None = None
    """further checks (downstream, markers): each returned text is a failure"""
    downstream: Callable[[Evidence], list[str]] | None = None
    """what the published outputs hold (when run B published): notes, failures start with !"""


@dataclass
class Verdict:
    case: str
    outcome: str
    ok: bool
    detail: str = ""
    lost: int = 0
    """rows of the case found nowhere (not stored, not quarantined, file not refused)"""


@dataclass
class Evidence:
    warehouse: Path
    serving: Path | None
    """the serving file published after the hostile files (None when nothing was)"""
    outputs: dict[str, Any] = field(default_factory=dict)
    """other published outputs: report HTML text, outbox and webhook records"""
    crashed_steps: list[str] = field(default_factory=list)
    """steps that failed with an exception rather than a refusal"""
    markers_found: list[str] = field(default_factory=list)


# --- writing ---------------------------------------------------------------------------


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], newline: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=newline)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _jsonl(rows: Iterable[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@dataclass
class HostileLanding:
    token: str
    cases: list[Case]
    outside: Path


def write_hostile_landing(
    landing: Path, outside: Path, token: str, account: str, day: date
) -> HostileLanding:
    """Write every hostile case into `landing` (and the targets of its links into
    `outside`). `account` is an ordinary account of the landing data (number and format
    cases hang off it), `day` a day inside the data's window."""
    strings = hostile_strings(token)
    at = f"{day.isoformat()}T10:00:00Z"
    created = f"{(day - timedelta(days=3)).isoformat()}T08:00:00Z"
    stamp = day.isoformat()
    cases: list[Case] = []

    # 1. injection strings in every text and id column -----------------------------------
    text_items: dict[str, list[Item]] = {kind: [] for kind in strings}

    def add_rows(entity: str, rel: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
        texts = {c.name for c in ENTITIES[entity].columns if c.kind in ("id", "text")}
        for number, (kind, values) in enumerate(rows, start=1):
            judged = {c: v for c, v in values.items() if c in texts}
            text_items[kind].append(Item(rel, number, entity, judged, label=f"{entity} row"))

    header = list(ENTITIES["accounts"].column_names)
    rows = []
    for kind, s in strings.items():
        rows.append(
            (
                kind,
                {
                    "account_id": s,
                    "name": s,
                    "segment": s,
                    "plan": s,
                    "region": s,
                    "csm_owner": s,
                    "parent_account_id": s + "#parent",
                    "created_at": created,
                    "updated_at": created,
                },
            )
        )
    rel = f"accounts/{stamp}-hostile-text.csv"
    _write(
        landing / rel, _csv_bytes(header, [[v.get(c) for c in header] for _, v in rows]).encode()
    )
    add_rows("accounts", rel, rows)

    def fact_rows(entity: str, make: Callable[[str], dict[str, Any]]) -> list[tuple[str, dict]]:
        return [(kind, make(s)) for kind, s in strings.items()]

    usage = fact_rows(
        "usage_events",
        lambda s: {
            "event_id": s + "#usage",
            "account_id": s,
            "user_id": s,
            "event_name": s,
            "occurred_at": at,
            "quantity": "1",
        },
    )
    subs = fact_rows(
        "subscriptions",
        lambda s: {
            "subscription_id": s + "#sub",
            "account_id": s,
            "plan": s,
            "mrr": "100",
            "currency": s,
            "status": "active",
            "started_at": at,
        },
    )
    invoices = fact_rows(
        "invoices",
        lambda s: {
            "invoice_id": s + "#inv",
            "account_id": s,
            "issued_at": at,
            "amount": "10",
            "currency": s,
            "status": "paid",
            "paid_at": at,
            "subscription_id": s + "#sub",
        },
    )
    tickets = fact_rows(
        "support_tickets",
        lambda s: {
            "ticket_id": s + "#tkt",
            "account_id": s,
            "opened_at": at,
            "priority": "normal",
            "status": s,
            "satisfaction": "4",
        },
    )
    for entity, rows_, suffix in (
        ("usage_events", usage, "csv"),
        ("subscriptions", subs, "csv"),
        ("invoices", invoices, "csv"),
        ("support_tickets", tickets, "csv.gz"),
    ):
        header = list(ENTITIES[entity].column_names)
        text = _csv_bytes(header, [[v.get(c) for c in header] for _, v in rows_]).encode()
        rel = f"{entity}/{stamp}-hostile-text.{suffix}"
        _write(landing / rel, gzip.compress(text, mtime=0) if suffix.endswith("gz") else text)
        add_rows(entity, rel, rows_)
    surveys = fact_rows(
        "survey_responses",
        lambda s: {
            "response_id": s + "#srv",
            "account_id": s,
            "respondent_id": s,
            "survey_type": "nps",
            "score": 8,
            "responded_at": at,
            "comment": s,
        },
    )
    rel = f"survey_responses/{stamp}-hostile-text.jsonl"
    _write(landing / rel, _jsonl(v for _, v in surveys))
    add_rows("survey_responses", rel, surveys)
    for kind, items in text_items.items():
        cases.append(
            Case(
                f"{KIND_NAMES[kind]} string in every text and id column",
                items,
                note=strings[kind][:60],
                downstream=_downstream_text(strings[kind], kind),
            )
        )

    # an injection string in an enum column: not a valid value
    rel = f"subscriptions/{stamp}-hostile-enum.csv"
    header = ["subscription_id", "account_id", "mrr", "status", "started_at"]
    _write(
        landing / rel, _csv_bytes(header, [["ENUM-1", account, "100", strings["sql"], at]]).encode()
    )
    cases.append(
        Case(
            "SQL string in an enum column",
            [Item(rel, 1, "subscriptions", {"status": strings["sql"]}, frozenset({"quarantined"}))],
        )
    )

    # 2. bytes and encodings ---------------------------------------------------------------
    big = ("0123456789abcdef" * (MIB // 16))[:MIB]
    rel = f"accounts/{stamp}-big-field.csv"
    _write(
        landing / rel,
        _csv_bytes(["account_id", "name", "created_at"], [["BIG-1", big, created]]).encode(),
    )
    rel_json = f"survey_responses/{stamp}-big-field.jsonl"
    _write(
        landing / rel_json,
        _jsonl(
            [
                {
                    "response_id": "BIG-SRV-1",
                    "account_id": account,
                    "survey_type": "csat",
                    "score": 4,
                    "responded_at": at,
                    "comment": big,
                }
            ]
        ),
    )
    cases.append(
        Case(
            "1 MiB text field (CSV name, JSON comment)",
            [
                Item(rel, 1, "accounts", {"name": big}),
                Item(rel_json, 1, "survey_responses", {"comment": big}),
            ],
        )
    )

    rel = f"accounts/{stamp}-nul.csv"
    _write(
        landing / rel,
        _csv_bytes(
            ["account_id", "name", "created_at"], [["NUL-1", "nul\x00byte", created]]
        ).encode(),
    )
    rel_json = f"survey_responses/{stamp}-nul.jsonl"
    _write(
        landing / rel_json,
        _jsonl(
            [
                {
                    "response_id": "NUL-SRV-1",
                    "account_id": account,
                    "survey_type": "nps",
                    "score": 7,
                    "responded_at": at,
                    "comment": "nul\x00json",
                }
            ]
        ),
    )
    cases.append(
        Case(
            "NUL byte in a text field (CSV, JSON \\u0000)",
            [
                Item(
                    rel,
                    1,
                    "accounts",
                    {"name": "nul\x00byte"},
                    frozenset({"quarantined", "refused"}),
                ),
                Item(
                    rel_json,
                    1,
                    "survey_responses",
                    {"comment": "nul\x00json"},
                    frozenset({"quarantined", "refused"}),
                ),
            ],
            note="no output can hold a NUL (Postgres refuses it): stored verbatim is not possible",
        )
    )

    rel = f"accounts/{stamp}-bom.csv"
    _write(
        landing / rel,
        codecs.BOM_UTF8
        + _csv_bytes(
            ["account_id", "name", "created_at"], [["BOM-1", "byte order mark", created]]
        ).encode(),
    )
    rel_json = f"survey_responses/{stamp}-bom.jsonl"
    _write(
        landing / rel_json,
        codecs.BOM_UTF8
        + _jsonl(
            [
                {
                    "response_id": "BOM-SRV-1",
                    "account_id": account,
                    "survey_type": "nps",
                    "score": 9,
                    "responded_at": at,
                    "comment": "after a BOM",
                }
            ]
        ),
    )
    cases.append(
        Case(
            "UTF-8 byte-order mark (CSV, JSONL)",
            [
                Item(rel, 1, "accounts", {"account_id": "BOM-1", "name": "byte order mark"}),
                Item(rel_json, 1, "survey_responses", {"response_id": "BOM-SRV-1"}),
            ],
        )
    )

    rel = f"accounts/{stamp}-crlf.csv"
    _write(
        landing / rel,
        _csv_bytes(
            ["account_id", "created_at", "name"],
            [["CRLF-1", created, "line one"], ["CRLF-2", created, "line two"]],
            newline="\r\n",
        ).encode(),
    )
    cases.append(
        Case(
            "CRLF line ends (last column text)",
            [
                Item(rel, 1, "accounts", {"account_id": "CRLF-1", "name": "line one"}),
                Item(rel, 2, "accounts", {"account_id": "CRLF-2", "name": "line two"}),
            ],
        )
    )

    rel = f"support_tickets/{stamp}-latin1.csv"
    _write(
        landing / rel,
        _csv_bytes(
            ["ticket_id", "account_id", "opened_at", "status"],
            [["LATIN-1", account, at, "Café Müller Øre"]],
        ).encode("latin-1"),
    )
    cases.append(
        Case(
            "latin-1 encoded CSV",
            [
                Item(
                    rel, 1, "support_tickets", {"ticket_id": "LATIN-1", "status": "Café Müller Øre"}
                )
            ],
            note="stored verbatim would need a decode; mojibake is a failure",
        )
    )

    # 3. numbers ---------------------------------------------------------------------------
    number_items: dict[str, list[Item]] = {label: [] for label in NUMBER_VALUES}
    templates: dict[str, tuple[str, Callable[[str, str], dict[str, Any]]]] = {
        "usage_events": (
            "quantity",
            lambda k, v: {
                "event_id": k,
                "account_id": account,
                "event_name": "login",
                "occurred_at": at,
                "quantity": v,
            },
        ),
        "subscriptions": (
            "mrr",
            lambda k, v: {
                "subscription_id": k,
                "account_id": account,
                "mrr": v,
                "status": "active",
                "started_at": at,
            },
        ),
        "invoices": (
            "amount",
            lambda k, v: {
                "invoice_id": k,
                "account_id": account,
                "issued_at": at,
                "amount": v,
                "status": "paid",
            },
        ),
        "support_tickets": (
            "satisfaction",
            lambda k, v: {
                "ticket_id": k,
                "account_id": account,
                "opened_at": at,
                "satisfaction": v,
            },
        ),
    }
    for entity, (column, make) in templates.items():
        made = [
            make(f"NUM-{entity[:3].upper()}-{i}", v) for i, v in enumerate(NUMBER_VALUES.values())
        ]
        header = list(made[0])
        rel = f"{entity}/{stamp}-numbers.csv"
        _write(landing / rel, _csv_bytes(header, [[r[c] for c in header] for r in made]).encode())
        for number, label in enumerate(NUMBER_VALUES, start=1):
            number_items[label].append(
                Item(
                    rel,
                    number,
                    entity,
                    {column: NUMBER_VALUES[label]},
                    _number_allowed(label, entity, column),
                    f"{entity}.{column} (CSV)",
                )
            )
    json_values = {
        "NaN": math.nan,
        "+Infinity": math.inf,
        "-Infinity": -math.inf,
        "1e308": 1e308,
        "-1e308": -1e308,
        "-0": -0.0,
    }
    rel = f"survey_responses/{stamp}-numbers.jsonl"
    json_rows = [
        {
            "response_id": f"NUM-SRV-{i}",
            "account_id": account,
            "survey_type": "nps",
            "score": v,
            "responded_at": at,
        }
        for i, v in enumerate(json_values.values())
    ]
    # 1e309 is no JSON number Python writes (it overflows to Infinity): written as text
    lines = [json.dumps(r) for r in json_rows] + [
        json.dumps({**json_rows[0], "response_id": "NUM-SRV-9", "score": 0}).replace(
            '"score": 0', '"score": 1e309'
        )
    ]
    _write(landing / rel, ("\n".join(lines) + "\n").encode())
    for number, label in enumerate([*json_values, "1e309"], start=1):
        number_items[label].append(
            Item(
                rel,
                number,
                "survey_responses",
                {"score": NUMBER_VALUES[label]},
                _number_allowed(label, "survey_responses", "score"),
                "survey_responses.score (JSON)",
            )
        )
    parquet_values = {
        "NaN": math.nan,
        "+Infinity": math.inf,
        "-Infinity": -math.inf,
        "1e308": 1e308,
        "-1e308": -1e308,
        "-0": -0.0,
    }
    rel = f"usage_events/{stamp}-numbers.parquet"
    n = len(parquet_values)
    (landing / rel).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "event_id": [f"NUM-PQ-{i}" for i in range(n)],
                "account_id": [account] * n,
                "event_name": ["login"] * n,
                "occurred_at": [at] * n,
                "quantity": pa.array(list(parquet_values.values()), pa.float64()),
            }
        ),
        landing / rel,
    )
    for number, label in enumerate(parquet_values, start=1):
        number_items[label].append(
            Item(
                rel,
                number,
                "usage_events",
                {"quantity": NUMBER_VALUES[label]},
                _number_allowed(label, "usage_events", "quantity"),
                "usage_events.quantity (Parquet double)",
            )
        )
    for label, items in number_items.items():
        cases.append(Case(f"{label} in every number column", items))

    # 4. JSON shapes -----------------------------------------------------------------------
    nested = '{"a":' * NESTING + "1" + "}" * NESTING
    rel = f"survey_responses/{stamp}-nested.jsonl"
    line = (
        '{"response_id":"NEST-1","account_id":' + json.dumps(account) + ',"survey_type":"nps",'
        f'"score":6,"responded_at":"{at}","comment":{nested},"deep":'
        + "[" * NESTING
        + "]" * NESTING
        + "}\n"
    )
    _write(landing / rel, line.encode())
    cases.append(
        Case(
            f"JSON nested {NESTING:,} deep (a text column, an extra column)",
            [Item(rel, 1, "survey_responses", {"comment": nested})],
            note="stored verbatim: the nested value kept as its JSON text",
        )
    )
    rel = f"survey_responses/{stamp}-not-objects.jsonl"
    good = {
        "response_id": "OBJ-1",
        "account_id": account,
        "survey_type": "nps",
        "score": 5,
        "responded_at": at,
    }
    not_objects = ["[1, 2, 3]", '"a string"', "42", "null", "true"]
    _write(landing / rel, ("\n".join([*not_objects, json.dumps(good)]) + "\n").encode())
    cases.append(
        Case(
            "JSONL lines that are not objects (array, string, number, null, true)",
            [
                Item(rel, i, "survey_responses", {}, frozenset({"quarantined", "refused"}), text)
                for i, text in enumerate(not_objects, start=1)
            ]
            + [Item(rel, len(not_objects) + 1, "survey_responses", {"response_id": "OBJ-1"})],
        )
    )

    # 5. file names ------------------------------------------------------------------------
    names = {
        "*.csv": "NAME-STAR",
        "[x] ü 日本.csv": "NAME-BRACKET",
        "-leading-dash.csv": "NAME-DASH",
        "with space?.csv": "NAME-SPACE",
        f"$(touch pwned-{token}-name).csv": "NAME-SHELL",
        "{{ 7 * 7 }}.csv": "NAME-JINJA",
    }
    name_items = []
    for name, account_id in names.items():
        rel = f"accounts/{name}"
        _write(
            landing / rel,
            _csv_bytes(
                ["account_id", "name", "created_at"], [[account_id, name, created]]
            ).encode(),
        )
        name_items.append(Item(rel, 1, "accounts", {"account_id": account_id}, label=name))
    cases.append(
        Case(
            "file names: glob characters, spaces, unicode, leading -, shell, Jinja",
            name_items,
            extra=lambda ev: _each_file_once(ev, [i.file for i in name_items]),
        )
    )

    # 6. links out of the landing folder ---------------------------------------------------
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret-subscriptions.csv").write_text(
        _csv_bytes(
            ["subscription_id", "account_id", "mrr", "status", "started_at"],
            [["ESCAPED-FILE", account, "100", "active", at]],
        )
    )
    folder = outside / "usage"
    folder.mkdir(exist_ok=True)
    (folder / f"{stamp}.csv").write_text(
        _csv_bytes(
            ["event_id", "account_id", "event_name", "occurred_at"],
            [["ESCAPED-DIR", account, "login", at]],
        )
    )
    links = {
        f"subscriptions/{stamp}-escape.csv": outside / "secret-subscriptions.csv",
        "usage_events/escape-folder": folder,
        "support_tickets/passwd.csv": Path("/etc/passwd"),
    }
    for rel, target in links.items():
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).symlink_to(target, target_is_directory=target.is_dir())
    cases.append(
        Case(
            "symbolic links out of the landing folder (file, folder, /etc/passwd)",
            [
                Item(rel, None, rel.split("/")[0], {}, frozenset({"refused"}), label=rel)
                for rel in links
            ],
            extra=_nothing_escaped,
        )
    )
    return HostileLanding(token, cases, outside)


def _number_allowed(label: str, entity: str, column: str) -> frozenset[str]:
    """-0 is stored as 0 (the contract), where 0 is in the column's range; every other
    value is out of range or not a finite number: quarantined (or its file refused)."""
    low = ENTITIES[entity].column(column).min_value
    if label == "-0" and low is not None and low <= 0:
        return frozenset({"stored as 0"})
    return frozenset({"quarantined", "refused"})


# --- judging ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:60]) + (f"… ({len(value)} chars)" if len(value) > 60 else "")
    return repr(value)


def _judge_item(con: duckdb.DuckDBPyConnection, item: Item) -> tuple[str, bool, str]:
    """(outcome, acceptable, detail) of one item."""
    entity = ENTITIES[item.entity]
    audit = con.execute(
        "select status, error from raw._load_audit where source_file = ? order by loaded_at",
        [item.file],
    ).fetchall()
    refusals = [error for status, error in audit if status == "failed"]
    if item.row is None:
        if refusals:
            return "refused", "refused" in item.allowed, refusals[-1] or ""
        loaded = [s for s, _ in audit]
        return (f"LOADED ({', '.join(loaded)})" if loaded else "NOT READ"), False, ""
    raw = _rows(con, f"raw.{entity.name}", item)
    quarantined = _rows(con, f"raw.{entity.name}__quarantine", item)
    if len(raw) + len(quarantined) > 1:
        return "LOADED TWICE", False, f"{len(raw)} raw, {len(quarantined)} quarantined rows"
    if raw:
        row = raw[0]
        altered = []
        for column, written in item.written.items():
            stored = row.get(column)
            if column in {c.name for c in entity.columns if c.kind == "number"}:
                outcome = _number_outcome(written, stored)
                if outcome != "stored as 0" or "stored as 0" not in item.allowed:
                    return outcome, outcome in item.allowed, f"{column} = {stored!r}"
                continue
            if stored != written:
                altered.append(f"{column}: wrote {_text(written)}, stored {_text(stored)}")
        if altered:
            return "ALTERED", False, "; ".join(altered)
        kept = "stored as 0" if "stored as 0" in item.allowed else "stored verbatim"
        return kept, kept in item.allowed, ""
    if quarantined:
        reason = str(quarantined[0].get("_reasons") or quarantined[0].get("_reason_codes"))
        return "quarantined", "quarantined" in item.allowed, reason
    if refusals:
        return "refused", "refused" in item.allowed, refusals[-1] or ""
    if audit:
        return "MISSING", False, f"file {', '.join(s for s, _ in audit)}, row not found"
    return "NOT READ", False, "no load audit row for the file"


def _number_outcome(written: Any, stored: Any) -> str:
    if stored is None:
        return "STORED NULL"
    value = float(stored)
    if not math.isfinite(value):
        return f"STORED {value}"
    if value == 0 and str(written).startswith("-"):
        return "stored as 0" if math.copysign(1.0, value) > 0 else "STORED -0"
    return f"STORED {value!r}"


def _rows(con: duckdb.DuckDBPyConnection, table: str, item: Item) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(
            f"select * from {table} where _source_file = ? and _source_row = ?",
            [item.file, item.row],
        )
    except duckdb.CatalogException:
        return []
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def judge(landing: HostileLanding, evidence: Evidence) -> list[Verdict]:
    """The verdict on every case: the outcome of its items, plus its extra checks."""
    con = duckdb.connect(str(evidence.warehouse), read_only=True)
    verdicts = []
    try:
        for case in landing.cases:
            outcomes, failures, details = [], [], []
            for item in case.items:
                outcome, ok, detail = _judge_item(con, item)
                outcomes.append(outcome)
                where = item.label or f"{item.file} row {item.row}"
                if not ok:
                    failures.append(
                        f"{where}: {outcome}" + (f" ({detail[:300]})" if detail else "")
                    )
                elif detail and outcome in ("refused", "quarantined"):
                    details.append(f"{where}: {detail[:160]}")
            if case.extra is not None:
                failures += case.extra(evidence)
            downstream = []
            if case.downstream is not None and evidence.serving is not None:
                for note in case.downstream(evidence):
                    (failures if note.startswith("!") else downstream).append(note.lstrip("!"))
            distinct = sorted(set(outcomes), key=outcomes.index)
            summary = " / ".join(distinct)
            detail = "; ".join(failures) if failures else "; ".join(details[:3])
            if downstream:
                detail = (detail + "; " if detail else "") + "; ".join(downstream)
            lost = sum(1 for o in outcomes if o in ("MISSING", "NOT READ"))
            verdicts.append(Verdict(case.name, summary, not failures, detail, lost))
    finally:
        con.close()
    verdicts.append(
        Verdict(
            "none executed: no marker file from a shell string or name",
            "nothing executed" if not evidence.markers_found else "EXECUTED",
            not evidence.markers_found,
            ", ".join(evidence.markers_found),
        )
    )
    verdicts.append(
        Verdict(
            "no crash: every failed step failed with a refusal, not an exception",
            "no crash" if not evidence.crashed_steps else "CRASH",
            not evidence.crashed_steps,
            "; ".join(evidence.crashed_steps)[:600],
        )
    )
    return verdicts


def _each_file_once(evidence: Evidence, files: list[str]) -> list[str]:
    """A name read as a glob would load its neighbours: every file's rows come from it
    alone, and no landing file was loaded under two names."""
    con = duckdb.connect(str(evidence.warehouse), read_only=True)
    try:
        problems = []
        for rel in files:
            rows = con.execute(
                "select count(*) from raw.accounts where _source_file = ?", [rel]
            ).fetchone()
            if rows and rows[0] > 1:
                problems.append(f"{rel}: {rows[0]} rows loaded from a one-row file")
        return problems
    finally:
        con.close()


def _nothing_escaped(evidence: Evidence) -> list[str]:
    con = duckdb.connect(str(evidence.warehouse), read_only=True)
    try:
        problems = []
        for table, column, marker in (
            ("raw.subscriptions", "subscription_id", "ESCAPED-FILE"),
            ("raw.subscriptions__quarantine", "subscription_id", "ESCAPED-FILE"),
            ("raw.usage_events", "event_id", "ESCAPED-DIR"),
            ("raw.usage_events__quarantine", "event_id", "ESCAPED-DIR"),
        ):
            row = con.execute(
                f"select count(*) from {table} where {column} = ?", [marker]
            ).fetchone()
            if row and row[0]:
                problems.append(f"ESCAPED: {marker} read from outside the landing folder ({table})")
        row = con.execute(
            "select count(*) from raw.support_tickets__quarantine where _source_file = ?",
            ["support_tickets/passwd.csv"],
        ).fetchone()
        if row and row[0]:
            problems.append("ESCAPED: /etc/passwd read through a link")
        return problems
    finally:
        con.close()


def _downstream_text(value: str, kind: str) -> Callable[[Evidence], list[str]]:
    """Where the hostile account shows up after publishing: the serving file's
    dim_accounts (its name, segment, plan, region, owner verbatim), the report (HTML
    escaped), the outbox and the webhook (its id verbatim)."""

    def check(evidence: Evidence) -> list[str]:
        assert evidence.serving is not None
        notes = []
        con = duckdb.connect(str(evidence.serving), read_only=True)
        try:
            row = con.execute(
                "select account_name, segment, plan, region, csm_owner from dim_accounts"
                " where account_id = ?",
                [value],
            ).fetchone()
        finally:
            con.close()
        if row is None:
            notes.append("!not in the published dim_accounts")
        else:
            # segment picks the scorecard: staging trims it and puts it in lower case
            name, segment, *others = row
            expected = [value, value.strip().lower(), *[value] * len(others)]
            if [name, segment, *others] != expected:
                shown = [_text(v) for v in row]
                notes.append(f"!ALTERED in the published dim_accounts: {shown}")
            else:
                notes.append("verbatim in the serving file (segment in lower case, as documented)")
        report = evidence.outputs.get("report_html")
        if kind == "html" and isinstance(report, str) and value in report:
            notes.append("!NOT ESCAPED in the health report HTML")
        for name in ("outbox", "webhook", "postgres_dim_accounts", "postgres_sync"):
            records = evidence.outputs.get(name)
            if records is None:
                continue
            if value in records:
                notes.append(f"verbatim in {name}")
            else:
                notes.append(f"!not verbatim in {name}")
        return notes

    return check
