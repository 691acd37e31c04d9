"""The turn machine's transitions: what starting a turn and each outcome do to its live state.

Each function takes the :class:`~lash_core.turn._live.Live` state and changes it in place:
:func:`start` begins a turn (reading the cancel gate first under turn control), :func:`apply`
applies one outcome (the model's answer, a tool round's attempts, retries and pending
completions, a checkpoint's delivery), :func:`stop` ends the turn. Every refusal has happened
before (in :class:`~lash_core.turn.machine.TurnMachine`), so nothing here checks its input.
"""

from __future__ import annotations

from typing import Final

from lash_core import codes
from lash_core._unchecked import unchecked
from lash_core.effects.commands import (
    AwaitEventCommand,
    CheckpointCommand,
    ExecCodeCommand,
    LlmCallCommand,
    PeekAwaitEventCommand,
    SleepCommand,
    SyncExecutionEnvironmentCommand,
    ToolAttemptCommand,
)
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
    PeekAwaitEventOutcome,
    SleepOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptOutcome,
)
from lash_core.effects.replay_keys import child_effect_invocation, turn_cancel_start_gate_invocation
from lash_core.effects.tools import (
    CheckpointKind,
    PreparedToolCall,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
)
from lash_core.errors import LashError
from lash_core.resolution import ResolutionErr, ResolutionOk, ResolutionTimeout
from lash_core.turn._live import Call, Live, ToolRound, first_attempt, invocation_key
from lash_core.turn.events import (
    ProgressEvent,
    TextEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
    TurnCompleted,
    TurnOutcome,
    TurnOutcomeEvent,
    TurnResult,
    TurnStopped,
    TurnStopReason,
    UsageEvent,
)
from lash_core.turn.gate import GateCancelRequested, cancel_message, decode_gate
from lash_core.turn.state import (
    CallKind,
    CheckingGate,
    TurnDone,
    WaitingCheckpoint,
    WaitingLlm,
    WaitingSync,
)
from lash_core.wire import Err, JsonValue

__all__ = ["apply", "start", "stop"]

_CONTEXT_OVERFLOW_PERCENT: Final = 95
_GOES_ON: Final = frozenset((StopReason.TOOL_USE, StopReason.STOP))
"""The stop reasons after which the turn goes on with the response's message."""
# Enum members looked up once (a member lookup costs as much as a small call).
_TOOL: Final = CallKind.TOOL
_TOOL_BATCH: Final = EffectKind.TOOL_BATCH
_LLM_CALL: Final = EffectKind.LLM_CALL
_ROLE_TOOL: Final = Role.TOOL
# A round's tool message holds the results the machine built, from parts it validated.
_message: Final = unchecked(Message)
_tool_result: Final = unchecked(ToolResultPart)
# A model request is made of the turn's state (its config, its messages and tools, validated as
# they came in): built without running the constructors (one per protocol iteration).
_llm_request: Final = unchecked(LlmRequest)
_llm_call: Final = unchecked(LlmCallCommand)
_waiting_llm: Final = unchecked(WaitingLlm)
# A turn's end is made of its state and the model's checked message (one per turn).
_turn_result: Final = unchecked(TurnResult)
_turn_done: Final = unchecked(TurnDone)
_turn_completed: Final = unchecked(TurnCompleted)
_first_attempt: Final = first_attempt


def _finish(live: Live, outcome: TurnOutcome) -> None:
    result = _turn_result(
        outcome, live.messages, live.usage, live.protocol_iteration, live.turn_causes
    )
    if live.listening:
        live.event(TurnOutcomeEvent(outcome))
    live.phase = _turn_done(result)
    live.outbox = {}
    live.inflight = {}
    live.waiting = {}


def stop(
    live: Live,
    reason: TurnStopReason,
    *,
    detail: str | None = None,
    error: ControllerError | None = None,
) -> None:
    _finish(live, TurnStopped(reason, detail, error))


def start(live: Live) -> None:
    """Read the cancel gate first if there is one, else start the first iteration."""
    gate = live.cancel_gate
    if gate is None:
        return _start_iteration(live)
    live.emit(
        turn_cancel_start_gate_invocation(live.session_id, live.turn_id),
        PeekAwaitEventCommand(gate),
    )
    live.phase = CheckingGate()
    return None


def _on_start_gate(live: Live, outcome: PeekAwaitEventOutcome) -> None:
    """A cancel already on the gate stops the turn before it runs anything."""
    terminal = outcome.resolution
    if terminal is None:
        return _start_iteration(live)
    try:
        winner = decode_gate(terminal)
    except LashError as exc:
        error = ControllerError(exc.code, exc.message)
        return stop(live, TurnStopReason.RUNTIME_ERROR, detail="turn_control", error=error)
    if isinstance(winner, GateCancelRequested):
        error = ControllerError(codes.TURN_CANCELLED, cancel_message(winner.cancellation))
        return stop(live, TurnStopReason.CANCELLED, error=error)
    error = ControllerError(
        codes.TURN_CANCEL_GATE_INVALID_TERMINAL,
        "the cancel gate is already sealed: this turn completed in an earlier run",
    )
    return stop(live, TurnStopReason.RUNTIME_ERROR, detail="turn_control", error=error)


def _advance_iteration(live: Live) -> None:
    """Move to the next protocol iteration, report progress and prepare it."""
    live.protocol_iteration += 1
    if live.listening:
        live.event(ProgressEvent(live.protocol_iteration, live.messages[live.progress_cursor :]))
    live.progress_cursor = len(live.messages)
    _start_iteration(live)


def _start_iteration(live: Live) -> None:
    """Sync the execution environment if due, else start the model call."""
    config = live.config
    if live.protocol_iteration >= config.max_iterations:
        return stop(live, TurnStopReason.MAX_ITERATIONS)
    if config.sync_execution_environment and live.synced_iteration != live.protocol_iteration:
        invocation = live.turn_effect(EffectKind.SYNC_EXECUTION_ENVIRONMENT)
        live.emit(invocation, SyncExecutionEnvironmentCommand(live.synced_iteration is not None))
        live.phase = WaitingSync()
        return None
    return _start_llm(live)


def _start_llm(live: Live) -> None:
    config = live.config
    request = _llm_request(
        config.model,
        live.messages + live.transient,
        live.tools,
        live.system,
        config.max_output_tokens,
    )
    invocation = live.turn_effect(_LLM_CALL)
    live.emit(invocation, _llm_call(request))
    live.phase = _waiting_llm(request, invocation, 1)
    live.transient = ()


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


def apply(live: Live, key: str, outcome: EffectOutcome) -> None:
    """Apply the outcome of the handed-out envelope with replay key ``key``."""
    phase = live.phase
    if type(phase) is ToolRound:
        return _on_tool_outcome(live, phase, key, outcome)
    if isinstance(outcome, SyncExecutionEnvironmentOutcome):
        return _on_sync(live, outcome)
    if isinstance(outcome, PeekAwaitEventOutcome):
        return _on_start_gate(live, outcome)
    if isinstance(phase, WaitingLlm):
        if isinstance(outcome, SleepOutcome):
            attempt = phase.attempt + 1
            live.emit(_llm_attempt(phase.first, attempt), LlmCallCommand(phase.request))
            live.phase = WaitingLlm(phase.request, phase.first, attempt)
            return None
        assert isinstance(outcome, LlmCallOutcome)
        return _on_llm(live, phase, outcome)
    assert isinstance(phase, WaitingCheckpoint) and isinstance(outcome, CheckpointOutcome)
    return _on_checkpoint(live, phase, outcome)


def _on_sync(live: Live, outcome: SyncExecutionEnvironmentOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        error = ControllerError(codes.RECONFIGURE_FAILED, result.error)
        return stop(live, TurnStopReason.RUNTIME_ERROR, detail="execution_environment", error=error)
    live.synced_iteration = live.protocol_iteration
    if result.value is not None:
        live.system, live.tools = result.value.system_prompt, result.value.tool_specs
    return _start_llm(live)


def _on_llm(live: Live, phase: WaitingLlm, outcome: LlmCallOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        return _on_llm_error(live, phase, result.error)
    response: LlmResponse = result.value
    live.usage = live.usage + response.usage
    if live.listening:
        live.event(UsageEvent(response.usage, live.usage))
    reason = response.stop_reason
    if reason not in _GOES_ON and _stopped_by(live, response, reason):
        return None
    message = response.message
    texts: list[str] = []
    calls: list[ToolCallPart] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            calls.append(part)
        elif isinstance(part, TextPart):
            texts.append(part.text)
    if texts and not outcome.text_streamed and live.listening:
        text = "".join(texts)
        if text:
            live.event(TextEvent(text))
    live.messages = (*live.messages, message)
    if calls:
        return _start_round(live, calls)
    if live.config.checkpoint_before_completion:
        return _start_checkpoint(live, CheckpointKind.BEFORE_COMPLETION, message)
    return _finish(live, _turn_completed(message))


def _stopped_by(live: Live, response: LlmResponse, reason: StopReason) -> bool:
    """Whether the model's stop reason (not a tool use, not a plain stop) stops the turn (then
    stopped)."""
    limit = live.config.max_context_tokens
    if (
        reason is StopReason.OUTPUT_LIMIT
        and limit is not None
        and response.usage.output_tokens == 0
        and response.usage.input_tokens * 100 >= limit * _CONTEXT_OVERFLOW_PERCENT
    ):
        reason = StopReason.CONTEXT_OVERFLOW
    if reason is StopReason.OUTPUT_LIMIT:
        stop(live, TurnStopReason.INCOMPLETE, detail=reason.value)
    elif reason in (
        StopReason.CONTENT_FILTER,
        StopReason.CONTEXT_OVERFLOW,
        StopReason.PROVIDER_ERROR,
    ):
        stop(live, TurnStopReason.PROVIDER_ERROR, detail=reason.value)
    elif reason is StopReason.CANCELLED:
        stop(live, TurnStopReason.CANCELLED, detail=reason.value)
    else:
        return False
    return True


def _on_llm_error(live: Live, phase: WaitingLlm, error: LlmCallError) -> None:
    policy = live.config.model_retry
    if error.retryable and phase.attempt < policy.max_attempts:
        command = SleepCommand(policy.delay_ms(phase.attempt))
        live.emit(_llm_sleep(phase.first, phase.attempt), command)
        return None
    controller = ControllerError(error.code or codes.TURN_LLM_CALL_FAILED, error.message)
    return stop(live, TurnStopReason.PROVIDER_ERROR, detail=error.kind.value, error=controller)


# -- tool rounds -----------------------------------------------------------------------------


def _error_output(code: str, message: str) -> JsonValue:
    return {"code": code, "message": message}


def _invalid_calls(calls: list[ToolCallPart], code_tool: str | None) -> str | bool | None:
    """What is wrong with the calls (a message), else whether one is not to the code tool
    (``True``: the round needs a ``tool_batch``; ``None``: it has code runs only)."""
    seen: set[str] = set()
    batch: bool | None = None
    for call in calls:
        call_id = call.call_id
        if not call_id.strip():
            return f"tool call to {call.tool_name!r} has an empty call id"
        if call_id in seen:
            return f"tool call id {call_id!r} is used twice"
        seen.add(call_id)
        if call.tool_name != code_tool:
            batch = True
    return batch


def _code_args(args: JsonValue, default_language: str) -> tuple[str, str] | None:
    if not isinstance(args, dict):
        return None
    code, language = args.get("code"), args.get("language", default_language)
    if not isinstance(code, str) or not isinstance(language, str):
        return None
    return language, code


def _start_round(live: Live, calls: list[ToolCallPart]) -> None:
    """Start every call of the model's response: tool attempts and code runs, concurrently."""
    code_tool = live.config.code_tool_name
    problem = _invalid_calls(calls, code_tool)
    if problem is not None:
        if type(problem) is str:
            error = ControllerError(codes.TURN_INVALID_TOOL_CALL, problem)
            return stop(live, TurnStopReason.RUNTIME_ERROR, error=error)
        batch: Invocation | None = live.turn_effect(_TOOL_BATCH)
    else:
        batch = None
    waiting = live.waiting
    outbox = live.outbox
    phase = ToolRound([], batch)
    round_calls = phase.calls
    index = 0
    listening = live.listening
    children = phase.children
    key_prefix = None if children is None else children.key_prefix
    max_attempts = live.config.tool_retry.max_attempts
    for call in calls:
        if listening:
            live.event(ToolCallStartedEvent(call.call_id, call.tool_name, call.args))
        if call.tool_name == code_tool:
            parsed = _code_args(call.args, live.config.code_language)
            if parsed is None:
                output = _error_output(
                    codes.TURN_EXEC_ARGS_INVALID,
                    'code tool arguments must be {"code": str, "language"?: str}',
                )
                result = ToolResultPart(call.call_id, call.tool_name, output, True)
                round_calls.append(Call(call, CallKind.CODE, result=result))
                continue
            invocation = live.turn_effect(EffectKind.EXEC_CODE)
            live.emit(invocation, ExecCodeCommand(*parsed))
            key = invocation_key(invocation)
            waiting[key] = len(round_calls)
            round_calls.append(Call(call, CallKind.CODE, waiting=key))
            continue
        suffix = f"child:{index}:{call.call_id}"
        index += 1
        # `_attempt(live, phase, call, suffix, 1)`, inlined: one per tool call (its envelope
        # built in one frame, queued as `live.emit` does).
        assert children is not None and key_prefix is not None  # a round with tool calls
        attempt_suffix = suffix + ":attempt:1"
        key = key_prefix + attempt_suffix
        outbox[key] = _first_attempt(children, attempt_suffix, key, call, max_attempts)
        waiting[key] = len(round_calls)
        round_calls.append(Call(call, _TOOL, suffix, key))
    live.phase = phase
    return _maybe_settle(live, phase)


def _attempt(live: Live, phase: ToolRound, call: ToolCallPart, suffix: str, n: int) -> str:
    """Emit attempt ``n`` of ``call`` (replay suffix ``suffix``); returns its replay key."""
    assert phase.children is not None  # a round with tool calls has a batch
    invocation = phase.children.tool_attempt(suffix, n)
    prepared = PreparedToolCall(call.call_id, call.tool_name, call.tool_name, call.args)
    command = ToolAttemptCommand(
        call=prepared, attempt=n, max_attempts=live.config.tool_retry.max_attempts
    )
    return live.emit(invocation, command)


def _on_tool_outcome(live: Live, phase: ToolRound, key: str, outcome: EffectOutcome) -> None:
    waiting = live.waiting
    index = waiting.pop(key)
    c = phase.calls[index]
    if type(outcome) is ToolAttemptOutcome:
        launch = outcome.launch
        if type(launch) is ToolAttemptLaunchDone and launch.record.success:
            # A tool attempt that succeeded, the common end of a tool call: `c.settle(...)`,
            # inlined (its parts come from the call, validated, and the checked record).
            record = launch.record
            call = c.call
            c.result = _tool_result(call.call_id, call.tool_name, record.model_return, False)
            c.duration_ms = record.duration_ms
            c.waiting = None
            if waiting:  # other calls still run (`_maybe_settle` would return at once)
                return None
            return _maybe_settle(live, phase)
    return _on_call_outcome(live, phase, c, index, outcome)


def _on_call_outcome(
    live: Live, phase: ToolRound, c: Call, index: int, outcome: EffectOutcome
) -> None:
    """The outcome of call ``c`` (slot ``index``) of the round, whatever it is."""
    if isinstance(outcome, ToolAttemptOutcome):
        children, suffix = phase.children, c.replay_suffix
        assert children is not None and suffix is not None
        launch = outcome.launch
        if isinstance(launch, ToolAttemptLaunchDone):
            record = launch.record
            policy = live.config.tool_retry
            if record.success or c.attempt >= policy.max_attempts:
                c.settle(record.model_return, not record.success, record.duration_ms)
            else:
                sleep = children.tool_retry_sleep(suffix, c.attempt)
                live.emit(sleep, SleepCommand(policy.delay_ms(c.attempt)))
                c.waiting = invocation_key(sleep)
        else:
            wait = children.pending_completion(c.call.call_id)
            live.emit(wait, AwaitEventCommand(launch.key))
            c.waiting = invocation_key(wait)
            c.pending = launch.pending
            phase.deadlines = True
            c.duration_ms = launch.duration_ms
    elif isinstance(outcome, ExecCodeOutcome):
        if isinstance(outcome.result, Err):
            c.settle(_error_output(codes.TURN_EXEC_FAILED, outcome.result.error), True, 0)
        else:
            response = outcome.result.value
            output: JsonValue = {"output": response.output, "result": response.result}
            c.settle(output, response.is_error, 0)
    elif isinstance(outcome, SleepOutcome):
        assert c.replay_suffix is not None
        c.attempt += 1
        c.waiting = _attempt(live, phase, c.call, c.replay_suffix, c.attempt)
    else:
        assert isinstance(outcome, AwaitEventOutcome)
        resolution = outcome.resolution
        call_id = c.call.call_id
        if isinstance(resolution, ResolutionOk):
            c.settle(resolution.payload, False, c.duration_ms)
        elif isinstance(resolution, ResolutionErr):
            payload = resolution.payload
            c.settle(_error_output(payload.code, payload.message), True, c.duration_ms)
        elif isinstance(resolution, ResolutionTimeout):
            message = f"tool call {call_id!r} did not complete before its deadline"
            error = _error_output(codes.TOOL_COMPLETION_TIMEOUT, message)
            c.settle(error, True, c.duration_ms)
            pending = c.pending
            if pending is not None and pending.on_timeout is TimeoutPolicy.FAIL_TURN:
                c.failure = ControllerError(codes.TOOL_COMPLETION_TIMEOUT, message)
        else:
            message = f"tool call {call_id!r} was cancelled before it completed"
            error = _error_output(codes.TOOL_COMPLETION_CANCELLED, message)
            c.settle(error, True, c.duration_ms)
    if c.waiting is not None:
        live.waiting[c.waiting] = index
    elif live.waiting:  # other calls still run (`_maybe_settle` would return at once)
        return None
    return _maybe_settle(live, phase)


def _maybe_settle(live: Live, phase: ToolRound) -> None:
    """Once every call settled, apply the results in call order."""
    if live.waiting:
        return None
    results: list[ToolResultPart] = []
    failure: ControllerError | None = None
    listening = live.listening
    for c in phase.calls:
        result = c.result
        assert result is not None
        results.append(result)
        if listening:
            live.event(
                ToolCallFinishedEvent(
                    result.call_id, result.tool_name, result.output, result.is_error, c.duration_ms
                )
            )
        if failure is None:
            failure = c.failure
    if failure is not None:
        return stop(live, TurnStopReason.RUNTIME_ERROR, detail="tool_completion", error=failure)
    live.messages = (*live.messages, _message(_ROLE_TOOL, tuple(results), None))
    if live.config.checkpoint_after_work:
        return _start_checkpoint(live, CheckpointKind.AFTER_WORK, None)
    return _advance_iteration(live)


# -- checkpoints -----------------------------------------------------------------------------


def _start_checkpoint(live: Live, kind: CheckpointKind, final: Message | None) -> None:
    live.emit(live.turn_effect(EffectKind.CHECKPOINT), CheckpointCommand(kind))
    live.phase = WaitingCheckpoint(kind, final)


def _on_checkpoint(live: Live, phase: WaitingCheckpoint, outcome: CheckpointOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        return stop(live, TurnStopReason.RUNTIME_ERROR, detail="checkpoint", error=result.error)
    delivery = result.value
    delivered = (
        delivery.committed_user_messages
        or delivery.messages
        or delivery.transient_messages
        or delivery.turn_causes
    )
    if delivered:
        live.messages = live.messages + delivery.committed_user_messages + delivery.messages
        live.transient = delivery.transient_messages
        live.turn_causes = live.turn_causes + delivery.turn_causes
        return _advance_iteration(live)
    if phase.checkpoint is CheckpointKind.BEFORE_COMPLETION and phase.final is not None:
        return _finish(live, TurnCompleted(phase.final))
    return _advance_iteration(live)
