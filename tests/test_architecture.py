"""The layering rules, computed from the source: packages import downwards only (no cycles), services and
stores know nothing of the web framework, and the HTTP layer runs no SQL."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bostonia"
SQL = re.compile(
    r"\b(select\s[\s\S]+?\sfrom\s+\w+(\s+\w+)?\s+(where|join|order|group|limit)\b"
    r"|insert\s+(or\s+\w+\s+)?into\s+\w+|update\s+\w+\s+set\s|delete\s+from\s+\w+)",
    re.I,
)
HTTP_MODULES = ("routes.py", "pages.py", "builder.py", "socket.py")  # modules of route handlers
DB_CALLS = {"execute", "executemany", "executescript", "fetchall", "fetchone", "fetchval", "execute_write"}


def modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py")}


def unit(path: Path) -> str:
    """The layer a file belongs to: its top-level package (`chat`), or the root module (`app`)."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported(tree: ast.Module) -> list[str]:
    """Every `bostonia` module a file imports, anywhere in it (lazy imports and type-only ones count)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "bostonia":  # from bostonia import errors
            found += [f"bostonia.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bostonia."):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("bostonia")]
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path, tree in modules().items():
        source = unit(path)
        for module in imported(tree):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            if target == "__version__":
                target = "__init__"
            if target != source:
                graph[source].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if cycle := visit(node):
            return cycle
    return None


def test_no_import_cycles_between_packages() -> None:
    graph = import_graph()
    assert len(graph) > 15, "the import graph looks empty"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_leaf_modules_import_almost_nothing() -> None:
    graph = import_graph()
    assert graph["errors"] == set()
    assert graph["identity"] <= {"errors"}
    assert graph["config"] <= {"errors"}
    assert graph["json_limits"] <= {"errors"}  # input bounds: used by the HTTP layer and file importers alike
    assert graph["http"] <= {
        "errors",
        "identity",
        "config",
        "db",
        "audit",
        "observability",
        "ratelimit",
        "json_limits",
    }


def test_services_and_stores_do_not_import_litestar() -> None:
    for path, tree in modules().items():
        if path.name not in ("service.py", "store.py"):
            continue
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith("litestar"), f"{path.relative_to(PACKAGE)} imports {name}"


def test_the_http_layer_runs_no_sql() -> None:
    checked = 0
    for path, tree in modules().items():
        if not any(module.startswith("litestar") for module in _third_party(tree)) or path.parent.name == "http":
            continue
        if not path.name.endswith(HTTP_MODULES):
            continue
        checked += 1
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not SQL.search(node.value), f"SQL in {path.relative_to(PACKAGE)}: {node.value[:60]!r}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in DB_CALLS, f"{path.relative_to(PACKAGE)} calls .{node.func.attr}()"
    assert checked > 10


def _third_party(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_sql_detector() -> None:
    assert SQL.search("select id from users where x = ?")
    assert SQL.search("insert or ignore into t values (1)")
    assert SQL.search("select c.id from characters c join tags t on t.id = c.id")
    assert not SQL.search("Select a character from the list")
