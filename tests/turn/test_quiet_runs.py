"""A run nobody listens to (no ``on_event``, no hooks) lets the machine skip building stream
events; nothing else may tell the difference: the turn's result, a listening run's events, the
events a restored checkpoint held, and the machine a cancelled run leaves behind."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio

import lash_asyncio
import lash_trio
from lash_core import (
    EffectEnvelope,
    EffectOutcome,
    InlineHost,
    LlmCallOutcome,
    TurnCompleted,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnMachine,
    run_turn,
)
from lash_core.effects import ToolAttemptCommand, ToolAttemptOutcome
from lash_core.turn import TurnOutcomeEvent
from tests.turn.world import answer, calls, done, user

CONFIG = TurnConfig(model="scripted")


def _machine() -> TurnMachine:
    return TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=(user("go"),))


def _handlers(replies: list[Any] | None = None) -> TurnHandlers:
    if replies is None:
        replies = [calls(("c1", "lookup"), ("c2", "lookup")), answer("found")]

    async def model(envelope: EffectEnvelope) -> EffectOutcome:
        return LlmCallOutcome(replies.pop(0), False)

    async def tools(envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        return ToolAttemptOutcome(done(command.call.call_id, 1))

    return TurnHandlers(model=model, tools=tools)


def _host(driver: str) -> InlineHost:
    return lash_trio.InlineEffectHost() if driver == "trio" else lash_asyncio.InlineEffectHost()


def _run(driver: str, machine: TurnMachine, replies: list[Any] | None = None, **kwargs: Any) -> Any:
    async def main() -> Any:
        return await run_turn(machine, _host(driver), _handlers(replies), **kwargs)

    return trio.run(main) if driver == "trio" else asyncio.run(main())


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_a_quiet_run_gives_the_same_result_and_machine_as_a_listening_run(driver: str) -> None:
    quiet, listened = _machine(), _machine()
    events: list[TurnEvent] = []
    quiet_result = _run(driver, quiet)
    listened_result = _run(driver, listened, on_event=events.append)
    assert quiet_result == listened_result
    assert isinstance(quiet_result.outcome, TurnCompleted)
    assert quiet.checkpoint() == listened.checkpoint()
    assert any(isinstance(e, TurnOutcomeEvent) for e in events)


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_a_quiet_run_drops_the_events_a_restored_checkpoint_held(driver: str) -> None:
    """As a listening run's first flush does: the machine ends with no undrained events."""
    machine = _machine()
    (first,) = machine.next().envelopes  # type: ignore[union-attr]
    machine.send(first.replay_key or "", LlmCallOutcome(calls(("c1", "lookup")), False))
    held = machine.checkpoint()
    assert held.events  # undrained: the usage and the call's start
    restored = TurnMachine.restore(held)
    result = _run(driver, restored, replies=[answer("found")])
    assert isinstance(result.outcome, TurnCompleted)
    assert restored.drain_events() == ()
    assert restored.checkpoint().events == ()


def test_a_quietly_run_machine_builds_events_again_after_the_run_is_cancelled() -> None:
    """Native cancellation ends the run while the machine is mid-turn; the caller who goes on
    with the machine gets its events as before."""
    machine = _machine()
    started = asyncio.Event()

    async def model(envelope: EffectEnvelope) -> EffectOutcome:
        started.set()
        await asyncio.Event().wait()  # never answers: the run is cancelled here
        raise AssertionError("unreachable")

    async def main() -> None:
        host = lash_asyncio.InlineEffectHost()
        task = asyncio.create_task(run_turn(machine, host, TurnHandlers(model=model)))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert not machine.finished
    machine.cancel()
    assert [type(e) for e in machine.drain_events()] == [TurnOutcomeEvent]
