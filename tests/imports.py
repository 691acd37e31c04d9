"""The package's import graph, read from the source with :mod:`ast` (nothing is imported).

Every ``import`` and ``from ... import`` of a module of ``lash_core``, ``lash_trio`` or
``lash_asyncio`` counts, at module level or nested in a function or class, except those under
``if TYPE_CHECKING:``: they are never executed, so they cannot take part in an import cycle (they
exist to name a type of a module that builds on this one). Relative imports are resolved, and
``from package import name`` counts as importing the submodule ``package.name`` when there is
one, else the package. The implicit import of a module's parent package is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("lash_core", "lash_trio", "lash_asyncio")


def modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the packages: dotted name -> (path, is a package's ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join(parts)] = (path, is_package)
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph() -> dict[str, frozenset[str]]:
    """Each module and the modules of the packages it imports when it runs."""
    known = modules()

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, frozenset[str]] = {}
    for name, (path, is_package) in known.items():
        deps: set[str] = set()
        here = name.split(".") if is_package else name.split(".")[:-1]

        def visit(node: ast.AST, here: list[str] = here, deps: set[str] = deps) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _type_checking(child):
                    for stmt in child.orelse:
                        visit(ast.Module(body=[stmt], type_ignores=[]))
                    continue
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom):
                    if child.level:
                        base = here[: len(here) - (child.level - 1)]
                        module = ".".join(base + ([child.module] if child.module else []))
                    else:
                        module = child.module or ""
                    targets = [
                        f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                        for alias in child.names
                    ]
                else:
                    visit(child)
                    continue
                for target in targets:
                    found = owner(target)
                    if found is not None:
                        deps.add(found)

        visit(ast.parse(path.read_text(encoding="utf-8")))
        deps.discard(name)
        graph[name] = frozenset(deps)
    return graph


def cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each an import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found
