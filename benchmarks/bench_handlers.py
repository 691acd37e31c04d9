"""The friendly handlers against the hand-written handlers they replace.

``handlers_toolbox``: one tool attempt answered by ``Toolbox.handler()`` (checking the model's
arguments against a typed signature, converting them, calling the function, building the record)
against a hand-written ``tools`` handler that builds the same ``ToolCallRecord`` from the command
without checking anything. ``handlers_scripted_model``: one model call answered by a
``ScriptedModel`` (the tool-name check and the usage estimate, which encodes the request)
against a hand-written handler popping a prebuilt response. Both drive the handler's coroutine by
hand (it awaits nothing), so no event loop is measured.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Literal

from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_core import (
    EffectEnvelope,
    EffectKind,
    LlmResponse,
    Message,
    ScriptedModel,
    ToolAttemptOutcome,
    Toolbox,
    ToolCallPart,
    ToolSpec,
    Usage,
    call,
    reply,
    tool,
)
from lash_core.effects import (
    Invocation,
    InvocationScope,
    LlmCallCommand,
    LlmCallOutcome,
    LlmRequest,
    ToolAttemptCommand,
)
from lash_core.effects.tools import PreparedToolCall, ToolCallRecord
from lash_core.wire import JsonValue

ARGS: dict[str, JsonValue] = {"city": "Oslo", "days": 3, "unit": "c", "hourly": False}


@tool
def forecast(city: str, days: int = 1, unit: Literal["c", "f"] = "c", hourly: bool = False) -> Any:
    """The forecast for a city.

    Args:
        city: The city.
        days: How many days.
        unit: Celsius or Fahrenheit.
        hourly: Hour by hour.
    """
    return {"city": city, "days": days, "unit": unit}


def _envelope(kind: EffectKind, command: Any) -> EffectEnvelope:
    scope = InvocationScope.for_turn("s", "t", 0, 0)
    return EffectEnvelope.build(Invocation.effect(scope, "e1", kind, "s:t:e1"), command)


def _finish(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that awaits nothing to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the handler awaited something")


@benchmark("handlers_toolbox")
def handlers_toolbox(ctx: Context) -> list[Figure]:
    """Toolbox.handler() per tool attempt vs a hand-written handler building the same record."""
    command = ToolAttemptCommand(
        call=PreparedToolCall("c1", "forecast", "forecast", ARGS), attempt=1, max_attempts=1
    )
    envelope = _envelope(EffectKind.TOOL_ATTEMPT, command)
    toolbox = Toolbox(forecast).handler()

    async def by_hand(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        attempt = envelope.command
        assert isinstance(attempt, ToolAttemptCommand)
        args: Any = attempt.call.args
        output = {"city": args["city"], "days": args["days"], "unit": args["unit"]}
        return ToolAttemptOutcome.done(ToolCallRecord.for_attempt(attempt, output))

    require(_finish(toolbox(envelope)) == _finish(by_hand(envelope)), "both give the same outcome")

    def subject(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                _finish(toolbox(envelope))

        return body

    def baseline(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                _finish(by_hand(envelope))

        return body

    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("handlers_toolbox", sub, "hand-written tools handler", base)]


@benchmark("handlers_scripted_model")
def handlers_scripted_model(ctx: Context) -> list[Figure]:
    """ScriptedModel per model call vs a hand-written handler popping a prebuilt response."""
    spec = ToolSpec("forecast", "The forecast.", forecast.spec.input_schema)
    history = (Message.user("Forecast for Oslo, three days?"),)
    envelope = _envelope(EffectKind.LLM_CALL, LlmCallCommand(LlmRequest("m", history, (spec,))))
    n_calls = ctx.size(2000, 20)
    script = [reply(tool_calls=[call("forecast", ARGS)])] * n_calls  # usage estimated
    response = LlmResponse.reply(
        tool_calls=[ToolCallPart("call-1", "forecast", ARGS)], usage=Usage(10, 5)
    )

    async def by_hand(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome.ok(response)

    def subject(n: int) -> Body:
        models = [ScriptedModel(script[: min(n, n_calls)]) for _ in range(-(-n // n_calls))]

        def body() -> None:
            done = 0
            for model in models:
                for _ in range(min(n - done, n_calls)):
                    _finish(model(envelope))
                done += n_calls

        return body

    def baseline(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                _finish(by_hand(envelope))

        return body

    estimated = _finish(ScriptedModel([reply("x" * 40)])(envelope))
    require(estimated.result.value.usage.output_tokens > 0, "usage is estimated")
    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("handlers_scripted_model", sub, "hand-written model handler", base)]
