"""The shape of the code, checked from the source so that it stays true (docs/architecture.md):

- `customer_health` is the domain and imports no Dagster (and nothing of `orchestration`);
- `orchestration/defs/<stage>/` modules are thin Dagster wrappers: none imports another
  stage's module (what stages share lives beside them in `orchestration/defs/*.py`);
- the command line reaches the stages through the definitions, not their internals;
- the Dagster layer reaches the warehouse through `customer_health.warehouse` only (the
  one seam a second engine implements): no `orchestration/defs` module imports a
  database driver, the loader or the modules that run SQL on a connection;
- no two modules of the project import each other, directly or round a longer loop.

Every import counts: at the top, inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("customer_health", "orchestration")
STAGES = ("backtest", "config", "dbt", "ingest", "operations", "publish", "quality", "sync")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names an import statement names: modules, and `from m import x` as m.x
    (x may be a module or a name in m; both are kept, and resolved against the modules)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join([*package[: len(package) - node.level + 1], node.module or ""]).strip(".")
    else:
        base = node.module or ""
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def unresolved_imports() -> list[str]:
    """Imports of the project's packages whose module does not exist (`import m` or
    `from m import x` where m is no module of the project)."""
    paths = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    missing = []
    for module, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            base, *names = _imported(module, path, node)
            if isinstance(node, ast.Import):
                names = [base, *names]
                candidates = [[n] for n in names]
            else:
                candidates = [[base]]
            for options in candidates:
                if options[0].split(".")[0] in PACKAGES and options[0] not in paths:
                    missing.append(f"{module}: {options[0]}")
    return sorted(missing)


def import_graph() -> dict[str, set[str]]:
    """Each module of the project -> the project's modules it imports, and every outside
    top-level package it imports (as `external:<name>`)."""
    paths = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(module, path, node):
                if name in paths:
                    found.add(name)
                elif name.split(".")[0] not in PACKAGES:
                    found.add(f"external:{name.split('.')[0]}")
        found.discard(module)
        graph[module] = found
    return graph


GRAPH = import_graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["orchestration", "defs"] and len(parts) > 3 and parts[2] in STAGES:
        return parts[2]
    return None


def test_the_graph_sees_the_project() -> None:
    """The checks below mean something only if the graph holds the modules and edges."""
    assert "customer_health.loader" in GRAPH["orchestration.defs.ingest.assets"]
    assert "external:dagster" in GRAPH["orchestration.defs.ingest.assets"]
    assert {_stage(m) for m in GRAPH} >= set(STAGES)


def test_every_import_of_the_project_names_one_of_its_modules() -> None:
    """A moved module leaves no import of its old path behind, even inside a function."""
    assert unresolved_imports() == []


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_stage_imports_another_stage() -> None:
    crossings = sorted(
        f"{module} -> {imported}"
        for module, imports in GRAPH.items()
        for imported in imports
        if _stage(module) and _stage(imported) and _stage(imported) != _stage(module)
    )
    assert crossings == []


@pytest.mark.parametrize("outside", ["external:dagster", "external:dagster_dbt"])
def test_the_domain_package_imports_no_dagster(outside: str) -> None:
    domain = {m: i for m, i in GRAPH.items() if m.split(".")[0] == "customer_health"}
    assert len(domain) > 20
    assert sorted(m for m, imports in domain.items() if outside in imports) == []
    assert (
        sorted(
            f"{m} -> {i}" for m, imports in domain.items() for i in imports if i.startswith("orch")
        )
        == []
    )


DRIVERS = ("duckdb", "psycopg", "psycopg2", "pyspark")
BEHIND_THE_SEAM = (
    "customer_health.duckdb_connection",
    "customer_health.loader.load_entity",
    "customer_health.quality.results.record_results",
    "customer_health.quality.exit_checks.run_exit_checks",
    "customer_health.sync.runner.sync_destination",
    "customer_health.publish.serving.publish_serving_file",
    "customer_health.postgres.publish_schema",
)
"""A database driver, and what runs SQL on a connection: only customer_health.warehouse
hands them a connection."""


def imported_names(module: str) -> set[str]:
    """Every dotted name a module's imports name (`from m import x` as m and m.x)."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return {
        name
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(module, path, node)
    }


def _behind_the_seam(names: set[str]) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in DRIVERS or n.startswith(BEHIND_THE_SEAM))


def test_the_dagster_layer_reaches_the_warehouse_through_one_seam() -> None:
    defs = [m for m in GRAPH if m.startswith("orchestration.defs")]
    assert len(defs) > 15 and "customer_health.warehouse" in GRAPH["orchestration.defs.resources"]
    reached = {m: _behind_the_seam(imported_names(m)) for m in defs}
    assert {m: names for m, names in reached.items() if names} == {}


def test_the_seam_check_sees_what_it_looks_for() -> None:
    names = imported_names("customer_health.warehouse")
    assert {"duckdb", "customer_health.loader.load_entity"} <= set(_behind_the_seam(names))


def test_the_command_line_uses_no_stage_module() -> None:
    assert sorted(i for i in GRAPH["orchestration.cli"] if _stage(i)) == []


def test_partition_tags_are_dagster_s_own() -> None:
    """The run tags partitions.py spells out are the ones Dagster sets."""
    from dagster._core.storage import tags

    from orchestration.defs import partitions

    assert partitions.RANGE_START_TAG == tags.ASSET_PARTITION_RANGE_START_TAG
    assert partitions.RANGE_END_TAG == tags.ASSET_PARTITION_RANGE_END_TAG
    assert partitions.PARTITION_TAG == tags.PARTITION_NAME_TAG
    assert partitions.BACKFILL_ID_TAG == tags.BACKFILL_ID_TAG
