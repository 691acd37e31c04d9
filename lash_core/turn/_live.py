"""The turn machine's live state: :class:`Live`, the mutable twin of
:class:`~lash_core.turn.state.TurnState`, with a tool round's calls (:class:`Call`,
:class:`ToolRound`) mutable too, so a transition changes a few items whatever the size of the
round. :meth:`Live.freeze` gives the frozen wire value and the constructor takes one back;
:func:`planned` is how ``next()`` hands the queued envelopes out (with their deadlines).
"""

from __future__ import annotations

from typing import Final, TypeAlias

import attrs

from lash_core._unchecked import slot_setters, unchecked
from lash_core.effects.commands import AwaitEventCommand, EffectCommand, ToolAttemptCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import (
    EffectKind,
    EffectSubject,
    Invocation,
    InvocationScope,
    Replay,
)
from lash_core.effects.llm import Message, ToolCallPart, ToolResultPart, Usage
from lash_core.effects.replay_keys import ChildInvocations
from lash_core.effects.tools import PendingCompletion, PreparedToolCall
from lash_core.keys import AwaitEventKey
from lash_core.turn.config import TurnConfig
from lash_core.turn.events import PlannedEffect, TurnEvent
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
from lash_core.wire import JsonValue

__all__ = [
    "Call",
    "Live",
    "LivePhase",
    "ToolRound",
    "first_attempt",
    "invocation_key",
    "key_of",
    "planned",
]


# -- the live state ----------------------------------------------------------------------------


class Call:
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
    def of(cls, slot: ToolSlot) -> Call:
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
        # Its parts come from the call (validated) and the outcome's record (checked).
        self.result = _tool_result(call.call_id, call.tool_name, output, is_error)
        self.duration_ms = duration_ms
        self.waiting = None


_tool_result: Final = unchecked(ToolResultPart)
_scope: Final = unchecked(InvocationScope)
_envelope: Final = unchecked(EffectEnvelope)

# -- a tool call's first attempt, in one frame -------------------------------------------------

_new: Final = object.__new__
_TOOL_ATTEMPT: Final = EffectKind.TOOL_ATTEMPT
_subject_id, _subject_kind = slot_setters(EffectSubject, "effect_id", "kind")
(_replay_key,) = slot_setters(Replay, "key")
_inv_scope, _inv_subject, _inv_cause, _inv_replay = slot_setters(
    Invocation, "scope", "subject", "caused_by", "replay"
)
_call_id, _call_tool_id, _call_tool_name, _call_args, _call_replay, _call_payload = slot_setters(
    PreparedToolCall, "call_id", "tool_id", "tool_name", "args", "replay", "prepared_payload"
)
_cmd_call, _cmd_grant, _cmd_attempt, _cmd_max = slot_setters(
    ToolAttemptCommand, "call", "execution_grant", "attempt", "max_attempts"
)
_env_invocation, _env_command = slot_setters(EffectEnvelope, "invocation", "command")


def first_attempt(
    children: ChildInvocations, suffix: str, key: str, call: ToolCallPart, max_attempts: int
) -> EffectEnvelope:
    """The envelope of attempt 1 of ``call``, a child of the round's batch (``suffix`` is its
    ``{replay suffix}:attempt:1``, ``key`` its replay key ``children.key_prefix + suffix``):
    ``EffectEnvelope(children.tool_attempt_of(suffix, key), ToolAttemptCommand(
    call=PreparedToolCall(call_id, tool_name, tool_name, args), attempt=1, max_attempts=...))``
    built in one frame, without re-validation (one per tool call: its parts are the model's
    call, validated, the batch's, and counts the machine keeps)."""
    subject = _new(EffectSubject)
    _subject_id(subject, children.attempt_id_prefix + suffix)
    _subject_kind(subject, _TOOL_ATTEMPT)
    replay = _new(Replay)
    _replay_key(replay, key)
    invocation = _new(Invocation)
    _inv_scope(invocation, children.scope)
    _inv_subject(invocation, subject)
    _inv_cause(invocation, children.cause)
    _inv_replay(invocation, replay)
    tool_name = call.tool_name
    prepared = _new(PreparedToolCall)
    _call_id(prepared, call.call_id)
    _call_tool_id(prepared, tool_name)
    _call_tool_name(prepared, tool_name)
    _call_args(prepared, call.args)
    _call_replay(prepared, None)
    _call_payload(prepared, None)
    command = _new(ToolAttemptCommand)
    _cmd_call(command, prepared)
    _cmd_grant(command, None)
    _cmd_attempt(command, 1)
    _cmd_max(command, max_attempts)
    envelope = _new(EffectEnvelope)
    _env_invocation(envelope, invocation)
    _env_command(envelope, command)
    return envelope


_CALL_FIELDS: Final = frozenset(f.name for f in attrs.fields(ToolSlot))
assert frozenset(Call.__slots__) == _CALL_FIELDS, "a live call mirrors ToolSlot"


class ToolRound:
    """A round of tool calls in progress: :class:`WaitingTools` with its calls mutable in a
    list, so settling one call changes one item, and the builder of its batch's children."""

    __slots__ = ("batch", "calls", "children", "deadlines")

    def __init__(self, calls: list[Call], batch: Invocation | None) -> None:
        self.calls = calls
        self.batch = batch
        self.children = None if batch is None else ChildInvocations(batch)
        self.deadlines = any(c.pending is not None for c in calls) if calls else False
        """Whether a call of the round has a pending completion (whose wait may have a
        deadline): set as one gets one, so :func:`planned` looks for deadlines only then."""


LivePhase: TypeAlias = (
    CheckingGate | WaitingSync | WaitingLlm | ToolRound | WaitingCheckpoint | TurnDone
)


class Live:
    """The machine's state, mutable: :class:`TurnState`'s fields with the collections a
    transition changes held as lists and dicts, plus one lookup derived from them.

    ``outbox`` holds envelopes not yet handed out, by replay key in emission order;
    ``inflight`` those handed out and not answered, by replay key in hand-out order;
    ``events`` the undrained stream events.
    ``waiting`` maps the replay key each unsettled call of a tool round waits on to the call's
    slot index: it is empty exactly when every call of the round has settled. ``scope`` is the
    invocation scope of the current protocol iteration, built once, and ``key_prefix`` the
    part of its effects' replay keys that it gives (``{session}:{turn}:{index}:{iteration}:``).
    ``listening`` says whether stream events are built at all.
    :meth:`freeze` gives the frozen state; the constructor takes one back.
    """

    __slots__ = (
        "cancel_gate",
        "config",
        "events",
        "inflight",
        "key_prefix",
        "listening",
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
        self.outbox: dict[str, EffectEnvelope] = {key_of(e): e for e in s.outbox}
        self.inflight: dict[str, EffectEnvelope] = {key_of(e): e for e in s.inflight}
        self.events: list[TurnEvent] = list(s.events)
        self.waiting: dict[str, int] = {}
        self.scope: InvocationScope | None = None
        self.key_prefix = ""
        self.listening = True
        """Whether transitions build stream events: a runner that nobody listens to (no
        ``on_event``, no hooks) turns this off for its run, as it would drop them unread."""
        phase = s.phase
        self.phase: LivePhase
        if isinstance(phase, WaitingTools):
            self.phase = ToolRound([Call.of(slot) for slot in phase.slots], phase.batch)
            for i, slot in enumerate(phase.slots):
                if slot.waiting is not None:
                    self.waiting[slot.waiting] = i
        else:
            self.phase = phase

    @classmethod
    def fresh(
        cls,
        config: TurnConfig,
        session_id: str,
        turn_id: str,
        turn_index: int,
        cancel_gate: AwaitEventKey | None,
        messages: tuple[Message, ...],
    ) -> Live:
        """The state of a turn that has not started: what ``Live(TurnState(...))`` holds for
        these fields (and the defaults of the others), without building the TurnState."""
        live = cls.__new__(cls)
        live.config = config
        live.session_id = session_id
        live.turn_id = turn_id
        live.turn_index = turn_index
        live.cancel_gate = cancel_gate
        live.protocol_iteration = 0
        live.next_effect_id = 1
        live.synced_iteration = None
        live.system = config.system_prompt
        live.tools = config.tools
        live.messages = messages
        live.transient = ()
        live.turn_causes = ()
        live.usage = Usage()
        live.progress_cursor = len(messages)
        live.outbox = {}
        live.inflight = {}
        live.events = []
        live.waiting = {}
        live.scope = None
        live.key_prefix = ""
        live.listening = True
        live.phase = _NOT_STARTED
        return live

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
                if isinstance(phase, ToolRound)
                else phase
            ),
            outbox=tuple(self.outbox.values()),
            inflight=tuple(self.inflight.values()),
            events=tuple(self.events),
        )

    def emit(self, invocation: Invocation, command: EffectCommand) -> str:
        """Queue an envelope for ``next()``; returns its replay key."""
        # Valid by construction (the machine's tests validate every envelope it emits), so
        # built without EffectEnvelope.build's checks.
        replay = invocation.replay
        assert replay is not None
        key = replay.key
        self.outbox[key] = _envelope(invocation, command)
        return key

    def event(self, event: TurnEvent) -> None:
        """Queue a stream event for ``drain_events()``."""
        self.events.append(event)

    def turn_effect(self, kind: EffectKind) -> Invocation:
        """The invocation of the turn's next effect of ``kind`` (taking an effect id)."""
        scope = self.scope
        if scope is None or scope.protocol_iteration != self.protocol_iteration:
            # `InvocationScope.for_turn(...)` of the turn's own coordinates (checked as the
            # machine was made) and its counted iteration.
            scope = self.scope = _scope(
                self.session_id, self.turn_id, self.turn_index, self.protocol_iteration
            )
            self.key_prefix = (
                f"{self.session_id}:{self.turn_id}:{self.turn_index}:{self.protocol_iteration}:"
            )
        # `turn_effect_in_scope(scope, kind, self.next_effect_id)`, in one frame (with the
        # scope's part of the replay key made once per iteration).
        effect = str(self.next_effect_id)
        self.next_effect_id += 1
        subject = _new(EffectSubject)
        _subject_id(subject, effect)
        _subject_kind(subject, kind)
        replay = _new(Replay)
        _replay_key(replay, f"{self.key_prefix}{kind._value_}:{effect}")
        invocation = _new(Invocation)
        _inv_scope(invocation, scope)
        _inv_subject(invocation, subject)
        _inv_cause(invocation, None)
        _inv_replay(invocation, replay)
        return invocation


_NOT_STARTED: Final = WaitingSync()
"""A new TurnState's phase (the machine moves on from it as it starts)."""

_STATE_FIELDS: Final = frozenset(f.name for f in attrs.fields(TurnState))
assert (
    frozenset(Live.__slots__) - {"key_prefix", "listening", "scope", "waiting"} == _STATE_FIELDS
), "live state mirrors TurnState"


# -- helpers ---------------------------------------------------------------------------------


def key_of(envelope: EffectEnvelope) -> str:
    key = envelope.replay_key
    assert key is not None  # every envelope is built with a replay key
    return key


def invocation_key(invocation: Invocation) -> str:
    key = invocation.replay_key
    assert key is not None  # every invocation the machine builds has a replay key
    return key


def planned(live: Live) -> tuple[PlannedEffect, ...]:
    """The queued envelopes, each with its relative deadline (a pending tool completion's
    ``await_event`` envelope may have one; nothing else does)."""
    phase = live.phase
    if type(phase) is not ToolRound or not phase.deadlines:
        return tuple([(envelope, None) for envelope in live.outbox.values()])
    out: list[PlannedEffect] = []
    for key, envelope in live.outbox.items():
        timeout_ms = None
        if type(envelope.command) is AwaitEventCommand:
            i = live.waiting.get(key)
            pending = None if i is None else phase.calls[i].pending
            if pending is not None and pending.deadline is not None:
                timeout_ms = pending.deadline.to_ms()
        out.append((envelope, timeout_ms))
    return tuple(out)
