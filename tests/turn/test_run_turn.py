"""run_turn on trio and asyncio: the same scripted turn gives the same envelopes and result."""

from __future__ import annotations

from typing import Any

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    CancelToken,
    EffectEnvelope,
    EffectOutcome,
    LlmCallOutcome,
    PendingCompletion,
    ToolAttemptOutcome,
    ToolCompletion,
    ToolLaunchPending,
    ToolSpec,
    TurnCompleted,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnMachine,
    TurnResult,
    TurnScope,
    TurnStopped,
    ok,
    run_turn,
    wire,
)
from lash_core.effects import ToolAttemptCommand
from lash_core.effects.tools import Duration
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import TurnStopReason
from lash_trio.testing import TrioDriver
from tests.turn.world import answer, calls, done, user

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
SECRET = bytes(range(32))
CONFIG = TurnConfig(
    model="scripted",
    tools=(
        ToolSpec("lookup", "Look something up.", {"type": "object"}),
        ToolSpec("webhook", "Start work that completes later.", {"type": "object"}),
    ),
)


def _machine() -> TurnMachine:
    return TurnMachine(CONFIG, session_id="s", turn_id="t", turn_index=0, messages=(user("go"),))


async def scripted_turn(
    h: Harness,
    trace: list[str],
    events: list[TurnEvent],
    *,
    fail_lookup: bool = False,
    cancel_at: float | None = None,
) -> TurnResult:
    host = h.new_host(SECRET)
    responses = [calls(("c1", "lookup"), ("c2", "webhook")), answer("all done")]

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(responses.pop(0), text_streamed=False)

    async def webhook(key: Any) -> None:
        await h.sleep(2)
        host.resolve_await_event(key, ok({"status": "delivered"}))

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        if command.call.tool_name == "lookup":
            await h.sleep(0.5)
            if fail_lookup:
                raise RuntimeError("the lookup service is down")
            return ToolAttemptOutcome(done(command.call.call_id, command.attempt))
        key = host.await_event_key(TurnScope("s", "t"), ToolCompletion(command.call.call_id))
        h.spawn(lambda: webhook(key))
        pending = PendingCompletion(deadline=Duration(60, 0))
        return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        trace.append(f"{h.now():.3f} {envelope.replay_key} {envelope.stable_hash()[:12]}")
        trace.append(f"  -> {wire.to_json(outcome)}")

    token = CancelToken()
    if cancel_at is not None:

        async def stop() -> None:
            await h.sleep(cancel_at)
            token.cancel()

        h.spawn(stop)
    return await run_turn(
        _machine(),
        host,
        TurnHandlers(model=model, tools=tools),
        on_event=events.append,
        on_effect=on_effect,
        cancel=token,
    )


def run_on(driver: Driver, **options: Any) -> tuple[list[str], list[TurnEvent], TurnResult]:
    trace: list[str] = []
    events: list[TurnEvent] = []
    results: list[TurnResult] = []

    async def scenario(h: Harness) -> None:
        results.append(await scripted_turn(h, trace, events, **options))

    driver.run(scenario)
    return trace, events, results[0]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_turn_with_a_webhook_completion_finishes(driver: Driver) -> None:
    trace, events, result = run_on(driver)
    assert isinstance(result.outcome, TurnCompleted)
    assert result.outcome.message.parts[0] == answer("all done").value.message.parts[0]  # type: ignore[union-attr]
    keys = [line.split()[1] for line in trace if not line.startswith("  ")]
    assert keys == [
        "s:t:0:0:llm_call:1",
        "s:t:0:0:tool_batch:2:child:1:c2:attempt:1",
        "s:t:0:0:tool_batch:2:child:0:c1:attempt:1",
        "s:t:0:0:tool_batch:2:c2:await",
        "s:t:0:1:llm_call:3",
    ]
    # The webhook's resolution (at t=2) became the pending tool's result.
    assert '"payload":{"status":"delivered"}' in trace[7]
    assert trace[6].startswith("2.000")
    assert events[-1].outcome == result.outcome  # type: ignore[union-attr]


def test_the_same_turn_is_identical_on_trio_and_asyncio() -> None:
    on_trio = run_on(TrioDriver())
    on_asyncio = run_on(AsyncioDriver())
    assert on_trio[0] == on_asyncio[0]
    assert [wire.to_json(e) for e in on_trio[1]] == [wire.to_json(e) for e in on_asyncio[1]]
    assert wire.to_json(on_trio[2]) == wire.to_json(on_asyncio[2])


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_a_handler_exception_becomes_an_error_result(driver: Driver) -> None:
    trace, _, result = run_on(driver, fail_lookup=True)
    assert isinstance(result.outcome, TurnCompleted)
    failed = [line for line in trace if "runtime_effect_handler_failed" in line]
    assert len(failed) == 1 and "the lookup service is down" in failed[0]


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
def test_cancelling_during_a_pending_wait_stops_the_turn(driver: Driver) -> None:
    trace, events, result = run_on(driver, cancel_at=1.0)
    assert isinstance(result.outcome, TurnStopped)
    assert result.outcome.reason is TurnStopReason.CANCELLED
    assert not any("llm_call:3" in line for line in trace)
    assert events[-1].outcome == result.outcome  # type: ignore[union-attr]
