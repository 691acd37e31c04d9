"""The await-event registry against a small independent model (Hypothesis state machine).

The model covers first-writer-wins, buffering, waiters and their wake-ups, revocation, session
cancel and close, and the retention rule: the last ``RETAIN`` terminals (registry-wide) are
readable; older ones are retired (still resolved, but ``await_event_retired``).
"""

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
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    Resolution,
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
    # Its session was closed or revoked: the key may since hold another terminal.
    detached: bool = False


class _Recorder:
    """A waiter's event: setting it records the waiter's model id."""

    def __init__(self, fired: list[int], waiter: int) -> None:
        self.fired = fired
        self.waiter = waiter

    def set(self) -> None:
        self.fired.append(self.waiter)


NOT_PARKED = -1
"""The model id of a wait that did not park (it had its terminal at once, or was refused)."""


class RegistryMachine(RuleBasedStateMachine):
    """Model: terminals by key id, the recent window and the retired keys, pending
    (materialised) keys, revoked sessions, waiters (by model id, each parked with an event that
    records the id when the registry sets it)."""

    RETAIN = 2
    """The registry's ``retain_recent`` (small, so retirement happens often)."""

    keys = Bundle("keys")
    waiters = Bundle("waiters")

    @initialize()
    def setup(self) -> None:
        self.registry = AwaitEventRegistry(KeySigner(SECRET), retain_recent=self.RETAIN)
        self.terminal: dict[str, Resolution] = {}
        self.recent: list[str] = []  # key ids of readable terminals, oldest first
        self.retired: set[str] = set()
        self.pending: set[str] = set()
        self.revoked: set[str] = set()
        self.model_waiters: dict[int, ModelWaiter] = {}
        self.key_by_id: dict[str, AwaitEventKey] = {}
        self.handles: dict[int, Waiter[_Recorder]] = {}
        self.fired: list[int] = []
        self.next_id = 1

    # -- helpers -----------------------------------------------------------------------------

    def _fired(self) -> frozenset[int]:
        """The model ids whose events the registry set since the last call."""
        fired = frozenset(self.fired)
        assert len(fired) == len(self.fired)  # no event is set twice in one call
        self.fired.clear()
        return fired

    def _session(self, key: AwaitEventKey) -> str | None:
        return key.scope.session_id

    def _is_revoked(self, key: AwaitEventKey) -> bool:
        sid = self._session(key)
        return sid is not None and sid in self.revoked

    def _store(self, key_id: str, terminal: Resolution) -> None:
        """A terminal is written: it joins the recent window; the oldest beyond it retires."""
        self.terminal[key_id] = terminal
        self.pending.discard(key_id)
        self.recent.append(key_id)
        while len(self.recent) > self.RETAIN:
            self.retired.add(self.recent.pop(0))

    def _forget_session(self, session: str) -> None:
        for w in self.model_waiters.values():
            if self.key_by_id[w.key_id].scope.session_id == session:
                w.detached = True
        for kid in list(self.terminal) + list(self.pending):
            if self.key_by_id[kid].scope.session_id == session:
                self.terminal.pop(kid, None)
                self.pending.discard(kid)
                self.retired.discard(kid)
                if kid in self.recent:
                    self.recent.remove(kid)

    def _wake(self, key_id: str, outcome: Resolution | str) -> set[int]:
        woken = set()
        for wid, w in self.model_waiters.items():
            if w.key_id == key_id and w.outcome is None:
                w.outcome = outcome
                woken.add(wid)
        return woken

    def _wake_session(self, session: str, code: str) -> set[int]:
        woken = set()
        for wid, w in self.model_waiters.items():
            if w.outcome is None and self.key_by_id[w.key_id].scope.session_id == session:
                w.outcome = code
                woken.add(wid)
        return woken

    def _apply_wake(self, expected: set[int]) -> None:
        wake = self._fired()
        assert set(wake) == expected
        for wid in wake:
            self.model_waiters[wid].woken += 1

    def _snapshot(self) -> tuple[int, int, int, list[str]]:
        return (
            self.registry.total_entry_count(),
            self.registry.recent_count(),
            self.registry.parked_count,
            list(self.registry.revoked_sessions()),
        )

    def _refused(self, call: Any, key: Any, code: str) -> None:
        """``call(key)`` raises ``code`` and changes nothing."""
        before = self._snapshot()
        with pytest.raises(LashError) as info:
            call(key)
        assert info.value.code == code
        assert self._snapshot() == before
        assert self._fired() == frozenset()

    def _park(self, key: AwaitEventKey) -> Resolution | Waiter[_Recorder]:
        waiter = self.next_id
        return self.registry.park(key, lambda: _Recorder(self.fired, waiter))

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
            key = KeySigner(SECRET).mint(scope, wait)  # a key minted before revocation
            self.key_by_id[key.key_id] = key
            return key
        key = self.registry.mint(scope, wait)
        assert key == self.registry.mint(scope, wait)  # stable
        assert self._snapshot() == before  # mint creates nothing
        self.key_by_id[key.key_id] = key
        return key

    @rule(key=keys, resolution=RESOLUTIONS)
    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> None:
        kid = key.key_id
        if kid in self.retired and not self._is_revoked(key):
            self._refused(lambda k: self.registry.resolve(k, resolution), key, RETIRED)
            return
        outcome = self.registry.resolve(key, resolution)
        if self._is_revoked(key):
            assert outcome == UnknownOrRevoked()
            self._apply_wake(set())
            return
        if kid in self.terminal:
            assert outcome == AlreadyResolved(self.terminal[kid])
            self._apply_wake(set())
            return
        assert outcome == Accepted()
        expected = self._wake(kid, resolution)
        if isinstance(key.wait, TurnTerminal):
            gate = KeySigner(SECRET).mint(key.scope, TurnCancelGate())
            if gate.key_id in self.pending:
                # A pending gate is dropped and its waiters are told it was abandoned.
                self.pending.discard(gate.key_id)
                expected |= self._wake(gate.key_id, codes.TURN_CONTROL_WAIT_ABANDONED)
        self._store(kid, resolution)
        self._apply_wake(expected)

    @rule(key=keys, resolution=RESOLUTIONS, how=TAMPERS, index=st.integers(0, 200))
    def resolve_tampered(
        self, key: AwaitEventKey, resolution: Resolution, how: str, index: int
    ) -> None:
        bad = tamper(key, how, index)
        before = self._snapshot()
        assert self.registry.resolve(bad, resolution) == UnknownOrRevoked()
        assert self._snapshot() == before
        self._refused(self.registry.peek, bad, codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED)
        self._refused(self._park, bad, codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED)

    @rule(key=keys)
    def peek(self, key: AwaitEventKey) -> None:
        if self._is_revoked(key):
            self._refused(self.registry.peek, key, codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED)
            return
        if key.key_id in self.retired:
            self._refused(self.registry.peek, key, RETIRED)
            return
        before = self._snapshot()
        assert self.registry.peek(key) == self.terminal.get(key.key_id)
        assert self._snapshot() == before

    @rule(target=waiters, key=keys)
    def park(self, key: AwaitEventKey) -> Any:
        if self._is_revoked(key):
            self._refused(self._park, key, codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED)
            return NOT_PARKED
        kid = key.key_id
        if kid in self.retired:
            self._refused(self._park, key, RETIRED)
            return NOT_PARKED
        start = self._park(key)
        if kid in self.terminal:
            assert start == self.terminal[kid]
            return NOT_PARKED
        assert isinstance(start, Waiter)
        assert not start.woken and not start.ended
        waiter = self.next_id
        self.next_id += 1
        self.handles[waiter] = start
        self.pending.add(kid)
        self.model_waiters[waiter] = ModelWaiter(kid)
        return waiter

    @rule(waiter=consumes(waiters), reason=st.sampled_from(list(WaitEnd)))
    def end_parked(self, waiter: int, reason: WaitEnd) -> None:
        if waiter == NOT_PARKED:
            return
        w = self.model_waiters[waiter]
        handle = self.handles.pop(waiter)
        if w.outcome is not None:
            del self.model_waiters[waiter]
            if isinstance(w.outcome, str):
                with pytest.raises(LashError) as info:
                    self.registry.end_parked(handle, reason)
                assert info.value.code == w.outcome
            else:
                assert self.registry.end_parked(handle, reason) == w.outcome
            self._apply_wake(set())
            self._ended_twice(handle)
            return
        if reason is WaitEnd.WOKEN:
            before = self._snapshot()
            with pytest.raises(LocalProtocolError) as pinfo:
                self.registry.end_parked(handle, reason)
            assert pinfo.value.code == codes.AWAIT_EVENT_WAITER_NOT_WOKEN
            assert self._snapshot() == before
            # The waiter is still parked; end it properly so the bundle stays consistent.
            reason = WaitEnd.CANCELLED
        del self.model_waiters[waiter]
        key = self.key_by_id[w.key_id]
        if key.wait.is_turn_control:
            with pytest.raises(LashError) as info:
                self.registry.end_parked(handle, reason)
            expected_code = (
                codes.TURN_CONTROL_WAIT_CANCELLED
                if reason is WaitEnd.CANCELLED
                else codes.TURN_CONTROL_WAIT_TIMEOUT
            )
            assert info.value.code == expected_code
            self._apply_wake(set())
            self._ended_twice(handle)
            return
        terminal = CANCELLED if reason is WaitEnd.CANCELLED else TIMEOUT
        assert self.registry.end_parked(handle, reason) == terminal
        expected = self._wake(w.key_id, terminal)
        self._store(w.key_id, terminal)
        self._apply_wake(expected)
        self._ended_twice(handle)

    def _ended_twice(self, handle: Waiter[_Recorder]) -> None:
        assert handle.ended
        before = self._snapshot()
        with pytest.raises(LocalProtocolError) as info:
            self.registry.end_parked(handle, WaitEnd.CANCELLED)
        assert info.value.code == codes.AWAIT_EVENT_WAITER_UNKNOWN
        assert self._snapshot() == before

    @rule(session=st.sampled_from(["s1", "s2"]))
    def revoke(self, session: str) -> None:
        assert self.registry.revoke_session(session) == (session not in self.revoked)
        expected: set[int] = set()
        if session not in self.revoked:
            self.revoked.add(session)
            self._forget_session(session)
            expected = self._wake_session(session, codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED)
        self._apply_wake(expected)

    @rule(session=st.sampled_from(["s1", "s2"]))
    def close(self, session: str) -> None:
        had_state = session not in self.revoked and any(
            self.key_by_id[kid].scope.session_id == session
            for kid in [*self.terminal, *self.pending]
        )
        closed = self.registry.close_session(session)
        if had_state:
            assert closed
        expected: set[int] = set()
        if session not in self.revoked:
            self._forget_session(session)
            expected = self._wake_session(session, CLOSED)
        self._apply_wake(expected)
        assert not self.registry.has_session_state(session)
        assert self.registry.is_revoked(session) == (session in self.revoked)

    @rule(session=st.sampled_from(["s1", "s2"]))
    def forget_revocation(self, session: str) -> None:
        assert self.registry.forget_revocation(session) == (session in self.revoked)
        self.revoked.discard(session)

    @rule(session=st.sampled_from(["s1", "s2"]))
    def cancel_session(self, session: str) -> None:
        count = self.registry.cancel_session(session)
        expected: set[int] = set()
        expected_count = 0
        if session not in self.revoked:
            for kid in sorted(self.pending):
                key = self.key_by_id[kid]
                if key.scope.session_id == session and not key.wait.is_turn_control:
                    expected |= self._wake(kid, CANCELLED)
                    self._store(kid, CANCELLED)
                    expected_count += 1
        assert count == expected_count
        self._apply_wake(expected)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def one_terminal_per_key(self) -> None:
        for kid, terminal in self.terminal.items():
            key = self.key_by_id[kid]
            if not self._is_revoked(key) and kid not in self.retired:
                assert self.registry.peek(key) == terminal

    @invariant()
    def woken_exactly_once_when_resolved(self) -> None:
        for wid, w in self.model_waiters.items():
            assert w.woken == (1 if w.outcome is not None else 0)
            assert self.handles[wid].woken == (w.outcome is not None)
            if w.key_id in self.terminal and not isinstance(w.outcome, str) and not w.detached:
                # Every parked waiter of a resolved key was woken with that terminal.
                assert w.outcome == self.terminal[w.key_id]
        assert self.registry.parked_count == len(self.model_waiters)

    @invariant()
    def memory_is_bounded_by_the_rule(self) -> None:
        assert self.registry.recent_count() == len(self.recent) <= self.RETAIN
        for sid in ("s1", "s2", None):
            retired = [k for k in self.retired if self.key_by_id[k].scope.session_id == sid]
            assert self.registry.retired_count(sid) == len(retired)

    @invariant()
    def revoked_sessions_hold_nothing(self) -> None:
        for sid in self.revoked:
            assert self.registry.entry_count(sid) == 0
            assert not self.registry.has_session_state(sid)
            assert self.registry.is_revoked(sid)


class UnboundedRegistryMachine(RegistryMachine):
    """The same model with a window larger than any run: nothing is ever retired."""

    RETAIN = 10_000


RETIRED = codes.AWAIT_EVENT_RETIRED
CLOSED = codes.AWAIT_EVENT_SESSION_CLOSED

TestRegistryMachine = RegistryMachine.TestCase
TestRegistryMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestUnboundedRegistryMachine = UnboundedRegistryMachine.TestCase
TestUnboundedRegistryMachine.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None
)
