"""The turn behind ``lash demo``: a scripted model, two tools, one completed by a webhook.

The model is scripted (no real model is called): its first answer asks for ``weather`` and
``send_report``; its second answer is the final text. ``weather`` answers at once.
``send_report`` starts work elsewhere and returns *pending* with an await-event key; a separate
task (the "webhook") resolves that key a moment later, and the turn picks the resolution up as
the tool's result. Everything runs through :func:`lash_core.turn.run_turn` on whichever host the
caller gives, so the same code runs on trio and asyncio. This module imports no event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from lash_core.effects import (
    EffectEnvelope,
    EffectOutcome,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolSpec,
    Usage,
)
from lash_core.effects.tools import (
    Duration,
    PendingCompletion,
    ToolAttemptLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.host import InlineHost
from lash_core.resolution import ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.turn import TurnConfig, TurnEvent, TurnHandlers, TurnMachine, TurnResult, run_turn
from lash_core.wire import JsonValue, Ok, to_wire

__all__ = ["DemoLine", "run_demo_turn"]

SESSION = "demo-session"
TURN = "turn-1"
WEBHOOK_DELAY = 0.2
"""Seconds the webhook takes to answer (on the loop's clock)."""


@attrs.frozen
class DemoLine:
    """One line of the demo's trace: what happened, when (seconds since the turn started)."""

    at: float
    kind: str  # "effect", "event", "webhook" or "result"
    text: str
    data: Any = None


CONFIG = TurnConfig(
    model="scripted-demo-model",
    system_prompt="You are a weather assistant.",
    tools=(
        ToolSpec("weather", "Current weather for a city.", {"type": "object"}),
        ToolSpec("send_report", "Send a report; delivery is confirmed later.", {"type": "object"}),
    ),
)


def _scripted_answers() -> list[LlmResponse]:
    usage = Usage(input_tokens=120, output_tokens=24)
    first = Message(
        Role.ASSISTANT,
        (
            ToolCallPart("call-weather", "weather", {"city": "Oslo"}),
            ToolCallPart("call-report", "send_report", {"to": "ops@example.com"}),
        ),
    )
    final = Message(
        Role.ASSISTANT,
        (TextPart("It is 21 °C in Oslo, and the report was delivered (receipt r-1)."),),
    )
    return [
        LlmResponse(first, usage, StopReason.TOOL_USE),
        LlmResponse(final, Usage(input_tokens=180, output_tokens=18), StopReason.STOP),
    ]


async def run_demo_turn(host: InlineHost, emit: Callable[[DemoLine], None]) -> TurnResult:
    """Run the demo turn on ``host``, reporting each step to ``emit``."""
    loop = host.primitives
    start = loop.now()
    answers = _scripted_answers()

    def at() -> float:
        return round(loop.now() - start, 3)

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(Ok(answers.pop(0)), text_streamed=False)

    async with loop.open_task_group() as group:

        async def webhook(call_id: str) -> None:
            await loop.sleep(WEBHOOK_DELAY)
            key = host.await_event_key(TurnScope(SESSION, TURN), ToolCompletion(call_id))
            outcome = host.resolve_await_event(key, ok({"delivered": True, "receipt": "r-1"}))
            emit(DemoLine(at(), "webhook", f"resolved {call_id}: {outcome.status}"))

        async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            command = envelope.command
            assert isinstance(command, ToolAttemptCommand)
            call = command.call
            if call.tool_name == "weather":
                output: JsonValue = {"city": "Oslo", "temperature_c": 21}
                record = ToolCallRecord(
                    call.call_id,
                    call.tool_name,
                    call.args,
                    output,
                    output,
                    3,
                    command.attempt,
                    True,
                )
                return ToolAttemptOutcome(ToolAttemptLaunchDone(record))
            key = host.await_event_key(TurnScope(SESSION, TURN), ToolCompletion(call.call_id))
            group.start(lambda: webhook(call.call_id))
            pending = PendingCompletion(deadline=Duration(30, 0))
            return ToolAttemptOutcome(ToolLaunchPending(key, pending, 1))

        def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
            emit(
                DemoLine(
                    at(),
                    "effect",
                    f"{envelope.command.kind:<12} {envelope.replay_key}",
                    to_wire(outcome),
                )
            )

        def on_event(event: TurnEvent) -> None:
            emit(DemoLine(at(), "event", event.type, to_wire(event)))

        machine = TurnMachine(
            CONFIG,
            session_id=SESSION,
            turn_id=TURN,
            turn_index=0,
            messages=(Message(Role.USER, (TextPart("Weather in Oslo? Then send me a report."),)),),
        )
        result = await run_turn(
            machine,
            host,
            TurnHandlers(model=model, tools=tools),
            on_event=on_event,
            on_effect=on_effect,
        )
    emit(DemoLine(at(), "result", type(result.outcome).__name__, to_wire(result)))
    return result
