"""``run_turn`` against a hand-written agent loop calling the same handlers, per driver.

The turn is the scripted one of :mod:`benchmarks.bench_turn`: :data:`ROUNDS` model rounds of
:data:`CALLS_PER_ROUND` tool calls each, then a final answer. Its handlers (a model and a tool
handler) each suspend once (``await sleep(0)``, as real I/O does) and return an outcome computed
beforehand, looked up by the envelope's replay key.

Inside each driver's own loop (``trio.run`` / ``asyncio.run``, real clocks), three timed runs
have their repeats alternated:

* ``run_turn``: a fresh :class:`~lash_core.turn.TurnMachine` (built in the timed region: it is
  the turn's own cost) run by ``run_turn`` on a fresh host (built beforehand, untimed);
* the hand loop: the same work without lash: call the model handler, run the round's tool
  handlers concurrently (a nursery / ``asyncio.gather``), append the assistant message and a
  tool-result message, repeat until the final answer. It passes the handlers the envelopes one
  untimed ``run_turn`` recorded, so both sides run identical handler code;
* one bare loop switch (``await sleep(0)``).

``<driver>_run_turn_overhead`` is (run_turn time - hand loop time) per effect run, in µs,
against one bare switch; its ratio is judged against :data:`OVERHEAD_BUDGET`. Both raw turn
times are in the detail.
"""

from __future__ import annotations

import abc
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import trio

from benchmarks.async_timing import interleaved
from benchmarks.bench_turn import CALLS_PER_ROUND, CONFIG, CONVERSATION, ROUNDS, SESSION, TURN
from benchmarks.bench_turn import script as record_answers
from benchmarks.catalog import BenchmarkFn, benchmark
from benchmarks.fixtures import SECRET
from benchmarks.harness import Context, Figure, require
from lash_asyncio import InlineEffectHost as AsyncioHost
from lash_core import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    InlineHost,
    LlmCallOutcome,
    Message,
    Ok,
    Role,
    StopReason,
    ToolAttemptOutcome,
    ToolCallPart,
    TurnCompleted,
    TurnHandlers,
    TurnMachine,
    run_turn,
)
from lash_core.effects import ToolResultPart
from lash_core.effects.tools import ToolAttemptLaunchDone
from lash_core.host import EffectHandler
from lash_trio import InlineEffectHost as TrioHost

T = TypeVar("T")

"""``run(n)``: set up (untimed), perform ``n`` operations, return the nanoseconds they took."""

OVERHEAD_BUDGET: Final = 4.0
"""What run_turn adds per effect over the hand loop, as a multiple of one bare loop switch."""


# -- the drivers -----------------------------------------------------------------------------


class _Driver(abc.ABC):
    name: str
    sleep: Callable[[float], Awaitable[object]]

    @abc.abstractmethod
    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``fn`` in a fresh loop of this driver."""

    @abc.abstractmethod
    def host(self) -> InlineHost:
        """A fresh lash host."""

    @abc.abstractmethod
    async def concurrently(self, fns: list[Callable[[], Awaitable[None]]]) -> None:
        """Run every ``fn`` concurrently, returning when all have ended."""


class _TrioDriver(_Driver):
    name = "trio"

    def __init__(self) -> None:
        self.sleep = trio.sleep

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return trio.run(fn)

    def host(self) -> InlineHost:
        return TrioHost(SECRET)

    async def concurrently(self, fns: list[Callable[[], Awaitable[None]]]) -> None:
        async with trio.open_nursery() as nursery:
            for fn in fns:
                nursery.start_soon(fn)


class _AsyncioDriver(_Driver):
    name = "asyncio"

    def __init__(self) -> None:
        self.sleep = asyncio.sleep

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run(fn())

    def host(self) -> InlineHost:
        return AsyncioHost(SECRET)

    async def concurrently(self, fns: list[Callable[[], Awaitable[None]]]) -> None:
        await asyncio.gather(*(fn() for fn in fns))


DRIVERS: Final[tuple[_Driver, ...]] = (_TrioDriver(), _AsyncioDriver())


# -- async timing (three runs, repeats alternated) -------------------------------------------


# -- the turn, its handlers and the hand loop ------------------------------------------------


@dataclass(frozen=True)
class Round:
    """One model call of the recorded turn and the tool attempts its response asked for."""

    model: EffectEnvelope
    tools: tuple[EffectEnvelope, ...]


def _machine() -> TurnMachine:
    return TurnMachine(
        CONFIG, session_id=SESSION, turn_id=TURN, turn_index=0, messages=CONVERSATION
    )


def _handlers(driver: _Driver, answers: dict[str, EffectOutcome]) -> TurnHandlers:
    """A model and a tool handler: one suspension each, then the recorded outcome."""
    sleep = driver.sleep

    async def model(envelope: EffectEnvelope) -> EffectOutcome:
        await sleep(0)
        return answers[envelope.invocation.replay_key or ""]

    async def tools(envelope: EffectEnvelope) -> EffectOutcome:
        await sleep(0)
        return answers[envelope.invocation.replay_key or ""]

    return TurnHandlers(model=model, tools=tools)


async def _record(driver: _Driver, handlers: TurnHandlers) -> tuple[list[Round], int]:
    """One untimed run_turn: the envelopes it ran, by round, and how many effects it ran."""
    ran: list[EffectEnvelope] = []
    result = await run_turn(
        _machine(), driver.host(), handlers, on_effect=lambda env, _out: ran.append(env)
    )
    require(isinstance(result.outcome, TurnCompleted), "the scripted turn completes")
    rounds: list[Round] = []
    for envelope in ran:
        if envelope.command.kind is EffectKind.LLM_CALL:
            rounds.append(Round(envelope, ()))
        else:
            require(envelope.command.kind is EffectKind.TOOL_ATTEMPT, "only model and tool calls")
            last = rounds[-1]
            rounds[-1] = Round(last.model, (*last.tools, envelope))
    return rounds, len(ran)


def _tool_runner(
    tools: EffectHandler, envelope: EffectEnvelope, results: list[ToolResultPart | None], i: int
) -> Callable[[], Awaitable[None]]:
    """Calls the tool handler and stores the tool's result part at ``results[i]``."""

    async def run() -> None:
        done = await tools(envelope)
        assert isinstance(done, ToolAttemptOutcome)
        launch = done.launch
        assert isinstance(launch, ToolAttemptLaunchDone)
        record = launch.record
        results[i] = ToolResultPart(record.call_id, record.tool_name, record.model_return)

    return run


async def _hand_loop(driver: _Driver, handlers: TurnHandlers, rounds: list[Round]) -> int:
    """The turn without lash; returns the handler calls made (effects run)."""
    model, tools = handlers.model, handlers.tools
    assert tools is not None
    concurrently = driver.concurrently
    messages = list(CONVERSATION)
    effects = 0
    for turn_round in rounds:
        outcome = await model(turn_round.model)
        effects += 1
        assert isinstance(outcome, LlmCallOutcome) and isinstance(outcome.result, Ok)
        response = outcome.result.value
        messages.append(response.message)
        if response.stop_reason is not StopReason.TOOL_USE:
            return effects
        calls = [p for p in response.message.parts if isinstance(p, ToolCallPart)]
        results: list[ToolResultPart | None] = [None] * len(calls)
        await concurrently(
            [_tool_runner(tools, env, results, i) for i, env in enumerate(turn_round.tools)]
        )
        effects += len(calls)
        messages.append(Message(Role.TOOL, tuple(r for r in results if r is not None)))
    raise RuntimeError("the scripted turn never gave a final answer")


# -- the figure ------------------------------------------------------------------------------


async def _overhead(driver: _Driver, ctx: Context) -> list[Figure]:
    s = record_answers(ROUNDS, CALLS_PER_ROUND)
    handlers = _handlers(driver, s.answers)
    rounds, effects = await _record(driver, handlers)
    require(effects == s.envelopes, "run_turn ran every envelope of the script")
    require(await _hand_loop(driver, handlers, rounds) == effects, "the hand loop does the same")
    sleep = driver.sleep

    async def lash(n: int) -> int:
        hosts = [driver.host() for _ in range(n)]
        start = time.perf_counter_ns()
        for host in hosts:
            await run_turn(_machine(), host, handlers)
        return time.perf_counter_ns() - start

    async def hand(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            await _hand_loop(driver, handlers, rounds)
        return time.perf_counter_ns() - start

    async def switches(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            await sleep(0)
        return time.perf_counter_ns() - start

    turn, loop, switch = await interleaved(ctx, [lash, hand, switches])
    added = tuple((t - h) / effects for t, h in zip(turn.per_op_ns, loop.per_op_ns, strict=True))
    ratios = [a / b for a, b in zip(added, switch.per_op_ns, strict=True)]
    added_us = statistics.median(added) / 1000.0
    return [
        Figure(
            name=f"{driver.name}_run_turn_overhead",
            median_us=added_us,
            baseline_name=f"{driver.name}.sleep(0) loop switch",
            baseline_us=switch.median_us,
            ratio=statistics.median(ratios),
            budget=OVERHEAD_BUDGET,
            detail={
                "op": "per effect: (run_turn - hand-written loop) / effects, same handlers",
                "rounds": ROUNDS,
                "calls_per_round": CALLS_PER_ROUND,
                "effects_per_turn": effects,
                "added_us_per_effect": round(added_us, 3),
                "run_turn_us": round(turn.median_us, 2),
                "hand_loop_us": round(loop.median_us, 2),
                "run_turn_per_effect_us": round(turn.median_us / effects, 3),
                "hand_loop_per_effect_us": round(loop.median_us / effects, 3),
                "run_turn_over_hand_loop": round(turn.median_us / loop.median_us, 2),
                **turn.detail("run_turn_"),
                **loop.detail("hand_loop_"),
                **switch.detail("baseline_"),
            },
        )
    ]


def _bind(driver: _Driver) -> BenchmarkFn:
    def run(ctx: Context) -> list[Figure]:
        async def main() -> list[Figure]:
            return await _overhead(driver, ctx)

        return driver.run(main)

    run.__doc__ = (
        f"{driver.name}: run_turn's added cost per effect over a hand-written loop calling the "
        "same handlers, vs one sleep(0)"
    )
    return run


for _driver in DRIVERS:
    benchmark(f"{_driver.name}_run_turn_overhead")(_bind(_driver))
