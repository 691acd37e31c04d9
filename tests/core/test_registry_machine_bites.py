"""The registry state machine catches deliberate defects (so it is not a test that cannot fail)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import Phase, settings

import lash_core._promise_rules as promise_rules
import lash_core.promise as promise
from lash_core import CANCELLED, AwaitEventKey, LashError, Resolution, WaitIdentity
from tests.core.test_registry_machine import RegistryMachine


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


class _Deaf:
    """An event that never hears its wake-up."""

    def set(self) -> None:
        pass


def _drop_lone_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lone waiter (the common case, which resolve wakes inline) gets its outcome, but its
    # event is never set.
    original = promise.AwaitEventRegistry.park

    def park(
        self: promise.AwaitEventRegistry, key: AwaitEventKey, new_event: Callable[[], Any]
    ) -> Any:
        started = original(self, key, _Deaf)
        if isinstance(started, promise.Waiter) and started.index > 0:
            started.event = new_event()  # only the lone (first) waiter is deaf
        return started

    monkeypatch.setattr(promise.AwaitEventRegistry, "park", park)


def _retire_without_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    # A retired key is dropped without a trace: a duplicate resolve is accepted again.
    def add(self: promise._Retired, fp: int) -> None:
        pass

    monkeypatch.setattr(promise._Retired, "add", add)


def _close_leaves_terminals(monkeypatch: pytest.MonkeyPatch) -> None:
    # Closing a session forgets its promises but leaves its terminals in the recent window.
    original = promise.AwaitEventRegistry._drop_shard

    def drop_shard(
        self: promise.AwaitEventRegistry, session_id: str, error: LashError
    ) -> promise._Shard | None:
        if error.code != "await_event_session_closed":
            return original(self, session_id, error)
        return self._shards.pop(session_id, None)

    monkeypatch.setattr(promise.AwaitEventRegistry, "_drop_shard", drop_shard)


def _last_writer_wins_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry reads the rule from lash_core.promise, resolve_transition from the module
    # that defines the rules.
    monkeypatch.setattr(promise, "proposal_wins", _last_writer_wins)
    monkeypatch.setattr(promise_rules, "proposal_wins", _last_writer_wins)


DEFECTS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "last_writer_wins": _last_writer_wins_everywhere,
    "sweep_turn_control": lambda mp: mp.setattr(
        promise, "cancel_sweep_transition", _sweep_everything
    ),
    "dropped_wake_up": _drop_one_wake,
    "dropped_lone_wake_up": _drop_lone_wake,
    "retired_key_forgotten": _retire_without_fingerprint,
    "close_leaves_terminals": _close_leaves_terminals,
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_state_machine_finds_the_defect(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine with a small window (so keys retire) finds a defect in any rule, the
    retention rule included."""
    DEFECTS[defect](monkeypatch)
    case = RegistryMachine.TestCase("runTest")
    case.settings = settings(  # type: ignore[misc]
        max_examples=1000,
        stateful_step_count=40,
        deadline=None,
        database=None,
        derandomize=True,
        report_multiple_bugs=False,
        phases=(Phase.explicit, Phase.generate),  # finding it is the point: no shrinking
    )
    with pytest.raises(AssertionError):
        case.runTest()
