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

from lash_core.durable_host import DurableHost, resume_turn
from lash_core.effects import (
    EffectEnvelope,
    EffectOutcome,
    LlmCallCommand,
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
from lash_core.keys import AwaitEventKey
from lash_core.resolution import ok
from lash_core.routing import EffectHandler
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.store import TurnRef
from lash_core.turn import TurnConfig, TurnEvent, TurnHandlers, TurnMachine, TurnResult, run_turn
from lash_core.wire import JsonValue, Ok, to_wire

__all__ = ["DemoLine", "DurableDemo", "run_demo_turn", "run_durable_demo_turn"]

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


async def run_demo_turn(
    host: InlineHost, emit: Callable[[DemoLine], None], *, model: EffectHandler | None = None
) -> TurnResult:
    """Run the demo turn on ``host``, reporting each step to ``emit``. ``model`` answers the
    model calls (default: the scripted model)."""
    loop = host.primitives
    start = loop.now()
    answers = _scripted_answers()

    def at() -> float:
        return round(loop.now() - start, 3)

    async def scripted(envelope: EffectEnvelope) -> LlmCallOutcome:
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
            TurnHandlers(model=model or scripted, tools=tools),
            on_event=on_event,
            on_effect=on_effect,
        )
    emit(DemoLine(at(), "result", type(result.outcome).__name__, to_wire(result)))
    return result


# -- the durable demo --------------------------------------------------------------------------

DURABLE_REPORT_DEADLINE = Duration(3600, 0)
"""How long the durable demo's report waits for its webhook (an hour: time to kill the process,
resolve the key with ``lash store resolve`` and resume)."""


def _demo_machine() -> TurnMachine:
    return TurnMachine(
        CONFIG,
        session_id=SESSION,
        turn_id=TURN,
        turn_index=0,
        messages=(Message(Role.USER, (TextPart("Weather in Oslo? Then send me a report."),)),),
    )


@attrs.define
class DurableDemo:
    """What the durable demo ran in this process: ``model_calls`` and ``tool_calls`` its
    handlers ran (a resumed turn replays the recorded ones without running them) and
    ``replayed``, the outcomes answered from the store's journal."""

    result: TurnResult | None = None
    model_calls: int = 0
    tool_calls: int = 0
    replayed: int = 0
    resumed: bool = False


async def run_durable_demo_turn(
    host: DurableHost,
    emit: Callable[[DemoLine], None],
    on_pending: Callable[[AwaitEventKey], None],
    *,
    resume: bool,
) -> DurableDemo:
    """The demo turn on a durable host, with no webhook task: ``send_report`` hands its key to
    ``on_pending`` and the turn waits (an hour) for whoever resolves it, in any process. With
    ``resume`` the turn the store holds is finished instead (its recorded effects replayed,
    nothing run twice); a finished turn gives its stored result."""
    loop = host.primitives
    start = loop.now()
    report = DurableDemo(resumed=resume)

    def at() -> float:
        return round(loop.now() - start, 3)

    first, final = _scripted_answers()

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        command = envelope.command
        assert isinstance(command, LlmCallCommand)
        report.model_calls += 1
        # Chosen by the conversation, not by call order: a resumed process asks only for what
        # was not recorded.
        answer = first if len(command.request.messages) == 1 else final
        return LlmCallOutcome(Ok(answer), text_streamed=False)

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        report.tool_calls += 1
        call = command.call
        if call.tool_name == "weather":
            output: JsonValue = {"city": "Oslo", "temperature_c": 21}
            record = ToolCallRecord(
                call.call_id, call.tool_name, call.args, output, output, 3, command.attempt, True
            )
            return ToolAttemptOutcome(ToolAttemptLaunchDone(record))
        key = host.await_event_key(TurnScope(SESSION, TURN), ToolCompletion(call.call_id))
        on_pending(key)
        pending = PendingCompletion(deadline=DURABLE_REPORT_DEADLINE)
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

    handlers = TurnHandlers(model=model, tools=tools)
    if resume:
        result = await resume_turn(host, SESSION, TURN, handlers, on_effect=on_effect)
    else:
        result = await run_turn(_demo_machine(), host, handlers, on_effect=on_effect)
    journal = host.journals.get(TurnRef(SESSION, TURN))
    report.replayed = 0 if journal is None else journal.replayed
    report.result = result
    emit(DemoLine(at(), "result", type(result.outcome).__name__, to_wire(result)))
    return report
