"""Running a turn machine on an effect host, with user handlers.

:func:`run_turn` is the whole loop a driver needs: it asks the machine what to run, runs every
envelope of a batch concurrently on the host (model and tool calls through your handlers,
sleeps on the loop's clock, pending tool completions through the await-event registry with
their deadlines), feeds each outcome back as it arrives, streams the machine's events to a
callback, and returns the turn's result. It awaits only the host's loop primitives, so the same
function runs on trio and asyncio (``lash_trio.run_turn`` and ``lash_asyncio.run_turn`` are
this function).

A handler's exception never crashes the loop: it becomes the error outcome of its envelope's
kind (:func:`error_outcome`), with the library error's stable code, and the machine decides what
the turn does with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from lash_core.effects.commands import ToolAttemptCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import EffectKind
from lash_core.effects.llm import LlmCallError
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    CheckpointOutcome,
    DirectOutcome,
    EffectOutcome,
    ExecCodeOutcome,
    LlmCallOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptOutcome,
)
from lash_core.effects.tools import ToolAttemptLaunchDone, ToolCallRecord
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.loop import CancelToken, TaskGroup, TaskHandle
from lash_core.resolution import ExternalCompletionError, ResolutionErr
from lash_core.routing import (
    AwaitEventOptions,
    EffectHandler,
    HandlerExecutor,
    LocalExecutor,
    SleepExecutor,
)
from lash_core.turn.control import (
    TurnAddress,
    TurnCancellation,
    cancel_message,
    commit_turn,
    fail_turn,
    watch_cancel,
)
from lash_core.turn.events import RunEffects, TurnEvent, TurnFinished, TurnResult
from lash_core.turn.machine import TurnMachine
from lash_core.wire import Err, JsonValue

__all__ = ["TurnHandlers", "error_outcome", "run_turn"]

_SLEEP = SleepExecutor()


@attrs.frozen
class TurnHandlers:
    """Your side of a turn: async functions from an envelope to its outcome.

    ``model`` answers ``llm_call`` envelopes (an :class:`~lash_core.effects.LlmCallOutcome`),
    ``tools`` answers ``tool_attempt`` envelopes (dispatch on ``envelope.command.call.tool_name``;
    a tool that completes later returns a ``ToolLaunchPending`` with a key from
    ``host.await_event_key``), ``code`` answers ``exec_code``, ``checkpoint`` answers
    ``checkpoint`` (deliver queued user messages here), ``environment`` answers
    ``sync_execution_environment``. A missing handler makes its envelopes fail with
    ``runtime_effect_local_executor_unavailable``.
    """

    model: EffectHandler
    tools: EffectHandler | None = None
    code: EffectHandler | None = None
    checkpoint: EffectHandler | None = None
    environment: EffectHandler | None = None
    executors: tuple[LocalExecutor, LocalExecutor] = attrs.field(init=False, repr=False, eq=False)
    """The turn's and the tools' executors, built once."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "executors", _executors(self))


def error_outcome(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    """The outcome that reports ``error`` for ``envelope`` (``None`` for kinds whose failure is
    not an outcome: a sleep or a turn-control wait)."""
    text = f"{error.code}: {error.message}"
    kind = envelope.command.kind
    if kind is EffectKind.LLM_CALL:
        llm_error = LlmCallError(message=text, retryable=False, code=error.code)
        return LlmCallOutcome(Err(llm_error), text_streamed=False)
    if kind is EffectKind.DIRECT:
        llm_error = LlmCallError(message=text, retryable=False, code=error.code)
        return DirectOutcome(Err(llm_error))
    if kind is EffectKind.TOOL_ATTEMPT:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call = command.call
        detail: JsonValue = {"error": {"code": error.code, "message": error.message}}
        record = ToolCallRecord(
            call_id=call.call_id,
            tool_name=call.tool_name,
            args=call.args,
            output=detail,
            model_return=detail,
            duration_ms=0,
            attempt=command.attempt,
            success=False,
        )
        return ToolAttemptOutcome(ToolAttemptLaunchDone(record))
    if kind is EffectKind.EXEC_CODE:
        return ExecCodeOutcome(Err(text))
    if kind is EffectKind.CHECKPOINT:
        return CheckpointOutcome(Err(ControllerError(code=error.code, message=error.message)))
    if kind is EffectKind.SYNC_EXECUTION_ENVIRONMENT:
        return SyncExecutionEnvironmentOutcome(Err(text))
    if kind is EffectKind.AWAIT_EVENT and not error.code.startswith("turn_control"):
        return AwaitEventOutcome(ResolutionErr(ExternalCompletionError(error.code, error.message)))
    return None


def _executors(handlers: TurnHandlers) -> tuple[LocalExecutor, LocalExecutor]:
    turn: dict[EffectKind, EffectHandler] = {EffectKind.LLM_CALL: handlers.model}
    if handlers.code is not None:
        turn[EffectKind.EXEC_CODE] = handlers.code
    if handlers.checkpoint is not None:
        turn[EffectKind.CHECKPOINT] = handlers.checkpoint
    if handlers.environment is not None:
        turn[EffectKind.SYNC_EXECUTION_ENVIRONMENT] = handlers.environment
    tools: dict[EffectKind, EffectHandler] = {}
    if handlers.tools is not None:
        tools[EffectKind.TOOL_ATTEMPT] = handlers.tools
    return HandlerExecutor.turn(turn), HandlerExecutor("tool", tools)


async def run_turn(
    machine: TurnMachine,
    host: InlineHost,
    handlers: TurnHandlers,
    *,
    on_event: Callable[[TurnEvent], None] | None = None,
    on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None = None,
    cancel: CancelToken | None = None,
) -> TurnResult:
    """Run ``machine`` to its end on ``host`` and return the result.

    Every envelope of a batch runs concurrently; outcomes are fed back as they arrive (the
    machine applies tool results in call order whatever order they finish in). ``on_event``
    gets every stream event, in order; ``on_effect`` gets each envelope with its outcome as it
    completes (an effect trace). ``cancel`` stops the turn cleanly: running effects are
    cancelled natively (a pending tool completion's wait records ``cancelled``) and the result is
    ``stopped``/``cancelled``. Native cancellation of the task
    running this (a trio cancel scope, ``Task.cancel()``) cancels every running effect and
    propagates.
    """
    loop = host.primitives
    turn_executor, tool_executor = handlers.executors
    arrived: list[tuple[str, EffectOutcome]] = []
    wake = [loop.new_event()]
    running: dict[str, TaskHandle] = {}
    # Under turn control the turn is committed (its gate settled, its terminal published) in
    # the same step as it finishes, so no cancel request can come between the two.
    address = (
        None if machine.cancel_gate is None else TurnAddress(machine.session_id, machine.turn_id)
    )
    committed: list[TurnResult] = []

    def commit_if_finished() -> None:
        if address is not None and not committed:
            result = machine.result
            if result is not None:
                committed.append(commit_turn(host, address, result))

    def flush_events() -> None:
        events = machine.drain_events()
        if on_event is not None:
            for event in events:
                on_event(event)

    def feed(key: str, outcome: EffectOutcome) -> None:
        if machine.is_awaiting(key):
            machine.send(key, outcome)
            commit_if_finished()
            flush_events()

    async def execute(envelope: EffectEnvelope, executor: LocalExecutor) -> EffectOutcome:
        try:
            outcome = await host.execute_effect(envelope, executor)
        except LashError as error:
            failed = error_outcome(envelope, error)
            if failed is None:
                raise
            outcome = failed
        if on_effect is not None:
            on_effect(envelope, outcome)
        return outcome

    async def run_one(key: str, envelope: EffectEnvelope, executor: LocalExecutor) -> None:
        outcome = await execute(envelope, executor)
        running.pop(key, None)
        arrived.append((key, outcome))
        wake[0].set()

    def executor_for(step: RunEffects, envelope: EffectEnvelope) -> LocalExecutor:
        kind = envelope.command.kind
        if kind is EffectKind.TOOL_ATTEMPT:
            return tool_executor
        if kind is EffectKind.SLEEP:
            return _SLEEP
        if kind is EffectKind.AWAIT_EVENT:
            key = envelope.invocation.replay_key
            timeout_ms = None if key is None else step.timeout_ms(key)
            deadline = None if timeout_ms is None else loop.now() + timeout_ms / 1000
            return AwaitEventOptions(None, deadline)
        return turn_executor

    async def drive(group: TaskGroup) -> None:
        try:
            await steps(group)
        except Exception as exc:  # raised plainly by run_turn, not in an exception group
            failure.append(exc)
            for task in running.values():
                task.cancel()

    async def steps(group: TaskGroup) -> None:
        while True:
            step = machine.next()
            flush_events()
            if isinstance(step, TurnFinished):
                return
            if isinstance(step, RunEffects):
                envelopes = step.envelopes
                if len(envelopes) == 1 and not running:
                    # Nothing else runs: run the effect in this task (no task, no wake-up).
                    envelope = envelopes[0]
                    key = _replay_key(envelope)
                    feed(key, await execute(envelope, executor_for(step, envelope)))
                    continue
                for envelope in envelopes:
                    key = _replay_key(envelope)
                    running[key] = group.start(
                        functools.partial(run_one, key, envelope, executor_for(step, envelope))
                    )
                continue
            while not arrived and not machine.finished:
                event = wake[0] = loop.new_event()
                if arrived or machine.finished:
                    break
                await loop.wait_event(event, None)
            batch, arrived[:] = list(arrived), []
            for key, outcome in batch:
                feed(key, outcome)

    def stop(message: str = "the turn was cancelled") -> None:
        if not machine.finished:
            machine.cancel(message)
            try:
                commit_if_finished()
            except LashError as exc:
                # A commit refused (a revoked session) is the turn's failure, raised by
                # run_turn, not by whoever cancelled; the turn stops now all the same.
                failure.append(exc)
        for task in list(running.values()):
            task.cancel()
        running.clear()
        if driver:
            driver[0].cancel()
        wake[0].set()

    def on_gate_cancel(cancellation: TurnCancellation) -> None:
        stop(cancel_message(cancellation))

    driver: list[TaskHandle] = []
    failure: list[Exception] = []
    unsubscribe: list[Callable[[], None]] = []
    if address is not None:
        unsubscribe.append(watch_cancel(host, address, on_gate_cancel))
    try:
        async with loop.open_task_group() as group:
            driver.append(group.start(functools.partial(drive, group)))
            if cancel is not None:
                unsubscribe.append(cancel.subscribe(stop))
    except BaseException:
        # Native cancellation of the whole turn: a turn under turn control still commits as
        # cancelled, so whoever awaits its terminal learns how it ended.
        if address is not None and not machine.finished:
            machine.cancel()
            commit_if_finished()
        raise
    finally:
        for undo in unsubscribe:
            undo()
    if failure:
        if address is not None and not committed:
            fail_turn(host, address, failure[0])
        raise failure[0]
    step = machine.next()
    commit_if_finished()
    flush_events()
    assert isinstance(step, TurnFinished), "the turn ran to its end"
    return committed[0] if committed else step.result


def _replay_key(envelope: EffectEnvelope) -> str:
    key = envelope.invocation.replay_key
    assert key is not None  # the machine builds every envelope with a replay key
    return key
