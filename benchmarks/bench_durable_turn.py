"""A scripted agent on a durable host: what journaling a turn in SQLite costs per step.

The agent is a turn of :data:`STEPS` sequential model calls, each asking for one tool, then a
final answer (``2 * STEPS + 1`` effects); its handlers answer at once. Inside ``trio.run``
(real clock), a batch of such turns runs:

* subject: on a durable host (``lash_trio.open_durable_host``) over a fresh
  :class:`~lash_sqlite.SqliteStore`: every turn opened, every effect begun and recorded
  (two fenced commits), the result stored;
* baseline: the same turns on an inline host (nothing recorded).

``durable_turn_step`` (``synchronous=FULL``, each commit an fsync) and
``durable_turn_step_normal`` (``NORMAL``: the store's CPU cost) report the time per step (one
model call and one tool call) and its ratio to the inline host's. Reported, not judged: at FULL
the figure is mostly the disk's fsync time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Final, Literal

import trio

from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, Sample, require
from lash_core.effects import (
    EffectEnvelope,
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
from lash_core.effects.tools import ToolAttemptLaunchDone, ToolCallRecord
from lash_core.host import InlineHost
from lash_core.turn import TurnCompleted, TurnConfig, TurnHandlers, TurnMachine, run_turn
from lash_core.wire import Ok
from lash_sqlite import SqliteStore
from lash_trio import InlineEffectHost, open_durable_host

STEPS: Final = 20
CONFIG: Final = TurnConfig(
    model="scripted",
    system_prompt="You are a careful agent.",
    tools=(ToolSpec("lookup", "Look something up.", {"type": "object"}),),
    max_iterations=STEPS + 2,
)
USAGE: Final = Usage(50, 10)


def _handlers(steps: int) -> TurnHandlers:
    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        command = envelope.command
        assert isinstance(command, LlmCallCommand)
        done = (len(command.request.messages) - 1) // 2
        if done < steps:
            part = ToolCallPart(f"call-{done}", "lookup", {"q": done})
            reply = LlmResponse(Message(Role.ASSISTANT, (part,)), USAGE, StopReason.TOOL_USE)
        else:
            text = Message(Role.ASSISTANT, (TextPart("done"),))
            reply = LlmResponse(text, USAGE, StopReason.STOP)
        return LlmCallOutcome(Ok(reply), text_streamed=False)

    async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call = command.call
        output = {"answer": call.args}
        record = ToolCallRecord(
            call.call_id, call.tool_name, call.args, output, output, 1, command.attempt, True
        )
        return ToolAttemptOutcome(ToolAttemptLaunchDone(record))

    return TurnHandlers(model=model, tools=tools)


def _machine(turn: int) -> TurnMachine:
    return TurnMachine(
        CONFIG,
        session_id="bench",
        turn_id=f"turn-{turn}",
        turn_index=turn,
        messages=(Message(Role.USER, (TextPart("go"),)),),
    )


async def _turns(host: InlineHost, first: int, n: int, steps: int) -> None:
    handlers = _handlers(steps)
    for i in range(first, first + n):
        result = await run_turn(_machine(i), host, handlers)
        require(isinstance(result.outcome, TurnCompleted), "the scripted turn completes")


def _durable_step(ctx: Context, synchronous: Literal["FULL", "NORMAL"]) -> Figure:
    steps = ctx.size(STEPS, 3)
    with tempfile.TemporaryDirectory(prefix="lash-bench-") as directory:
        store = SqliteStore(Path(directory) / "agent.db", synchronous=synchronous)
        counter = [0]

        def subject(n: int) -> Body:
            first = counter[0]
            counter[0] += n

            async def main() -> None:
                async with open_durable_host(store, owner="bench") as host:
                    await _turns(host, first, n, steps)

            return lambda: trio.run(main)

        def baseline(n: int) -> Body:
            async def main() -> None:
                await _turns(InlineEffectHost(), 0, n, steps)

            return lambda: trio.run(main)

        loops = ctx.size(3 if synchronous == "FULL" else 10, 1)
        sub, base = ctx.compare(subject, baseline, loops=loops)
        store.close()
    per_step = 1 / steps
    sub = Sample(sub.loops, tuple(t * per_step for t in sub.per_op_ns))
    base = Sample(base.loops, tuple(t * per_step for t in base.per_op_ns))
    suffix = "" if synchronous == "FULL" else "_normal"
    return ctx.figure(
        f"durable_turn_step{suffix}",
        sub,
        "the same turn on an inline host (nothing recorded)",
        base,
        detail={"steps_per_turn": steps, "effects_per_step": 2, "synchronous": synchronous},
    )


@benchmark("durable_turn_step")
def durable_turn_step(ctx: Context) -> list[Figure]:
    """A scripted agent's time per step on a durable SQLite host vs an inline host."""
    return [_durable_step(ctx, "FULL"), _durable_step(ctx, "NORMAL")]
