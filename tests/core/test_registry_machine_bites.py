"""The registry state machine catches deliberate defects (so it is not a test that cannot fail)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import Phase, settings

import lash_core._promise_rules as promise_rules
import lash_core.promise as promise
from lash_core import (
    CANCELLED,
    AwaitEventKey,
    LashError,
    Resolution,
    ResolveOutcome,
    WaitIdentity,
)
from tests.core.test_registry_machine import RegistryMachine


def _last_writer_wins(stored: Resolution | None) -> bool:
    return True


def _sweep_everything(wait: WaitIdentity, state: promise.PromiseState) -> promise.PromiseTransition:
    if isinstance(state, promise.PromisePending):
        return promise.StoreTransition(CANCELLED)
    return promise.UnchangedTransition()


def _drop_lone_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    # A lone waiter, which resolve wakes inline (not through `_wake_all`), gets its outcome,
    # but its event is never set.
    original = promise.AwaitEventRegistry.resolve

    def resolve(
        self: promise.AwaitEventRegistry, key: AwaitEventKey, resolution: Resolution
    ) -> ResolveOutcome:
        try:
            shard = self._shards.get(key.scope.session_id)
            entry = None if shard is None else shard.entries.get(key.key_id)
        except (AttributeError, TypeError):  # not a key the registry could hold
            entry = None
        lone = None if entry is None else entry.waiters
        if entry is None or not isinstance(lone, promise.Waiter):
            return original(self, key, resolution)
        entry.waiters = None  # hidden from resolve, which therefore sets no event
        try:
            outcome = original(self, key, resolution)
        finally:
            if entry.terminal is None:
                entry.waiters = lone  # refused: nothing was woken
            else:
                lone.outcome = entry.terminal
        return outcome

    monkeypatch.setattr(promise.AwaitEventRegistry, "resolve", resolve)


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
    # A lone waiter is woken inline by resolve, not through `_wake_all`: its event is deaf.
    _drop_lone_wake(monkeypatch)


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
