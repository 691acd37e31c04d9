"""The sans-IO turn machine.

A turn is a pure function of its inputs: :class:`TurnMachine` never does I/O and never reads a
clock. ``next()`` hands out the envelopes that may run now, ``send(replay_key, outcome)`` feeds
one outcome back, ``drain_events()`` returns the stream events. Every call decides whether it
is refused before it changes anything, so a refused call leaves the machine exactly as it was.

The machine works on a :class:`_Live` state: the fields of the frozen
:class:`~lash_core.turn.state.TurnState` with the collections a transition changes held as a
list or a dict (queued envelopes, handed-out envelopes by replay key, a tool round's slots,
undrained events), plus the replay keys a tool round's unsettled calls wait on. A ``send``
therefore changes a few items whatever the size of the round, and ``checkpoint()`` builds the
frozen state only when asked (keeping it until the next change).

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
from collections.abc import Callable, Iterable
from typing import Final, TypeAlias

import attrs

from lash_core import codes
from lash_core.effects.commands import (
    AwaitEventCommand,
    CheckpointCommand,
    EffectCommand,
    ExecCodeCommand,
    LlmCallCommand,
    PeekAwaitEventCommand,
    SleepCommand,
    SyncExecutionEnvironmentCommand,
    ToolAttemptCommand,
)
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import EffectKind, Invocation, InvocationScope
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
    expect_outcome,
)
from lash_core.effects.replay_keys import (
    ChildInvocations,
    child_effect_invocation,
    turn_cancel_start_gate_invocation,
    turn_effect_in_scope,
)
from lash_core.effects.tools import (
    CheckpointKind,
    PendingCompletion,
    PreparedToolCall,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey
from lash_core.resolution import ResolutionErr, ResolutionOk, ResolutionTimeout
from lash_core.scope import TurnCancelGate, TurnScope
from lash_core.turn.config import TurnConfig, check_turn_arguments, turn_messages
from lash_core.turn.control import GateCancelRequested, cancel_message, decode_gate
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
    CheckingGate,
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
    EffectKind.PEEK_AWAIT_EVENT: PeekAwaitEventOutcome,
}
_OUTCOME_TYPES: Final[tuple[type[EffectOutcome], ...]] = typing.get_args(EffectOutcome)

_CONTEXT_OVERFLOW_PERCENT: Final = 95


class TurnMachine:
    """One agent turn as a pure state machine (h11 style).

    ``next()`` returns :class:`RunEffects` (envelopes that may run now, concurrently),
    :class:`NeedOutcomes` (still waiting; calling ``next()`` again never re-emits) or
    :class:`TurnFinished`. ``send(replay_key, outcome)`` feeds one outcome of an envelope
    handed out by ``next()``. Misuse raises :class:`~lash_core.errors.LocalProtocolError` and
    an outcome of the wrong kind ``LashError`` ``runtime_effect_wrong_outcome``; both are
    decided before anything changes, so they leave the machine unchanged. Any other exception
    is a bug in lash: the machine then refuses every further call with ``turn_machine_broken``
    (restore a checkpoint taken earlier to go on).
    """

    __slots__ = ("_broken", "_frozen", "_live")

    _live: _Live
    _frozen: TurnState | None
    _broken: BaseException | None

    def __init__(
        self,
        config: TurnConfig,
        *,
        session_id: str,
        turn_id: str,
        turn_index: int,
        messages: Iterable[Message],
        cancel_gate: AwaitEventKey | None = None,
    ) -> None:
        check_turn_arguments(config, session_id, turn_id, turn_index)
        config.validate()
        if not session_id.strip() or not turn_id.strip():
            raise LocalProtocolError(
                codes.TURN_CONFIG_INVALID, "session_id and turn_id must be non-empty"
            )
        if turn_index < 0:
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "turn_index must not be negative")
        if cancel_gate is not None and (
            not isinstance(cancel_gate, AwaitEventKey)
            or cancel_gate.scope != TurnScope(session_id, turn_id)
            or not isinstance(cancel_gate.wait, TurnCancelGate)
        ):
            raise LocalProtocolError(
                codes.TURN_CONFIG_INVALID,
                "cancel_gate must be the turn_cancel_gate key of this turn's scope",
            )
        conversation = turn_messages(messages)
        state = TurnState(
            config=config,
            session_id=session_id,
            turn_id=turn_id,
            turn_index=turn_index,
            cancel_gate=cancel_gate,
            system=config.system_prompt,
            tools=config.tools,
            messages=conversation,
            progress_cursor=len(conversation),
        )
        self._live = _Live(state)
        self._frozen = None
        self._broken = None
        self._change(_start)

    # -- checkpoint and restore -------------------------------------------------------------

    def checkpoint(self) -> TurnState:
        """The whole state as a wire value (``lash_core.wire.to_json`` writes it).

        Built on demand (and kept until the next change), so transitions never pay for it.
        """
        if self._broken is not None:
            self._refuse()
        frozen = self._frozen
        if frozen is None:
            frozen = self._frozen = self._live.freeze()
        return frozen

    @classmethod
    def restore(cls, checkpoint: TurnState) -> TurnMachine:
        """A machine continuing from ``checkpoint``. Envelopes that were handed out and not
        answered are handed out again by the next ``next()``, identical (same replay keys,
        same hashes)."""
        if not isinstance(checkpoint, TurnState):
            raise LocalProtocolError(codes.TURN_CONFIG_INVALID, "restore needs a TurnState")
        checkpoint.config.validate()
        machine = cls.__new__(cls)
        machine._live = _Live(
            _evolve(checkpoint, outbox=checkpoint.inflight + checkpoint.outbox, inflight=())
        )
        machine._frozen = None
        machine._broken = None
        return machine

    # -- driving ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """The turn is over."""
        return isinstance(self._live.phase, TurnDone)

    @property
    def session_id(self) -> str:
        return self._live.session_id

    @property
    def turn_id(self) -> str:
        return self._live.turn_id

    @property
    def result(self) -> TurnResult | None:
        """The turn's result once it is over, else ``None``."""
        phase = self._live.phase
        return phase.result if isinstance(phase, TurnDone) else None

    @property
    def cancel_gate(self) -> AwaitEventKey | None:
        """The turn's cancel-gate key, if it runs under turn control."""
        return self._live.cancel_gate

    @property
    def gate_checked(self) -> bool:
        """The start gate has been read (or there is none): a cancel must now be watched for."""
        return not isinstance(self._live.phase, CheckingGate)

    @property
    def awaiting(self) -> tuple[str, ...]:
        """Replay keys of the envelopes handed out and not yet answered."""
        return tuple(self._live.inflight)

    def is_awaiting(self, replay_key: str) -> bool:
        """Whether the envelope with ``replay_key`` was handed out and not yet answered."""
        return replay_key in self._live.inflight

    def next(self) -> TurnStep:
        """What the driver does next (see the class docstring)."""
        if self._broken is not None:
            self._refuse()
        live = self._live
        if live.outbox:
            envelopes = tuple(live.outbox.values())
            deadlines = _deadlines(live, envelopes)
            self._change(_hand_out)
            return RunEffects(envelopes, deadlines)
        phase = live.phase
        if isinstance(phase, TurnDone):
            return TurnFinished(phase.result)
        return NeedOutcomes(tuple(live.inflight))

    def send(self, replay_key: str, outcome: EffectOutcome) -> None:
        """Feed the outcome of the handed-out envelope with ``replay_key``.

        Raises ``LocalProtocolError`` (``turn_finished`` after the end,
        ``turn_unknown_replay_key`` for a key not awaited) or ``LashError``
        (``runtime_effect_wrong_outcome``); the machine is then unchanged.
        """
        if self._broken is not None:
            self._refuse()
        live = self._live
        if isinstance(live.phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        envelope = live.inflight.get(replay_key) if type(replay_key) is str else None
        if envelope is None:
            queued = type(replay_key) is str and replay_key in live.outbox
            why = "has not been handed out by next() yet" if queued else "is not awaited"
            raise LocalProtocolError(
                codes.TURN_UNKNOWN_REPLAY_KEY, f"replay key {replay_key!r} {why}"
            )
        expected = _EXPECTED[envelope.command.kind]
        if type(outcome) is not expected:
            if not isinstance(outcome, _OUTCOME_TYPES):
                raise LashError(
                    codes.RUNTIME_EFFECT_WRONG_OUTCOME,
                    f"expected {envelope.kind.value} outcome, got {type(outcome).__name__}",
                )
            outcome = expect_outcome(outcome, expected)
        self._frozen = None
        try:
            del live.inflight[replay_key]
            _apply(live, replay_key, outcome)
        except BaseException as exc:
            self._broken = exc
            raise

    def drain_events(self) -> tuple[TurnEvent, ...]:
        """The stream events since the last drain, in order."""
        if self._broken is not None:
            self._refuse()
        live = self._live
        events = live.events
        if not events:
            return ()
        self._frozen = None
        live.events = []
        return tuple(events)

    def cancel(self, message: str = "the turn was cancelled") -> None:
        """End the turn now as stopped (``cancelled``); outstanding envelopes are dropped
        (their outcomes are then refused with ``turn_finished``)."""
        if self._broken is not None:
            self._refuse()
        if isinstance(self._live.phase, TurnDone):
            raise LocalProtocolError(codes.TURN_FINISHED, "the turn is already finished")
        error = ControllerError(codes.TURN_CANCELLED, message)
        self._change(lambda d: _stop(d, TurnStopReason.CANCELLED, error=error))

    def _refuse(self) -> typing.NoReturn:
        broken = self._broken
        raise LocalProtocolError(
            codes.TURN_MACHINE_BROKEN,
            f"an earlier call failed inside a transition ({type(broken).__name__}: "
            f"{broken}); restore a checkpoint taken before it",
        )

    def _change(self, change: Callable[[_Live], None]) -> None:
        """Apply ``change`` to the live state (every refusal has happened before)."""
        self._frozen = None
        try:
            change(self._live)
        except BaseException as exc:
            self._broken = exc
            raise


# -- the live state ----------------------------------------------------------------------------


class _Call:
    """One call of a round in progress: a :class:`ToolSlot`, mutable (see its fields)."""

    __slots__ = (
        "attempt",
        "call",
        "duration_ms",
        "failure",
        "kind",
        "pending",
        "replay_suffix",
        "result",
        "waiting",
    )

    def __init__(
        self,
        call: ToolCallPart,
        kind: CallKind,
        replay_suffix: str | None = None,
        waiting: str | None = None,
        result: ToolResultPart | None = None,
    ) -> None:
        self.call = call
        self.kind = kind
        self.replay_suffix = replay_suffix
        self.attempt = 1
        self.waiting = waiting
        self.pending: PendingCompletion | None = None
        self.result = result
        self.failure: ControllerError | None = None
        self.duration_ms = 0

    @classmethod
    def of(cls, slot: ToolSlot) -> _Call:
        c = cls(slot.call, slot.kind, slot.replay_suffix, slot.waiting, slot.result)
        c.attempt, c.pending, c.failure = slot.attempt, slot.pending, slot.failure
        c.duration_ms = slot.duration_ms
        return c

    def frozen(self) -> ToolSlot:
        return ToolSlot(
            call=self.call,
            kind=self.kind,
            replay_suffix=self.replay_suffix,
            attempt=self.attempt,
            waiting=self.waiting,
            pending=self.pending,
            result=self.result,
            failure=self.failure,
            duration_ms=self.duration_ms,
        )

    def settle(self, output: JsonValue, is_error: bool, duration_ms: int) -> None:
        """The call settled with a result carrying ``output``."""
        call = self.call
        self.result = ToolResultPart(call.call_id, call.tool_name, output, is_error)
        self.duration_ms = duration_ms
        self.waiting = None


_CALL_FIELDS: Final = frozenset(f.name for f in attrs.fields(ToolSlot))
assert frozenset(_Call.__slots__) == _CALL_FIELDS, "a live call mirrors ToolSlot"


class _ToolRound:
    """A round of tool calls in progress: :class:`WaitingTools` with its calls mutable in a
    list, so settling one call changes one item, and the builder of its batch's children."""

    __slots__ = ("batch", "calls", "children")

    def __init__(self, calls: list[_Call], batch: Invocation | None) -> None:
        self.calls = calls
        self.batch = batch
        self.children = None if batch is None else ChildInvocations(batch)


_LivePhase: TypeAlias = (
    CheckingGate | WaitingSync | WaitingLlm | _ToolRound | WaitingCheckpoint | TurnDone
)


class _Live:
    """The machine's state, mutable: :class:`TurnState`'s fields with the collections a
    transition changes held as lists and dicts, plus one lookup derived from them.

    ``outbox`` holds envelopes not yet handed out, by replay key in emission order;
    ``inflight`` those handed out and not answered, by replay key in hand-out order;
    ``events`` the undrained stream events.
    ``waiting`` maps the replay key each unsettled call of a tool round waits on to the call's
    slot index: it is empty exactly when every call of the round has settled. ``scope`` is the
    invocation scope of the current protocol iteration, built once.
    :meth:`freeze` gives the frozen state; the constructor takes one back.
    """

    __slots__ = (
        "cancel_gate",
        "config",
        "events",
        "inflight",
        "messages",
        "next_effect_id",
        "outbox",
        "phase",
        "progress_cursor",
        "protocol_iteration",
        "scope",
        "session_id",
        "synced_iteration",
        "system",
        "tools",
        "transient",
        "turn_causes",
        "turn_id",
        "turn_index",
        "usage",
        "waiting",
    )

    def __init__(self, s: TurnState) -> None:
        self.config = s.config
        self.session_id = s.session_id
        self.turn_id = s.turn_id
        self.turn_index = s.turn_index
        self.cancel_gate = s.cancel_gate
        self.protocol_iteration = s.protocol_iteration
        self.next_effect_id = s.next_effect_id
        self.synced_iteration = s.synced_iteration
        self.system = s.system
        self.tools = s.tools
        self.messages = s.messages
        self.transient = s.transient
        self.turn_causes = s.turn_causes
        self.usage = s.usage
        self.progress_cursor = s.progress_cursor
        self.outbox: dict[str, EffectEnvelope] = {_key(e): e for e in s.outbox}
        self.inflight: dict[str, EffectEnvelope] = {_key(e): e for e in s.inflight}
        self.events: list[TurnEvent] = list(s.events)
        self.waiting: dict[str, int] = {}
        self.scope: InvocationScope | None = None
        phase = s.phase
        self.phase: _LivePhase
        if isinstance(phase, WaitingTools):
            self.phase = _ToolRound([_Call.of(slot) for slot in phase.slots], phase.batch)
            for i, slot in enumerate(phase.slots):
                if slot.waiting is not None:
                    self.waiting[slot.waiting] = i
        else:
            self.phase = phase

    def freeze(self) -> TurnState:
        """The state as a frozen wire value."""
        phase = self.phase
        return TurnState(
            config=self.config,
            session_id=self.session_id,
            turn_id=self.turn_id,
            turn_index=self.turn_index,
            cancel_gate=self.cancel_gate,
            protocol_iteration=self.protocol_iteration,
            next_effect_id=self.next_effect_id,
            synced_iteration=self.synced_iteration,
            system=self.system,
            tools=self.tools,
            messages=self.messages,
            transient=self.transient,
            turn_causes=self.turn_causes,
            usage=self.usage,
            progress_cursor=self.progress_cursor,
            phase=(
                WaitingTools(tuple(c.frozen() for c in phase.calls), phase.batch)
                if isinstance(phase, _ToolRound)
                else phase
            ),
            outbox=tuple(self.outbox.values()),
            inflight=tuple(self.inflight.values()),
            events=tuple(self.events),
        )

    def emit(self, invocation: Invocation, command: EffectCommand) -> None:
        """Queue an envelope for ``next()``."""
        # Valid by construction (the machine's tests validate every envelope it emits), so
        # built without EffectEnvelope.build's checks.
        replay = invocation.replay
        assert replay is not None
        self.outbox[replay.key] = EffectEnvelope(invocation, command)

    def event(self, event: TurnEvent) -> None:
        """Queue a stream event for ``drain_events()``."""
        self.events.append(event)

    def turn_effect(self, kind: EffectKind) -> Invocation:
        """The invocation of the turn's next effect of ``kind`` (taking an effect id)."""
        scope = self.scope
        if scope is None or scope.protocol_iteration != self.protocol_iteration:
            scope = self.scope = InvocationScope.for_turn(
                self.session_id, self.turn_id, self.turn_index, self.protocol_iteration
            )
        invocation = turn_effect_in_scope(scope, kind, self.next_effect_id)
        self.next_effect_id += 1
        return invocation


_STATE_FIELDS: Final = frozenset(f.name for f in attrs.fields(TurnState))
assert frozenset(_Live.__slots__) - {"scope", "waiting"} == _STATE_FIELDS, (
    "live state mirrors TurnState"
)


# -- helpers ---------------------------------------------------------------------------------


def _key(envelope: EffectEnvelope) -> str:
    key = envelope.replay_key
    assert key is not None  # every envelope is built with a replay key
    return key


def _invocation_key(invocation: Invocation) -> str:
    key = invocation.replay_key
    assert key is not None  # every invocation the machine builds has a replay key
    return key


def _deadlines(d: _Live, envelopes: tuple[EffectEnvelope, ...]) -> tuple[AwaitDeadline, ...]:
    phase = d.phase
    if not isinstance(phase, _ToolRound):
        return ()
    out = []
    for envelope in envelopes:
        if envelope.kind is not EffectKind.AWAIT_EVENT:
            continue
        key = _key(envelope)
        i = d.waiting.get(key)
        pending = None if i is None else phase.calls[i].pending
        if pending is not None and pending.deadline is not None:
            out.append(AwaitDeadline(key, pending.deadline.to_ms()))
    return tuple(out)


def _hand_out(d: _Live) -> None:
    d.inflight.update(d.outbox)
    d.outbox = {}


def _finish(d: _Live, outcome: TurnOutcome) -> None:
    result = TurnResult(outcome, d.messages, d.usage, d.protocol_iteration, d.turn_causes)
    d.event(TurnOutcomeEvent(outcome))
    d.phase = TurnDone(result)
    d.outbox = {}
    d.inflight = {}
    d.waiting = {}


def _stop(
    d: _Live,
    reason: TurnStopReason,
    *,
    detail: str | None = None,
    error: ControllerError | None = None,
) -> None:
    _finish(d, TurnStopped(reason, detail, error))


def _start(d: _Live) -> None:
    """Read the cancel gate first if there is one, else start the first iteration."""
    gate = d.cancel_gate
    if gate is None:
        return _start_iteration(d)
    d.emit(turn_cancel_start_gate_invocation(d.session_id, d.turn_id), PeekAwaitEventCommand(gate))
    d.phase = CheckingGate()
    return None


def _on_start_gate(d: _Live, outcome: PeekAwaitEventOutcome) -> None:
    """A cancel already on the gate stops the turn before it runs anything."""
    terminal = outcome.resolution
    if terminal is None:
        return _start_iteration(d)
    try:
        winner = decode_gate(terminal)
    except LashError as exc:
        error = ControllerError(exc.code, exc.message)
        return _stop(d, TurnStopReason.RUNTIME_ERROR, detail="turn_control", error=error)
    if isinstance(winner, GateCancelRequested):
        error = ControllerError(codes.TURN_CANCELLED, cancel_message(winner.cancellation))
        return _stop(d, TurnStopReason.CANCELLED, error=error)
    error = ControllerError(
        codes.TURN_CANCEL_GATE_INVALID_TERMINAL,
        "the cancel gate is already sealed: this turn completed in an earlier run",
    )
    return _stop(d, TurnStopReason.RUNTIME_ERROR, detail="turn_control", error=error)


def _advance_iteration(d: _Live) -> None:
    """Move to the next protocol iteration, report progress and prepare it."""
    d.protocol_iteration += 1
    d.event(ProgressEvent(d.protocol_iteration, d.messages[d.progress_cursor :]))
    d.progress_cursor = len(d.messages)
    _start_iteration(d)


def _start_iteration(d: _Live) -> None:
    """Sync the execution environment if due, else start the model call."""
    config = d.config
    if d.protocol_iteration >= config.max_iterations:
        return _stop(d, TurnStopReason.MAX_ITERATIONS)
    if config.sync_execution_environment and d.synced_iteration != d.protocol_iteration:
        invocation = d.turn_effect(EffectKind.SYNC_EXECUTION_ENVIRONMENT)
        d.emit(invocation, SyncExecutionEnvironmentCommand(d.synced_iteration is not None))
        d.phase = WaitingSync()
        return None
    return _start_llm(d)


def _start_llm(d: _Live) -> None:
    config = d.config
    request = LlmRequest(
        config.model, d.messages + d.transient, d.tools, d.system, config.max_output_tokens
    )
    invocation = d.turn_effect(EffectKind.LLM_CALL)
    d.emit(invocation, LlmCallCommand(request))
    d.phase = WaitingLlm(request, invocation)
    d.transient = ()


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


def _apply(d: _Live, key: str, outcome: EffectOutcome) -> None:
    """Apply the outcome of the handed-out envelope with replay key ``key``."""
    phase = d.phase
    if type(phase) is _ToolRound:
        return _on_tool_outcome(d, phase, key, outcome)
    if isinstance(outcome, SyncExecutionEnvironmentOutcome):
        return _on_sync(d, outcome)
    if isinstance(outcome, PeekAwaitEventOutcome):
        return _on_start_gate(d, outcome)
    if isinstance(phase, WaitingLlm):
        if isinstance(outcome, SleepOutcome):
            attempt = phase.attempt + 1
            d.emit(_llm_attempt(phase.first, attempt), LlmCallCommand(phase.request))
            d.phase = WaitingLlm(phase.request, phase.first, attempt)
            return None
        assert isinstance(outcome, LlmCallOutcome)
        return _on_llm(d, phase, outcome)
    assert isinstance(phase, WaitingCheckpoint) and isinstance(outcome, CheckpointOutcome)
    return _on_checkpoint(d, phase, outcome)


def _on_sync(d: _Live, outcome: SyncExecutionEnvironmentOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        error = ControllerError(codes.RECONFIGURE_FAILED, result.error)
        return _stop(d, TurnStopReason.RUNTIME_ERROR, detail="execution_environment", error=error)
    d.synced_iteration = d.protocol_iteration
    if result.value is not None:
        d.system, d.tools = result.value.system_prompt, result.value.tool_specs
    return _start_llm(d)


def _on_llm(d: _Live, phase: WaitingLlm, outcome: LlmCallOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        return _on_llm_error(d, phase, result.error)
    response: LlmResponse = result.value
    d.usage = d.usage + response.usage
    d.event(UsageEvent(response.usage, d.usage))
    reason = response.stop_reason
    limit = d.config.max_context_tokens
    if (
        reason is StopReason.OUTPUT_LIMIT
        and limit is not None
        and response.usage.output_tokens == 0
        and response.usage.input_tokens * 100 >= limit * _CONTEXT_OVERFLOW_PERCENT
    ):
        reason = StopReason.CONTEXT_OVERFLOW
    if reason is StopReason.OUTPUT_LIMIT:
        return _stop(d, TurnStopReason.INCOMPLETE, detail=reason.value)
    if reason in (
        StopReason.CONTENT_FILTER,
        StopReason.CONTEXT_OVERFLOW,
        StopReason.PROVIDER_ERROR,
    ):
        return _stop(d, TurnStopReason.PROVIDER_ERROR, detail=reason.value)
    if reason is StopReason.CANCELLED:
        return _stop(d, TurnStopReason.CANCELLED, detail=reason.value)
    message = response.message
    texts: list[str] = []
    calls: list[ToolCallPart] = []
    for part in message.parts:
        if isinstance(part, ToolCallPart):
            calls.append(part)
        elif isinstance(part, TextPart):
            texts.append(part.text)
    if texts and not outcome.text_streamed:
        text = "".join(texts)
        if text:
            d.event(TextEvent(text))
    d.messages = (*d.messages, message)
    if calls:
        return _start_round(d, calls)
    if d.config.checkpoint_before_completion:
        return _start_checkpoint(d, CheckpointKind.BEFORE_COMPLETION, message)
    return _finish(d, TurnCompleted(message))


def _on_llm_error(d: _Live, phase: WaitingLlm, error: LlmCallError) -> None:
    policy = d.config.model_retry
    if error.retryable and phase.attempt < policy.max_attempts:
        command = SleepCommand(policy.delay_ms(phase.attempt))
        return d.emit(_llm_sleep(phase.first, phase.attempt), command)
    controller = ControllerError(error.code or codes.TURN_LLM_CALL_FAILED, error.message)
    return _stop(d, TurnStopReason.PROVIDER_ERROR, detail=error.kind.value, error=controller)


# -- tool rounds -----------------------------------------------------------------------------


def _error_output(code: str, message: str) -> JsonValue:
    return {"code": code, "message": message}


def _invalid_calls(calls: list[ToolCallPart]) -> str | None:
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


def _start_round(d: _Live, calls: list[ToolCallPart]) -> None:
    """Start every call of the model's response: tool attempts and code runs, concurrently."""
    problem = _invalid_calls(calls)
    if problem is not None:
        error = ControllerError(codes.TURN_INVALID_TOOL_CALL, problem)
        return _stop(d, TurnStopReason.RUNTIME_ERROR, error=error)
    code_tool = d.config.code_tool_name
    batch: Invocation | None = None
    if any(c.tool_name != code_tool for c in calls):
        batch = d.turn_effect(EffectKind.TOOL_BATCH)
    waiting = d.waiting
    phase = _ToolRound([], batch)
    round_calls = phase.calls
    index = 0
    for call in calls:
        d.event(ToolCallStartedEvent(call.call_id, call.tool_name, call.args))
        if call.tool_name == code_tool:
            parsed = _code_args(call.args, d.config.code_language)
            if parsed is None:
                output = _error_output(
                    codes.TURN_EXEC_ARGS_INVALID,
                    'code tool arguments must be {"code": str, "language"?: str}',
                )
                result = ToolResultPart(call.call_id, call.tool_name, output, True)
                round_calls.append(_Call(call, CallKind.CODE, result=result))
                continue
            invocation = d.turn_effect(EffectKind.EXEC_CODE)
            d.emit(invocation, ExecCodeCommand(*parsed))
            key = _invocation_key(invocation)
            waiting[key] = len(round_calls)
            round_calls.append(_Call(call, CallKind.CODE, waiting=key))
            continue
        suffix = f"child:{index}:{call.call_id}"
        index += 1
        key = _attempt(d, phase, call, suffix, 1)
        waiting[key] = len(round_calls)
        round_calls.append(_Call(call, CallKind.TOOL, suffix, key))
    d.phase = phase
    return _maybe_settle(d, phase)


def _attempt(d: _Live, phase: _ToolRound, call: ToolCallPart, suffix: str, n: int) -> str:
    """Emit attempt ``n`` of ``call`` (replay suffix ``suffix``); returns its replay key."""
    assert phase.children is not None  # a round with tool calls has a batch
    invocation = phase.children.tool_attempt(suffix, n)
    prepared = PreparedToolCall(call.call_id, call.tool_name, call.tool_name, call.args)
    command = ToolAttemptCommand(
        call=prepared, attempt=n, max_attempts=d.config.tool_retry.max_attempts
    )
    d.emit(invocation, command)
    return _invocation_key(invocation)


def _on_tool_outcome(d: _Live, phase: _ToolRound, key: str, outcome: EffectOutcome) -> None:
    index = d.waiting.pop(key)
    c = phase.calls[index]
    if isinstance(outcome, ToolAttemptOutcome):
        children, suffix = phase.children, c.replay_suffix
        assert children is not None and suffix is not None
        launch = outcome.launch
        if isinstance(launch, ToolAttemptLaunchDone):
            record = launch.record
            policy = d.config.tool_retry
            if record.success or c.attempt >= policy.max_attempts:
                c.settle(record.model_return, not record.success, record.duration_ms)
            else:
                sleep = children.tool_retry_sleep(suffix, c.attempt)
                d.emit(sleep, SleepCommand(policy.delay_ms(c.attempt)))
                c.waiting = _invocation_key(sleep)
        else:
            wait = children.pending_completion(c.call.call_id)
            d.emit(wait, AwaitEventCommand(launch.key))
            c.waiting = _invocation_key(wait)
            c.pending = launch.pending
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
        c.waiting = _attempt(d, phase, c.call, c.replay_suffix, c.attempt)
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
        d.waiting[c.waiting] = index
    return _maybe_settle(d, phase)


def _maybe_settle(d: _Live, phase: _ToolRound) -> None:
    """Once every call settled, apply the results in call order."""
    if d.waiting:
        return None
    results: list[ToolResultPart] = []
    failure: ControllerError | None = None
    for c in phase.calls:
        result = c.result
        assert result is not None
        results.append(result)
        d.event(
            ToolCallFinishedEvent(
                result.call_id, result.tool_name, result.output, result.is_error, c.duration_ms
            )
        )
        if failure is None:
            failure = c.failure
    if failure is not None:
        return _stop(d, TurnStopReason.RUNTIME_ERROR, detail="tool_completion", error=failure)
    d.messages = (*d.messages, Message(Role.TOOL, tuple(results)))
    if d.config.checkpoint_after_work:
        return _start_checkpoint(d, CheckpointKind.AFTER_WORK, None)
    return _advance_iteration(d)


# -- checkpoints -----------------------------------------------------------------------------


def _start_checkpoint(d: _Live, kind: CheckpointKind, final: Message | None) -> None:
    d.emit(d.turn_effect(EffectKind.CHECKPOINT), CheckpointCommand(kind))
    d.phase = WaitingCheckpoint(kind, final)


def _on_checkpoint(d: _Live, phase: WaitingCheckpoint, outcome: CheckpointOutcome) -> None:
    result = outcome.result
    if isinstance(result, Err):
        return _stop(d, TurnStopReason.RUNTIME_ERROR, detail="checkpoint", error=result.error)
    delivery = result.value
    delivered = (
        delivery.committed_user_messages
        or delivery.messages
        or delivery.transient_messages
        or delivery.turn_causes
    )
    if delivered:
        d.messages = d.messages + delivery.committed_user_messages + delivery.messages
        d.transient = delivery.transient_messages
        d.turn_causes = d.turn_causes + delivery.turn_causes
        return _advance_iteration(d)
    if phase.checkpoint is CheckpointKind.BEFORE_COMPLETION and phase.final is not None:
        return _finish(d, TurnCompleted(phase.final))
    return _advance_iteration(d)
