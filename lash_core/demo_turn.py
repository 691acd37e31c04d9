"""The turn behind ``lash demo``: a scripted model, two tools, one completed by a webhook.

The model is a :class:`~lash_core.handlers.ScriptedModel` by default (no real model is called;
``run_demo_turn(..., model=...)`` takes any model handler instead): its first answer asks for
``weather`` and ``send_report``; its second answer is the final text. The tools are ``@tool``
functions of a :class:`~lash_core.handlers.Toolbox`: ``weather`` answers at once;
``send_report`` starts work elsewhere and returns ``ctx.pending()`` (its call's await-event
key); a separate task (the "webhook") resolves that key a moment later, and the turn picks the
resolution up as the tool's result. Everything runs through :func:`lash_core.turn.run_turn` on
whichever host the caller gives, so the same code runs on trio and asyncio. This module imports
no event loop.
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
    ToolAttemptOutcome,
    ToolCallPart,
    Usage,
)
from lash_core.handlers import ScriptedModel, Toolbox, ToolContext, tool
from lash_core.host import EffectHandler, InlineHost
from lash_core.keys import AwaitEventKey
from lash_core.resolution import ok
from lash_core.store import TurnRef
from lash_core.turn import TurnConfig, TurnEvent, TurnHandlers, TurnMachine, TurnResult, run_turn
from lash_core.wire import to_wire

__all__ = ["DemoLine", "DurableDemo", "demo_model", "run_demo_turn", "run_durable_demo_turn"]

SESSION = "demo-session"
TURN = "turn-1"
WEBHOOK_DELAY = 0.2
"""Seconds the webhook takes to answer (on the loop's clock)."""
REPORT_DEADLINE_MS = 30_000
"""How long the demo's report waits for its webhook, in milliseconds."""
ASK = "Weather in Oslo? Then send me a report."


@attrs.frozen
class DemoLine:
    """One line of the demo's trace: what happened, when (seconds since the turn started)."""

    at: float
    kind: str  # "effect", "event", "webhook" or "result"
    text: str
    data: Any = None


def demo_toolbox(on_report: Callable[[ToolContext], None], deadline_ms: int) -> Toolbox:
    """The demo's two tools: ``weather`` answers at once; ``send_report`` hands its call's
    context to ``on_report`` (which passes the completion key on) and answers *pending*."""

    @tool
    def weather(city: str, ctx: ToolContext) -> ToolAttemptOutcome:
        """Current weather for a city.

        Args:
            city: The city's name.
        """
        return ctx.done({"city": city, "temperature_c": 21}, duration_ms=3)

    @tool
    def send_report(to: str, ctx: ToolContext) -> ToolAttemptOutcome:
        """Send a report; delivery is confirmed later.

        Args:
            to: Who gets the report.
        """
        on_report(ctx)
        return ctx.pending(deadline_ms=deadline_ms)

    return Toolbox(weather, send_report)


CONFIG = TurnConfig(
    model="scripted-demo-model",
    system_prompt="You are a weather assistant.",
    tools=demo_toolbox(lambda ctx: None, REPORT_DEADLINE_MS).specs,
)

_FIRST = LlmResponse.reply(
    tool_calls=[
        ToolCallPart("call-weather", "weather", {"city": "Oslo"}),
        ToolCallPart("call-report", "send_report", {"to": "ops@example.com"}),
    ],
    usage=Usage(input_tokens=120, output_tokens=24),
)
_FINAL = LlmResponse.reply(
    "It is 21 °C in Oslo, and the report was delivered (receipt r-1).",
    usage=Usage(input_tokens=180, output_tokens=18),
)


def demo_model() -> ScriptedModel:
    """The demo's scripted model: it asks for ``weather`` and ``send_report``, then answers."""
    return ScriptedModel([_FIRST, _FINAL])


def _demo_machine() -> TurnMachine:
    return TurnMachine(
        CONFIG, session_id=SESSION, turn_id=TURN, turn_index=0, messages=(Message.user(ASK),)
    )


async def run_demo_turn(
    host: InlineHost, emit: Callable[[DemoLine], None], *, model: EffectHandler | None = None
) -> TurnResult:
    """Run the demo turn on ``host``, reporting each step to ``emit``. ``model`` answers the
    model calls (default: :func:`demo_model`, scripted; any model handler fits)."""
    loop = host.primitives
    start = loop.now()

    def at() -> float:
        return round(loop.now() - start, 3)

    async with loop.open_task_group() as group:

        async def webhook(call_id: str, key: AwaitEventKey) -> None:
            await loop.sleep(WEBHOOK_DELAY)
            outcome = host.resolve_await_event(key, ok({"delivered": True, "receipt": "r-1"}))
            emit(DemoLine(at(), "webhook", f"resolved {call_id}: {outcome.status}"))

        def on_report(ctx: ToolContext) -> None:  # in real life: send ctx.key with the work
            call_id, key = ctx.call_id, ctx.key
            group.start(lambda: webhook(call_id, key))

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

        tools = demo_toolbox(on_report, REPORT_DEADLINE_MS)
        handlers = TurnHandlers(model=model or demo_model(), tools=tools.handler(host))
        result = await run_turn(
            _demo_machine(), host, handlers, on_event=on_event, on_effect=on_effect
        )
    emit(DemoLine(at(), "result", type(result.outcome).__name__, to_wire(result)))
    return result


# -- the durable demo --------------------------------------------------------------------------

DURABLE_REPORT_DEADLINE_MS = 3_600_000
"""How long the durable demo's report waits for its webhook (an hour: time to kill the process,
resolve the key with ``lash store resolve`` and resume)."""


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
    model: EffectHandler | None = None,
) -> DurableDemo:
    """The demo turn on a durable host, with no webhook task: ``send_report`` hands its key to
    ``on_pending`` and the turn waits (an hour) for whoever resolves it, in any process. With
    ``resume`` the turn the store holds is finished instead (its recorded effects replayed,
    nothing run twice); a finished turn gives its stored result. ``model`` answers the model
    calls (default: the scripted answers, chosen by the conversation so far)."""
    loop = host.primitives
    start = loop.now()
    report = DurableDemo(resumed=resume)

    def at() -> float:
        return round(loop.now() - start, 3)

    async def scripted(envelope: EffectEnvelope) -> LlmCallOutcome:
        command = envelope.command
        assert isinstance(command, LlmCallCommand)
        # Chosen by the conversation, not by call order: a resumed process asks only for what
        # was not recorded.
        answer = _FIRST if len(command.request.messages) == 1 else _FINAL
        return LlmCallOutcome.ok(answer)

    async def counted_model(envelope: EffectEnvelope) -> EffectOutcome:
        report.model_calls += 1
        return await (model or scripted)(envelope)

    def on_report(ctx: ToolContext) -> None:
        on_pending(ctx.key)

    toolbox = demo_toolbox(on_report, DURABLE_REPORT_DEADLINE_MS).handler(host)

    async def counted_tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        report.tool_calls += 1
        return await toolbox(envelope)

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        emit(
            DemoLine(
                at(),
                "effect",
                f"{envelope.command.kind:<12} {envelope.replay_key}",
                to_wire(outcome),
            )
        )

    handlers = TurnHandlers(model=counted_model, tools=counted_tools)
    if resume:
        result = await resume_turn(host, SESSION, TURN, handlers, on_effect=on_effect)
    else:
        result = await run_turn(_demo_machine(), host, handlers, on_effect=on_effect)
    journal = host.journals.get(TurnRef(SESSION, TURN))
    report.replayed = 0 if journal is None else journal.replayed
    report.result = result
    emit(DemoLine(at(), "result", type(result.outcome).__name__, to_wire(result)))
    return report
