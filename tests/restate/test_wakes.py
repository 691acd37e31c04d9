"""Wake deliveries on the Restate tier, against a real Restate server: an event of a type with a
wake selector, appended to a process with a wake target (or by a request naming a target
scope), is sent by the process's object to the target session's object, which keeps it pending
until it is acknowledged; the same sequence gives the same wakes, acknowledgements, refusals and
``delete_session`` counts as the in-memory registry."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

pytest.importorskip("restate")

from lash_core import codes
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    ProcessDeleteSession,
    ProcessSessionDeleted,
    ProcessSignalSend,
    ProcessStart,
)
from lash_core.errors import LashError
from lash_core.process import signal_request
from lash_core.process.commands import CommandDone, apply_process_command
from lash_core.process.events import ProcessEventAppendRequest, ProcessWakeDelivery
from lash_core.process.records import (
    ExternalInput,
    PointerSelector,
    PresentSelector,
    ProcessEventType,
    ProcessRegistration,
    ProcessWakeSpec,
    SessionScope,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.wire import canonical_json
from lash_restate.client import _request
from tests.restate.conftest import World
from tests.restate.world import SERVICE, registration, wait_until

EVENTS = (
    ProcessEventType("signal.go", wake=ProcessWakeSpec(PointerSelector("/text"))),
    ProcessEventType(
        "note",
        wake=ProcessWakeSpec(PointerSelector("/wake_input"), when=PresentSelector("/wake_input")),
    ),
)


def _external(pid: str, wake: SessionScope | None) -> ProcessRegistration:
    return attrs.evolve(
        registration(pid),
        input=ExternalInput({"pid": pid}),
        env_ref=None,
        wake_target=wake,
        event_types=EVENTS,
    )


def _signal(pid: str, signal_id: str, text: str) -> ProcessSignalSend:
    return signal_request(pid, "go", signal_id, {"text": text})


def _note(payload: Any, key: str, target: SessionScope | None = None) -> ProcessEventAppendRequest:
    return ProcessEventAppendRequest("note", payload, Replay(key), target)


def _append(world: World, pid: str, request: ProcessEventAppendRequest) -> None:
    """What a process's body does to emit an event: the registry object's ``act``."""
    url = f"{world.server.ingress_url}/{SERVICE}_processes/{pid}/act"
    body = {"op": "append", "request": json.loads(canonical_json(request))}
    status, payload = _request(url, body)
    assert status < 300, payload


def _timeless(wakes: tuple[ProcessWakeDelivery, ...]) -> list[ProcessWakeDelivery]:
    """Deliveries without their creation time (the two hosts' clocks differ)."""
    return [attrs.evolve(w, created_at_ms=0) for w in wakes]


def _pending(world: World, scope: SessionScope, count: int) -> tuple[ProcessWakeDelivery, ...]:
    """The scope's pending wakes once ``count`` have arrived (a process's object sends each one
    way: the session's object records it shortly after the append returned)."""
    found: list[tuple[ProcessWakeDelivery, ...]] = [()]

    def arrived() -> bool:
        found[0] = world.processes.pending_wakes(scope)
        return len(found[0]) >= count

    wait_until(world.count_file, arrived, f"{count} pending wakes for {scope.id}")
    return found[0]


def test_wakes_reach_their_session_as_in_memory_and_are_acknowledged_once(world: World) -> None:
    pid, session, desk = "wk-1", SessionScope("wk"), SessionScope("wk-x", "desk")
    registry = ProcessRegistry()
    start = ProcessStart(_external(pid, session))
    world.processes.execute(start)
    assert isinstance(apply_process_command(registry, start, 1), CommandDone)
    steps: tuple[ProcessSignalSend | ProcessEventAppendRequest, ...] = (
        _signal(pid, "sig-1", "go now"),
        _signal(pid, "sig-1", "go now"),  # the same signal again: deduplicated
        _note({"plain": True}, "n-0"),  # its `when` does not hold: no wake
        _note({"wake_input": "for the desk"}, "n-1", desk),
        _signal(pid, "sig-2", "go again"),
    )
    for now, step in enumerate(steps, start=2):
        if isinstance(step, ProcessSignalSend):
            world.processes.execute(step)
            assert isinstance(apply_process_command(registry, step, now), CommandDone)
        else:
            _append(world, pid, step)
            registry.append_event(pid, step, now)
    wakes = _pending(world, session, 2)
    assert _timeless(wakes) == _timeless(registry.pending_wakes(session))
    assert [(w.event_type, w.input, w.sequence) for w in wakes] == [
        ("signal.go", "go now", 1),
        ("signal.go", "go again", 4),
    ]
    assert all(w.wake_id.startswith("wake:") for w in wakes)
    at_desk = _pending(world, desk, 1)
    assert _timeless(at_desk) == _timeless(registry.pending_wakes(desk))
    assert world.processes.pending_wakes(SessionScope("wk-x")) == ()  # exactly the scope

    # a retried send of a recorded delivery is recorded once (the wake id dedupes)
    url = f"{world.server.ingress_url}/{SERVICE}_session_processes/wk/wake"
    status, payload = _request(url, {"delivery": json.loads(canonical_json(wakes[0]))})
    assert status < 300, payload
    assert world.processes.pending_wakes(session) == wakes

    # acknowledging takes it off for good; a second acknowledgement is refused as in memory
    first = wakes[0].wake_id
    acked = world.processes.acknowledge_wake("wk", first)
    assert attrs.evolve(acked, created_at_ms=0) == attrs.evolve(
        registry.acknowledge_wake(first), created_at_ms=0
    )
    assert world.processes.pending_wakes(session) == wakes[1:]
    with pytest.raises(LashError) as again:
        world.processes.acknowledge_wake("wk", first)
    with pytest.raises(LashError) as in_memory:
        registry.acknowledge_wake(first)
    assert again.value.code == in_memory.value.code == codes.PROCESS_WAKE_UNKNOWN
    status, payload = _request(url, {"delivery": json.loads(canonical_json(wakes[0]))})
    assert status < 300, payload
    assert world.processes.pending_wakes(session) == wakes[1:]  # acknowledged stays so

    # delete_session counts the cleared wake target and the pending wake, as in memory
    deleted = world.processes.execute(ProcessDeleteSession("wk"))
    expected = apply_process_command(registry, ProcessDeleteSession("wk"), 9)
    assert isinstance(expected, CommandDone) and isinstance(deleted, ProcessSessionDeleted)
    assert deleted == expected.outcome
    assert deleted.report.deleted_wake_count == 2
    assert world.processes.pending_wakes(session) == ()
    assert _timeless(world.processes.pending_wakes(desk)) == _timeless(at_desk)  # another one


def test_wake_reads_and_acknowledgements_refuse_with_the_registry_codes(world: World) -> None:
    registry = ProcessRegistry()
    for bad in (SessionScope(" "), SessionScope("")):
        with pytest.raises(LashError) as refused:
            world.processes.pending_wakes(bad)
        with pytest.raises(LashError) as in_memory:
            registry.pending_wakes(bad)
        assert refused.value.code == in_memory.value.code == codes.PROCESS_SESSION_INVALID
    for session_id, wake_id in (("wk-none", "wake:nothing"), ("", "wake:nothing")):
        with pytest.raises(LashError) as refused:
            world.processes.acknowledge_wake(session_id, wake_id)
        assert refused.value.code == codes.PROCESS_WAKE_UNKNOWN
    assert world.processes.pending_wakes(SessionScope("wk-none")) == ()
