"""Running a simulated world: sessions of turns against a scripted model, tools and external
resolvers.

The plan a world runs (a :class:`~lash_core.sim.plan.WorldPlan`, drawn by
:func:`~lash_core.sim.plan.draw_world`: each model call's answer, each tool's behaviour and each
external resolver's timing, cancels, revocations) lives in :mod:`lash_core.sim.plan`, the
:class:`Recorder` in :mod:`lash_core.sim.recorder` and the background processes in
:mod:`lash_core.sim.processes`; their public names are re-exported here. A missed deadline may
fail the turn.

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
    CheckpointDelivery,
    Duration,
    ExecResponse,
    PendingCompletion,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.errors import LashError
from lash_core.host import CancelToken, InlineHost, TaskGroup
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process import ProcessRunner
from lash_core.resolution import Resolution, ResolveOutcome, ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.sim.plan import CRASH_DOWN_MS as CRASH_DOWN_MS
from lash_core.sim.plan import DEFAULT_SHAPE as DEFAULT_SHAPE
from lash_core.sim.plan import EARLY_SIGNAL_PERCENT as EARLY_SIGNAL_PERCENT
from lash_core.sim.plan import FAULTY_TOOL_KINDS as FAULTY_TOOL_KINDS
from lash_core.sim.plan import MAX_CRASHES as MAX_CRASHES
from lash_core.sim.plan import MAX_LATENCY_MS as MAX_LATENCY_MS
from lash_core.sim.plan import MODEL_KINDS as MODEL_KINDS
from lash_core.sim.plan import PATIENCE_FACTOR as PATIENCE_FACTOR
from lash_core.sim.plan import PENDING_PERCENT as PENDING_PERCENT
from lash_core.sim.plan import PROCESS_KIND as PROCESS_KIND
from lash_core.sim.plan import PROCESS_PATIENCE_S as PROCESS_PATIENCE_S
from lash_core.sim.plan import PROCESS_PERCENT as PROCESS_PERCENT
from lash_core.sim.plan import RESOLVERS as RESOLVERS
from lash_core.sim.plan import SIGNAL_NAMES as SIGNAL_NAMES
from lash_core.sim.plan import TOOL_KINDS as TOOL_KINDS
from lash_core.sim.plan import CrashPlan as CrashPlan
from lash_core.sim.plan import ModelStep as ModelStep
from lash_core.sim.plan import ProcessPlan as ProcessPlan
from lash_core.sim.plan import SessionPlan as SessionPlan
from lash_core.sim.plan import ToolPlan as ToolPlan
from lash_core.sim.plan import TurnPlan as TurnPlan
from lash_core.sim.plan import WorldPlan as WorldPlan
from lash_core.sim.plan import WorldShape as WorldShape
from lash_core.sim.plan import draw_world as draw_world
from lash_core.sim.processes import process_log, run_process, start_and_await
from lash_core.sim.processes import process_patience_s as process_patience_s
from lash_core.sim.recorder import Recorder as Recorder
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

FORGER: Final = KeySigner(b"lash-sim-forger-secret-0123456789")
"""Signs forged keys: same scope and wait as a real key, a secret the host never had."""


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
            output["process"] = await start_and_await(self, envelope, call.call_id, plan)
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
    run = functools.partial(run_process, recorder, patience)
    runner = ProcessRunner(host, {PROCESS_KIND: run})
    async with runner.running():
        async with host.primitives.open_task_group() as group:
            for session in plan.sessions:
                group.start(functools.partial(_run_session, host, recorder, group, session))
                if session.revoke_at_ms is not None:
                    group.start(functools.partial(_revoke_later, host, recorder, session))
        process_log(host, recorder)
