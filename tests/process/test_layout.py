"""The process wing's module layout: value modules stay leaves, no module-level import cycle,
no file over 600 lines, and every name the facades exported before the split still resolves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
WING = [
    *sorted((ROOT / "lash_core" / "process").glob("*.py")),
    ROOT / "lash_core" / "effects" / "process.py",
    ROOT / "benchmarks" / "bench_process.py",
    *sorted((ROOT / "tests" / "process").glob("*.py")),
]
VALUE_MODULES = ("records", "events", "grants", "leases", "lifecycle", "_state", "wakes")
# What the value modules and the registry may never load: the host (being split into
# loop/routing/host), turns and the simulator sit above them.
FORBIDDEN_PREFIXES: tuple[str, ...] = (
    "lash_core.host",
    "lash_core.loop",
    "lash_core.routing",
    "lash_core.turn",
    "lash_core.sim",
    "lash_core.process.runner",
    "lash_core.process.service",
)


def _module_imports(path: Path) -> set[str]:
    """The lash_core modules ``path`` imports at module level (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                module_file = ROOT / (candidate.replace(".", "/") + ".py")
                out.add(candidate if module_file.exists() else node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m.startswith("lash_core")}


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.parametrize("path", WING, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_process_wing_file_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 600


@pytest.mark.parametrize("module", [*VALUE_MODULES, "registry"])
def test_process_value_modules_do_not_import_the_host_turns_or_the_simulator(
    module: str,
) -> None:
    imported = _module_imports(ROOT / "lash_core" / "process" / f"{module}.py")
    assert not {m for m in imported if m.startswith(FORBIDDEN_PREFIXES)}


def test_effects_and_process_modules_have_no_import_cycle() -> None:
    """Module-level imports among the non-facade modules of lash_core.effects and
    lash_core.process form no cycle (the two package facades import each other on purpose,
    only to fix the load order)."""
    files = [
        p
        for pkg in ("effects", "process")
        for p in (ROOT / "lash_core" / pkg).glob("*.py")
        if p.name != "__init__.py"
    ]
    graph = {
        _name(p): {m for m in _module_imports(p) if not m.endswith(("effects", "process"))}
        for p in files
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


FACADE_NAMES = {
    "lash_core.effects": [
        "ProcessRecord",
        "ProcessStart",
        "SessionScope",
        "ProcessEvent",
        "ProcessHandleGrant",
        "ProcessEffectOutcome",
        "ProcessExecutionContext",
    ],
    "lash_core.process": [
        "ProcessRegistry",
        "CORE_EVENT_TYPES",
        "validate_grant",
        "validate_process_id",
        "terminal_event_type",
        "apply_process_command",
    ],
}


@pytest.mark.parametrize(
    "first",
    [
        "lash_core.process.records",
        "lash_core.effects.process",
        "lash_core.process.registry",
        "lash_core.process",
        "lash_core.effects",
        "lash_core.process.leases",
    ],
)
def test_either_import_order_loads_both_facades(first: str) -> None:
    checks = "; ".join(
        f"import {mod}; [getattr({mod}, n) for n in {names!r}]"
        for mod, names in FACADE_NAMES.items()
    )
    code = f"import {first}; {checks}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
