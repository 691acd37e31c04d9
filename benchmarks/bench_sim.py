"""The simulator's throughput on one core.

* ``sim_host_effect``: one effect run by the core host (``InlineHost.execute_effect``) on the
  simulated loop, a batch of :data:`BATCH` at a time in a task group as ``run_turn`` runs a
  round: a task is spawned, scheduled by the seeded chooser, sleeps 1 ms of virtual time (a
  timer, then a jump of the clock) and completes. Against one bare coroutine step
  (``coro.send(None)`` on a coroutine awaiting a one-yield awaitable), measured in the same run.
  Judged: at most :data:`EFFECT_BUDGET_US` µs an effect (50,000 simulated effects a second).
* ``sim_turn_effect``: an effect of the scripted turn of :mod:`benchmarks.bench_turn` run by
  ``run_turn`` on the simulator (machine, host and scheduler together), against the pure turn
  machine's own cost per effect (the same turn driven by ``next``/``send`` alone). Reported.
* ``sim_seeds``: one seed of the default world (draw the plan, run it, check every oracle)
  against one scripted turn on the pure machine. Reported, with seeds per second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Final

from benchmarks.bench_turn import (
    CALLS_PER_ROUND,
    CONFIG,
    CONVERSATION,
    ROUNDS,
    SESSION,
    TURN,
    drive,
    script,
)
from benchmarks.catalog import benchmark
from benchmarks.fixtures import SECRET, sleep_envelope
from benchmarks.harness import Body, Context, Figure, Sample, require
from lash_core import (
    EffectEnvelope,
    EffectOutcome,
    TurnCompleted,
    TurnHandlers,
    TurnMachine,
    run_turn,
)
from lash_core.effects import SleepOutcome
from lash_core.host import SleepExecutor
from lash_core.sim import SeededChoices, SimHost, SimLoop
from lash_core.sim.run import simulate_seed

BATCH: Final = 8
EFFECT_BUDGET_US: Final = 1_000_000 / 50_000
"""20 µs an effect: 50,000 simulated effects a second."""


def _per(sample: Sample, count: int) -> Sample:
    return Sample(sample.loops, tuple(t / count for t in sample.per_op_ns))


def _rate(sample: Sample) -> int:
    """Operations a second at the sample's median."""
    return round(1_000_000 / sample.median_us) if sample.median_us > 0 else 0


# -- the bare baseline -----------------------------------------------------------------------


class _Yield:
    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield None


_YIELD: Final = _Yield()


async def _steps(n: int) -> None:
    for _ in range(n):
        await _YIELD


def _bare(n: int) -> Body:
    def body() -> None:
        coro = _steps(n)
        try:
            while True:
                coro.send(None)
        except StopIteration:
            pass

    return body


# -- 1. one effect through the host on the simulated loop ----------------------------------


def _host_effects(n: int) -> Body:
    loop = SimLoop(SeededChoices(1))
    host = SimHost(loop, SECRET)
    primitives = host.primitives
    envelope = sleep_envelope(1)
    executor = SleepExecutor()
    done: list[EffectOutcome] = []

    async def one() -> None:
        done.append(await host.execute_effect(envelope, executor))

    async def main() -> None:
        for start in range(0, n, BATCH):
            async with primitives.open_task_group() as group:
                for _ in range(min(BATCH, n - start)):
                    group.start(one)

    def body() -> None:
        loop.run(main())
        require(len(done) == n and all(isinstance(o, SleepOutcome) for o in done), "all ran")

    return body


@benchmark("sim_host_effect")
def sim_host_effect(ctx: Context) -> list[Figure]:
    """One effect (a 1 ms virtual sleep) through the core host on the simulator vs one bare
    coroutine step."""
    sub, base = ctx.compare(_host_effects, _bare)
    figure = ctx.figure(
        "sim_host_effect",
        sub,
        "bare coroutine step (coro.send)",
        base,
        detail={
            "op": f"host.execute_effect of a 1 ms sleep, {BATCH} concurrent in a task group",
            "effects_per_second": _rate(sub),
            "budget_effects_per_second": 50_000,
        },
    )
    return [dataclasses.replace(figure, excess_budget=EFFECT_BUDGET_US - figure.baseline_us)]


# -- 2. an effect of a whole turn, run_turn on the simulator ----------------------------------


def _sim_turns(n: int) -> Body:
    s = script(ROUNDS, CALLS_PER_ROUND)
    answers = s.answers
    loop = SimLoop(SeededChoices(2))
    host = SimHost(loop, SECRET)

    async def answer(envelope: EffectEnvelope) -> EffectOutcome:
        key = envelope.replay_key
        assert key is not None
        return answers[key]

    handlers = TurnHandlers(model=answer, tools=answer)
    finished: list[bool] = []

    async def main() -> None:
        for _ in range(n):
            machine = TurnMachine(
                CONFIG, session_id=SESSION, turn_id=TURN, turn_index=0, messages=CONVERSATION
            )
            result = await run_turn(machine, host, handlers)
            finished.append(isinstance(result.outcome, TurnCompleted))

    def body() -> None:
        loop.run(main())
        require(len(finished) == n and all(finished), "every turn completes")

    return body


def _machine_turns(n: int) -> Body:
    s = script(ROUNDS, CALLS_PER_ROUND)

    def body() -> None:
        for _ in range(n):
            drive(s)

    return body


@benchmark("sim_turn_effect")
def sim_turn_effect(ctx: Context) -> list[Figure]:
    """An effect of a scripted turn run by run_turn on the simulator vs the pure machine's
    own cost per effect."""
    envelopes = script(ROUNDS, CALLS_PER_ROUND).envelopes
    sub, base = ctx.compare(_sim_turns, _machine_turns)
    sub, base = _per(sub, envelopes), _per(base, envelopes)
    return [
        ctx.figure(
            "sim_turn_effect",
            sub,
            "pure turn machine per effect",
            base,
            detail={
                "op": "one envelope of a scripted turn: machine, host, simulated scheduler",
                "envelopes_per_turn": envelopes,
                "effects_per_second": _rate(sub),
                "machine_effects_per_second": _rate(base),
            },
        )
    ]


# -- 3. seeds of the default world ------------------------------------------------------------


def _seeds(n: int) -> Body:
    def body() -> None:
        for seed in range(n):
            require(not simulate_seed(seed).failed, "the default world passes its oracles")

    return body


@benchmark("sim_seeds")
def sim_seeds(ctx: Context) -> list[Figure]:
    """One seed of the default world (draw, run, check every oracle) vs one scripted turn on
    the pure machine."""
    sub, base = ctx.compare(_seeds, _machine_turns)
    effects = sum(simulate_seed(seed).effects for seed in range(100))
    return [
        ctx.figure(
            "sim_seeds",
            sub,
            "scripted turn on the pure machine",
            base,
            detail={
                "op": "simulate_seed: draw a default world, run it, check every oracle",
                "seeds_per_second": _rate(sub),
                "effects_per_seed_first_100": effects / 100,
            },
        )
    ]
