"""The registry state machine catches deliberate defects (so it is not a test that cannot fail)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import settings

import lash_core.promise as promise
from lash_core.errors import LashError
from lash_core.resolution import CANCELLED, Resolution
from lash_core.scope import WaitIdentity
from tests.core.test_registry_machine import ParkedRegistryMachine, RegistryMachine


def _last_writer_wins(stored: Resolution | None) -> bool:
    return True


def _sweep_everything(wait: WaitIdentity, state: promise.PromiseState) -> promise.PromiseTransition:
    if isinstance(state, promise.PromisePending):
        return promise.StoreTransition(CANCELLED)
    return promise.UnchangedTransition()


def _drop_one_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    original = promise._wake_all

    def wake_all(entry: promise._Entry, outcome: Resolution | LashError) -> None:
        # The first waiter gets its outcome, but its event is never set.
        waiters = entry.waiters
        if isinstance(waiters, list):
            first, entry.waiters = (waiters[0] if waiters else None), waiters[1:]
        else:
            first, entry.waiters = waiters, None
        original(entry, outcome)
        if first is not None:
            first.outcome = outcome

    monkeypatch.setattr(promise, "_wake_all", wake_all)


DEFECTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "last_writer_wins": lambda mp: mp.setattr(promise, "proposal_wins", _last_writer_wins),
    "sweep_turn_control": lambda mp: mp.setattr(
        promise, "cancel_sweep_transition", _sweep_everything
    ),
    "dropped_wake_up": _drop_one_wake,
}


@pytest.mark.parametrize("machine", [RegistryMachine, ParkedRegistryMachine])
@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_state_machine_finds_the_defect(
    defect: str, machine: type[RegistryMachine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of driving the registry (ids and Steps; events it sets itself) go through the
    same rules, so a defect in one rule is found through either."""
    DEFECTS[defect](monkeypatch)
    case = machine.TestCase("runTest")
    case.settings = settings(  # type: ignore[misc]
        max_examples=1000, stateful_step_count=40, deadline=None, database=None, derandomize=True
    )
    with pytest.raises(AssertionError):
        case.runTest()
