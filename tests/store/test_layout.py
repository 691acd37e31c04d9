"""The store layer's module layout: one module per concern, no file over 600 lines, no
module-level import cycle, lash_core.store stays pure, and every name importable before the
split still resolves from where it was."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
FILES = [
    *sorted((ROOT / "lash_core" / "store").glob("*.py")),
    ROOT / "lash_core" / "store_memory.py",
    *sorted((ROOT / "lash_sqlite").glob("*.py")),
]
# Every public name lash_core.store and lash_sqlite.store exported when each was one file.
BEFORE_SPLIT = {
    "lash_core.store": [
        "DIVERGE",
        "BeginResult",
        "Diverged",
        "DurableStore",
        "EffectState",
        "EffectStatus",
        "EnvelopeParts",
        "Lease",
        "LeaseState",
        "Owner",
        "ProcessRows",
        "Recorded",
        "Started",
        "TurnRef",
        "TurnRow",
        "TurnStatus",
        "abandon_allowed",
        "abandoned_gate_id",
        "acquire_transition",
        "begin_transition",
        "check_fence",
        "check_lease_covers",
        "check_now",
        "check_resolution",
        "check_session_id",
        "complete_transition",
        "diverge_turn_transition",
        "ended_wait_proposal",
        "envelope_replay_key",
        "envelope_session_id",
        "finish_turn_transition",
        "join_envelope",
        "key_is_authentic",
        "message_chain",
        "open_turn_transition",
        "promise_state",
        "release_transition",
        "renew_transition",
        "resolution_from_json",
        "resolution_to_json",
        "revoked_error",
        "revoked_mint_error",
        "split_envelope",
        "text_hash",
    ],
    "lash_sqlite.store": ["SCHEMA_VERSION", "SECRET_BYTES", "SqliteStore"],
    "lash_sqlite": [
        "SCHEMA_VERSION",
        "Doorbell",
        "SqliteStore",
        "new_owner",
        "provably_dead",
        "ring",
    ],
}
# The DurableStore methods, each of which SqliteStore still has after being composed of mixins.
PROTOCOL_METHODS = [
    name
    for name in vars(importlib.import_module("lash_core.store").DurableStore)
    if not name.startswith("_")
]


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_imports(path: Path) -> set[str]:
    """The store modules ``path`` imports at module level (not under TYPE_CHECKING)."""
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_store_file_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 600


def test_store_modules_have_no_import_cycle() -> None:
    """Module-level imports among the store's modules (facades excluded: they only re-export)
    form no cycle."""
    facades = {"lash_core.store", "lash_sqlite"}
    graph = {
        _name(p): {m for m in _module_imports(p) if m not in facades}
        for p in FILES
        if _name(p) not in facades
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


def test_the_pure_store_modules_never_import_lash_sqlite() -> None:
    for path in FILES:
        if path.parent.name == "store" or path.name == "store_memory.py":
            assert not {m for m in _module_imports(path) if m.startswith("lash_sqlite")}, path


@pytest.mark.parametrize("module", sorted(BEFORE_SPLIT))
def test_every_name_exported_before_the_split_still_resolves(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in BEFORE_SPLIT[module] if not hasattr(loaded, name)]
    assert missing == []


def test_sqlite_store_still_has_every_protocol_method() -> None:
    from lash_sqlite import SqliteStore

    assert PROTOCOL_METHODS, "the protocol lists methods"
    assert [m for m in PROTOCOL_METHODS if not callable(getattr(SqliteStore, m, None))] == []


@pytest.mark.parametrize(
    "first",
    [
        "lash_core.store.protocol",
        "lash_core.store.leases",
        "lash_core.store.turns",
        "lash_core.store_memory",
        "lash_sqlite.turns",
        "lash_sqlite.store",
    ],
)
def test_any_store_module_can_be_imported_first(first: str) -> None:
    code = f"import {first}; import lash_core.store, lash_sqlite; lash_sqlite.SqliteStore"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
