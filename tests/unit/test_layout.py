"""The package's shape, checked from its source: no import cycles, and the domain never imports the HTTP layer.

Every import counts, function-local and ``TYPE_CHECKING`` ones included: a cycle
hidden inside a function still ties its modules together at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "herald"
# The composition root and the entry points may know every layer; the domain may not.
OUTSIDE_THE_DOMAIN = ("herald.api", "herald.admin", "herald.bench", "herald.app", "herald.cli", "herald.services",
                      "herald.migrations")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["herald", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The herald modules ``name`` imports, resolved to modules (``from herald.x import y`` is herald.x.y if
    that is a module, else herald.x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(GRAPH[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
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

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_whole_package() -> None:
    # A walk that found nothing would pass every other test here.
    assert {"herald.publish", "herald.fanout.redis", "herald.api.inbox", "herald.admin.router"} <= set(MODULES)
    assert {"herald.api.auth", "herald.wire"} <= GRAPH["herald.api.producer"]


def test_no_module_imports_itself_back_through_others() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith(OUTSIDE_THE_DOMAIN)))
def test_the_domain_imports_nothing_of_the_http_layer_or_the_admin_console(module: str) -> None:
    wrong = sorted(target for target in GRAPH[module] if target.startswith(("herald.api.", "herald.admin", "herald.app")))
    assert wrong == [], f"{module} imports {wrong}"


def test_the_domain_raises_errors_without_litestar() -> None:
    source = (PACKAGE / "errors.py").read_text()
    assert "litestar" not in source and "sqlalchemy" not in source
