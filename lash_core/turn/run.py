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
from collections.abc import Callable, Mapping

import attrs

from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.kinds import KINDS
from lash_core.effects.outcomes import (
    EffectOutcome,
)
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.loop import CancelToken, TaskGroup, TaskHandle
from lash_core.routing import (
    EffectHandler,
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

__all__ = ["TurnHandlers", "error_outcome", "run_turn"]


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
    by_kind: Mapping[EffectKind, EffectHandler] = attrs.field(init=False, repr=False, eq=False)
    """The handler of each kind, built once (what the host's ``run_envelope`` is given)."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "by_kind", _by_kind(self))


def error_outcome(envelope: EffectEnvelope, error: LashError) -> EffectOutcome | None:
    """The outcome that reports ``error`` for ``envelope`` (``None`` for kinds whose failure is
    not an outcome: a sleep or a turn-control wait). The kind's row of
    :data:`~lash_core.effects.kinds.KINDS` decides."""
    return KINDS[envelope.command.kind].error_outcome(envelope, error)


def _by_kind(handlers: TurnHandlers) -> Mapping[EffectKind, EffectHandler]:
    by_kind: dict[EffectKind, EffectHandler] = {EffectKind.LLM_CALL: handlers.model}
    if handlers.tools is not None:
        by_kind[EffectKind.TOOL_ATTEMPT] = handlers.tools
    if handlers.code is not None:
        by_kind[EffectKind.EXEC_CODE] = handlers.code
    if handlers.checkpoint is not None:
        by_kind[EffectKind.CHECKPOINT] = handlers.checkpoint
    if handlers.environment is not None:
        by_kind[EffectKind.SYNC_EXECUTION_ENVIRONMENT] = handlers.environment
    return by_kind


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
    by_kind = handlers.by_kind
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

    async def execute(envelope: EffectEnvelope, deadline: float | None) -> EffectOutcome:
        outcome = await host.run_envelope(envelope, by_kind, deadline)
        if on_effect is not None:
            on_effect(envelope, outcome)
        return outcome

    async def run_one(key: str, envelope: EffectEnvelope, deadline: float | None) -> None:
        outcome = await execute(envelope, deadline)
        running.pop(key, None)
        arrived.append((key, outcome))
        wake[0].set()

    def deadline_of(timeout_ms: int | None) -> float | None:
        return None if timeout_ms is None else loop.now() + timeout_ms / 1000

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
                effects = step.effects
                if len(effects) == 1 and not running:
                    # Nothing else runs: run the effect in this task (no task, no wake-up).
                    envelope, timeout_ms = effects[0]
                    key = _replay_key(envelope)
                    feed(key, await execute(envelope, deadline_of(timeout_ms)))
                    continue
                for envelope, timeout_ms in effects:
                    key = _replay_key(envelope)
                    running[key] = group.start(
                        functools.partial(run_one, key, envelope, deadline_of(timeout_ms))
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
