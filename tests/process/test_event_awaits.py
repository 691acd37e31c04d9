"""Awaiting the next matching event of a process after a cursor: on the registry (park/wake),
against a model (Hypothesis), and through the host's process service on both drivers."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given

from lash_asyncio.testing import AsyncioDriver
from lash_core import InlineHost, LashError, codes
from lash_core.effects.process import ProcessStart
from lash_core.process import AwaitParked, ProcessRegistry
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.records import ProcessEventType, SuccessOutput
from lash_core.process.results import EventReady
from lash_core.testing.conformance import Driver, Harness
from lash_trio.testing import TrioDriver
from tests.process.support import note, registration, snapshot

TYPES = (ProcessEventType("signal.go"), ProcessEventType("note"), ProcessEventType("tick"))


def fresh() -> ProcessRegistry:
    registry = ProcessRegistry()
    registry.register(registration("p", event_types=TYPES), 1)
    return registry


def event(kind: str, payload: Any = None) -> ProcessEventAppendRequest:
    return ProcessEventAppendRequest(kind, payload)


def test_a_match_already_in_the_log_answers_at_once() -> None:
    registry = fresh()
    registry.append_event("p", event("tick"), 2)
    registry.append_event("p", note(1), 3)
    registry.append_event("p", note(2), 4)
    ready = registry.begin_event_await("p", after=2, event_types=["note"])
    assert isinstance(ready, EventReady) and ready.event is not None
    assert (ready.event.sequence, ready.event.payload) == (3, 2)
    any_type = registry.begin_event_await("p", after=0)
    assert isinstance(any_type, EventReady) and any_type.event is not None
    assert any_type.event.event_type == "tick"
    assert registry.parked_event_count == 0


def test_a_parked_await_is_woken_by_the_first_match_only_once() -> None:
    registry = fresh()
    registry.append_event("p", note(0), 2)
    parked = registry.begin_event_await("p", after=1, event_types=["note", "signal.go"])
    assert isinstance(parked, AwaitParked)
    assert registry.append_event("p", event("tick"), 3).wake == frozenset()
    assert registry.append_event("p", note(1), 4).wake == {parked.waiter_id}
    assert registry.append_event("p", note(2), 5).wake == frozenset()  # woken once
    found = registry.end_event_await(parked.waiter_id)
    assert found is not None and (found.sequence, found.payload) == (3, 1)
    assert registry.parked_event_count == 0


def test_a_cursor_past_the_end_waits_for_an_event_above_it() -> None:
    registry = fresh()
    parked = registry.begin_event_await("p", after=2)
    assert isinstance(parked, AwaitParked)
    assert registry.append_event("p", note(1), 2).wake == frozenset()  # sequence 1
    assert registry.append_event("p", note(2), 3).wake == frozenset()  # sequence 2
    assert registry.append_event("p", note(3), 4).wake == {parked.waiter_id}
    found = registry.end_event_await(parked.waiter_id)
    assert found is not None and found.sequence == 3


def test_the_terminal_wakes_every_event_await_of_its_process() -> None:
    registry = fresh()
    notes = registry.begin_event_await("p", event_types=["note"])
    done = registry.begin_event_await("p", event_types=["process.completed"])
    terminal = registry.begin_await("p")
    assert isinstance(notes, AwaitParked) and isinstance(done, AwaitParked)
    assert isinstance(terminal, AwaitParked)
    woken = registry.append_terminal("p", SuccessOutput(1), 2).wake
    assert woken == {notes.waiter_id, done.waiter_id, terminal.waiter_id}
    assert registry.end_event_await(notes.waiter_id) is None  # ended without a note
    completed = registry.end_event_await(done.waiter_id)
    assert completed is not None and completed.event_type == "process.completed"
    # Afterwards the await answers at once.
    assert registry.begin_event_await("p", event_types=["note"]) == EventReady(None)


def test_an_event_await_given_up_early_answers_none_and_is_gone() -> None:
    registry = fresh()
    parked = registry.begin_event_await("p")
    assert isinstance(parked, AwaitParked)
    assert registry.end_event_await(parked.waiter_id) is None
    assert registry.append_event("p", note(1), 2).wake == frozenset()
    with pytest.raises(LashError) as info:
        registry.end_event_await(parked.waiter_id)
    assert info.value.code == codes.PROCESS_AWAITER_UNKNOWN


@pytest.mark.parametrize(
    ("pid", "after", "types", "code"),
    [
        ("nope", 0, None, codes.PROCESS_UNKNOWN),
        ("p", "1", None, codes.PROCESS_ARGUMENT_INVALID),
        ("p", True, None, codes.PROCESS_ARGUMENT_INVALID),
        ("p", 0, "note", codes.PROCESS_ARGUMENT_INVALID),
        ("p", 0, [], codes.PROCESS_ARGUMENT_INVALID),
        ("p", 0, [1], codes.PROCESS_ARGUMENT_INVALID),
        ("p", 0, 5, codes.PROCESS_ARGUMENT_INVALID),
        ("p", 0, [["x"]], codes.PROCESS_ARGUMENT_INVALID),
    ],
)
def test_a_bad_event_await_is_refused_and_parks_nothing(
    pid: Any, after: Any, types: Any, code: str
) -> None:
    registry = fresh()
    before = snapshot(registry)
    with pytest.raises(LashError) as info:
        registry.begin_event_await(pid, after, types)
    assert info.value.code == code
    assert snapshot(registry) == before and registry.parked_event_count == 0


KINDS = st.sampled_from(["note", "tick", "signal.go"])


@given(
    before=st.lists(KINDS, max_size=4),
    after=st.integers(-1, 6),
    wanted=st.none() | st.sets(KINDS, min_size=1),
    later=st.lists(KINDS, max_size=6),
    finish=st.booleans(),
)
def test_an_event_await_finds_the_first_match_after_its_cursor(
    before: list[str], after: int, wanted: set[str] | None, later: list[str], finish: bool
) -> None:
    """Model: the answer is the first logged event above the cursor of a wanted type; a
    parked await is woken by exactly the append that logs it (or by the terminal)."""
    registry = fresh()
    for index, kind in enumerate(before):
        registry.append_event("p", event(kind, index), 2)
    kinds = before + later + (["process.completed"] if finish else [])
    expected = next(
        (
            seq
            for seq, kind in enumerate(kinds, start=1)
            if seq > after and (wanted is None or kind in wanted)
        ),
        None,
    )
    start = registry.begin_event_await("p", after, wanted)
    if expected is not None and expected <= len(before):
        assert isinstance(start, EventReady) and start.event is not None
        assert start.event.sequence == expected
        return
    assert isinstance(start, AwaitParked)
    woken_at = None
    for seq, kind in enumerate(later, start=len(before) + 1):
        if start.waiter_id in registry.append_event("p", event(kind, seq), 3).wake:
            assert woken_at is None, "woken twice"
            woken_at = seq
    if finish and start.waiter_id in registry.append_terminal("p", SuccessOutput(0), 4).wake:
        assert woken_at is None, "woken twice"
        woken_at = len(kinds)
    found = registry.end_event_await(start.waiter_id)
    assert woken_at == (expected if expected is not None else len(kinds) if finish else None)
    assert (found.sequence if found is not None else None) == expected


# -- through the host ------------------------------------------------------------------------

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_the_service_awaits_the_next_matching_event(driver: Driver) -> None:
    results: list[Any] = []

    async def main(h: Harness) -> None:
        host = h.new_host(bytes(range(32)))
        assert isinstance(host, InlineHost)
        service = host.processes
        await service.execute(ProcessStart(registration("p", event_types=TYPES)))
        service.append_event("p", note("early"))
        waiter = h.spawn(lambda: service.await_next_event("p", after=1, event_types=["note"]))
        await h.sleep(1)
        service.append_event("p", event("tick"))
        await h.sleep(1)
        service.append_event("p", note("wanted"))
        found = (await waiter.join()).value
        ended = h.spawn(lambda: service.await_next_event("p", after=3, event_types=["note"]))
        await h.sleep(1)
        service.finish("p", SuccessOutput("done"))
        results.append((found, (await ended.join()).value))

    driver.run(main)
    found, ended = results[0]
    assert (found.sequence, found.payload) == (3, "wanted")
    assert ended is None
