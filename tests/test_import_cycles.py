"""No import cycles in lash_core, lash_trio and lash_asyncio (see :mod:`tests.imports` for what
counts as an import: everything executed, so ``if TYPE_CHECKING:`` blocks are left out)."""

from __future__ import annotations

from tests.imports import cycles, import_graph


def test_the_packages_have_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_walker_finds_a_cycle() -> None:
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_walker_sees_nested_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    # lash_core.errors names ControllerError's module under TYPE_CHECKING only.
    assert "lash_core.effects.errors" not in graph["lash_core.errors"]
    assert "lash_core.errors" in graph["lash_core.effects.errors"]
    assert "lash_core.loop" in graph["lash_core.host"]
