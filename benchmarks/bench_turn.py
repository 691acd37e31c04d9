"""The sans-IO turn machine: its cost per effect, and how a tool round's cost grows with its size.

Both figures drive a scripted turn through ``next()`` / ``send()`` with every outcome computed
beforehand (one untimed run records the answer to each replay key), so the timed region is the
machine alone: its transitions, building the envelopes and the stream events (drained after
every step, as a driver does). Building the machine (which emits the first model call) is part
of the turn.

* ``turn_core_per_effect``: a turn of :data:`ROUNDS` model rounds of :data:`CALLS_PER_ROUND`
  tool calls each, then a final answer; its time divided by the envelopes it emits, against one
  bare loop switch (``await asyncio.sleep(0)`` inside a running asyncio loop) measured in the
  same run, repeats alternated. Reported, not judged.
* ``turn_linearity``: the cost per tool call of a turn with one round of
  :data:`LINEAR_CALLS` calls against a turn with one round of :data:`BASE_CALLS` calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from benchmarks.async_timing import compare
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, Sample, require
from lash_core import (
    EffectKind,
    EffectOutcome,
    JsonValue,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Ok,
    Role,
    RunEffects,
    StopReason,
    TextPart,
    ToolAttemptOutcome,
    ToolCallPart,
    TurnCompleted,
    TurnConfig,
    TurnFinished,
    TurnMachine,
    Usage,
)
from lash_core.effects import ToolAttemptCommand, ToolCallRecord
from lash_core.effects.tools import ToolAttemptLaunchDone

SESSION: Final = "sess_OTHYDCZJWC6EKP2KOJRRA6Y5TW"
TURN: Final = "turn_56VIOMPFBQBL7B2CN4FS2MS7YJ"
CONFIG: Final = TurnConfig(model="bench-model", system_prompt="You are a benchmark.")
USAGE: Final = Usage(120, 30)
CONVERSATION: Final = (Message(Role.USER, (TextPart("look things up"),)),)

ROUNDS: Final = 3
CALLS_PER_ROUND: Final = 4
LINEAR_CALLS: Final = 1_000
LINEAR_CALLS_SMOKE: Final = 100
BASE_CALLS: Final = 10
LINEARITY_BUDGET: Final = 1.3
"""A big round's cost per call, as a multiple of a small round's."""

"""``run(n)``: set up (untimed), perform ``n`` operations, return the nanoseconds they took."""


# -- the scripted turn ---------------------------------------------------------------------


@dataclass(frozen=True)
class Script:
    """A turn and the answer to every replay key it emits (all in order, all succeed)."""

    rounds: int
    calls_per_round: int
    answers: dict[str, EffectOutcome]
    envelopes: int

    @property
    def calls(self) -> int:
        return self.rounds * self.calls_per_round


def _machine() -> TurnMachine:
    return TurnMachine(
        CONFIG, session_id=SESSION, turn_id=TURN, turn_index=0, messages=CONVERSATION
    )


def _tool_round(round_no: int, calls: int) -> LlmCallOutcome:
    parts = tuple(
        ToolCallPart(f"call_{round_no}_{i}", "lookup", {"query": f"item {i}"}) for i in range(calls)
    )
    response = LlmResponse(Message(Role.ASSISTANT, parts), USAGE, StopReason.TOOL_USE)
    return LlmCallOutcome(Ok(response), False)


def _final_answer() -> LlmCallOutcome:
    message = Message(Role.ASSISTANT, (TextPart("here is what I found"),))
    return LlmCallOutcome(Ok(LlmResponse(message, USAGE, StopReason.STOP)), False)


def _tool_done(command: ToolAttemptCommand) -> ToolAttemptOutcome:
    call = command.call
    output: JsonValue = {"found": call.call_id}
    record = ToolCallRecord(
        call.call_id, call.tool_name, call.args, output, output, 3, command.attempt, True
    )
    return ToolAttemptOutcome(ToolAttemptLaunchDone(record))


def script(rounds: int, calls_per_round: int) -> Script:
    """Run the turn once (untimed), answering in order, and record every answer by key."""
    responses = [_tool_round(r, calls_per_round) for r in range(rounds)] + [_final_answer()]
    answers: dict[str, EffectOutcome] = {}
    machine = _machine()
    while True:
        step = machine.next()
        machine.drain_events()
        if isinstance(step, TurnFinished):
            require(isinstance(step.result.outcome, TurnCompleted), "the scripted turn completes")
            break
        if not isinstance(step, RunEffects):
            raise RuntimeError(f"the scripted turn stalled at {step!r}")
        for envelope in step.envelopes:
            key = envelope.replay_key
            assert key is not None
            command = envelope.command
            outcome: EffectOutcome
            if envelope.kind is EffectKind.LLM_CALL:
                outcome = responses.pop(0)
            else:
                assert isinstance(command, ToolAttemptCommand)
                outcome = _tool_done(command)
            answers[key] = outcome
            machine.send(key, outcome)
    require(not responses, "every scripted model response was used")
    require(len(answers) == rounds * (calls_per_round + 1) + 1, "one model call per round + 1")
    return Script(rounds, calls_per_round, answers, len(answers))


def drive(s: Script) -> int:
    """Run the turn to its end with the recorded answers; returns the envelopes handed out."""
    answers = s.answers
    machine = _machine()
    handed_out = 0
    while True:
        step = machine.next()
        machine.drain_events()
        if isinstance(step, RunEffects):
            handed_out += len(step.envelopes)
            for envelope in step.envelopes:
                key = envelope.replay_key
                assert key is not None
                machine.send(key, answers[key])
            continue
        if isinstance(step, TurnFinished):
            return handed_out
        raise RuntimeError(f"the scripted turn stalled at {step!r}")


def _per(sample: Sample, count: int) -> Sample:
    """``sample`` with each repeat's time per operation divided by ``count``."""
    return Sample(sample.loops, tuple(t / count for t in sample.per_op_ns))


# -- async timing (the machine and the bare loop switch, in the same asyncio run) -----------


# -- 1. cost per effect ----------------------------------------------------------------------


async def _per_effect(ctx: Context, s: Script) -> tuple[Sample, Sample]:
    async def turns(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            drive(s)
        return time.perf_counter_ns() - start

    async def switches(n: int) -> int:
        sleep = asyncio.sleep
        start = time.perf_counter_ns()
        for _ in range(n):
            await sleep(0)
        return time.perf_counter_ns() - start

    return await compare(ctx, turns, switches)


@benchmark("turn_core_per_effect")
def turn_core_per_effect(ctx: Context) -> list[Figure]:
    """TurnMachine cost per effect (next/send, envelopes, events) vs one asyncio sleep(0)."""
    s = script(ROUNDS, CALLS_PER_ROUND)
    require(drive(s) == s.envelopes, "the timed driver hands out every recorded envelope")
    turn, switch = asyncio.run(_per_effect(ctx, s))
    return [
        ctx.figure(
            "turn_core_per_effect",
            _per(turn, s.envelopes),
            "asyncio loop switch (await sleep(0))",
            switch,
            detail={
                "op": "one envelope of a scripted turn: its share of next(), send(), events",
                "rounds": s.rounds,
                "calls_per_round": s.calls_per_round,
                "envelopes_per_turn": s.envelopes,
                "turn_us": turn.median_us,
            },
        )
    ]


# -- 2. linearity of a tool round ------------------------------------------------------------


@benchmark("turn_linearity")
def turn_linearity(ctx: Context) -> list[Figure]:
    """Cost per tool call: a one-round turn of 1,000 calls vs one of 10 calls."""
    big = script(1, ctx.size(LINEAR_CALLS, LINEAR_CALLS_SMOKE))
    small = script(1, BASE_CALLS)

    def turns(s: Script) -> Callable[[int], Body]:
        def prepare(n: int) -> Body:
            def body() -> None:
                for _ in range(n):
                    drive(s)

            return body

        return prepare

    sub, base = ctx.compare(turns(big), turns(small))
    return [
        ctx.figure(
            "turn_linearity",
            _per(sub, big.calls),
            f"per call @ {small.calls} calls",
            _per(base, small.calls),
            budget=LINEARITY_BUDGET,
            detail={
                "subject": f"per call @ {big.calls} calls in one round",
                "calls": big.calls,
                "baseline_calls": small.calls,
                "turn_us": sub.median_us,
                "baseline_turn_us": base.median_us,
            },
        )
    ]
