"""The sans-IO turn machine.

A turn is a pure function of its inputs: :class:`TurnMachine` never does I/O and never reads a
clock. ``next()`` hands out the envelopes that may run now, ``send(replay_key, outcome)`` feeds
one outcome back, ``drain_events()`` returns the stream events. Every transition builds a new
:class:`~lash_core.turn.state.TurnState` and installs it only when it succeeded, so a refused
call leaves the machine exactly as it was.

Replay keys (``lash_core.effects.replay_keys``): turn effects (``sync_execution_environment``,
``llm_call``, ``tool_batch``, ``exec_code``, ``checkpoint``) are
``{session}:{turn}:{turn_index}:{protocol_iteration}:{kind}:{effect_id}`` with effect ids from 1
per turn. A round's tool attempts are children of its ``tool_batch`` invocation
(``...:child:{i}:{call_id}:attempt:{n}``), the sleep after failed attempt ``n`` adds ``:sleep``,
a pending completion's wait is ``...:{call_id}:await``. The ``tool_batch`` invocation itself is
never emitted as an envelope: the machine runs the batch's attempts itself. A model call's retry
``n >= 2`` is a child of attempt 1 (``{llm key}:attempt:{n}``) and the sleep after failed
attempt ``n`` is ``{llm key}:attempt:{n}:sleep``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Final

import attrs

from lash_core import codes
from lash_core.effects.commands import (
    AwaitEventCommand,
    CheckpointCommand,
    EffectCommand,
    ExecCodeCommand,
    LlmCallCommand,
    SleepCommand,
    SyncExecutionEnvironmentCommand,
    ToolAttemptCommand,
)
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import EffectKind, Invocation
from lash_core.effects.llm import (
    LlmCallError,
    LlmRequest,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    CheckpointOutcome,
    EffectOutcome,
    ExecCodeOutcome,
    LlmCallOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptOutcome,
    expect_outcome,
)
from lash_core.effects.replay_keys import (
    child_effect_invocation,
    pending_tool_completion_invocation,
    tool_batch_attempt_invocation,
    tool_batch_retry_sleep_invocation,
    turn_effect_invocation,
)
from lash_core.effects.tools import (
    CheckpointKind,
    PreparedToolCall,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.resolution import ResolutionErr, ResolutionOk, ResolutionTimeout
from lash_core.turn.config import TurnConfig
from lash_core.turn.events import (
    AwaitDeadline,
    NeedOutcomes,
    ProgressEvent,
    RunEffects,
    TextEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
    TurnCompleted,
    TurnEvent,
    TurnFinished,
    TurnOutcome,
    TurnOutcomeEvent,
    TurnResult,
    TurnStep,
    TurnStopped,
    TurnStopReason,
    UsageEvent,
)
from lash_core.turn.state import (
    CallKind,
    ToolSlot,
    TurnDone,
    TurnState,
    WaitingCheckpoint,
    WaitingLlm,
    WaitingSync,
    WaitingTools,
)
from lash_core.wire import Err, JsonValue

__all__ = ["TurnMachine"]

_evolve = attrs.evolve

_EXPECTED: Final[dict[EffectKind, type[EffectOutcome]]] = {
    EffectKind.SYNC_EXECUTION_ENVIRONMENT: SyncExecutionEnvironmentOutcome,
    EffectKind.LLM_CALL: LlmCallOutcome,
    EffectKind.SLEEP: SleepOutcome,
    EffectKind.TOOL_ATTEMPT: ToolAttemptOutcome,
    EffectKind.AWAIT_EVENT: AwaitEventOutcome,
    EffectKind.EXEC_CODE: ExecCodeOutcome,
    EffectKind.CHECKPOINT: CheckpointOutcome,
}
_OUTCOME_TYPES: Final[tuple[type[EffectOutcome], ...]] = typing.get_args(EffectOutcome)

_CONTEXT_OVERFLOW_PERCENT: Final = 95


class TurnMachine:
    """One agent turn as a pure state machine (h11 style).

    ``next()`` returns :class:`RunEffects` (envelopes that may run now, concurrently),
    :class:`NeedOutcomes` (still waiting; calling ``next()`` again never re-emits) or
    :class:`TurnFinished`. ``send(replay_key, outcome)`` feeds one outcome of an envelope
    handed out by ``next()``. Misuse raises :class:`~lash_core.errors.LocalProtocolError` and
    an outcome of the wrong kind ``LashError`` ``runtime_effect_wrong_outcome``; both leave the
    machine unchanged. Any other exception is a bug.
    """

    __slots__ = ("_state",)

    _state: TurnState

    def __init__(
        self,
        config: TurnConfig,
        *,
        session_id: str,
        turn_id: str,
        turn_index: int,
        messages: Iterable[Message],
    ) -> None:
        config.validate()
        if not session_id.strip() or not turn_id.strip():
            raise LocalProtocolError(
                codes.TURN_CONFIG_INVALID, "session_id and turn_id must be non-empty"
            )
        if turn_index < 0:
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "turn_index must not be negative")
        conversation = tuple(messages)
        state = TurnState(
            config=config,
            session_id=session_id,
            turn_id=turn_id,
            turn_index=turn_index,
            system=config.system_prompt,
            tools=config.tools,
            messages=conversation,
            progress_cursor=len(conversation),
        )
        self._state = _start_iteration(state)

    # -- checkpoint and restore -------------------------------------------------------------

    def checkpoint(self) -> TurnState:
        """The whole state as a wire value (``lash_core.wire.to_json`` writes it)."""
        return self._state

    @classmethod
    def restore(cls, checkpoint: TurnState) -> TurnMachine:
        """A machine continuing from ``checkpoint``. Envelopes that were handed out and not
        answered are handed out again by the next ``next()``, identical (same replay keys,
        same hashes)."""
        if not isinstance(checkpoint, TurnState):
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "restore needs a TurnState")
        checkpoint.config.validate()
        machine = cls.__new__(cls)
        machine._state = _evolve(
            checkpoint, outbox=checkpoint.inflight + checkpoint.outbox, inflight=()
        )
        return machine

    # -- driving ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The turn is over."""
        return isinstance(self._state.phase, TurnDone)

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Replay keys of the envelopes handed out and not yet answered."""
        return tuple(_key(e) for e in self._state.inflight)

    def next(self) -> TurnStep:
        """What the driver does next (see the class docstring)."""
        s = self._state
        if s.outbox:
            self._state = _evolve(s, outbox=(), inflight=s.inflight + s.outbox)
            return RunEffects(s.outbox, _deadlines(s, s.outbox))
        if isinstance(s.phase, TurnDone):
            return TurnFinished(s.phase.result)
        return NeedOutcomes(tuple(_key(e) for e in s.inflight))

    def send(self, replay_key: str, outcome: EffectOutcome) -> None:
        """Feed the outcome of the handed-out envelope with ``replay_key``.

        Raises ``LocalProtocolError`` (``turn_finished`` after the end,
        ``turn_unknown_replay_key`` for a key not awaited) or ``LashError``
        (``runtime_effect_wrong_outcome``); the machine is then unchanged.
        """
        s = self._state
        if isinstance(s.phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        envelope = next((e for e in s.inflight if _key(e) == replay_key), None)
        if envelope is None:
            queued = any(_key(e) == replay_key for e in s.outbox)
            why = "has not been handed out by next() yet" if queued else "is not awaited"
            raise LocalProtocolError(
                codes.TURN_UNKNOWN_REPLAY_KEY, f"replay key {replay_key!r} {why}"
            )
        if not isinstance(outcome, _OUTCOME_TYPES):
            raise LashError(
                codes.RUNTIME_EFFECT_WRONG_OUTCOME,
                f"expected {envelope.kind.value} outcome, got {type(outcome).__name__}",
            )
        typed = expect_outcome(outcome, _EXPECTED[envelope.kind])
        s = _evolve(s, inflight=tuple(e for e in s.inflight if e is not envelope))
        self._state = _apply(s, envelope, typed)

    def drain_events(self) -> tuple[TurnEvent, ...]:
        """The stream events since the last drain, in order."""
        events = self._state.events
        if events:
            self._state = _evolve(self._state, events=())
        return events

    def cancel(self, message: str = "the turn was cancelled") -> None:
        """End the turn now as stopped (``cancelled``); outstanding envelopes are dropped
        (their outcomes are then refused with ``turn_finished``)."""
        if isinstance(self._state.phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        error = ControllerError(codes.TURN_CANCELLED, message)
        self._state = _stop(self._state, TurnStopReason.CANCELLED, error=error)


# -- helpers ---------------------------------------------------------------------------------


def _key(envelope: EffectEnvelope) -> str:
    key = envelope.replay_key
    assert key is not None  # every envelope is built with a replay key
    return key


def _deadlines(s: TurnState, envelopes: tuple[EffectEnvelope, ...]) -> tuple[AwaitDeadline, ...]:
    phase = s.phase
    if not isinstance(phase, WaitingTools):
        return ()
    out = []
    for envelope in envelopes:
        if envelope.kind is not EffectKind.AWAIT_EVENT:
            continue
        key = _key(envelope)
        for slot in phase.slots:
            if slot.waiting == key and slot.pending is not None:
                if slot.pending.deadline is not None:
                    out.append(AwaitDeadline(key, slot.pending.deadline.to_ms()))
                break
    return tuple(out)


def _event(s: TurnState, *events: TurnEvent) -> TurnState:
    return _evolve(s, events=s.events + events)


def _emit(s: TurnState, invocation: Invocation, command: EffectCommand) -> TurnState:
    return _evolve(s, outbox=(*s.outbox, EffectEnvelope.build(invocation, command)))


def _turn_effect(s: TurnState, kind: EffectKind) -> tuple[TurnState, Invocation]:
    invocation = turn_effect_invocation(
        s.session_id, s.turn_id, s.turn_index, s.protocol_iteration, kind, s.next_effect_id
    )
    return _evolve(s, next_effect_id=s.next_effect_id + 1), invocation


def _finish(s: TurnState, outcome: TurnOutcome) -> TurnState:
    result = TurnResult(outcome, s.messages, s.usage, s.protocol_iteration, s.turn_causes)
    s = _event(s, TurnOutcomeEvent(outcome))
    return _evolve(s, phase=TurnDone(result), outbox=(), inflight=())


def _stop(
    s: TurnState,
    reason: TurnStopReason,
    *,
    detail: str | None = None,
    error: ControllerError | None = None,
) -> TurnState:
    return _finish(s, TurnStopped(reason, detail, error))


def _advance_iteration(s: TurnState) -> TurnState:
    """Move to the next protocol iteration, report progress and prepare it."""
    s = _evolve(s, protocol_iteration=s.protocol_iteration + 1)
    delta = s.messages[s.progress_cursor :]
    s = _event(s, ProgressEvent(s.protocol_iteration, delta))
    s = _evolve(s, progress_cursor=len(s.messages))
    return _start_iteration(s)


def _start_iteration(s: TurnState) -> TurnState:
    """Sync the execution environment if due, else start the model call."""
    config = s.config
    if s.protocol_iteration >= config.max_iterations:
        return _stop(s, TurnStopReason.MAX_ITERATIONS)
    if config.sync_execution_environment and s.synced_iteration != s.protocol_iteration:
        s, invocation = _turn_effect(s, EffectKind.SYNC_EXECUTION_ENVIRONMENT)
        command = SyncExecutionEnvironmentCommand(s.synced_iteration is not None)
        return _evolve(_emit(s, invocation, command), phase=WaitingSync())
    return _start_llm(s)


def _start_llm(s: TurnState) -> TurnState:
    config = s.config
    request = LlmRequest(
        config.model, s.messages + s.transient, s.tools, s.system, config.max_output_tokens
    )
    s, invocation = _turn_effect(s, EffectKind.LLM_CALL)
    s = _emit(s, invocation, LlmCallCommand(request))
    return _evolve(s, phase=WaitingLlm(request, invocation), transient=())


def _llm_attempt(first: Invocation, attempt: int) -> Invocation:
    if attempt == 1:
        return first
    suffix = f"attempt:{attempt}"
    return child_effect_invocation(
        first, f"{first.effect_id}:{suffix}", EffectKind.LLM_CALL, suffix
    )


def _llm_sleep(first: Invocation, attempt: int) -> Invocation:
    suffix = f"attempt:{attempt}:sleep"
    return child_effect_invocation(first, f"{first.effect_id}:{suffix}", EffectKind.SLEEP, suffix)


# -- applying outcomes -----------------------------------------------------------------------


def _apply(s: TurnState, envelope: EffectEnvelope, outcome: EffectOutcome) -> TurnState:
    phase = s.phase
    if isinstance(outcome, SyncExecutionEnvironmentOutcome):
        return _on_sync(s, outcome)
    if isinstance(phase, WaitingLlm):
        if isinstance(outcome, SleepOutcome):
            attempt = phase.attempt + 1
            command = LlmCallCommand(phase.request)
            s = _emit(s, _llm_attempt(phase.first, attempt), command)
            return _evolve(s, phase=_evolve(phase, attempt=attempt))
        assert isinstance(outcome, LlmCallOutcome)
        return _on_llm(s, phase, outcome)
    if isinstance(phase, WaitingTools):
        return _on_tool_outcome(s, phase, _key(envelope), outcome)
    assert isinstance(phase, WaitingCheckpoint) and isinstance(outcome, CheckpointOutcome)
    return _on_checkpoint(s, phase, outcome)


def _on_sync(s: TurnState, outcome: SyncExecutionEnvironmentOutcome) -> TurnState:
    result = outcome.result
    if isinstance(result, Err):
        error = ControllerError(codes.RECONFIGURE_FAILED, result.error)
        return _stop(s, TurnStopReason.RUNTIME_ERROR, detail="execution_environment", error=error)
    s = _evolve(s, synced_iteration=s.protocol_iteration)
    if result.value is not None:
        s = _evolve(s, system=result.value.system_prompt, tools=result.value.tool_specs)
    return _start_llm(s)


def _on_llm(s: TurnState, phase: WaitingLlm, outcome: LlmCallOutcome) -> TurnState:
    result = outcome.result
    if isinstance(result, Err):
        return _on_llm_error(s, phase, result.error)
    response: LlmResponse = result.value
    usage = s.usage + response.usage
    s = _event(_evolve(s, usage=usage), UsageEvent(response.usage, usage))
    reason = response.stop_reason
    limit = s.config.max_context_tokens
    if (
        reason is StopReason.OUTPUT_LIMIT
        and limit is not None
        and response.usage.output_tokens == 0
        and response.usage.input_tokens * 100 >= limit * _CONTEXT_OVERFLOW_PERCENT
    ):
        reason = StopReason.CONTEXT_OVERFLOW
    if reason is StopReason.OUTPUT_LIMIT:
        return _stop(s, TurnStopReason.INCOMPLETE, detail=reason.value)
    if reason in (
        StopReason.CONTENT_FILTER,
        StopReason.CONTEXT_OVERFLOW,
        StopReason.PROVIDER_ERROR,
    ):
        return _stop(s, TurnStopReason.PROVIDER_ERROR, detail=reason.value)
    if reason is StopReason.CANCELLED:
        return _stop(s, TurnStopReason.CANCELLED, detail=reason.value)
    message = response.message
    text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
    if text and not outcome.text_streamed:
        s = _event(s, TextEvent(text))
    s = _evolve(s, messages=(*s.messages, message))
    calls = tuple(p for p in message.parts if isinstance(p, ToolCallPart))
    if calls:
        return _start_round(s, calls)
    if s.config.checkpoint_before_completion:
        return _start_checkpoint(s, CheckpointKind.BEFORE_COMPLETION, message)
    return _finish(s, TurnCompleted(message))


def _on_llm_error(s: TurnState, phase: WaitingLlm, error: LlmCallError) -> TurnState:
    policy = s.config.model_retry
    if error.retryable and phase.attempt < policy.max_attempts:
        command = SleepCommand(policy.delay_ms(phase.attempt))
        return _emit(s, _llm_sleep(phase.first, phase.attempt), command)
    controller = ControllerError(error.code or codes.TURN_LLM_CALL_FAILED, error.message)
    return _stop(s, TurnStopReason.PROVIDER_ERROR, detail=error.kind.value, error=controller)


# -- tool rounds -----------------------------------------------------------------------------


def _error_output(code: str, message: str) -> JsonValue:
    return {"code": code, "message": message}


def _invalid_calls(calls: tuple[ToolCallPart, ...]) -> str | None:
    seen: set[str] = set()
    for call in calls:
        if not call.call_id.strip():
            return f"tool call to {call.tool_name!r} has an empty call id"
        if call.call_id in seen:
            return f"tool call id {call.call_id!r} is used twice"
        seen.add(call.call_id)
    return None


def _code_args(args: JsonValue, default_language: str) -> tuple[str, str] | None:
    if not isinstance(args, dict):
        return None
    code, language = args.get("code"), args.get("language", default_language)
    if not isinstance(code, str) or not isinstance(language, str):
        return None
    return language, code


def _start_round(s: TurnState, calls: tuple[ToolCallPart, ...]) -> TurnState:
    """Start every call of the model's response: tool attempts and code runs, concurrently."""
    problem = _invalid_calls(calls)
    if problem is not None:
        error = ControllerError(codes.TURN_INVALID_TOOL_CALL, problem)
        return _stop(s, TurnStopReason.RUNTIME_ERROR, error=error)
    code_tool = s.config.code_tool_name
    batch: Invocation | None = None
    if any(c.tool_name != code_tool for c in calls):
        s, batch = _turn_effect(s, EffectKind.TOOL_BATCH)
    slots: list[ToolSlot] = []
    index = 0
    for call in calls:
        s = _event(s, ToolCallStartedEvent(call.call_id, call.tool_name, call.args))
        if call.tool_name == code_tool:
            parsed = _code_args(call.args, s.config.code_language)
            if parsed is None:
                output = _error_output(
                    codes.TURN_EXEC_ARGS_INVALID,
                    'code tool arguments must be {"code": str, "language"?: str}',
                )
                result = ToolResultPart(call.call_id, call.tool_name, output, True)
                slots.append(ToolSlot(call=call, kind=CallKind.CODE, result=result))
                continue
            s, invocation = _turn_effect(s, EffectKind.EXEC_CODE)
            s = _emit(s, invocation, ExecCodeCommand(*parsed))
            waiting = invocation.replay_key
            slots.append(ToolSlot(call=call, kind=CallKind.CODE, waiting=waiting))
            continue
        assert batch is not None
        slot = ToolSlot(
            call=call, kind=CallKind.TOOL, replay_suffix=f"child:{index}:{call.call_id}"
        )
        index += 1
        s, slot = _attempt(s, batch, slot, 1)
        slots.append(slot)
    phase = WaitingTools(tuple(slots), batch)
    s = _evolve(s, phase=phase)
    return _maybe_settle(s, phase)


def _attempt(s: TurnState, batch: Invocation, slot: ToolSlot, n: int) -> tuple[TurnState, ToolSlot]:
    assert slot.replay_suffix is not None
    call = slot.call
    invocation = tool_batch_attempt_invocation(batch, slot.replay_suffix, n)
    prepared = PreparedToolCall(call.call_id, call.tool_name, call.tool_name, call.args)
    command = ToolAttemptCommand(
        call=prepared, attempt=n, max_attempts=s.config.tool_retry.max_attempts
    )
    s = _emit(s, invocation, command)
    return s, _evolve(slot, attempt=n, waiting=invocation.replay_key)


def _on_tool_outcome(
    s: TurnState, phase: WaitingTools, key: str, outcome: EffectOutcome
) -> TurnState:
    index = next(i for i, slot in enumerate(phase.slots) if slot.waiting == key)
    slot = phase.slots[index]
    call = slot.call
    batch = phase.batch

    def settle(output: JsonValue, is_error: bool, duration_ms: int = 0) -> ToolSlot:
        result = ToolResultPart(call.call_id, call.tool_name, output, is_error)
        return _evolve(slot, waiting=None, result=result, duration_ms=duration_ms)

    if isinstance(outcome, ExecCodeOutcome):
        if isinstance(outcome.result, Err):
            slot = settle(_error_output(codes.TURN_EXEC_FAILED, outcome.result.error), True)
        else:
            response = outcome.result.value
            output: JsonValue = {"output": response.output, "result": response.result}
            slot = settle(output, response.is_error)
    elif isinstance(outcome, SleepOutcome):
        assert batch is not None
        s, slot = _attempt(s, batch, slot, slot.attempt + 1)
    elif isinstance(outcome, ToolAttemptOutcome):
        assert batch is not None
        launch = outcome.launch
        if isinstance(launch, ToolAttemptLaunchDone):
            record = launch.record
            policy = s.config.tool_retry
            if not record.success and slot.attempt < policy.max_attempts:
                assert slot.replay_suffix is not None
                sleep = tool_batch_retry_sleep_invocation(batch, slot.replay_suffix, slot.attempt)
                s = _emit(s, sleep, SleepCommand(policy.delay_ms(slot.attempt)))
                slot = _evolve(slot, waiting=sleep.replay_key)
            else:
                slot = settle(record.model_return, not record.success, record.duration_ms)
        else:
            wait = pending_tool_completion_invocation(batch, call.call_id)
            s = _emit(s, wait, AwaitEventCommand(launch.key))
            slot = _evolve(
                slot,
                waiting=wait.replay_key,
                pending=launch.pending,
                duration_ms=launch.duration_ms,
            )
    else:
        assert isinstance(outcome, AwaitEventOutcome)
        resolution = outcome.resolution
        duration = slot.duration_ms
        if isinstance(resolution, ResolutionOk):
            slot = settle(resolution.payload, False, duration)
        elif isinstance(resolution, ResolutionErr):
            payload = resolution.payload
            slot = settle(_error_output(payload.code, payload.message), True, duration)
        elif isinstance(resolution, ResolutionTimeout):
            message = f"tool call {call.call_id!r} did not complete before its deadline"
            on_timeout = slot.pending.on_timeout if slot.pending else TimeoutPolicy.ERROR_AS_RESULT
            slot = settle(_error_output(codes.TOOL_COMPLETION_TIMEOUT, message), True, duration)
            if on_timeout is TimeoutPolicy.FAIL_TURN:
                failure = ControllerError(codes.TOOL_COMPLETION_TIMEOUT, message)
                slot = _evolve(slot, failure=failure)
        else:
            message = f"tool call {call.call_id!r} was cancelled before it completed"
            slot = settle(_error_output(codes.TOOL_COMPLETION_CANCELLED, message), True, duration)
    slots = (*phase.slots[:index], slot, *phase.slots[index + 1 :])
    phase = _evolve(phase, slots=slots)
    return _maybe_settle(_evolve(s, phase=phase), phase)


def _maybe_settle(s: TurnState, phase: WaitingTools) -> TurnState:
    """Once every call settled, apply the results in call order."""
    if not all(slot.settled for slot in phase.slots):
        return s
    results: list[ToolResultPart] = []
    for slot in phase.slots:
        assert slot.result is not None
        result = slot.result
        results.append(result)
        s = _event(
            s,
            ToolCallFinishedEvent(
                result.call_id, result.tool_name, result.output, result.is_error, slot.duration_ms
            ),
        )
    failure = next((slot.failure for slot in phase.slots if slot.failure is not None), None)
    if failure is not None:
        return _stop(s, TurnStopReason.RUNTIME_ERROR, detail="tool_completion", error=failure)
    s = _evolve(s, messages=(*s.messages, Message(Role.TOOL, tuple(results))))
    if s.config.checkpoint_after_work:
        return _start_checkpoint(s, CheckpointKind.AFTER_WORK, None)
    return _advance_iteration(s)


# -- checkpoints -----------------------------------------------------------------------------


def _start_checkpoint(s: TurnState, kind: CheckpointKind, final: Message | None) -> TurnState:
    s, invocation = _turn_effect(s, EffectKind.CHECKPOINT)
    s = _emit(s, invocation, CheckpointCommand(kind))
    return _evolve(s, phase=WaitingCheckpoint(kind, final))


def _on_checkpoint(s: TurnState, phase: WaitingCheckpoint, outcome: CheckpointOutcome) -> TurnState:
    result = outcome.result
    if isinstance(result, Err):
        return _stop(s, TurnStopReason.RUNTIME_ERROR, detail="checkpoint", error=result.error)
    delivery = result.value
    delivered = (
        delivery.committed_user_messages
        or delivery.messages
        or delivery.transient_messages
        or delivery.turn_causes
    )
    if delivered:
        s = _evolve(
            s,
            messages=s.messages + delivery.committed_user_messages + delivery.messages,
            transient=delivery.transient_messages,
            turn_causes=s.turn_causes + delivery.turn_causes,
        )
        return _advance_iteration(s)
    if phase.checkpoint is CheckpointKind.BEFORE_COMPLETION and phase.final is not None:
        return _finish(s, TurnCompleted(phase.final))
    return _advance_iteration(s)
