"""Signals as data: the ``signal`` command, its validation and which wait a signal answers."""

from __future__ import annotations

import attrs
import pytest

from lash_core import KeySigner, codes
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    ProcessSignalled,
    ProcessSignalSend,
    ProcessStart,
)
from lash_core.process import (
    CommandDone,
    ProcessRegistry,
    SignalDelivery,
    apply_process_command,
    signal_ordinal,
    signal_request,
    signal_wait_state,
    waiting_request,
)
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.scope import ProcessScope, ProcessSignal
from tests.process.support import registration
from tests.process.test_registry import refused

SIGNER = KeySigner(b"signal-tests-secret-0123456789ab")


def started() -> ProcessRegistry:
    registry = ProcessRegistry()
    apply_process_command(registry, ProcessStart(registration("p")), 0)
    return registry


def send(registry: ProcessRegistry, signal_id: str, payload: object = None) -> CommandDone:
    step = apply_process_command(registry, signal_request("p", "go", signal_id, payload), 1)  # type: ignore[arg-type]
    assert isinstance(step, CommandDone)
    return step


def wait_on(registry: ProcessRegistry, ordinal: int, name: str = "go") -> None:
    key = SIGNER.mint(ProcessScope("p"), ProcessSignal("p", name, ordinal))
    registry.set_wait("p", signal_wait_state(name, ordinal, key, 5), 5)


def test_signals_before_any_wait_answer_ordinals_by_count() -> None:
    registry = started()
    first = send(registry, "s1", "a")
    second = send(registry, "s2", "b")
    assert first.signal == SignalDelivery(ProcessScope("p"), ProcessSignal("p", "go", 1), "a")
    assert second.signal == SignalDelivery(ProcessScope("p"), ProcessSignal("p", "go", 2), "b")
    assert isinstance(first.outcome, ProcessSignalled)
    assert first.outcome.event.event_type == "signal.go"
    assert first.outcome.event.invocation.replay == Replay("process:p:signal.go:s1")


def test_a_signal_answers_the_ordinal_its_process_is_waiting_on() -> None:
    registry = started()
    wait_on(registry, 3)
    step = send(registry, "s1", "late")
    assert step.signal is not None and step.signal.wait.ordinal == 3
    # A wait for another name does not count.
    registry.set_wait("p", None, 6)
    wait_on(registry, 7, name="stop")
    step = send(registry, "s2")
    assert step.signal is not None and step.signal.wait.ordinal == 2


def test_the_same_signal_id_appends_once_and_answers_the_same_ordinal() -> None:
    registry = started()
    first = send(registry, "s1", "x")
    again = send(registry, "s1", "x")
    assert registry.event_count("p") == 1
    assert again.signal == first.signal
    refused(
        registry,
        codes.PROCESS_EVENT_REPLAY_CONFLICT,
        apply_process_command,
        registry,
        signal_request("p", "go", "s1", "other"),
        2,
    )


def test_signal_ordinal_counts_only_events_up_to_the_signal() -> None:
    registry = started()
    send(registry, "s1")
    registry.append_event("p", waiting_request("p", "go", 1), 2)
    send(registry, "s2")
    events = registry.events("p")
    record = registry.record("p")
    assert [signal_ordinal(record, events, e) for e in events if e.event_type == "signal.go"] == [
        1,
        2,
    ]


@pytest.mark.parametrize("name", ["", "a b", "a.b", "é", "go!"])
def test_signal_names_are_ascii_words(name: str) -> None:
    registry = started()
    command = signal_request("p", name, "s1")
    refused(
        registry, codes.PROCESS_SIGNAL_NAME_INVALID, apply_process_command, registry, command, 1
    )


def test_a_signal_request_must_be_its_signal_event() -> None:
    registry = started()
    command = ProcessSignalSend(
        "p", "go", "s1", ProcessEventAppendRequest("note", None, Replay("k"))
    )
    refused(
        registry, codes.PROCESS_SIGNAL_REQUEST_INVALID, apply_process_command, registry, command, 1
    )


def test_a_request_without_a_key_gets_the_signal_key() -> None:
    registry = started()
    command = signal_request("p", "go", "s9", 1)
    command = attrs.evolve(command, request=attrs.evolve(command.request, replay=None))
    step = apply_process_command(registry, command, 1)
    assert isinstance(step, CommandDone) and isinstance(step.outcome, ProcessSignalled)
    assert step.outcome.event.invocation.replay == Replay("process:p:signal.go:s9")


def test_signals_must_be_declared_and_the_process_known() -> None:
    registry = started()
    refused(
        registry,
        codes.PROCESS_EVENT_TYPE_UNDECLARED,
        apply_process_command,
        registry,
        signal_request("p", "ping", "s1"),
        1,
    )
    refused(
        registry,
        codes.PROCESS_UNKNOWN,
        apply_process_command,
        registry,
        signal_request("ghost", "go", "s1"),
        1,
    )
    refused(
        registry,
        codes.PROCESS_ID_INVALID,
        apply_process_command,
        registry,
        signal_request("a#b", "go", "s1"),
        1,
    )
