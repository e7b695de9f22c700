"""The landing contract is defined once, in customer_health/contract.py: the loader reads it
directly, and the two other places that state its enums and ranges (the GX suite of each
raw entity, the staging models' dbt tests) are checked against it here, so a value added
or a range moved in one place and not the others fails at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from customer_health.contract import ENTITIES
from customer_health.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

STAGING = yaml.safe_load(
    (DBT_PROJECT_DIR / "models" / "staging" / "raw" / "_raw__models.yml").read_text()
)
ENUMS = [
    (entity, column) for entity in ENTITIES.values() for column in entity.columns if column.values
]
NUMBERS = [
    (entity, column)
    for entity in ENTITIES.values()
    for column in entity.columns
    if column.kind == "number"
]


def _suite_kwargs(entity_name: str, expectation: str) -> dict[str, dict]:
    path = Path(EXPECTATIONS_DIR) / f"raw_{entity_name}.json"
    suite = json.loads(path.read_text())
    return {
        e["kwargs"]["column"]: e["kwargs"]
        for e in suite["expectations"]
        if e["type"] == expectation and "column" in e["kwargs"]
    }


def _staging_tests(entity_name: str, column_name: str) -> list:
    [model] = [m for m in STAGING["models"] if m["name"] == f"stg_raw__{entity_name}"]
    [column] = [c for c in model["columns"] if c["name"] == column_name]
    return column.get("data_tests", [])


def test_the_contract_has_enums_and_ranges_to_check() -> None:
    assert len(ENUMS) >= 4 and len(NUMBERS) >= 4


@pytest.mark.parametrize(("entity", "column"), ENUMS, ids=[f"{e.name}.{c.name}" for e, c in ENUMS])
def test_every_enum_is_stated_as_the_contract_says(entity, column) -> None:
    in_set = _suite_kwargs(entity.name, "expect_column_values_to_be_in_set")
    assert column.name in in_set, f"raw_{entity.name}.json does not check {column.name}"
    assert sorted(in_set[column.name]["value_set"]) == sorted(column.values)
    accepted = [t["accepted_values"] for t in _staging_tests(entity.name, column.name)
                if isinstance(t, dict) and "accepted_values" in t]  # fmt: skip
    assert accepted, f"stg_raw__{entity.name}.{column.name} has no accepted_values test"
    assert sorted(accepted[0]["arguments"]["values"]) == sorted(column.values)


@pytest.mark.parametrize(
    ("entity", "column"), NUMBERS, ids=[f"{e.name}.{c.name}" for e, c in NUMBERS]
)
def test_every_stated_range_is_the_contract_s(entity, column) -> None:
    """Where a suite or a staging test restates a number column's range, it is the
    contract's range (a suite may check a tighter rule of its own under another name)."""
    between = _suite_kwargs(entity.name, "expect_column_values_to_be_between")
    if column.name in between:
        stated = between[column.name]
        assert (stated["min_value"], stated["max_value"]) == (column.min_value, column.max_value)
    for test in _staging_tests(entity.name, column.name):
        if isinstance(test, dict) and "value_between" in test:
            arguments = test["value_between"]["arguments"]
            assert (arguments["min_value"], arguments["max_value"]) == (
                column.min_value,
                column.max_value,
            )
