"""A scripted model/tool world for driving turn machines in tests.

``World`` answers every envelope a turn emits with plain data: model responses are consumed in
order, tool attempts are looked up by ``(call_id, attempt)``, pending completions by call id,
checkpoint deliveries and sync results in order. ``drive`` runs a machine to the end, feeding
outcomes in an order and chunking chosen by a ``Chooser`` (in order, all at once by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import attrs

from lash_core import (
    AwaitEventKey,
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    Err,
    KeySigner,
    LlmCallOutcome,
    LlmResponse,
    Message,
    NeedOutcomes,
    Ok,
    PendingCompletion,
    Resolution,
    Role,
    RunEffects,
    StopReason,
    TextPart,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolCompletion,
    ToolLaunchPending,
    TurnConfig,
    TurnEvent,
    TurnFinished,
    TurnMachine,
    TurnResult,
    TurnScope,
    Usage,
)
from lash_core.effects import (
    AwaitEventCommand,
    AwaitEventOutcome,
    CheckpointCommand,
    CheckpointOutcome,
    ControllerError,
    ExecCodeCommand,
    ExecCodeOutcome,
    LlmCallError,
    PeekAwaitEventCommand,
    PeekAwaitEventOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptCommand,
    validate_envelope,
)
from lash_core.effects.tools import (
    CheckpointDelivery,
    Duration,
    ExecResponse,
    ExecutionEnvironmentSync,
    TimeoutPolicy,
    ToolAttemptLaunch,
    ToolAttemptLaunchDone,
    ToolCallRecord,
)
from lash_core.scope import TurnCancelGate
from lash_core.wire import Result, canonical_json

SESSION: Final = "s"
TURN: Final = "t"
USAGE: Final = Usage(10, 5)
SIGNER: Final = KeySigner(b"turn-tests-secret-0123456789abcdef")


def user(text: str) -> Message:
    return Message(Role.USER, (TextPart(text),))


def answer(text: str, usage: Usage = USAGE) -> Result[LlmResponse, LlmCallError]:
    """A final answer."""
    return Ok(LlmResponse(Message(Role.ASSISTANT, (TextPart(text),)), usage, StopReason.STOP))


def calls(*specs: tuple[str, str], usage: Usage = USAGE) -> Result[LlmResponse, LlmCallError]:
    """A response calling tools: ``(call_id, tool_name)`` pairs, args ``{"n": call_id}``."""
    parts = tuple(ToolCallPart(cid, name, {"n": cid}) for cid, name in specs)
    return Ok(LlmResponse(Message(Role.ASSISTANT, parts), usage, StopReason.TOOL_USE))


def code_call(call_id: str, code: str) -> Result[LlmResponse, LlmCallError]:
    part = ToolCallPart(call_id, "code", {"code": code})
    return Ok(LlmResponse(Message(Role.ASSISTANT, (part,)), Usage(1, 1), StopReason.TOOL_USE))


def llm_error(retryable: bool) -> Result[LlmResponse, LlmCallError]:
    return Err(LlmCallError("overloaded", retryable, code="overloaded"))


def done(
    call_id: str, attempt: int, *, success: bool = True, output: object = None
) -> ToolAttemptLaunchDone:
    out = output if output is not None else f"out:{call_id}:{attempt}"
    record = ToolCallRecord(call_id, "tool", {}, out, out, 7, attempt, success)  # type: ignore[arg-type]
    return ToolAttemptLaunchDone(record)


GATE_KEY: Final = SIGNER.mint(TurnScope(SESSION, TURN), TurnCancelGate())


def key_for(call_id: str) -> AwaitEventKey:
    return SIGNER.mint(TurnScope(SESSION, TURN), ToolCompletion(call_id))


def pending(
    call_id: str,
    deadline_ms: int | None = 5000,
    on_timeout: TimeoutPolicy = TimeoutPolicy.ERROR_AS_RESULT,
) -> ToolLaunchPending:
    deadline = None if deadline_ms is None else Duration.from_ms(deadline_ms)
    return ToolLaunchPending(key_for(call_id), PendingCompletion(deadline, on_timeout), 3)


def key_of(envelope: EffectEnvelope) -> str:
    key = envelope.replay_key
    assert key is not None
    return key


@attrs.define
class World:
    """Scripted answers. Unscripted model calls answer ``fallback``, unscripted tool attempts
    succeed, unscripted checkpoints deliver nothing, unscripted syncs change nothing."""

    llm: list[Result[LlmResponse, LlmCallError]]
    tools: dict[tuple[str, int], ToolAttemptLaunch] = attrs.Factory(dict)
    completions: dict[str, Resolution] = attrs.Factory(dict)
    checkpoints: list[Result[CheckpointDelivery, ControllerError]] = attrs.Factory(list)
    syncs: list[Result[ExecutionEnvironmentSync | None, str]] = attrs.Factory(list)
    controlled: bool = False
    """The turn runs under turn control: it reads its cancel gate first."""
    gate: Resolution | None = None
    """What the cancel gate holds when the turn starts."""

    def respond(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        kind = envelope.kind
        if kind is EffectKind.LLM_CALL:
            return LlmCallOutcome(self.llm.pop(0) if self.llm else answer("fallback"), False)
        if kind is EffectKind.SLEEP:
            return SleepOutcome()
        if isinstance(command, ToolAttemptCommand):
            cid, n = command.call.call_id, command.attempt
            return ToolAttemptOutcome(self.tools.get((cid, n), done(cid, n)))
        if isinstance(command, PeekAwaitEventCommand):
            assert command.key == GATE_KEY
            return PeekAwaitEventOutcome(self.gate)
        if isinstance(command, AwaitEventCommand):
            return AwaitEventOutcome(self.completions[command.key.wait.tool_call_id])  # type: ignore[union-attr]
        if isinstance(command, ExecCodeCommand):
            if command.code == "boom":
                return ExecCodeOutcome(Err("boom"))
            return ExecCodeOutcome(Ok(ExecResponse(f"ran {command.code}", len(command.code))))
        if isinstance(command, CheckpointCommand):
            if self.checkpoints:
                return CheckpointOutcome(self.checkpoints.pop(0))
            return CheckpointOutcome(Ok(CheckpointDelivery()))
        assert kind is EffectKind.SYNC_EXECUTION_ENVIRONMENT
        return SyncExecutionEnvironmentOutcome(self.syncs.pop(0) if self.syncs else Ok(None))


Chooser = Callable[[list[EffectEnvelope]], list[int]]
"""Given the envelopes awaiting outcomes, the indices (in feeding order) to answer now."""


def all_in_order(pending: list[EffectEnvelope]) -> list[int]:
    return list(range(len(pending)))


def all_reversed(pending: list[EffectEnvelope]) -> list[int]:
    return list(reversed(range(len(pending))))


@attrs.define
class Trace:
    """What a driven turn produced: every envelope handed out (in order), every batch of
    ``next()``, the events and the result."""

    envelopes: list[EffectEnvelope] = attrs.Factory(list)
    batches: list[tuple[str, ...]] = attrs.Factory(list)
    events: list[TurnEvent] = attrs.Factory(list)
    result: TurnResult | None = None

    @property
    def keys(self) -> list[str]:
        return [key_of(e) for e in self.envelopes]

    @property
    def json(self) -> list[str]:
        return [canonical_json(e) for e in self.envelopes]


def make(
    config: TurnConfig, messages: tuple[Message, ...] = (user("hi"),), world: World | None = None
) -> TurnMachine:
    """A machine for ``config``; under turn control if ``world`` says so."""
    gate = GATE_KEY if world is not None and world.controlled else None
    return TurnMachine(
        config,
        session_id=SESSION,
        turn_id=TURN,
        turn_index=0,
        messages=messages,
        cancel_gate=gate,
    )


def drive(
    machine: TurnMachine,
    world: World,
    choose: Chooser = all_in_order,
    *,
    on_step: Callable[[TurnMachine, list[EffectEnvelope], Trace], TurnMachine | None] | None = None,
    max_steps: int = 500,
) -> Trace:
    """Run ``machine`` to the end against ``world``. ``on_step`` sees the machine and the
    driver's pending envelopes before each feeding and may replace the machine (a restore);
    then the driver forgets its pending envelopes and takes the re-emitted ones."""
    trace = Trace()
    pending: list[EffectEnvelope] = []
    for _ in range(max_steps):
        step = machine.next()
        trace.events.extend(machine.drain_events())
        if isinstance(step, TurnFinished):
            trace.result = step.result
            return trace
        if isinstance(step, RunEffects):
            for envelope in step.envelopes:
                # The machine builds envelopes valid by construction, without the checks.
                validate_envelope(envelope)
            pending.extend(step.envelopes)
            trace.envelopes.extend(step.envelopes)
            trace.batches.append(tuple(key_of(e) for e in step.envelopes))
            continue
        assert isinstance(step, NeedOutcomes)
        assert set(step.replay_keys) == {key_of(e) for e in pending}
        if on_step is not None:
            replaced = on_step(machine, pending, trace)
            if replaced is not None:
                machine = replaced
                pending = []
                continue
        order = choose(pending)
        assert order, "the chooser must answer at least one envelope"
        chosen = [pending[i] for i in order]
        for envelope in chosen:
            pending.remove(envelope)
            machine.send(key_of(envelope), world.respond(envelope))
    raise AssertionError("the turn did not finish")
