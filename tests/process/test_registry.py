"""The process registry: the reference's registry conformance cases and its validation."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from lash_core import JsonValue, KeySigner, LashError, codes, wire
from lash_core.effects.invocation import ProcessCause, ProcessEventSubject, Replay
from lash_core.effects.process import (
    ProcessAwait,
    ProcessCancel,
    ProcessCancelled,
    ProcessDeleteSession,
    ProcessList,
    ProcessListed,
    ProcessSessionDeleted,
    ProcessStart,
    ProcessStarted,
)
from lash_core.effects.replay_keys import process_terminal_replay_key
from lash_core.process import (
    CORE_EVENT_TYPES,
    AwaitParked,
    AwaitReady,
    CommandDone,
    CommandParked,
    ProcessRegistry,
    apply_process_command,
)
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessListMode,
    ProcessStartGrant,
)
from lash_core.process.records import (
    CancelledOutput,
    CancelledStatus,
    CompletedStatus,
    ExternalInput,
    FailedStatus,
    FailureOutput,
    ProcessEventType,
    RunningStatus,
    SignalWait,
    SuccessOutput,
    WaitState,
)
from lash_core.scope import ProcessScope, ProcessSignal
from tests.process.support import note, registration, scope, snapshot


def refused(registry: ProcessRegistry, code: str, fn: Any, *args: Any) -> LashError:
    before = snapshot(registry)
    with pytest.raises(LashError) as info:
        fn(*args)
    assert info.value.code == code, info.value
    assert snapshot(registry) == before
    return info.value


SUCCESS = SuccessOutput({"n": 1})
D = HandleDescriptor("job", "a job")


def test_registration_is_idempotent_and_hash_conflicts_fail() -> None:
    registry = ProcessRegistry()
    first = registry.register(registration("p1"), 10)
    assert first.created
    assert first.record.created_at_ms == first.record.updated_at_ms == 10
    assert isinstance(first.record.status, RunningStatus)
    again = registry.register(registration("p1"), 99)
    assert not again.created
    assert again.record == first.record
    refused(
        registry,
        codes.PROCESS_REGISTRATION_CONFLICT,
        registry.register,
        registration("p1", payload={"other": True}),
        5,
    )


def test_registration_appends_the_seven_core_event_types_and_hashes_the_result() -> None:
    registry = ProcessRegistry()
    record = registry.register(registration("p1"), 0).record
    names = [t.name for t in record.event_types]
    assert names == ["signal.go", "note"] + [t.name for t in CORE_EVENT_TYPES]
    assert len(CORE_EVENT_TYPES) == 7
    # Declaring the core types explicitly (same order) is the same registration.
    explicit = registration("p1", event_types=record.event_types)
    assert not registry.register(explicit, 1).created
    assert record.registration_hash == wire.stable_hash(explicit)


@pytest.mark.parametrize("pid", ["", "   ", "a#b", "#"])
def test_process_id_rejects_reserved_segment_separator(pid: str) -> None:
    registry = ProcessRegistry()
    refused(registry, codes.PROCESS_ID_INVALID, registry.register, registration(pid), 0)


@pytest.mark.parametrize(
    "bad",
    [
        registration("p", event_types=(ProcessEventType(" "),)),
        registration("p", event_types=(ProcessEventType("x"), ProcessEventType("x"))),
        registration("p", event_types=(ProcessEventType("process.completed"),)),
        registration("p", event_types=(ProcessEventType("x", await_output=True),)),
        attrs.evolve(registration("p", process_input=ExternalInput()), env_ref="env:forbidden"),
        attrs.evolve(registration("p"), env_ref=None),
        attrs.evolve(registration("p"), env_ref="  "),
    ],
    ids=[
        "blank-name",
        "twice",
        "core-redeclared",
        "await-output-non-terminal",
        "env-ref-on-external",
        "engine-without-env",
        "engine-blank-env",
    ],
)
def test_invalid_registrations_are_refused(bad: Any) -> None:
    registry = ProcessRegistry()
    refused(registry, codes.PROCESS_REGISTRATION_INVALID, registry.register, bad, 0)


def test_external_processes_register_without_env_ref() -> None:
    registry = ProcessRegistry()
    record = registry.register(registration("x", process_input=ExternalInput({"n": 1})), 0).record
    assert record.env_ref is None


def test_terminal_and_cancel_events_require_keys() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    output = {"await_output": wire.to_wire(SUCCESS)}
    for event_type, payload in [
        ("process.completed", output),
        ("process.cancel_requested", {"reason": None}),
    ]:
        for replay in (None, Replay("")):
            request = ProcessEventAppendRequest(event_type, payload, replay)
            refused(
                registry,
                codes.PROCESS_EVENT_REPLAY_REQUIRED,
                registry.append_event,
                "p1",
                request,
                1,
            )
    # Ordinary events need no key.
    assert registry.append_event("p1", note("x"), 2).event.sequence == 1


def test_events_are_sequenced_from_one_and_replay_keys_dedupe() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    first = registry.append_event("p1", note({"a": 1}, "k1"), 5)
    assert first.appended and first.event.sequence == 1
    assert first.event.occurred_at.to_ms() == 5
    assert first.event.invocation.subject == ProcessEventSubject("p1", 1, "note")
    assert first.event.invocation.caused_by == ProcessCause("p1")
    assert first.event.invocation.replay == Replay("k1")
    again = registry.append_event("p1", note({"a": 1}, "k1"), 6)
    assert not again.appended and again.event == first.event
    second = registry.append_event("p1", note({"a": 1}), 7)
    assert second.event.sequence == 2
    refused(
        registry,
        codes.PROCESS_EVENT_REPLAY_CONFLICT,
        registry.append_event,
        "p1",
        note({"a": 2}, "k1"),
        8,
    )
    refused(
        registry,
        codes.PROCESS_EVENT_TYPE_UNDECLARED,
        registry.append_event,
        "p1",
        ProcessEventAppendRequest("nope", None),
        8,
    )
    refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        registry.append_event,
        "p1",
        note(object()),  # type: ignore[arg-type]
        8,
    )
    refused(registry, codes.PROCESS_UNKNOWN, registry.append_event, "ghost", note(), 8)


def test_terminal_is_written_exactly_once() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    done = registry.append_terminal("p1", SUCCESS, 3)
    assert isinstance(done.record.status, CompletedStatus)
    assert done.record.status.await_output == SUCCESS
    assert done.event.semantics.terminal is not None
    assert done.event.semantics.terminal.state == "completed"
    assert done.event.invocation.replay == Replay(
        process_terminal_replay_key("p1", "process.completed")
    )
    # The same terminal again is the recorded event; another terminal is refused.
    assert not registry.append_terminal("p1", SUCCESS, 4).appended
    refused(
        registry,
        codes.PROCESS_ALREADY_TERMINAL,
        registry.append_terminal,
        "p1",
        CancelledOutput("late"),
        5,
    )
    refused(
        registry,
        codes.PROCESS_EVENT_REPLAY_CONFLICT,
        registry.append_terminal,
        "p1",
        SuccessOutput(2),
        5,
    )


def test_terminal_payloads_need_an_await_output() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    payloads: list[JsonValue] = [None, {"x": 1}, {"await_output": {"type": "nope"}}]
    for payload in payloads:
        request = ProcessEventAppendRequest("process.failed", payload, Replay("t"))
        refused(
            registry, codes.PROCESS_EVENT_PAYLOAD_INVALID, registry.append_event, "p1", request, 1
        )
    failure = FailureOutput(class_="process", code="boom", message="it broke")
    record = registry.append_terminal("p1", failure, 2).record
    assert isinstance(record.status, FailedStatus)


def test_custom_terminal_without_await_output_completes_with_its_payload() -> None:
    registry = ProcessRegistry()
    types = (ProcessEventType("done", terminal=True),)
    registry.register(registration("p1", event_types=types), 0)
    record = registry.append_event(
        "p1", ProcessEventAppendRequest("done", {"v": 1}, Replay("d")), 1
    ).record
    assert record.status == CompletedStatus(SuccessOutput({"v": 1}))


def test_cancel_is_a_durable_event_deduplicated_by_reason() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    assert not registry.is_cancel_requested("p1")
    first = registry.request_cancel("p1", "stop", 1)
    assert first.appended and first.event.payload == {"reason": "stop"}
    assert isinstance(first.record.status, RunningStatus)  # a request, not a status
    assert registry.is_cancel_requested("p1")
    assert not registry.request_cancel("p1", "stop", 2).appended
    assert registry.request_cancel("p1", None, 3).appended
    assert registry.event_count("p1") == 2


def test_await_reads_terminal_materialized_output() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    parked = registry.begin_await("p1")
    assert isinstance(parked, AwaitParked)
    assert registry.end_await(parked.waiter_id) is None  # given up before the terminal
    parked = registry.begin_await("p1")
    assert isinstance(parked, AwaitParked)
    done = registry.append_terminal("p1", SUCCESS, 1)
    assert done.wake == {parked.waiter_id}
    assert registry.end_await(parked.waiter_id) == SUCCESS
    assert registry.begin_await("p1") == AwaitReady(SUCCESS)
    refused(registry, codes.PROCESS_AWAITER_UNKNOWN, registry.end_await, parked.waiter_id)
    refused(registry, codes.PROCESS_UNKNOWN, registry.begin_await, "ghost")


def test_replayed_terminal_event_repairs_non_terminal_status_projection() -> None:
    source = ProcessRegistry()
    source.register(registration("p1"), 0)
    done = source.append_terminal("p1", SUCCESS, 1)
    # A store whose status projection lags its log: the record still says running.
    stale = attrs.evolve(done.record, status=RunningStatus())
    registry = ProcessRegistry.restore([stale], [done.event])
    assert not registry.record("p1").is_terminal
    parked = registry.begin_await("p1")
    assert isinstance(parked, AwaitParked)
    replayed = registry.append_terminal("p1", SUCCESS, 2)
    assert not replayed.appended
    assert replayed.event == done.event
    assert replayed.record.status == CompletedStatus(SUCCESS)
    assert replayed.wake == {parked.waiter_id}
    assert registry.event_count("p1") == 1


def test_count_and_recent_events_match_the_log() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    for i in range(5):
        registry.append_event("p1", note(i), i)
    assert registry.event_count("p1") == 5
    assert [e.payload for e in registry.recent_events("p1", 2)] == [3, 4]
    assert [e.sequence for e in registry.events("p1", after=3)] == [4, 5]
    assert registry.recent_events("p1", 0) == ()
    assert registry.recent_events("p1", 50) == registry.events("p1")


def test_wait_state_round_trips_filters_and_clears_on_terminal() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    registry.register(registration("p2"), 0)
    key = KeySigner(b"k" * 32).mint(ProcessScope("p1"), ProcessSignal("p1", "go", 1))
    wait = WaitState(SignalWait("go", "signal.go", key, 1), 7)
    assert registry.set_wait("p1", wait, 7).wait == wait
    assert wire.from_wire(wire.to_wire(registry.record("p1")), type(registry.record("p1"))) == (
        registry.record("p1")
    )
    assert [r.id for r in registry.list_processes(waiting=True)] == ["p1"]
    assert [r.id for r in registry.list_processes(waiting=False)] == ["p2"]
    record = registry.append_terminal("p1", SUCCESS, 8).record
    assert record.wait is None
    assert registry.list_processes(waiting=True) == ()
    refused(registry, codes.PROCESS_ALREADY_TERMINAL, registry.set_wait, "p1", wait, 9)


def test_list_non_terminal_excludes_terminal_processes() -> None:
    registry = ProcessRegistry()
    for pid in ("c", "a", "b"):
        registry.register(registration(pid), 0)
    registry.append_terminal("b", SUCCESS, 1)
    assert [r.id for r in registry.list_processes(terminal=False)] == ["a", "c"]
    assert [r.id for r in registry.list_processes(terminal=True)] == ["b"]
    assert [r.id for r in registry.list_processes()] == ["a", "b", "c"]


# -- handle grants ---------------------------------------------------------------------------


def test_processes_can_exist_with_zero_grants() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    assert registry.list_handle_grants(scope("s1")) == ()
    refused(registry, codes.PROCESS_UNKNOWN, registry.grant_handle, scope("s1"), "ghost", D)


def test_multiple_sessions_can_hold_grants() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    g1 = registry.grant_handle(scope("s1"), "p1", D)
    g2 = registry.grant_handle(scope("s2"), "p1", D)
    assert g1.session_id == "s1" and g2.session_id == "s2"
    assert [g for g, _ in registry.list_handle_grants(scope("s1"))] == [g1]
    assert [g for g, _ in registry.list_handle_grants(scope("s2"))] == [g2]


def test_list_live_handle_grants_excludes_terminal_history() -> None:
    registry = ProcessRegistry()
    for pid in ("b", "a", "c"):
        registry.register(registration(pid), 0)
        registry.grant_handle(scope("s1"), pid, D)
    registry.append_terminal("b", SUCCESS, 1)
    live = registry.list_handle_grants(scope("s1"), ProcessListMode.LIVE)
    every = registry.list_handle_grants(scope("s1"), ProcessListMode.ALL)
    assert [r.id for _, r in live] == ["a", "c"]
    assert [r.id for _, r in every] == ["a", "b", "c"]
    assert all(g.process_id == r.id for g, r in every)


def test_grants_are_keyed_by_scope_id_including_the_frame() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p1"), 0)
    registry.grant_handle(scope("s1", "f1"), "p1", D)
    assert registry.list_handle_grants(scope("s1")) == ()
    assert len(registry.list_handle_grants(scope("s1", "f1"))) == 1
    refused(registry, codes.PROCESS_SESSION_INVALID, registry.grant_handle, scope(" "), "p1", D)


def test_transfer_handle_grants_moves_addressability() -> None:
    registry = ProcessRegistry()
    for pid in ("p1", "p2"):
        registry.register(registration(pid), 0)
        registry.grant_handle(scope("s1"), pid, D)
    registry.transfer_handle_grants(scope("s1"), scope("s2"), ["p1"])
    assert [r.id for _, r in registry.list_handle_grants(scope("s1"))] == ["p2"]
    moved = registry.list_handle_grants(scope("s2"))
    assert [(g.session_id, g.process_id, g.descriptor) for g, _ in moved] == [("s2", "p1", D)]
    # All or nothing: one id the source does not hold refuses the whole transfer.
    err = refused(
        registry,
        codes.PROCESS_HANDLE_NOT_GRANTED,
        registry.transfer_handle_grants,
        scope("s1"),
        scope("s2"),
        ["p2", "p1"],
    )
    assert "'p1'" in err.message


def test_delete_session_revokes_handles_by_session() -> None:
    registry = ProcessRegistry()
    for pid in ("only", "shared", "done"):
        registry.register(registration(pid, wake_target=scope("s1")), 0)
        registry.grant_handle(scope("s1"), pid, D)
    registry.grant_handle(scope("s1", "frame"), "only", D)
    registry.grant_handle(scope("s2"), "shared", D)
    registry.append_terminal("done", SUCCESS, 1)
    report = registry.delete_session_process_state("s1")
    assert report.session_id == "s1"
    assert report.revoked_handle_count == 4
    assert report.deleted_wake_count == 3
    assert report.orphaned_process_ids == ("only",)
    assert report.preserved_process_ids == ("shared",)
    assert registry.list_handle_grants(scope("s1")) == ()
    assert registry.list_handle_grants(scope("s1", "frame")) == ()
    assert [r.id for _, r in registry.list_handle_grants(scope("s2"))] == ["shared"]
    # Processes are never cancelled, and their wake targets are gone.
    assert not registry.is_cancel_requested("only")
    assert isinstance(registry.record("only").status, RunningStatus)
    assert all(r.wake_target is None for r in registry.list_processes())
    again = registry.delete_session_process_state("s1")
    assert (again.revoked_handle_count, again.orphaned_process_ids) == (0, ())
    refused(registry, codes.PROCESS_SESSION_INVALID, registry.delete_session_process_state, "")


# -- the process command ---------------------------------------------------------------------


def test_delete_session_process_command_revokes_edges_and_reports_orphans() -> None:
    registry = ProcessRegistry()
    grant = ProcessStartGrant(scope("s1"), D)
    started = apply_process_command(registry, ProcessStart(registration("p1"), grant), 1)
    assert isinstance(started, CommandDone) and isinstance(started.outcome, ProcessStarted)
    assert started.started == started.outcome.record
    listed = apply_process_command(registry, ProcessList(scope("s1")), 2)
    assert isinstance(listed, CommandDone) and isinstance(listed.outcome, ProcessListed)
    assert [r.id for _, r in listed.outcome.entries] == ["p1"]
    deleted = apply_process_command(registry, ProcessDeleteSession("s1"), 3)
    assert isinstance(deleted, CommandDone)
    assert isinstance(deleted.outcome, ProcessSessionDeleted)
    assert deleted.outcome.report.orphaned_process_ids == ("p1",)
    assert deleted.outcome.report.revoked_handle_count == 1
    assert registry.list_handle_grants(scope("s1")) == ()


def test_start_is_idempotent_and_reports_only_a_new_process_as_started() -> None:
    registry = ProcessRegistry()
    first = apply_process_command(registry, ProcessStart(registration("p1")), 1)
    again = apply_process_command(registry, ProcessStart(registration("p1")), 2)
    assert isinstance(first, CommandDone) and first.started is not None
    assert isinstance(again, CommandDone) and again.started is None
    assert again.outcome == first.outcome


def test_start_with_a_bad_grant_registers_nothing() -> None:
    registry = ProcessRegistry()
    bad = ProcessStart(registration("p1"), ProcessStartGrant(scope(""), D))
    refused(registry, codes.PROCESS_SESSION_INVALID, apply_process_command, registry, bad, 1)
    assert registry.get("p1") is None


def test_cancel_and_await_commands() -> None:
    registry = ProcessRegistry()
    apply_process_command(registry, ProcessStart(registration("p1")), 1)
    parked = apply_process_command(registry, ProcessAwait("p1"), 2)
    assert isinstance(parked, CommandParked)
    cancelled = apply_process_command(registry, ProcessCancel("p1", "enough"), 3)
    assert isinstance(cancelled, CommandDone)
    assert isinstance(cancelled.outcome, ProcessCancelled)
    assert cancelled.cancelled == "p1"
    assert registry.is_cancel_requested("p1")
    done = registry.append_terminal("p1", CancelledOutput("enough"), 4)
    assert done.wake == {parked.waiter_id}
    assert isinstance(done.record.status, CancelledStatus)
    refused(registry, codes.PROCESS_COMMAND_INVALID, apply_process_command, registry, "start", 5)


@pytest.mark.parametrize("now", [-1, 1.5, "1", None])
def test_timestamps_are_whole_non_negative_milliseconds(now: object) -> None:
    registry = ProcessRegistry()
    refused(registry, codes.PROCESS_TIMESTAMP_INVALID, registry.register, registration("p"), now)
    registry.register(registration("p"), 0)
    refused(registry, codes.PROCESS_TIMESTAMP_INVALID, registry.append_event, "p", note(), now)
    refused(registry, codes.PROCESS_TIMESTAMP_INVALID, registry.set_wait, "p", None, now)
