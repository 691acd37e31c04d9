"""The process registry against a small independent model (Hypothesis state machine).

The model keeps, per process, which registration variant it was registered with, its log as
``(event_type, payload, replay key)`` triples, its terminal state and its parked awaiters;
grants as a map from scope id to ``{process id: session id}``; wake targets as a map from
process to session; pending wake deliveries in delivery order and the acknowledged wake ids
(a wake id computed here from its definition, SHA-256 of ``[scope id, dedupe key]``). Every
rule predicts the registry's answer (or its error code) from the model alone, and a refused
operation must leave the registry's state unchanged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lash_core import JsonValue, LashError, codes
from lash_core.effects.invocation import Replay
from lash_core.process import AwaitParked, AwaitReady, ProcessRegistry, terminal_event_type
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessListMode,
)
from lash_core.process.records import (
    CancelledOutput,
    FailureOutput,
    PointerSelector,
    ProcessAwaitOutput,
    ProcessEventType,
    ProcessWakeSpec,
    SessionScope,
    SuccessOutput,
)
from tests.process.support import SIGNAL_TYPES, note, registration, snapshot

PIDS = st.sampled_from(["a", "b", "c"])
SCOPES = st.sampled_from(
    [SessionScope("s1"), SessionScope("s2"), SessionScope("s1", "f"), SessionScope("s3")]
)
SESSIONS = st.sampled_from(["s1", "s2", "s3"])
OUTPUTS: list[ProcessAwaitOutput] = [
    SuccessOutput(1),
    SuccessOutput(2),
    FailureOutput(class_="process", code="boom", message="m"),
    CancelledOutput("stop"),
]
STATES = {
    SuccessOutput: "completed",
    FailureOutput: "failed",
    CancelledOutput: "cancelled",
}
D = HandleDescriptor("job")
ALL_SCOPES = [SessionScope("s1"), SessionScope("s2"), SessionScope("s1", "f"), SessionScope("s3")]
# ``ping`` wakes once per event (its identity), ``group`` once per ``k`` per scope.
WAKE_TYPES = (
    ProcessEventType("ping", wake=ProcessWakeSpec(PointerSelector("/text"))),
    ProcessEventType(
        "group", wake=ProcessWakeSpec(PointerSelector("/text"), dedupe_key=PointerSelector("/k"))
    ),
)
# ``checked`` payloads must match its schema: an object with an integer ``n``.
CHECKED_SCHEMA: JsonValue = {
    "type": "object",
    "properties": {"n": {"type": "integer"}},
    "required": ["n"],
}
MACHINE_TYPES = (
    *SIGNAL_TYPES,
    *WAKE_TYPES,
    ProcessEventType("checked", payload_schema=CHECKED_SCHEMA),
)


def model_wake_id(scope_id: str, dedupe_key: str) -> str:
    text = json.dumps([scope_id, dedupe_key], separators=(",", ":"), ensure_ascii=False)
    return "wake:" + hashlib.sha256(text.encode()).hexdigest()


class ProcessRegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.registry = ProcessRegistry()
        self.variant: dict[str, int] = {}
        self.log: dict[str, list[tuple[str, Any, str | None]]] = {}
        self.state: dict[str, str] = {}
        self.output: dict[str, ProcessAwaitOutput] = {}
        self.grants: dict[str, dict[str, str]] = {}
        self.wake: dict[str, str] = {}
        self.registered_target: dict[str, str | None] = {}
        self.parked: dict[str, list[int]] = {}
        self.awaiters: dict[int, str] = {}
        # wake id -> (scope id, process id, sequence, input); acknowledged wake ids.
        self.pending: dict[str, tuple[str, str, int, str]] = {}
        self.acked: set[str] = set()
        self.acked_events: set[tuple[str, int]] = set()
        self.now = 0

    def tick(self) -> int:
        self.now += 1
        return self.now

    def expect_error(self, code: str, fn: Any, *args: Any) -> None:
        before = snapshot(self.registry)
        try:
            fn(*args)
        except LashError as exc:
            assert exc.code == code, exc
        else:
            raise AssertionError(f"expected {code}")
        assert snapshot(self.registry) == before

    # -- registration ------------------------------------------------------------------------

    @rule(pid=PIDS, variant=st.integers(0, 1), wake_to=st.none() | SESSIONS)
    def register(self, pid: str, variant: int, wake_to: str | None) -> None:
        scope = None if wake_to is None else SessionScope(wake_to)
        reg = registration(pid, payload=variant, wake_target=scope, event_types=MACHINE_TYPES)
        if pid in self.variant:
            if (self.variant[pid], self.registered_target[pid]) != (variant, wake_to):
                self.expect_error(
                    codes.PROCESS_REGISTRATION_CONFLICT, self.registry.register, reg, self.now
                )
                return
            result = self.registry.register(reg, self.tick())
            assert not result.created
            return
        result = self.registry.register(reg, self.tick())
        assert result.created
        self.variant[pid] = variant
        self.registered_target[pid] = wake_to
        self.log[pid] = []
        self.state[pid] = "running"
        if wake_to is not None:
            self.wake[pid] = wake_to

    # -- events ------------------------------------------------------------------------------

    def _append(self, pid: str, event_type: str, payload: Any, key: str | None, fn: Any) -> Any:
        if pid not in self.variant:
            self.expect_error(codes.PROCESS_UNKNOWN, fn)
            return
        log = self.log[pid]
        if key is not None:
            recorded = [(i, e) for i, e in enumerate(log) if e[2] == key]
            if recorded:
                index, (etype, epayload, _) = recorded[0]
                if (etype, epayload) != (event_type, payload):
                    self.expect_error(codes.PROCESS_EVENT_REPLAY_CONFLICT, fn)
                    return
                result = fn()
                assert not result.appended
                assert result.event.sequence == index + 1
                assert result.wake == frozenset()
                return result
        terminal = event_type.startswith("process.") and event_type not in (
            "process.cancel_requested",
        )
        # A process that has its terminal takes no new event but a signal.
        if self.state[pid] != "running" and (terminal or not event_type.startswith("signal.")):
            self.expect_error(codes.PROCESS_ALREADY_TERMINAL, fn)
            return
        result = fn()
        assert result.appended
        log.append((event_type, payload, key))
        assert result.event.sequence == len(log)
        assert result.event.event_type == event_type
        # Only a terminal wakes, and it wakes exactly the awaiters parked on its process.
        assert result.wake == (frozenset(self.parked.pop(pid, [])) if terminal else frozenset())
        return result

    @rule(pid=PIDS, payload=st.integers(0, 2), key=st.none() | st.sampled_from(["k1", "k2"]))
    def append_note(self, pid: str, payload: int, key: str | None) -> None:
        fn = lambda: self.registry.append_event(pid, note(payload, key), self.tick())  # noqa: E731
        self._append(pid, "note", payload, key, fn)

    @rule(
        pid=PIDS,
        n=st.integers(0, 1) | st.just("x"),
        key=st.none() | st.sampled_from(["k1", "k3"]),
    )
    def append_checked(self, pid: str, n: int | str, key: str | None) -> None:
        """A payload that fails its type's schema is refused before anything else is decided
        (but a recorded replay key answers first)."""
        payload: JsonValue = {"n": n}
        request = ProcessEventAppendRequest(
            "checked", payload, None if key is None else Replay(key)
        )
        fn = lambda: self.registry.append_event(pid, request, self.tick())  # noqa: E731
        recorded = pid in self.log and any(e[2] == key for e in self.log[pid] if key is not None)
        if pid in self.variant and isinstance(n, str) and not recorded:
            self.expect_error(codes.PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH, fn)
            return
        self._append(pid, "checked", payload, key, fn)

    @rule(
        pid=PIDS,
        kind=st.sampled_from(["ping", "group"]),
        text=st.sampled_from(["a", "b"]),
        group=st.sampled_from(["g1", "g2"]),
        key=st.none() | st.sampled_from(["w1", "w2"]),
        to=st.none() | SCOPES,
    )
    def append_wake(
        self, pid: str, kind: str, text: str, group: str, key: str | None, to: Any
    ) -> None:
        target: SessionScope | None = to
        payload: dict[str, JsonValue] = {"k": group, "text": text}
        request = ProcessEventAppendRequest(
            kind, payload, None if key is None else Replay(key), target
        )
        fn = lambda: self.registry.append_event(pid, request, self.tick())  # noqa: E731
        before = len(self.log.get(pid, ()))
        result = self._append(pid, kind, payload, key, fn)
        if result is None:
            return
        sequence = result.event.sequence
        etype, epayload, _ = self.log[pid][sequence - 1]
        scope_id = (
            target.id
            if target is not None
            else (SessionScope(self.wake[pid]).id if pid in self.wake else None)
        )
        if etype not in ("ping", "group") or scope_id is None:
            assert result.wake_delivery is None
            return
        dedupe = f"{pid}:{sequence}" if etype == "ping" else epayload["k"]
        delivery = result.wake_delivery
        assert delivery is not None
        assert (delivery.target_scope_id, delivery.dedupe_key) == (scope_id, dedupe)
        assert (delivery.process_id, delivery.sequence) == (pid, sequence)
        assert delivery.input == epayload["text"]
        assert delivery.wake_id == model_wake_id(scope_id, dedupe)
        fresh = len(self.log[pid]) > before
        if fresh and delivery.wake_id not in self.acked:
            self.pending.setdefault(delivery.wake_id, (scope_id, pid, sequence, epayload["text"]))

    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        choices = sorted(self.pending) + sorted(self.acked) + ["wake:unknown"]
        chosen = data.draw(st.sampled_from(choices))
        if chosen not in self.pending:
            self.expect_error(codes.PROCESS_WAKE_UNKNOWN, self.registry.acknowledge_wake, chosen)
            return
        scope_id, pid, sequence, _ = self.pending.pop(chosen)
        delivery = self.registry.acknowledge_wake(chosen)
        assert (delivery.target_scope_id, delivery.process_id, delivery.sequence) == (
            scope_id,
            pid,
            sequence,
        )
        self.acked.add(chosen)

    @rule(pid=PIDS, sequence=st.integers(0, 8))
    def ack_event_wake(self, pid: str, sequence: int) -> None:
        log = self.log.get(pid)
        if log is None:
            self.expect_error(codes.PROCESS_UNKNOWN, self.registry.ack_wake, pid, sequence)
            return
        if not 1 <= sequence <= len(log) or log[sequence - 1][0] not in ("ping", "group"):
            self.expect_error(codes.PROCESS_WAKE_UNKNOWN, self.registry.ack_wake, pid, sequence)
            return
        self.registry.ack_wake(pid, sequence)
        self.acked_events.add((pid, sequence))

    @rule(pid=PIDS, index=st.integers(0, len(OUTPUTS) - 1))
    def finish(self, pid: str, index: int) -> None:
        output = OUTPUTS[index]
        event_type = terminal_event_type(output)
        key = f"process:{pid}:terminal:{event_type}"
        payload = {"await_output": output}
        was_running = self.state.get(pid) == "running"
        fn = lambda: self.registry.append_terminal(pid, output, self.tick())  # noqa: E731
        self._append(pid, event_type, payload, key, fn)
        if was_running and self.log.get(pid) and self.log[pid][-1][2] == key:
            self.state[pid] = STATES[type(output)]
            self.output[pid] = output

    @rule(pid=PIDS, reason=st.none() | st.sampled_from(["x", "y"]))
    def cancel(self, pid: str, reason: str | None) -> None:
        key = f"cancel:{reason}"  # the model's own key: one per reason
        fn = lambda: self.registry.request_cancel(pid, reason, self.tick())  # noqa: E731
        self._append(pid, "process.cancel_requested", {"reason": reason}, key, fn)

    # -- grants ------------------------------------------------------------------------------

    @rule(scope=SCOPES, pid=PIDS)
    def grant(self, scope: SessionScope, pid: str) -> None:
        if pid not in self.variant:
            self.expect_error(codes.PROCESS_UNKNOWN, self.registry.grant_handle, scope, pid, D)
            return
        self.registry.grant_handle(scope, pid, D)
        self.grants.setdefault(scope.id, {})[pid] = scope.session_id

    @rule(source=SCOPES, dest=SCOPES, pids=st.lists(PIDS, max_size=3))
    def transfer(self, source: SessionScope, dest: SessionScope, pids: list[str]) -> None:
        held = self.grants.get(source.id, {})
        if any(pid not in held for pid in pids):
            self.expect_error(
                codes.PROCESS_HANDLE_NOT_GRANTED,
                self.registry.transfer_handle_grants,
                source,
                dest,
                pids,
            )
            return
        self.registry.transfer_handle_grants(source, dest, pids)
        if source.id == dest.id:
            return
        for pid in dict.fromkeys(pids):
            del held[pid]
            self.grants.setdefault(dest.id, {})[pid] = dest.session_id

    @rule(session=SESSIONS)
    def delete_session(self, session: str) -> None:
        report = self.registry.delete_session_process_state(session)
        touched: set[str] = set()
        revoked = 0
        for grants in self.grants.values():
            for pid, sid in list(grants.items()):
                if sid == session:
                    del grants[pid]
                    touched.add(pid)
                    revoked += 1
        wakes = [pid for pid, sid in self.wake.items() if sid == session]
        for pid in wakes:
            del self.wake[pid]
        prefix = SessionScope(session).id
        dropped = [w for w, (sid, _, _, _) in self.pending.items() if sid.split("/")[0] == prefix]
        for wake_id in dropped:
            del self.pending[wake_id]
        held = {pid for grants in self.grants.values() for pid in grants}
        live = sorted(pid for pid in touched if self.state[pid] == "running")
        assert report.revoked_handle_count == revoked
        assert report.deleted_wake_count == len(wakes) + len(dropped)
        assert report.orphaned_process_ids == tuple(p for p in live if p not in held)
        assert report.preserved_process_ids == tuple(p for p in live if p in held)

    @rule(pid=PIDS)
    def await_now(self, pid: str) -> None:
        if pid not in self.variant:
            self.expect_error(codes.PROCESS_UNKNOWN, self.registry.begin_await, pid)
            return
        start = self.registry.begin_await(pid)
        if self.state[pid] == "running":
            assert self.registry.end_await(start.waiter_id) is None  # type: ignore[union-attr]
        else:
            assert start.output == self.output[pid]  # type: ignore[union-attr]

    @rule(pid=PIDS)
    def park(self, pid: str) -> None:
        if pid not in self.variant:
            self.expect_error(codes.PROCESS_UNKNOWN, self.registry.begin_await, pid)
            return
        start = self.registry.begin_await(pid)
        if self.state[pid] != "running":
            assert start == AwaitReady(self.output[pid])
            return
        assert isinstance(start, AwaitParked)
        assert start.waiter_id not in self.awaiters
        self.parked.setdefault(pid, []).append(start.waiter_id)
        self.awaiters[start.waiter_id] = pid

    @rule(data=st.data())
    def end_await(self, data: st.DataObject) -> None:
        if not self.awaiters:
            self.expect_error(codes.PROCESS_AWAITER_UNKNOWN, self.registry.end_await, 10**6)
            return
        waiter_id = data.draw(st.sampled_from(sorted(self.awaiters)))
        pid = self.awaiters.pop(waiter_id)
        output = self.registry.end_await(waiter_id)
        if self.state[pid] == "running":
            assert output is None
            self.parked[pid].remove(waiter_id)
        else:
            assert output == self.output[pid]
        self.expect_error(codes.PROCESS_AWAITER_UNKNOWN, self.registry.end_await, waiter_id)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def parked_match(self) -> None:
        assert self.registry.parked_count == len(self.awaiters)

    @invariant()
    def records_match(self) -> None:
        records = self.registry.list_processes()
        assert [r.id for r in records] == sorted(self.variant)
        for record in records:
            pid = record.id
            assert record.status.state == self.state[pid]
            assert self.registry.event_count(pid) == len(self.log[pid])
            terminals = [e for e in self.registry.events(pid) if e.semantics.terminal is not None]
            assert len(terminals) == (0 if self.state[pid] == "running" else 1)
            assert record.wake_target == (
                SessionScope(self.wake[pid]) if pid in self.wake else None
            )
            cancels = any(t == "process.cancel_requested" for t, _, _ in self.log[pid])
            assert self.registry.is_cancel_requested(pid) == cancels

    @invariant()
    def wakes_match(self) -> None:
        for scope in ALL_SCOPES:
            pending = self.registry.pending_wakes(scope)
            expected = [(w, v) for w, v in self.pending.items() if v[0] == scope.id]
            assert [(w.wake_id, w.process_id, w.sequence, w.input) for w in pending] == [
                (w, pid, seq, text) for w, (_, pid, seq, text) in expected
            ]
        for wake_id in self.acked:
            assert self.registry.is_wake_acknowledged(wake_id)
        for pid, log in self.log.items():
            expected_events = [
                n
                for n, (etype, _, _) in enumerate(log, start=1)
                if etype in ("ping", "group") and (pid, n) not in self.acked_events
            ]
            assert [e.sequence for e in self.registry.wake_events_after(pid)] == expected_events

    @invariant()
    def grants_match(self) -> None:
        for scope_id_scope in (
            SessionScope("s1"),
            SessionScope("s2"),
            SessionScope("s1", "f"),
            SessionScope("s3"),
        ):
            expected = self.grants.get(scope_id_scope.id, {})
            every = self.registry.list_handle_grants(scope_id_scope, ProcessListMode.ALL)
            assert [(g.process_id, g.session_id) for g, _ in every] == sorted(expected.items())
            live = self.registry.list_handle_grants(scope_id_scope, ProcessListMode.LIVE)
            assert [g.process_id for g, _ in live] == sorted(
                pid for pid in expected if self.state[pid] == "running"
            )


TestProcessRegistryMachine = ProcessRegistryMachine.TestCase
TestProcessRegistryMachine.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
