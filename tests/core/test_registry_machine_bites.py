"""The registry state machine catches deliberate defects (so it is not a test that cannot fail)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import settings

import lash_core.promise as promise
from lash_core.resolution import CANCELLED, Resolution
from lash_core.scope import WaitIdentity
from tests.core.test_registry_machine import RegistryMachine


def _last_writer_wins(
    state: promise.PromiseState, proposed: Resolution
) -> promise.PromiseTransition:
    return promise.StoreTransition(proposed)


def _sweep_everything(wait: WaitIdentity, state: promise.PromiseState) -> promise.PromiseTransition:
    if isinstance(state, promise.PromisePending):
        return promise.StoreTransition(CANCELLED)
    return promise.UnchangedTransition()


def _drop_one_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    original = promise.AwaitEventRegistry._settle

    def settle(
        self: promise.AwaitEventRegistry, entry: object, terminal: Resolution
    ) -> frozenset[int]:
        woken = original(self, entry, terminal)  # type: ignore[arg-type]
        return frozenset(sorted(woken)[1:])

    monkeypatch.setattr(promise.AwaitEventRegistry, "_settle", settle)


DEFECTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "last_writer_wins": lambda mp: mp.setattr(promise, "resolve_transition", _last_writer_wins),
    "sweep_turn_control": lambda mp: mp.setattr(
        promise, "cancel_sweep_transition", _sweep_everything
    ),
    "dropped_wake_up": _drop_one_wake,
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_state_machine_finds_the_defect(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    DEFECTS[defect](monkeypatch)
    case = RegistryMachine.TestCase("runTest")
    case.settings = settings(  # type: ignore[misc]
        max_examples=300, stateful_step_count=40, deadline=None, database=None, derandomize=True
    )
    with pytest.raises(AssertionError):
        case.runTest()
