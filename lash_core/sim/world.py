"""A simulated world: sessions of turns against a scripted model, tools and external resolvers.

A :class:`WorldPlan` is plain data drawn from a :class:`~lash_core.sim.choices.ChoiceSource`
(:func:`draw_world`): how many sessions, when each starts, its turns; for each model call what it
answers (a final answer, tool calls, a retryable or non-retryable error, an output limit) and how
long it takes; for each tool call its latency and behaviour (succeeds, fails once, raises, runs
code that succeeds or fails, or answers *pending* and is completed later by an external resolver
that is on time, late, resolves twice, or first presents a forged or tampered key; a missed
deadline may fail the turn); checkpoints after each tool round that may deliver a follow-up
message; cancel requests and session revocations at chosen instants.

A turn may run under turn control (its cancel gate is read first, settled as it finishes, and
its terminal published); its cancel is then either the ``run_turn`` token or a request through
the gate (:func:`~lash_core.turn.request_cancel`), and the gate's winner is recorded once the
turn has ended. A session's revocation makes its controlled turns fail to commit
(``turn_control_unknown_or_revoked``), recorded as ``turn_failed``.

A tool call may start a background process (a :class:`ProcessPlan`) through the host's process
API and await its terminal. The process waits for one or two named signals; a sender signals it
at chosen instants (sometimes before it waits), and its cancel may be requested at a chosen
instant. A :class:`~lash_core.process.ProcessRunner` runs the world's processes for the world's
lifetime, and the world ends once every process has its terminal.

:func:`run_world` runs a plan on any :class:`~lash_core.host.InlineHost` (the simulator's, trio's
or asyncio's): it awaits only the host's loop primitives and drives every turn with the core's
own :func:`~lash_core.turn.run_turn`. Everything that happens is written to a
:class:`Recorder` as plain JSON records; the oracles (:mod:`lash_core.sim.oracles`) judge those
records without looking inside the implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

import attrs

from lash_core import codes
from lash_core.effects import (
    AwaitEventCommand,
    CheckpointOutcome,
    EffectEnvelope,
    EffectOutcome,
    ExecCodeCommand,
    ExecCodeOutcome,
    LlmCallError,
    LlmCallOutcome,
    LlmResponse,
    Message,
    ProcessEffectCommand,
    ProcessOutcome,
    Role,
    StopReason,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolSpec,
    Usage,
)
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCancel,
    ProcessCommand,
    ProcessEffectOutcome,
    ProcessStart,
)
from lash_core.effects.replay_keys import process_effect_invocation
from lash_core.effects.tools import (
    CheckpointDelivery,
    Duration,
    ExecResponse,
    PendingCompletion,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import CancelToken, InlineHost, ProcessExecutor, TaskGroup
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process import ProcessContext, ProcessRunner, signal_event_type, signal_request
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessStartGrant,
)
from lash_core.process.records import (
    EngineInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SessionScope,
)
from lash_core.resolution import Resolution, ResolveOutcome, ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.sim.choices import ChoiceSource, chance, integer, pick
from lash_core.turn import (
    CancelAlreadyRequested,
    CancelRequested,
    GateCancelRequested,
    RetryPolicy,
    TurnAddress,
    TurnCancelRequest,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnMachine,
    decode_gate,
    gate_key,
    request_cancel,
)
from lash_core.turn.run import TurnHooks, TurnRunner
from lash_core.wire import Err, JsonValue, Ok, to_wire

__all__ = [
    "DEFAULT_SHAPE",
    "MAX_LATENCY_MS",
    "CrashPlan",
    "ModelStep",
    "ProcessPlan",
    "Recorder",
    "SessionPlan",
    "ToolPlan",
    "TurnPlan",
    "WorldPlan",
    "WorldShape",
    "draw_world",
    "process_patience_s",
    "run_world",
    "world_config",
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

FORGER: Final = KeySigner(b"lash-sim-forger-secret-0123456789")
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


# -- recording -------------------------------------------------------------------------------


class Recorder:
    """The world's trace: plain JSON records, each stamped with the virtual time ``at`` in
    microseconds since the world started. ``envelopes`` keeps every envelope handed out, by
    ``(session, turn)`` (the trace names them by replay key only)."""

    __slots__ = ("_batch", "_now", "_records", "_start", "envelopes")

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._start = now()
        self._records: list[dict[str, Any]] = []
        self._batch: tuple[int, dict[str, Any], list[str | None]] | None = None
        self.envelopes: dict[tuple[str, str], list[EffectEnvelope]] = {}

    @property
    def records(self) -> list[dict[str, Any]]:
        self._flush()
        return self._records

    def at(self) -> int:
        return round((self._now() - self._start) * 1_000_000)

    def add(self, ev: str, **fields: Any) -> None:
        self._flush()
        self._records.append({"at": self.at(), "ev": ev, **fields})

    def emit(self, envelope: EffectEnvelope, where: dict[str, Any]) -> None:
        """One envelope of a batch a turn (``where``) handed out. A turn's runner reports a
        batch's envelopes one after the other, before anything else happens, so they are
        written as one ``emit`` record (at the time of the first) before the next record."""
        batch = self._batch
        if batch is None or batch[1] is not where:
            self._flush()
            batch = self._batch = (self.at(), where, [])
        batch[2].append(envelope.replay_key)
        self.envelopes.setdefault((where["session"], where["turn"]), []).append(envelope)

    def _flush(self) -> None:
        batch = self._batch
        if batch is not None:
            self._batch = None
            at, where, keys = batch
            self._records.append({"at": at, "ev": "emit", "keys": keys, **where})


class _TurnObserver(TurnHooks):
    """Records a turn's batches (``emit``) and its effects' outcomes (``effect``) through the
    runner's hooks."""

    __slots__ = ("_recorder", "_where")

    def __init__(self, recorder: Recorder, where: dict[str, Any]) -> None:
        self._recorder = recorder
        self._where = where

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        self._recorder.emit(envelope, self._where)
        return None

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        command = envelope.command
        extra = {}
        if isinstance(command, AwaitEventCommand) and isinstance(command.key.wait, ToolCompletion):
            extra["call"] = command.key.wait.tool_call_id
        self._recorder.add(
            "effect",
            key=envelope.replay_key,
            kind=command.kind.value,
            outcome=to_wire(outcome),
            **extra,
            **self._where,
        )


def world_config() -> TurnConfig:
    """The configuration every simulated turn runs with (short retry delays, one tool
    retry)."""
    return TurnConfig(
        model="sim-model",
        tools=(ToolSpec("work", "Does some work.", {"type": "object"}),),
        max_iterations=6,
        checkpoint_after_work=True,
        code_tool_name="code",
        model_retry=RetryPolicy(max_attempts=2, base_delay_ms=3, max_delay_ms=3),
        tool_retry=RetryPolicy(max_attempts=2, base_delay_ms=2, max_delay_ms=2),
    )


def _tamper(key: AwaitEventKey) -> AwaitEventKey:
    last = key.signature[-1:]
    return attrs.evolve(key, signature=key.signature[:-1] + ("1" if last == "0" else "0"))


@attrs.define
class _Turn:
    """One running turn's handlers and bookkeeping."""

    host: InlineHost
    recorder: Recorder
    group: TaskGroup
    session_id: str
    turn_id: str
    plan: TurnPlan
    step: int = 0
    tools: dict[str, ToolPlan] = attrs.Factory(dict)
    delivered: bool = False

    def _where(self) -> dict[str, Any]:
        return {"session": self.session_id, "turn": self.turn_id}

    def _ran(self, envelope: EffectEnvelope, kind: str) -> None:
        """Record that a handler runs ``envelope``."""
        self.recorder.add("handler", key=envelope.replay_key, kind=kind, **self._where())

    def _next_step(self, envelope: EffectEnvelope) -> int:
        """The index of the model step ``envelope`` (a model call) answers."""
        iteration = self.step
        self.step += 1
        return iteration

    def _start_resolver(self, call_id: str, key: AwaitEventKey, plan: ToolPlan) -> None:
        self.group.start(functools.partial(self.resolver, call_id, key, plan))

    def _delivers(self, envelope: EffectEnvelope) -> bool:
        """Whether this checkpoint delivers the turn's follow-up message."""
        if not self.plan.deliver or self.delivered:
            return False
        self.delivered = True
        return True

    async def model(self, envelope: EffectEnvelope) -> EffectOutcome:
        self._ran(envelope, "llm_call")
        steps = self.plan.steps
        iteration = self._next_step(envelope)
        step = steps[iteration] if iteration < len(steps) else ModelStep()
        loop = self.host.primitives
        await loop.sleep(step.latency_ms / 1000)
        usage = Usage(step.tokens, step.tokens)
        if step.kind == "retryable":
            return LlmCallOutcome(Err(LlmCallError("overloaded", True, code="overloaded")), False)
        if step.kind == "fatal":
            error = LlmCallError("bad request", False, code="invalid_request")
            return LlmCallOutcome(Err(error), False)
        text = f"answer from {self.session_id}/{self.turn_id}"
        if step.kind == "tools":
            parts = []
            for index, tool in enumerate(step.tools):
                call_id = f"{self.turn_id}-m{iteration}-c{index}"
                self.tools[call_id] = tool
                if tool.kind.startswith("code"):
                    parts.append(ToolCallPart(call_id, "code", {"code": call_id}))
                else:
                    parts.append(ToolCallPart(call_id, "work", {"session": self.session_id}))
            message = Message(Role.ASSISTANT, tuple(parts))
            return LlmCallOutcome(Ok(LlmResponse(message, usage, StopReason.TOOL_USE)), False)
        stop = StopReason.OUTPUT_LIMIT if step.kind == "output_limit" else StopReason.STOP
        message = Message(Role.ASSISTANT, (TextPart(text),))
        return LlmCallOutcome(Ok(LlmResponse(message, usage, stop)), False)

    async def tool(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call = command.call
        attempt = command.attempt
        self._ran(envelope, "tool_attempt")
        plan = self.tools[call.call_id]
        await self.host.primitives.sleep(plan.latency_ms / 1000)
        output: dict[str, JsonValue] = {**self._where(), "call": call.call_id, "attempt": attempt}
        first = attempt == 1
        if plan.kind == "raise" and first:
            raise RuntimeError(f"tool {call.call_id} crashed")
        if plan.kind == "process":
            output["process"] = await _start_and_await(self, envelope, call.call_id, plan)
        if plan.kind == "pending" and first:
            scope = TurnScope(self.session_id, self.turn_id)
            key = self.host.await_event_key(scope, ToolCompletion(call.call_id))
            self._start_resolver(call.call_id, key, plan)
            policy = TimeoutPolicy.FAIL_TURN if plan.fail_turn else TimeoutPolicy.ERROR_AS_RESULT
            pending = PendingCompletion(Duration.from_ms(plan.deadline_ms), policy)
            return ToolAttemptOutcome(ToolLaunchPending(key, pending, plan.latency_ms))
        success = not (plan.kind == "fail" and first)
        record = ToolCallRecord(
            call.call_id,
            call.tool_name,
            call.args,
            output,
            output,
            plan.latency_ms,
            attempt,
            success,
        )
        return ToolAttemptOutcome(ToolAttemptLaunchDone(record))

    async def code(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, ExecCodeCommand)
        self._ran(envelope, "exec_code")
        plan = self.tools[command.code]
        await self.host.primitives.sleep(plan.latency_ms / 1000)
        if plan.kind == "code_error":
            return ExecCodeOutcome(Err(f"{command.code} failed"))
        response = ExecResponse(f"ran {command.code}", {**self._where(), "call": command.code})
        return ExecCodeOutcome(Ok(response))

    async def checkpoint(self, envelope: EffectEnvelope) -> EffectOutcome:
        self._ran(envelope, "checkpoint")
        if not self._delivers(envelope):
            return CheckpointOutcome(Ok(CheckpointDelivery()))
        follow_up = Message(Role.USER, (TextPart(f"follow-up from {self.session_id}"),))
        return CheckpointOutcome(Ok(CheckpointDelivery(committed_user_messages=(follow_up,))))

    def _resolve_key(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        return self.host.resolve_await_event(key, resolution)

    def _peek_key(self, key: AwaitEventKey) -> Resolution | None:
        return self.host.peek_await_event(key)

    def _resolve(self, call_id: str, how: str, key: AwaitEventKey, real: AwaitEventKey) -> None:
        resolution: Resolution = ok({**self._where(), "call": call_id, "by": how})
        before = self._peek(real)
        outcome = self._resolve_key(key, resolution)
        after = self._peek(real)
        self.recorder.add(
            "resolve",
            call=call_id,
            how=how,
            resolution=to_wire(resolution),
            outcome=to_wire(outcome),
            before=before,
            after=after,
            **self._where(),
        )

    def _peek(self, key: AwaitEventKey) -> Any:
        try:
            terminal = self._peek_key(key)
        except LashError as exc:
            return exc.code
        return None if terminal is None else to_wire(terminal)

    async def resolver(self, call_id: str, key: AwaitEventKey, plan: ToolPlan) -> None:
        loop = self.host.primitives
        await loop.sleep(plan.resolve_ms / 1000)
        if plan.resolver == "never":
            return
        if plan.resolver == "forged":
            self._resolve(call_id, "forged", FORGER.mint(key.scope, key.wait), key)
        elif plan.resolver == "tampered":
            self._resolve(call_id, "tampered", _tamper(key), key)
        self._resolve(call_id, "first" if plan.resolver == "twice" else "real", key, key)
        if plan.resolver == "twice":
            await loop.sleep(0.001)
            self._resolve(call_id, "second", key, key)


# -- background processes -------------------------------------------------------------------


async def _process_effect(
    host: InlineHost, session_id: str, command: ProcessCommand, parent: EffectEnvelope | None
) -> ProcessEffectOutcome:
    """Run ``command`` as a ``process`` effect (a child of ``parent``, if given)."""
    invocation = process_effect_invocation(
        session_id, command.effect_id, None if parent is None else parent.invocation
    )
    envelope = EffectEnvelope.build(invocation, ProcessEffectCommand(command))
    outcome = await host.execute_effect(envelope, ProcessExecutor())
    assert isinstance(outcome, ProcessOutcome)
    return outcome.result


def _registration(pid: str, session_id: str, plan: ProcessPlan) -> ProcessRegistration:
    payload: JsonValue = {"session": session_id, "waits": list(plan.waits), "wait_ms": plan.wait_ms}
    return ProcessRegistration(
        id=pid,
        input=EngineInput(PROCESS_KIND, payload),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity(PROCESS_KIND),
        event_types=tuple(ProcessEventType(signal_event_type(n)) for n in SIGNAL_NAMES),
        provenance=ProcessProvenance(HostOriginator()),
        env_ref="env:sim",
    )


async def _start_and_await(
    turn: _Turn, envelope: EffectEnvelope, pid: str, tool: ToolPlan
) -> JsonValue:
    """Start ``tool``'s process, schedule its signals and cancel, and await its terminal."""
    plan = tool.process
    assert plan is not None
    host, recorder, session = turn.host, turn.recorder, turn.session_id
    where = turn._where()
    recorder.add("process_start", pid=pid, waits=list(plan.waits), **where)
    grant = ProcessStartGrant(SessionScope(session), HandleDescriptor("sim"))
    start = ProcessStart(_registration(pid, session, plan), grant)
    # The world's tasks that signal, cancel and watch the process start first: they begin
    # once the start below has registered the process (it does before it yields), and they
    # outlive this call, so a turn cancelled as the start returns leaves no process waiting.
    group = turn.group
    group.start(functools.partial(_watch_process, host, recorder, pid, session))
    group.start(functools.partial(_send_signals, host, recorder, session, pid, plan))
    if plan.cancel_at_ms is not None:
        group.start(
            functools.partial(_cancel_process, host, recorder, session, pid, plan.cancel_at_ms)
        )
    await _process_effect(host, session, start, envelope)
    awaited = await _process_effect(host, session, ProcessAwait(pid), envelope)
    assert isinstance(awaited, ProcessAwaited)
    output: JsonValue = to_wire(awaited.output)
    recorder.add("process_awaited", pid=pid, output=output, **where)
    return output


async def _send_signals(
    host: InlineHost, recorder: Recorder, session: str, pid: str, plan: ProcessPlan
) -> None:
    """Send one signal for each of the process's waits, at their instants (after the start)."""
    loop = host.primitives
    previous = 0.0
    for number, (name, at_ms) in enumerate(zip(plan.waits, plan.signal_ms, strict=True), 1):
        await loop.sleep((at_ms - previous) / 1000)
        previous = at_ms
        record = host.processes.registry.record(pid)
        wait = record.wait
        waiting = wait.kind.ordinal if wait is not None and wait.kind.name == name else None
        payload: JsonValue = {"session": session, "signal": f"{pid}/{number}"}
        recorder.add(
            "signal",
            pid=pid,
            name=name,
            payload=payload,
            waiting=waiting,
            state=record.status.state,
            session=session,
        )
        await _process_effect(host, session, signal_request(pid, name, str(number), payload), None)


async def _cancel_process(
    host: InlineHost, recorder: Recorder, session: str, pid: str, at_ms: float
) -> None:
    await host.primitives.sleep(at_ms / 1000)
    state = host.processes.registry.record(pid).status.state
    recorder.add("process_cancel", pid=pid, state=state, session=session)
    await _process_effect(host, session, ProcessCancel(pid, "sim"), None)


async def _watch_process(host: InlineHost, recorder: Recorder, pid: str, session: str) -> None:
    """Record the process's terminal once it is written."""
    output = await host.processes.await_terminal(pid)
    recorder.add("process_end", pid=pid, output=to_wire(output), session=session)


def process_patience_s(plan: WorldPlan) -> float:
    """How long (virtual seconds) a process of ``plan`` waits for a signal before it gives up.

    Every planned signal must arrive well within it, so that only a lost signal makes a process
    fail: :data:`PATIENCE_FACTOR` times the latest planned signal instant (measured from the
    process's start, as its waits are), and never less than :data:`PROCESS_PATIENCE_S`. Worlds
    of the default shape never come near that floor, so their traces do not depend on it."""
    latest = 0.0
    for session in plan.sessions:
        for turn in session.turns:
            for step in turn.steps:
                for tool in step.tools:
                    if tool.process is not None and tool.process.signal_ms:
                        latest = max(latest, tool.process.signal_ms[-1])
    return max(PROCESS_PATIENCE_S, PATIENCE_FACTOR * latest / 1000)


async def _run_process(recorder: Recorder, patience_s: float, ctx: ProcessContext) -> JsonValue:
    """A simulated process: sleeps, then waits for its signals in order, recording each wait
    and what it resumed with; returns the payloads it got. Each wait gives up after
    ``patience_s``."""
    spec = ctx.input
    assert isinstance(spec, EngineInput) and isinstance(spec.payload, dict)
    session = spec.payload["session"]
    waits = spec.payload["waits"]
    wait_ms = spec.payload["wait_ms"]
    assert isinstance(session, str) and isinstance(waits, list) and isinstance(wait_ms, int)
    where = {"pid": ctx.process_id, "session": session}
    await ctx.sleep(wait_ms / 1000)
    got: list[JsonValue] = []
    ordinals: dict[str, int] = {}
    for name in waits:
        assert isinstance(name, str)
        ordinal = ordinals[name] = ordinals.get(name, 0) + 1
        recorder.add("process_wait", name=name, ordinal=ordinal, **where)
        payload = await ctx.wait_signal(name, timeout=patience_s)
        recorder.add("process_resumed", name=name, ordinal=ordinal, payload=payload, **where)
        got.append(payload)
    return {"session": session, "got": got}


def _process_log(host: InlineHost, recorder: Recorder) -> None:
    """Record each process's terminal events, read from its log once the world has ended."""
    registry = host.processes.registry
    for record in registry.list_processes():
        terminals = [
            e.event_type for e in registry.events(record.id) if e.semantics.terminal is not None
        ]
        recorder.add("process_log", pid=record.id, terminals=terminals)


async def _cancel_later(
    recorder: Recorder, loop: Any, at_ms: float, token: CancelToken, where: dict[str, Any]
) -> None:
    await loop.sleep(at_ms / 1000)
    recorder.add("cancel", **where)
    token.cancel()


async def _request_cancel_later(
    host: InlineHost, recorder: Recorder, at_ms: float, address: TurnAddress, where: dict[str, Any]
) -> None:
    await host.primitives.sleep(at_ms / 1000)
    request = TurnCancelRequest(address, f"stop-{address.turn_id}", origin="sim")
    receipt = request_cancel(host, request)
    won = isinstance(receipt.outcome, CancelRequested | CancelAlreadyRequested)
    recorder.add("cancel" if won else "cancel_refused", receipt=to_wire(receipt.outcome), **where)


def _record_gate(host: InlineHost, recorder: Recorder, address: TurnAddress, where: Any) -> None:
    """Record which side won the ended turn's cancel gate (nothing if its session is revoked)."""
    try:
        terminal = host.peek_await_event(gate_key(host, address))
    except LashError:
        return
    if terminal is not None:
        winner = decode_gate(terminal)
        side = "cancel" if isinstance(winner, GateCancelRequested) else "completion"
        recorder.add("gate", winner=side, **where)


async def _run_session(
    host: InlineHost, recorder: Recorder, group: TaskGroup, session: SessionPlan
) -> None:
    loop = host.primitives
    config = world_config()
    await loop.sleep(session.start_ms / 1000)
    history: tuple[Message, ...] = ()
    for index, plan in enumerate(session.turns):
        turn_id = f"{session.session_id}-t{index}"
        turn = _Turn(host, recorder, group, session.session_id, turn_id, plan)
        where = turn._where()
        question = Message(Role.USER, (TextPart(f"question from {session.session_id}"),))
        address = TurnAddress(session.session_id, turn_id)
        gate = None
        if plan.controlled:
            try:
                gate = gate_key(host, address)
            except LashError as exc:  # the session is already revoked
                recorder.add("turn_failed", code=exc.code, **where)
                continue
        machine = TurnMachine(
            config,
            session_id=session.session_id,
            turn_id=turn_id,
            turn_index=index,
            messages=(*history, question),
            cancel_gate=gate,
        )

        def on_event(event: TurnEvent, where: dict[str, Any] = where) -> None:
            recorder.add("event", event=to_wire(event), **where)

        token = CancelToken()
        canceller = None
        if plan.cancel_at_ms is not None and plan.cancel_by_request:
            canceller = group.start(
                functools.partial(
                    _request_cancel_later, host, recorder, plan.cancel_at_ms, address, where
                )
            )
        elif plan.cancel_at_ms is not None:
            canceller = group.start(
                functools.partial(_cancel_later, recorder, loop, plan.cancel_at_ms, token, where)
            )
        recorder.add("turn_start", **where)
        handlers = TurnHandlers(
            model=turn.model, tools=turn.tool, code=turn.code, checkpoint=turn.checkpoint
        )
        try:
            runner = TurnRunner(
                machine,
                host,
                handlers,
                hooks=_TurnObserver(recorder, where),
                on_event=on_event,
                cancel=token,
            )
            result = await runner.run()
        except LashError as exc:
            # Only a controlled turn of a revoked session: it cannot read or settle its gate.
            if gate is None or exc.code not in _REVOKED_CONTROL:
                raise
            recorder.add("turn_failed", code=exc.code, **where)
            if canceller is not None:
                canceller.cancel()
            continue
        recorder.add("turn_end", result=to_wire(result), **where)
        if canceller is not None:
            canceller.cancel()
        if gate is not None:
            _record_gate(host, recorder, address, where)
        history = result.messages


_REVOKED_CONTROL: Final = frozenset(
    {codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, codes.TURN_CONTROL_UNKNOWN_OR_REVOKED}
)


async def _revoke_later(host: InlineHost, recorder: Recorder, session: SessionPlan) -> None:
    assert session.revoke_at_ms is not None
    await host.primitives.sleep(session.revoke_at_ms / 1000)
    newly = host.revoke_await_events_for_session(session.session_id)
    recorder.add("revoke", session=session.session_id, newly=newly)


async def run_world(plan: WorldPlan, host: InlineHost, recorder: Recorder) -> None:
    """Run every session of ``plan`` concurrently on ``host``, recording into ``recorder``.

    A process runner runs the world's background processes for the world's lifetime; the
    world ends once every session, signal sender, canceller and process has finished."""
    patience = process_patience_s(plan)
    run = functools.partial(_run_process, recorder, patience)
    runner = ProcessRunner(host, {PROCESS_KIND: run})
    async with runner.running():
        async with host.primitives.open_task_group() as group:
            for session in plan.sessions:
                group.start(functools.partial(_run_session, host, recorder, group, session))
                if session.revoke_at_ms is not None:
                    group.start(functools.partial(_revoke_later, host, recorder, session))
        _process_log(host, recorder)
