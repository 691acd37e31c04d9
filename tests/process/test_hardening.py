"""Regression tests for the process registry's hardening: a signal's cost does not grow with
the log, an append that cannot hash its payload logs nothing, a process that has ended takes no
new event (but a signal), and a refused call changes nothing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lash_core import JsonValue, LashError, codes
from lash_core.effects.invocation import Replay
from lash_core.effects.process import ProcessCancel, ProcessCancelled, ProcessSignalled
from lash_core.process import (
    CommandDone,
    ProcessRegistry,
    apply_process_command,
    signal_ordinal,
    signal_request,
    waiting_request,
)
from lash_core.process._state import EventLog
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.records import CancelledOutput, SuccessOutput
from tests.process.support import note, registration, snapshot


def refused(registry: ProcessRegistry, code: str, fn: Any, *args: Any) -> LashError:
    before = snapshot(registry)
    with pytest.raises(LashError) as info:
        fn(*args)
    assert info.value.code == code, info.value
    assert snapshot(registry) == before
    return info.value


def signal(registry: ProcessRegistry, signal_id: str, name: str = "go") -> CommandDone:
    step = apply_process_command(registry, signal_request("p", name, signal_id, signal_id), 1)
    assert isinstance(step, CommandDone)
    return step


# -- 1. a signal to a process that is not waiting reads a count, not the log ---------------


def test_signal_ordinal_of_a_process_not_waiting_does_not_read_the_whole_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each signal used to count the ``signal.{name}`` events of the whole log (and copy it):
    20,000 signals took minutes. The ordinal now comes from a per-(process, event type) count;
    the log is not read at all, and the ordinals are the ones a log scan gives."""
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)

    def no_log_reads(*args: object) -> object:
        raise AssertionError("a signal must not read the process's log")

    monkeypatch.setattr(registry, "events", no_log_reads)
    monkeypatch.setattr(EventLog, "__iter__", no_log_reads)
    ordinals = []
    for i in range(1, 301):
        if i % 3 == 0:
            registry.append_event("p", note(i), 1)  # other event types interleave
        step = signal(registry, f"s{i}")
        assert step.signal is not None
        ordinals.append(step.signal.wait.ordinal)
    assert ordinals == list(range(1, 301))
    monkeypatch.undo()
    # The same ordinals as the log scan of signal_ordinal, for every logged signal.
    events = registry.events("p")
    record = registry.record("p")
    for event in events:
        expected = signal_ordinal(record, events, event) if event.event_type == "signal.go" else 0
        if expected:
            assert registry.event_type_ordinal("p", event.sequence) == expected
    assert registry.event_type_count("p", "signal.go") == 300
    assert registry.event_type_count("p", "note") == 100
    assert registry.event_type_count("p", "signal.other") == 0


def test_signal_sent_again_keeps_the_ordinal_of_its_first_send() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    for i in range(1, 6):
        signal(registry, f"s{i}")
    again = signal(registry, "s2")
    assert again.signal is not None
    assert again.signal.wait.ordinal == 2
    assert not again.signal.appended
    assert registry.event_type_count("p", "signal.go") == 5


def test_restored_registry_counts_its_restored_events() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    for i in range(1, 4):
        signal(registry, f"s{i}")
    restored = ProcessRegistry.restore([registry.record("p")], registry.events("p"))
    assert restored.event_type_count("p", "signal.go") == 3
    step = signal(restored, "s4")
    assert step.signal is not None and step.signal.wait.ordinal == 4


# -- 2. an append whose payload cannot be hashed logs nothing ------------------------------


def _deep(depth: int) -> JsonValue:
    value: JsonValue = []
    for _ in range(depth):
        value = [value]
    return value


UNHASHABLE: list[Any] = [
    math.nan,
    {"x": [1.0, math.inf]},
    {"x": -math.inf},
    "\ud800",
    {"\udfff": 1},
    _deep(100_000),
    {"x": object()},
    {1: "non-string key"},
    {"x": {1, 2}},
]


@pytest.mark.parametrize("payload", UNHASHABLE, ids=range(len(UNHASHABLE)))
def test_append_with_an_unhashable_payload_logs_nothing_and_a_retry_appends_once(
    payload: Any,
) -> None:
    """A keyed append whose payload passed the JSON check but failed to hash (NaN, infinity,
    a lone surrogate, nesting too deep) was logged without its replay key, so a retry appended
    a duplicate. The payload is now checked and hashed before anything changes."""
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    request = ProcessEventAppendRequest("note", payload, Replay("k1"))
    refused(registry, codes.PROCESS_EVENT_PAYLOAD_INVALID, registry.append_event, "p", request, 1)
    assert registry.event_count("p") == 0
    assert registry.event_type_count("p", "note") == 0
    first = registry.append_event("p", note({"ok": True}, "k1"), 2)
    again = registry.append_event("p", note({"ok": True}, "k1"), 3)
    assert first.appended and not again.appended
    assert again.event == first.event
    assert registry.event_count("p") == 1


def test_unhashable_signal_and_terminal_payloads_change_nothing() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    bad_signal = signal_request("p", "go", "s1", math.nan)
    refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        apply_process_command,
        registry,
        bad_signal,
        1,
    )
    refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        registry.append_terminal,
        "p",
        SuccessOutput(math.nan),
        1,
    )
    assert not registry.record("p").is_terminal


# -- 3. a process that has ended takes no new event ----------------------------------------


def ended() -> ProcessRegistry:
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    registry.append_event("p", note("before", "n1"), 1)
    registry.request_cancel("p", "first", 2)
    registry.append_terminal("p", SuccessOutput("done"), 3)
    return registry


def test_events_after_the_terminal_are_refused_and_change_nothing() -> None:
    """Progress, cancel requests and waits appended after a process's terminal were logged
    (and bumped its record's ``updated_at_ms``). They are now refused with
    ``process_already_terminal``; the registry is unchanged."""
    registry = ended()
    code = codes.PROCESS_ALREADY_TERMINAL
    refused(registry, code, registry.append_event, "p", note("late"), 4)
    refused(registry, code, registry.append_event, "p", note("late", "n2"), 4)
    refused(registry, code, registry.request_cancel, "p", "too late", 4)
    refused(registry, code, registry.append_event, "p", waiting_request("p", "go", 1), 4)
    refused(registry, code, registry.append_terminal, "p", CancelledOutput("again"), 4)
    assert registry.record("p").updated_at_ms == 3


def test_replays_after_the_terminal_still_answer_their_recorded_events() -> None:
    registry = ended()
    before = snapshot(registry)
    replayed = registry.append_event("p", note("before", "n1"), 9)
    assert not replayed.appended and replayed.event.sequence == 1
    assert not registry.request_cancel("p", "first", 9).appended
    assert not registry.append_terminal("p", SuccessOutput("done"), 9).appended
    assert snapshot(registry) == before
    refused(
        registry,
        codes.PROCESS_EVENT_REPLAY_CONFLICT,
        registry.append_event,
        "p",
        note("other", "n1"),
        9,
    )


def test_cancel_command_for_an_ended_process_answers_its_record_and_logs_nothing() -> None:
    """The ``cancel`` command (which the simulator sends at planned instants, racing the end)
    answers a finished process with its record; nothing is logged, and the runner is still
    told so a function outliving its terminal stops."""
    registry = ended()
    before = snapshot(registry)
    step = apply_process_command(registry, ProcessCancel("p", "too late"), 4)
    assert isinstance(step, CommandDone)
    assert step.outcome == ProcessCancelled(registry.record("p"))
    assert step.cancelled == "p" and step.wake == frozenset()
    assert snapshot(registry) == before
    refused(registry, codes.PROCESS_EVENT_PAYLOAD_INVALID, registry.request_cancel, "p", 5, 4)


def test_signal_to_an_ended_process_is_logged_and_resolves_no_wait() -> None:
    """A signal races its process's end (its sender cannot know), so it is still logged, as
    the reference logs it; nothing waits on it any more, so it resolves no key."""
    registry = ended()
    step = signal(registry, "late")
    assert isinstance(step.outcome, ProcessSignalled)
    assert step.outcome.event.sequence == registry.event_count("p")
    assert step.signal is None
    assert registry.record("p").status.state == "completed"


# -- 4. found by the bad-input property (tests/process/test_bad_input.py) ------------------


def test_terminal_with_an_output_nested_too_deeply_is_a_lash_error() -> None:
    """``append_terminal`` (and ``complete_leased``) let a ``RecursionError`` escape from
    encoding an await output nested too deeply."""
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    deep = SuccessOutput(_deep(5_000))
    code = codes.PROCESS_EVENT_PAYLOAD_INVALID
    refused(registry, code, registry.append_terminal, "p", deep, 1)
    lease = registry.claim_process_lease("p", "owner", 100, 1)
    refused(registry, code, registry.complete_leased, lease.completion(), deep, 2)


def test_wake_events_after_a_cursor_that_is_not_an_int_is_a_lash_error() -> None:
    """``wake_events_after`` let a ``TypeError`` escape from comparing a non-int cursor."""
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    code = codes.PROCESS_ARGUMENT_INVALID
    refused(registry, code, registry.wake_events_after, "p", object())
    refused(registry, code, registry.events, "p", "1")
    refused(registry, code, registry.recent_events, "p", None)


def test_registration_with_a_nan_payload_is_refused() -> None:
    """A registration whose input payload held NaN was accepted (its hash writes ``null``), so
    the record differed from the one a store reads back."""
    registry = ProcessRegistry()
    refused(
        registry,
        codes.PROCESS_REGISTRATION_INVALID,
        registry.register,
        registration("p", payload={"x": math.nan}),
        0,
    )
    assert len(registry) == 0
