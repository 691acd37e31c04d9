"""stream_turn: a turn's events as an async iterator, on trio and asyncio."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    LlmCallOutcome,
    LocalProtocolError,
    ToolAttemptOutcome,
    TurnCompleted,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnMachine,
    TurnResult,
    TurnStopped,
    codes,
    run_turn,
    wire,
)
from lash_core.effects import ToolAttemptCommand
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import ToolCallStartedEvent, TurnOutcomeEvent, TurnStopReason, stream_turn
from lash_core.turn import machine as machine_module
from lash_trio.testing import TrioDriver
from tests.turn.world import answer, calls, done, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
CONFIG = TurnConfig(model="scripted")


def _machine() -> TurnMachine:
    return TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=(user("go"),))


def _handlers(h: Harness, models: list[str]) -> TurnHandlers:
    """Two model rounds: two tool calls (each taking a second), then an answer."""
    responses = [calls(("c1", "lookup"), ("c2", "lookup")), answer("all done")]

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        models.append(envelope.replay_key or "")
        await h.sleep(1)
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        await h.sleep(1)
        return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

    return TurnHandlers(model=model, tools=tools)


def _run(driver: Driver, scenario: Callable[[Harness], Awaitable[None]]) -> None:
    driver.run(scenario)


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_the_stream_gives_run_turns_events_then_its_result(driver: Driver) -> None:
    streamed: list[TurnEvent] = []
    called_back: list[TurnEvent] = []
    results: list[TurnResult] = []

    async def scenario(h: Harness) -> None:
        async with stream_turn(_machine(), h.new_host(SECRET), _handlers(h, [])) as stream:
            async for event in stream:
                streamed.append(event)
        results.append(stream.result)
        results.append(
            await run_turn(
                _machine(), h.new_host(SECRET), _handlers(h, []), on_event=called_back.append
            )
        )

    _run(driver, scenario)
    assert [wire.to_json(e) for e in streamed] == [wire.to_json(e) for e in called_back]
    assert isinstance(streamed[-1], TurnOutcomeEvent)
    assert sum(isinstance(e, ToolCallStartedEvent) for e in streamed) == 2
    assert isinstance(results[0].outcome, TurnCompleted)
    assert wire.to_json(results[0]) == wire.to_json(results[1])


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_events_arrive_while_the_turn_runs(driver: Driver) -> None:
    """Each event is seen at the virtual time it happened, not when the turn ended."""
    seen: list[tuple[float, str]] = []

    async def scenario(h: Harness) -> None:
        async with stream_turn(_machine(), h.new_host(SECRET), _handlers(h, [])) as stream:
            async for event in stream:
                seen.append((h.now(), type(event).__name__))

    _run(driver, scenario)
    assert seen[0] == (1.0, "UsageEvent")  # after the first model call (1 s)
    assert (1.0, "ToolCallStartedEvent") in seen
    assert ("ToolCallFinishedEvent") in {name for t, name in seen if t == 2.0}
    assert seen[-1] == (3.0, "TurnOutcomeEvent")  # tools (1 s) and the answer (1 s) later


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_leaving_the_block_early_cancels_the_turn(driver: Driver) -> None:
    models: list[str] = []
    results: list[TurnResult] = []
    ended_at: list[float] = []

    async def scenario(h: Harness) -> None:
        async with stream_turn(_machine(), h.new_host(SECRET), _handlers(h, models)) as stream:
            async for event in stream:
                if isinstance(event, ToolCallStartedEvent):
                    break
        ended_at.append(h.now())
        results.append(stream.result)

    _run(driver, scenario)
    outcome = results[0].outcome
    assert isinstance(outcome, TurnStopped) and outcome.reason is TurnStopReason.CANCELLED
    assert models == ["s:t:0:0:llm_call:1"]  # the second model call never ran
    assert ended_at == [1.0]  # the running tool calls were cancelled, not waited for


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_the_result_is_refused_before_the_end(driver: Driver) -> None:
    codes_seen: list[str] = []

    async def scenario(h: Harness) -> None:
        async with stream_turn(_machine(), h.new_host(SECRET), _handlers(h, [])) as stream:
            with pytest.raises(LocalProtocolError) as info:
                _ = stream.result
            codes_seen.append(info.value.code)
            async for _event in stream:
                pass
        assert isinstance(stream.result.outcome, TurnCompleted)

    _run(driver, scenario)
    assert codes_seen == [codes.TURN_NOT_FINISHED]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_failure_inside_the_turn_is_raised_plainly(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside the machine reaches the caller as itself, not in an exception group, from
    run_turn and from the stream alike."""

    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(machine_module, "_apply", explode)
    raised: list[BaseException] = []

    async def scenario(h: Harness) -> None:
        try:
            await run_turn(_machine(), h.new_host(SECRET), _handlers(h, []))
        except RuntimeError as exc:
            raised.append(exc)
        async with stream_turn(_machine(), h.new_host(SECRET), _handlers(h, [])) as stream:
            try:
                async for _event in stream:
                    pass
            except RuntimeError as exc:
                raised.append(exc)
        with pytest.raises(RuntimeError):
            _ = stream.result

    _run(driver, scenario)
    assert [str(e) for e in raised] == ["boom", "boom"]
