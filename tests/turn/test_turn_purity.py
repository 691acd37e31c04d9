"""The turn machine is pure: no I/O, clock, randomness, threads or event loops."""

from __future__ import annotations

from pathlib import Path

from tests.test_purity import impure_imports

TURN = Path(__file__).resolve().parents[2] / "lash_core" / "turn"


def test_turn_package_imports_nothing_impure() -> None:
    modules = sorted(TURN.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "machine.py", "state.py"}
    for path in modules:
        assert impure_imports(path.read_text(encoding="utf-8"), path.name) == []
