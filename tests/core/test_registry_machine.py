"""The await-event registry against a small independent model (Hypothesis state machine)."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import (
    AwaitEventRegistry,
    Step,
    WaitEnd,
    Waiter,
    WaitParked,
    WaitReady,
    WaitStart,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    Resolution,
    ResolveOutcome,
    UnknownOrRevoked,
    err,
    ok,
)
from lash_core.scope import (
    Custom,
    ExecutionScope,
    ProcessScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
    WaitIdentity,
)

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))

SCOPES: list[ExecutionScope] = [
    TurnScope("s1", "t1"),
    TurnScope("s1", "t2"),
    TurnScope("s2", "t1"),
    ProcessScope("p1"),
]
WAITS: list[WaitIdentity] = [
    ToolCompletion("a"),
    ToolCompletion("b"),
    Custom("k"),
    TurnCancelGate(),
    TurnTerminal(),
]
RESOLUTIONS = st.sampled_from(
    [ok(None), ok({"v": 1}), ok("x"), err("boom", "it failed"), TIMEOUT, CANCELLED]
)
TAMPERS = st.sampled_from(["signature", "key_id", "scope", "wait", "foreign", "signature_len"])


def _flip(text: str, index: int) -> str:
    i = index % len(text)
    c = text[i]
    return text[:i] + ("0" if c != "0" else "1") + text[i + 1 :]


def tamper(key: AwaitEventKey, how: str, index: int) -> AwaitEventKey:
    if how == "signature":
        return attrs.evolve(key, signature=_flip(key.signature, index))
    if how == "signature_len":
        return attrs.evolve(key, signature=key.signature[:-1])
    if how == "key_id":
        return attrs.evolve(key, key_id=_flip(key.key_id, index))
    if how == "scope":
        scope = key.scope
        if isinstance(scope, TurnScope):
            return attrs.evolve(key, scope=TurnScope(_flip(scope.session_id, index), scope.turn_id))
        return attrs.evolve(key, scope=ProcessScope(_flip(scope.id, index)))
    if how == "wait":
        wait = key.wait
        if isinstance(wait, ToolCompletion):
            return attrs.evolve(key, wait=ToolCompletion(_flip(wait.tool_call_id, index)))
        if isinstance(wait, Custom):
            return attrs.evolve(key, wait=Custom(_flip(wait.key, index)))
        if isinstance(wait, TurnCancelGate):
            return attrs.evolve(key, wait=TurnTerminal())
        return attrs.evolve(key, wait=TurnCancelGate())
    return KeySigner(OTHER_SECRET).mint(key.scope, key.wait)


@attrs.define
class ModelWaiter:
    key_id: str
    woken: int = 0
    outcome: Resolution | str | None = None  # terminal, or an error code


class RegistryMachine(RuleBasedStateMachine):
    """Model: terminals by key id, pending (materialised) keys, revoked sessions, waiters."""

    keys = Bundle("keys")
    waiters = Bundle("waiters")

    @initialize()
    def setup(self) -> None:
        self.registry = AwaitEventRegistry(KeySigner(SECRET), archive_limit=10_000)
        self.terminal: dict[str, Resolution] = {}
        self.pending: set[str] = set()
        self.revoked: set[str] = set()
        self.model_waiters: dict[int, ModelWaiter] = {}
        self.key_by_id: dict[str, AwaitEventKey] = {}

    # -- the registry operations under test (the Step-returning, id-based API) --------------

    def do_resolve(self, key: AwaitEventKey, resolution: Resolution) -> Step[ResolveOutcome]:
        return self.registry.resolve(key, resolution)

    def do_begin_wait(self, key: AwaitEventKey) -> WaitStart:
        return self.registry.begin_wait(key)

    def do_end_wait(self, waiter: int, reason: WaitEnd) -> Step[Resolution]:
        return self.registry.end_wait(waiter, reason)

    def do_revoke(self, session: str) -> Step[bool]:
        return self.registry.revoke_session(session)

    def do_cancel_session(self, session: str) -> Step[int]:
        return self.registry.cancel_session(session)

    def is_woken(self, waiter: int) -> bool:
        return self.registry.is_waiter_woken(waiter)

    # -- helpers -----------------------------------------------------------------------------

    def _session(self, key: AwaitEventKey) -> str | None:
        return key.scope.session_id

    def _is_revoked(self, key: AwaitEventKey) -> bool:
        sid = self._session(key)
        return sid is not None and sid in self.revoked

    def _wake(self, key_id: str, outcome: Resolution | str) -> set[int]:
        woken = set()
        for wid, w in self.model_waiters.items():
            if w.key_id == key_id and w.outcome is None:
                w.outcome = outcome
                woken.add(wid)
        return woken

    def _apply_wake(self, wake: frozenset[int], expected: set[int]) -> None:
        assert set(wake) == expected
        for wid in wake:
            self.model_waiters[wid].woken += 1

    def _snapshot(self) -> tuple[int, int, list[str]]:
        return (
            self.registry.total_entry_count(),
            self.registry.parked_count,
            list(self.registry.revoked_sessions()),
        )

    # -- rules -------------------------------------------------------------------------------

    @rule(target=keys, scope=st.sampled_from(SCOPES), wait=st.sampled_from(WAITS))
    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> Any:
        sid = scope.session_id
        before = self._snapshot()
        if sid is not None and sid in self.revoked:
            with pytest.raises(LashError) as info:
                self.registry.mint(scope, wait)
            assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
            assert self._snapshot() == before
            return KeySigner(SECRET).mint(scope, wait)  # a key minted before revocation
        key = self.registry.mint(scope, wait)
        assert key == self.registry.mint(scope, wait)  # stable
        assert self._snapshot() == before  # mint creates nothing
        self.key_by_id[key.key_id] = key
        return key

    @rule(key=keys, resolution=RESOLUTIONS)
    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> None:
        step = self.do_resolve(key, resolution)
        kid = key.key_id
        if self._is_revoked(key):
            assert step.value == UnknownOrRevoked()
            assert step.wake == frozenset()
            return
        if kid in self.terminal:
            assert step.value == AlreadyResolved(self.terminal[kid])
            assert step.wake == frozenset()
            return
        assert step.value == Accepted()
        self.terminal[kid] = resolution
        self.pending.discard(kid)
        expected = self._wake(kid, resolution)
        if isinstance(key.wait, TurnTerminal):
            gate = KeySigner(SECRET).mint(key.scope, TurnCancelGate())
            if gate.key_id in self.pending:
                # A pending gate is dropped and its waiters are told it was abandoned.
                self.pending.discard(gate.key_id)
                expected |= self._wake(gate.key_id, codes.TURN_CONTROL_WAIT_ABANDONED)
        self._apply_wake(step.wake, expected)

    @rule(key=keys, resolution=RESOLUTIONS, how=TAMPERS, index=st.integers(0, 200))
    def resolve_tampered(
        self, key: AwaitEventKey, resolution: Resolution, how: str, index: int
    ) -> None:
        bad = tamper(key, how, index)
        before = self._snapshot()
        step = self.do_resolve(bad, resolution)
        assert step.value == UnknownOrRevoked()
        assert step.wake == frozenset()
        assert self._snapshot() == before
        for call in (self.registry.peek, self.do_begin_wait):
            with pytest.raises(LashError) as info:
                call(bad)
            assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
        assert self._snapshot() == before

    @rule(key=keys)
    def peek(self, key: AwaitEventKey) -> None:
        if self._is_revoked(key):
            with pytest.raises(LashError) as info:
                self.registry.peek(key)
            assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
            return
        before = self._snapshot()
        assert self.registry.peek(key) == self.terminal.get(key.key_id)
        assert self._snapshot() == before

    @rule(target=waiters, key=keys)
    def begin_wait(self, key: AwaitEventKey) -> Any:
        if self._is_revoked(key):
            with pytest.raises(LashError) as info:
                self.do_begin_wait(key)
            assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
            return -1
        start = self.do_begin_wait(key)
        kid = key.key_id
        if kid in self.terminal:
            assert start == WaitReady(self.terminal[kid])
            return -1
        assert isinstance(start, WaitParked)
        assert start.waiter_id not in self.model_waiters
        self.pending.add(kid)
        self.model_waiters[start.waiter_id] = ModelWaiter(kid)
        return start.waiter_id

    @rule(waiter=consumes(waiters), reason=st.sampled_from(list(WaitEnd)))
    def end_wait(self, waiter: int, reason: WaitEnd) -> None:
        if waiter == -1:
            return
        w = self.model_waiters[waiter]
        if w.outcome is not None:
            del self.model_waiters[waiter]
            if isinstance(w.outcome, str):
                with pytest.raises(LashError) as info:
                    self.do_end_wait(waiter, reason)
                assert info.value.code == w.outcome
            else:
                step = self.do_end_wait(waiter, reason)
                assert step.value == w.outcome
                assert step.wake == frozenset()
            return
        if reason is WaitEnd.WOKEN:
            before = self._snapshot()
            with pytest.raises(LocalProtocolError) as pinfo:
                self.do_end_wait(waiter, reason)
            assert pinfo.value.code == codes.AWAIT_EVENT_WAITER_NOT_WOKEN
            assert self._snapshot() == before
            # The waiter is still parked; end it properly so the bundle stays consistent.
            reason = WaitEnd.CANCELLED
        del self.model_waiters[waiter]
        key = self.key_by_id[w.key_id]
        if key.wait.is_turn_control:
            with pytest.raises(LashError) as info:
                self.do_end_wait(waiter, reason)
            expected_code = (
                codes.TURN_CONTROL_WAIT_CANCELLED
                if reason is WaitEnd.CANCELLED
                else codes.TURN_CONTROL_WAIT_TIMEOUT
            )
            assert info.value.code == expected_code
            return
        terminal = CANCELLED if reason is WaitEnd.CANCELLED else TIMEOUT
        step = self.do_end_wait(waiter, reason)
        assert step.value == terminal
        self.terminal[w.key_id] = terminal
        self.pending.discard(w.key_id)
        self._apply_wake(step.wake, self._wake(w.key_id, terminal))

    @rule(session=st.sampled_from(["s1", "s2"]))
    def revoke(self, session: str) -> None:
        step = self.do_revoke(session)
        assert step.value == (session not in self.revoked)
        expected: set[int] = set()
        if session not in self.revoked:
            self.revoked.add(session)
            for kid in list(self.terminal) + list(self.pending):
                if self.key_by_id[kid].scope.session_id == session:
                    self.terminal.pop(kid, None)
                    self.pending.discard(kid)
            for wid, w in self.model_waiters.items():
                if w.outcome is None and self.key_by_id[w.key_id].scope.session_id == session:
                    w.outcome = codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
                    expected.add(wid)
        self._apply_wake(step.wake, expected)

    @rule(session=st.sampled_from(["s1", "s2"]))
    def cancel_session(self, session: str) -> None:
        step = self.do_cancel_session(session)
        expected: set[int] = set()
        count = 0
        if session not in self.revoked:
            for kid in sorted(self.pending):
                key = self.key_by_id[kid]
                if key.scope.session_id == session and not key.wait.is_turn_control:
                    self.pending.discard(kid)
                    self.terminal[kid] = CANCELLED
                    expected |= self._wake(kid, CANCELLED)
                    count += 1
        assert step.value == count
        self._apply_wake(step.wake, expected)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def one_terminal_per_key(self) -> None:
        for kid, terminal in self.terminal.items():
            key = self.key_by_id[kid]
            if not self._is_revoked(key):
                assert self.registry.peek(key) == terminal

    @invariant()
    def woken_exactly_once_when_resolved(self) -> None:
        for wid, w in self.model_waiters.items():
            assert w.woken == (1 if w.outcome is not None else 0)
            assert self.is_woken(wid) == (w.outcome is not None)
            if w.key_id in self.terminal and not isinstance(w.outcome, str):
                # Every parked waiter of a resolved key was woken with that terminal.
                assert w.outcome == self.terminal[w.key_id]
        assert self.registry.parked_count == len(self.model_waiters)

    @invariant()
    def revoked_sessions_hold_nothing(self) -> None:
        for sid in self.revoked:
            assert self.registry.entry_count(sid) == 0
            assert self.registry.is_revoked(sid)


class _Recorder:
    """A waiter's event: setting it records the waiter's model id."""

    def __init__(self, fired: list[int], waiter: int) -> None:
        self.fired = fired
        self.waiter = waiter

    def set(self) -> None:
        self.fired.append(self.waiter)


class ParkedRegistryMachine(RegistryMachine):
    """The same model, driven through the API the hosts use: waiters parked with their own
    event (``park``), ``resolve_and_wake``, ``end_parked``. The ids a ``Step`` would report
    are the waiters whose events the registry set during the call."""

    @initialize()
    def setup_parked(self) -> None:
        self.handles: dict[int, Waiter[_Recorder]] = {}
        self.fired: list[int] = []
        self.next_id = 1

    def _fired(self) -> frozenset[int]:
        fired = frozenset(self.fired)
        assert len(fired) == len(self.fired)  # no event is set twice in one call
        self.fired.clear()
        return fired

    def do_resolve(self, key: AwaitEventKey, resolution: Resolution) -> Step[ResolveOutcome]:
        self.fired.clear()
        return Step(self.registry.resolve_and_wake(key, resolution), self._fired())

    def do_begin_wait(self, key: AwaitEventKey) -> WaitStart:
        waiter = self.next_id
        start = self.registry.park(key, lambda: _Recorder(self.fired, waiter))
        if not isinstance(start, Waiter):
            return WaitReady(start)
        self.next_id += 1
        self.handles[waiter] = start
        return WaitParked(waiter)

    def do_end_wait(self, waiter: int, reason: WaitEnd) -> Step[Resolution]:
        self.fired.clear()
        handle = self.handles[waiter]
        if reason is WaitEnd.WOKEN:
            value = self.registry.end_parked(handle, reason)
        else:
            # finish_parked chooses WOKEN for a woken waiter, else what the caller asked.
            cancelled = reason is WaitEnd.CANCELLED
            value = self.registry.finish_parked(handle, cancel_requested=cancelled)
        return Step(value, self._fired())

    def do_revoke(self, session: str) -> Step[bool]:
        self.fired.clear()
        step = self.registry.revoke_session(session)
        assert step.wake == frozenset()  # no waiter of this machine has an id
        return Step(step.value, self._fired())

    def do_cancel_session(self, session: str) -> Step[int]:
        self.fired.clear()
        step = self.registry.cancel_session(session)
        assert step.wake == frozenset()
        return Step(step.value, self._fired())

    def is_woken(self, waiter: int) -> bool:
        return self.handles[waiter].outcome is not None


TestRegistryMachine = RegistryMachine.TestCase
TestRegistryMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestParkedRegistryMachine = ParkedRegistryMachine.TestCase
TestParkedRegistryMachine.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
