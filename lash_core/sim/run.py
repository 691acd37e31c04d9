"""One simulation: draw a world, run it on the simulator, judge it with every oracle.

:func:`simulate` takes any :class:`~lash_core.sim.choices.ChoiceSource`: the world plan and every
scheduling choice come from it, so :func:`simulate_seed` is a pure function of its seed (the trace
bytes are identical on every run) and a test drawing from Hypothesis's ``data`` gets a world
Hypothesis can shrink and re-run.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from lash_core.canonical import canonical_text_of
from lash_core.errors import LashError
from lash_core.sim.choices import ChoiceSource, SeededChoices
from lash_core.sim.durable import run_durable_world
from lash_core.sim.host import SimHost
from lash_core.sim.loop import SimLoop
from lash_core.sim.oracles import ORACLES, Violation, check_all
from lash_core.sim.world import (
    DEFAULT_SHAPE,
    Recorder,
    WorldPlan,
    WorldShape,
    draw_world,
    run_world,
)

__all__ = [
    "SHAPE_FLAGS",
    "SimReport",
    "SimSummary",
    "reproduce_command",
    "simulate",
    "simulate_seed",
]

SHAPE_FLAGS: Final = (
    ("max_sessions", "--sessions", "at most this many sessions"),
    ("max_turns", "--turns", "at most this many turns a session"),
    ("max_steps", "--steps", "at most this many model calls a turn"),
    ("max_tools", "--tools", "at most this many tool calls a round"),
    ("max_latency_ms", "--latency", "at most this many ms per call"),
    ("fault_percent", "--faults", "percent chance of each fault"),
    ("offset_ms", "--offset", "ms added to cancel and revocation instants"),
    ("durable", "--durable", "run on a durable host over a store (no processes, cancels)"),
    ("crash_percent", "--crashes", "percent chance of each host crash (needs --durable)"),
)
"""The ``lash sim`` flag of each :class:`WorldShape` field, with its help."""


def reproduce_command(seed: int, shape: WorldShape = DEFAULT_SHAPE) -> str:
    """The ``lash sim`` command that re-runs ``seed`` in a world of ``shape``."""
    parts = ["lash", "sim", "--seed", str(seed)]
    for field, flag, _ in SHAPE_FLAGS:
        value = getattr(shape, field)
        if value is True:
            parts.append(flag)
        elif value != getattr(DEFAULT_SHAPE, field):
            parts += [flag, str(value)]
    return " ".join(parts)


@attrs.frozen
class SimReport:
    """What one simulation did and what the oracles found."""

    plan: WorldPlan
    shape: WorldShape
    records: tuple[dict[str, Any], ...]
    violations: tuple[Violation, ...]
    steps: int
    seed: int | None = None

    @property
    def failed(self) -> bool:
        return bool(self.violations)

    @property
    def effects(self) -> int:
        """Effects answered."""
        return sum(1 for r in self.records if r["ev"] == "effect")

    @property
    def faults(self) -> int:
        return self.plan.faults

    @property
    def oracles_checked(self) -> int:
        return len(ORACLES)

    def trace_lines(self) -> list[str]:
        """The trace as canonical JSON lines: the plan first, then every record."""
        plan = attrs.asdict(self.plan)
        if not plan["crashes"]:
            del plan["crashes"]  # a world without crashes reads as it did before they existed
        head = {"ev": "world", "seed": self.seed, "plan": plan}
        return [canonical_text_of(head)] + [canonical_text_of(r) for r in self.records]

    def trace_bytes(self) -> bytes:
        return "".join(line + "\n" for line in self.trace_lines()).encode()

    def reproduce(self) -> str | None:
        """The command that re-runs this simulation (``None`` without a seed)."""
        return None if self.seed is None else reproduce_command(self.seed, self.shape)

    def describe(self) -> str:
        """The violations, one a line, and the command that reproduces them."""
        lines = [f"{v.oracle}: {v.message}" for v in self.violations]
        command = self.reproduce()
        if command is not None:
            lines.append(f"reproduce with: {command}")
        return "\n".join(lines)


def simulate(
    source: ChoiceSource, shape: WorldShape = DEFAULT_SHAPE, *, seed: int | None = None
) -> SimReport:
    """Draw a world from ``source``, run it on a fresh simulated loop scheduled by ``source``,
    and check every oracle. A crash of the world (an exception, ``sim_deadlock``,
    ``sim_step_limit``) is the violation ``world_runs_to_the_end``."""
    plan = draw_world(source, shape)
    loop = SimLoop(source)
    recorder = Recorder(loop.now)
    crash: list[Violation] = []
    try:
        if shape.durable:
            loop.run(run_durable_world(plan, loop, recorder))
        else:
            loop.run(run_world(plan, SimHost(loop, label="world"), recorder))
    except LashError as exc:
        crash.append(Violation("world_runs_to_the_end", f"{exc.code}: {exc.message}"))
    except Exception as exc:  # any exception out of the world is a finding, with its text
        crash.append(Violation("world_runs_to_the_end", f"{type(exc).__name__}: {exc!r}"))
    violations = crash + check_all(recorder.records)
    return SimReport(plan, shape, tuple(recorder.records), tuple(violations), loop.steps, seed)


def simulate_seed(seed: int, shape: WorldShape = DEFAULT_SHAPE) -> SimReport:
    """:func:`simulate` with choices from ``seed``."""
    return simulate(SeededChoices(seed), shape, seed=seed)


@attrs.define
class SimSummary:
    """Totals over many simulations, and the reports of those that failed: all of them, or
    only the first ``keep`` (so a summary of any number of seeds stays small)."""

    seeds: int = 0
    effects: int = 0
    faults: int = 0
    oracles_checked: int = 0
    steps: int = 0
    failed: int = 0
    """How many simulations failed (kept or not)."""
    failures: list[SimReport] = attrs.Factory(list)
    keep: int | None = None

    def add(self, report: SimReport) -> None:
        self.seeds += 1
        self.effects += report.effects
        self.faults += report.faults
        self.oracles_checked += report.oracles_checked
        self.steps += report.steps
        if report.failed:
            self.failed += 1
            if self.keep is None or len(self.failures) < self.keep:
                self.failures.append(report)

    def table(self) -> list[tuple[str, int]]:
        """The summary rows: seeds run, effects, faults injected, oracles checked, failures."""
        return [
            ("seeds run", self.seeds),
            ("effects", self.effects),
            ("faults injected", self.faults),
            ("oracles checked", self.oracles_checked),
            ("failures", self.failed),
        ]
