"""Drawing a simulated world: the plain-data plan of sessions, turns, model steps and tools.

A :class:`WorldPlan` is plain data drawn from a :class:`~lash_core.sim.choices.ChoiceSource`
(:func:`draw_world`) within the bounds of a :class:`WorldShape`: how many sessions, when each
starts, its turns; for each model call what it answers (a final answer, tool calls, a retryable
or non-retryable error, an output limit) and how long it takes; for each tool call its latency
and behaviour (succeeds, fails once, raises, runs code that succeeds or fails, starts a
background process (a :class:`ProcessPlan`), or answers *pending* and is completed later by an
external resolver that is on time, late, resolves twice, or first presents a forged or tampered
key); checkpoints after each tool round that may deliver a follow-up message; cancel requests and
session revocations at chosen instants; in a durable world, host crashes (:class:`CrashPlan`).

Running a plan is :func:`lash_core.sim.world.run_world`; this module only draws it.
"""

from __future__ import annotations

from typing import Final

import attrs

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.sim.choices import ChoiceSource, chance, integer, pick

__all__ = [
    "DEFAULT_SHAPE",
    "MAX_LATENCY_MS",
    "CrashPlan",
    "ModelStep",
    "ProcessPlan",
    "SessionPlan",
    "ToolPlan",
    "TurnPlan",
    "WorldPlan",
    "WorldShape",
    "draw_world",
]

MODEL_KINDS: Final = ("answer", "tools", "retryable", "fatal", "output_limit")
"""What a model call answers; the first two are plain, the rest are faults."""
TOOL_KINDS: Final = ("ok", "code")
FAULTY_TOOL_KINDS: Final = ("fail", "raise", "code_error")
RESOLVERS: Final = ("on_time", "late", "twice", "forged", "tampered", "never")
SIGNAL_NAMES: Final = ("go", "more")
"""The signals a simulated process may wait for."""

PROCESS_PERCENT: Final = 8
"""How often a tool call (that is not *pending*) starts a background process."""
EARLY_SIGNAL_PERCENT: Final = 35
"""How often a process's first signal is sent before (or as) it starts waiting."""
PROCESS_KIND: Final = "sim-process"
"""The engine kind of simulated processes (the runner's function name)."""
PROCESS_PATIENCE_S: Final = 60.0
"""The least time a process's signal wait waits before giving up (virtual seconds); a world
with slower signals waits longer (:func:`process_patience_s`)."""
PATIENCE_FACTOR: Final = 4
"""A process waits at least this many times its world's latest planned signal instant."""

MAX_LATENCY_MS: Final = 1_000_000_000
"""The largest ``max_latency_ms`` of a world (about 11.6 days): virtual instants stay exact to
well below a millisecond."""

PENDING_PERCENT: Final = 25
"""How often a tool call answers *pending* and is completed later by a resolver."""
"""Signs forged keys: same scope and wait as a real key, a secret the host never had."""


@attrs.frozen
class ProcessPlan:
    """A background process a tool call starts and then awaits: after ``wait_ms`` it waits for
    the signals ``waits`` in order; a sender sends one signal for each wait, ``signal_ms``
    after the start (increasing, so signals of one name go out in order; a signal may go out
    before the process waits for it); ``cancel_at_ms`` after the start its cancel is
    requested, if ever."""

    waits: tuple[str, ...] = ("go",)
    wait_ms: int = 0
    signal_ms: tuple[float, ...] = (0.0,)
    cancel_at_ms: float | None = None


@attrs.frozen
class ToolPlan:
    """One tool call: ``kind`` is ``ok``, ``fail`` (the first attempt reports failure),
    ``raise`` (the handler raises on the first attempt), ``pending`` (completed later by a
    resolver, ``resolve_ms`` after the launch, against a deadline of ``deadline_ms``; a missed
    deadline fails the turn if ``fail_turn``), ``code`` / ``code_error`` (a call of the
    built-in code tool, run as an ``exec_code`` effect that succeeds or fails), or ``process``
    (starts the background process ``process`` and answers with its terminal)."""

    kind: str = "ok"
    latency_ms: int = 0
    resolver: str = "on_time"
    resolve_ms: int = 1
    deadline_ms: int = 50
    fail_turn: bool = False
    process: ProcessPlan | None = None


@attrs.frozen
class ModelStep:
    """One model call's answer: ``kind`` is one of ``answer``, ``tools``, ``retryable``,
    ``fatal``, ``output_limit``."""

    kind: str = "answer"
    latency_ms: int = 0
    tokens: int = 1
    tools: tuple[ToolPlan, ...] = ()


@attrs.frozen
class TurnPlan:
    """A turn: the model's answers in order (then final answers), when (ms after the turn
    starts) a cancel is requested, if ever, and whether its first checkpoint delivers a
    follow-up user message."""

    steps: tuple[ModelStep, ...] = ()
    cancel_at_ms: float | None = None
    deliver: bool = False
    controlled: bool = False
    """The turn runs under turn control (with its cancel gate)."""
    cancel_by_request: bool = False
    """Its cancel is a request through the gate, not the ``run_turn`` token."""


@attrs.frozen
class SessionPlan:
    """A session: its id, when it starts, its turns (one after the other), and when (ms after
    the world starts) it is revoked, if ever."""

    session_id: str
    start_ms: int = 0
    turns: tuple[TurnPlan, ...] = ()
    revoke_at_ms: float | None = None


@attrs.frozen
class CrashPlan:
    """A crash of the running host in a durable world: at the virtual instant ``at_ms`` after
    the world starts, or right after the ``after_outcomes``-th effect outcome the world's hosts
    recorded (one of the two), if a host is up then; a fresh host starts ``down_ms`` later."""

    at_ms: float | None = None
    after_outcomes: int | None = None
    down_ms: int = 0


@attrs.frozen
class WorldPlan:
    """A whole world: its sessions, which run concurrently, and (in a durable world) the
    crashes of its hosts."""

    sessions: tuple[SessionPlan, ...]
    crashes: tuple[CrashPlan, ...] = ()

    @property
    def size(self) -> int:
        """A rough size: sessions + turns + model steps + tool calls."""
        total = len(self.sessions)
        for session in self.sessions:
            total += len(session.turns)
            for turn in session.turns:
                total += len(turn.steps) + sum(len(step.tools) for step in turn.steps)
        return total

    @property
    def faults(self) -> int:
        """How many faults the plan injects (errors, failures, odd resolvers, cancels of turns
        and processes, revocations)."""
        count = 0
        for session in self.sessions:
            count += session.revoke_at_ms is not None
            for turn in session.turns:
                count += turn.cancel_at_ms is not None
                for step in turn.steps:
                    count += step.kind in MODEL_KINDS[2:]
                    for tool in step.tools:
                        count += tool.kind in FAULTY_TOOL_KINDS
                        count += tool.kind == "pending" and tool.resolver != "on_time"
                        count += tool.fail_turn
                        if tool.process is not None:
                            count += tool.process.cancel_at_ms is not None
        return count + len(self.crashes)


@attrs.frozen
class WorldShape:
    """Bounds of a drawn world. ``offset_ms`` is added to cancel, revocation and signal instants
    (0.5 keeps them off the whole milliseconds every other event happens on, so no two drivers
    can order them differently; 0 lets them tie, which the simulator's scheduler explores)."""

    max_sessions: int = 3
    max_turns: int = 2
    max_steps: int = 3
    max_tools: int = 3
    max_latency_ms: int = 20
    fault_percent: int = 30
    offset_ms: float = 0.0
    durable: bool = False
    """Run the sessions on a durable host over a memory store (:mod:`lash_core.sim.durable`);
    such a world has no background processes, cancels, turn control or revocations."""
    crash_percent: int = 0
    """In a durable world, the chance of each of up to :data:`MAX_CRASHES` host crashes."""

    def __attrs_post_init__(self) -> None:
        problems = [
            f"{name} must be at least 1"
            for name in ("max_sessions", "max_turns", "max_steps", "max_tools")
            if getattr(self, name) < 1
        ]
        if self.max_latency_ms < 0:
            problems.append("max_latency_ms must not be negative")
        elif self.max_latency_ms > MAX_LATENCY_MS:
            problems.append(f"max_latency_ms must be at most {MAX_LATENCY_MS}")
        if not 0 <= self.fault_percent <= 100:
            problems.append("fault_percent must be between 0 and 100")
        if not 0 <= self.offset_ms < 1:
            problems.append("offset_ms must be at least 0 and below 1")
        if not 0 <= self.crash_percent <= 100:
            problems.append("crash_percent must be between 0 and 100")
        elif self.crash_percent and not self.durable:
            problems.append("crash_percent needs a durable world (durable=True)")
        if problems:
            raise LocalProtocolError(codes.SIM_WORLD_SHAPE_INVALID, "; ".join(problems))


DEFAULT_SHAPE: Final = WorldShape()


def _draw_process(source: ChoiceSource, shape: WorldShape, faulty: bool) -> ProcessPlan:
    latency = shape.max_latency_ms
    waits = tuple(pick(source, SIGNAL_NAMES) for _ in range(integer(source, 1, 2)))
    wait_ms = integer(source, 0, latency)
    # The first signal is plainly sent once the process waits; sometimes before it waits.
    early = chance(source, EARLY_SIGNAL_PERCENT)
    # (A latency of 0 still sends a late first signal 1 ms after the wait begins.)
    late = max(latency, 1)
    instants = [integer(source, 0, wait_ms) if early else wait_ms + integer(source, 1, late)]
    for _ in waits[1:]:
        instants.append(instants[-1] + integer(source, 1, latency + 1))
    signal_ms = tuple(at + shape.offset_ms for at in instants)
    cancel = integer(source, 0, 2 * latency) + shape.offset_ms if faulty else None
    return ProcessPlan(waits, wait_ms, signal_ms, cancel)


def _draw_tool(source: ChoiceSource, shape: WorldShape) -> ToolPlan:
    faulty = chance(source, shape.fault_percent)
    # One roll: the top PENDING_PERCENT answer pending, the PROCESS_PERCENT below start a
    # process (so worlds without processes draw exactly as they did before processes).
    roll = source.below(100)
    if roll >= 100 - PENDING_PERCENT:
        kind = "pending"
    elif roll >= 100 - PENDING_PERCENT - PROCESS_PERCENT:
        latency = integer(source, 0, shape.max_latency_ms)
        return ToolPlan("process", latency, process=_draw_process(source, shape, faulty))
    elif faulty:
        kind = pick(source, FAULTY_TOOL_KINDS)
    else:
        kind = pick(source, TOOL_KINDS)
    latency = integer(source, 0, shape.max_latency_ms)
    if kind != "pending":
        return ToolPlan(kind, latency)
    deadline = integer(source, 2, 4 * shape.max_latency_ms + 2)
    resolver = pick(source, RESOLVERS[1:]) if faulty else "on_time"
    if resolver == "late":
        resolve = deadline + integer(source, 1, shape.max_latency_ms + 1)
    else:
        resolve = integer(source, 1, deadline - 1)
    return ToolPlan(kind, latency, resolver, resolve, deadline, chance(source, 25))


def _draw_step(source: ChoiceSource, shape: WorldShape, last: bool) -> ModelStep:
    kinds = MODEL_KINDS[:1] if last else MODEL_KINDS[:2]
    kind = pick(source, MODEL_KINDS) if chance(source, shape.fault_percent) else pick(source, kinds)
    latency = integer(source, 0, shape.max_latency_ms)
    tokens = integer(source, 1, 50)
    tools: tuple[ToolPlan, ...] = ()
    if kind == "tools":
        count = integer(source, 1, shape.max_tools)
        tools = tuple(_draw_tool(source, shape) for _ in range(count))
    return ModelStep(kind, latency, tokens, tools)


def _instant(source: ChoiceSource, shape: WorldShape, horizon: int) -> float | None:
    if not chance(source, shape.fault_percent // 2):
        return None
    return integer(source, 0, horizon) + shape.offset_ms


def draw_world(source: ChoiceSource, shape: WorldShape = DEFAULT_SHAPE) -> WorldPlan:
    """A world plan drawn from ``source`` (all zeros: one session, one turn answered at once)."""
    # Cancels and revocations land while a turn is likely still running.
    horizon = shape.max_latency_ms * (shape.max_steps + 1)
    sessions = []
    for number in range(integer(source, 1, shape.max_sessions)):
        turns = []
        for _ in range(integer(source, 1, shape.max_turns)):
            count = integer(source, 1, shape.max_steps)
            steps = tuple(_draw_step(source, shape, i == count - 1) for i in range(count))
            cancel = _instant(source, shape, horizon)
            deliver = chance(source, 30)
            controlled = chance(source, 25)
            by_request = controlled and cancel is not None and chance(source, 50)
            turns.append(TurnPlan(steps, cancel, deliver, controlled, by_request))
        start = integer(source, 0, shape.max_latency_ms)
        revoke = _instant(source, shape, start + horizon * len(turns))
        sessions.append(SessionPlan(f"s{number}", start, tuple(turns), revoke))
    plan = WorldPlan(tuple(sessions))
    if not shape.durable:
        return plan
    plan = _durable_only(plan)
    return attrs.evolve(plan, crashes=_draw_crashes(source, shape, plan))


MAX_CRASHES: Final = 3
"""At most this many host crashes in a durable world."""
CRASH_DOWN_MS: Final = 12_000
"""A crashed host stays down at most this long (virtual ms): often past the lease ttl of the
host that crashed (:data:`lash_core.sim.durable.LEASE_TTL_MS`), sometimes well within it."""


def _durable_only(plan: WorldPlan) -> WorldPlan:
    """``plan`` without what a durable world does not simulate: a tool starting a background
    process answers plainly, and there are no cancels, turn control or revocations."""

    def tool(t: ToolPlan) -> ToolPlan:
        return ToolPlan("ok", t.latency_ms) if t.kind == "process" else t

    def turn(t: TurnPlan) -> TurnPlan:
        steps = tuple(attrs.evolve(s, tools=tuple(map(tool, s.tools))) for s in t.steps)
        return TurnPlan(steps, None, t.deliver, False, False)

    sessions = tuple(
        SessionPlan(s.session_id, s.start_ms, tuple(map(turn, s.turns)), None)
        for s in plan.sessions
    )
    return WorldPlan(sessions)


def _draw_crashes(
    source: ChoiceSource, shape: WorldShape, plan: WorldPlan
) -> tuple[CrashPlan, ...]:
    horizon = shape.max_latency_ms * (shape.max_steps + 1) * shape.max_turns + 1
    crashes = []
    for _ in range(MAX_CRASHES):
        if not chance(source, shape.crash_percent):
            continue
        down = integer(source, 0, CRASH_DOWN_MS) if chance(source, 50) else integer(source, 0, 20)
        if chance(source, 50):
            crashes.append(CrashPlan(at_ms=integer(source, 0, horizon) + 0.5, down_ms=down))
        else:
            after = integer(source, 1, plan.size)
            crashes.append(CrashPlan(after_outcomes=after, down_ms=down))
    return tuple(crashes)
