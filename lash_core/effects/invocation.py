"""Invocation identity: who runs an effect, what it is about, what caused it, how it replays.

An :class:`Invocation` is ``{scope, subject, caused_by?, replay?}``. Its subject is one of the
:data:`Subject` variants (an effect, a process, a process event, a trigger occurrence, a session
node); ``caused_by`` is a :data:`CausalRef` naming what led to it. Envelopes require an effect
subject and a replay key (see :mod:`lash_core.effects.envelope`).
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.wire import omit_if_none

__all__ = [
    "CausalRef",
    "EffectCause",
    "EffectKind",
    "EffectSubject",
    "Invocation",
    "InvocationScope",
    "ProcessCause",
    "ProcessEventCause",
    "ProcessEventSubject",
    "ProcessSubject",
    "Replay",
    "SessionNodeCause",
    "SessionNodeSubject",
    "Subject",
    "ToolCallCause",
    "TriggerOccurrenceCause",
    "TriggerOccurrenceSubject",
    "TurnCause",
]


class EffectKind(enum.StrEnum):
    """The 13 kinds of effect. Written as the bare string (``"llm_call"``)."""

    LLM_CALL = "llm_call"
    DIRECT = "direct"
    TOOL_ATTEMPT = "tool_attempt"
    TOOL_BATCH = "tool_batch"
    TRIGGER = "trigger"
    PROCESS = "process"
    EXEC_CODE = "exec_code"
    CHECKPOINT = "checkpoint"
    SYNC_EXECUTION_ENVIRONMENT = "sync_execution_environment"
    SLEEP = "sleep"
    AWAIT_EVENT = "await_event"
    PEEK_AWAIT_EVENT = "peek_await_event"
    DURABLE_STEP = "durable_step"


@attrs.frozen
class InvocationScope:
    """Where an invocation runs: a session, and for turn effects the turn coordinates.

    The optional fields are left out of the JSON when ``None``.
    """

    session_id: str
    turn_id: str | None = omit_if_none()
    turn_index: int | None = omit_if_none()
    protocol_iteration: int | None = omit_if_none()

    @classmethod
    def new(cls, session_id: str) -> InvocationScope:
        """A session-only scope (no turn coordinates)."""
        return cls(session_id)

    @classmethod
    def for_turn(
        cls, session_id: str, turn_id: str, turn_index: int, protocol_iteration: int
    ) -> InvocationScope:
        """A scope with every turn coordinate set."""
        return cls(session_id, turn_id, turn_index, protocol_iteration)


@attrs.frozen
class Replay:
    """The replay identity of an invocation: ``{"key": ...}``."""

    key: str


# -- subjects --------------------------------------------------------------------------------


@attrs.frozen
class EffectSubject:
    """An effect: ``{"type":"effect","effect_id":...,"kind":...}``."""

    type: ClassVar[str] = "effect"
    effect_id: str
    kind: EffectKind


@attrs.frozen
class ProcessSubject:
    """A background process."""

    type: ClassVar[str] = "process"
    process_id: str


@attrs.frozen
class ProcessEventSubject:
    """The ``sequence``-th event (from 1) of a process."""

    type: ClassVar[str] = "process_event"
    process_id: str
    sequence: int
    event_type: str


@attrs.frozen
class TriggerOccurrenceSubject:
    """One occurrence of a trigger."""

    type: ClassVar[str] = "trigger_occurrence"
    occurrence_id: str


@attrs.frozen
class SessionNodeSubject:
    """A node of a session graph."""

    type: ClassVar[str] = "session_node"
    node_id: str


Subject: TypeAlias = (
    EffectSubject
    | ProcessSubject
    | ProcessEventSubject
    | TriggerOccurrenceSubject
    | SessionNodeSubject
)
"""What an invocation is about (tag ``type``)."""

wire.tagged_union(
    Subject,
    "type",
    {
        "effect": EffectSubject,
        "process": ProcessSubject,
        "process_event": ProcessEventSubject,
        "trigger_occurrence": TriggerOccurrenceSubject,
        "session_node": SessionNodeSubject,
    },
)


# -- causal references -----------------------------------------------------------------------


@attrs.frozen
class TurnCause:
    """Caused by a turn."""

    type: ClassVar[str] = "turn"
    session_id: str
    turn_id: str


@attrs.frozen(kw_only=True)
class EffectCause:
    """Caused by an effect. Keyword-only: the optional ``turn_id`` precedes ``effect_id`` on
    the wire."""

    type: ClassVar[str] = "effect"
    session_id: str
    turn_id: str | None = omit_if_none()
    effect_id: str


@attrs.frozen
class ToolCallCause:
    """Caused by a tool call."""

    type: ClassVar[str] = "tool_call"
    session_id: str
    call_id: str


@attrs.frozen
class ProcessCause:
    """Caused by a process."""

    type: ClassVar[str] = "process"
    process_id: str


@attrs.frozen
class ProcessEventCause:
    """Caused by one event of a process."""

    type: ClassVar[str] = "process_event"
    process_id: str
    sequence: int


@attrs.frozen
class TriggerOccurrenceCause:
    """Caused by a trigger occurrence, optionally naming the subscription that fired."""

    type: ClassVar[str] = "trigger_occurrence"
    occurrence_id: str
    subscription_id: str | None = omit_if_none()
    subscription_incarnation: str | None = omit_if_none()
    subscription_revision: int | None = omit_if_none()


@attrs.frozen
class SessionNodeCause:
    """Caused by a node of a session graph."""

    type: ClassVar[str] = "session_node"
    session_id: str
    node_id: str


CausalRef: TypeAlias = (
    TurnCause
    | EffectCause
    | ToolCallCause
    | ProcessCause
    | ProcessEventCause
    | TriggerOccurrenceCause
    | SessionNodeCause
)
"""What caused an invocation (tag ``type``)."""

wire.tagged_union(
    CausalRef,
    "type",
    {
        "turn": TurnCause,
        "effect": EffectCause,
        "tool_call": ToolCallCause,
        "process": ProcessCause,
        "process_event": ProcessEventCause,
        "trigger_occurrence": TriggerOccurrenceCause,
        "session_node": SessionNodeCause,
    },
)


# -- the invocation --------------------------------------------------------------------------


@attrs.frozen
class Invocation:
    """The identity of one invocation: ``{scope, subject, caused_by?, replay?}``."""

    scope: InvocationScope
    subject: Subject
    caused_by: CausalRef | None = omit_if_none()
    replay: Replay | None = omit_if_none()

    @classmethod
    def effect(
        cls,
        scope: InvocationScope,
        effect_id: str,
        kind: EffectKind,
        replay_key: str,
        caused_by: CausalRef | None = None,
    ) -> Invocation:
        """An effect invocation with a replay key."""
        return cls(scope, EffectSubject(effect_id, kind), caused_by, Replay(replay_key))

    def causal_ref(self) -> CausalRef:
        """The reference another invocation uses to say this one caused it."""
        subject = self.subject
        if isinstance(subject, EffectSubject):
            return EffectCause(
                session_id=self.scope.session_id,
                turn_id=self.scope.turn_id,
                effect_id=subject.effect_id,
            )
        if isinstance(subject, ProcessSubject):
            return ProcessCause(subject.process_id)
        if isinstance(subject, ProcessEventSubject):
            return ProcessEventCause(subject.process_id, subject.sequence)
        if isinstance(subject, TriggerOccurrenceSubject):
            return TriggerOccurrenceCause(subject.occurrence_id)
        return SessionNodeCause(self.scope.session_id, subject.node_id)

    @property
    def effect_id(self) -> str | None:
        """The effect id, for effect subjects only."""
        subject = self.subject
        return subject.effect_id if isinstance(subject, EffectSubject) else None

    @property
    def effect_kind(self) -> EffectKind | None:
        """The effect kind, for effect subjects only."""
        subject = self.subject
        return subject.kind if isinstance(subject, EffectSubject) else None

    @property
    def replay_key(self) -> str | None:
        """``replay.key``, or ``None`` without a replay."""
        return None if self.replay is None else self.replay.key
