"""What a turn reports: stream events, its outcome and its result, and what ``next()`` returns.

Stream events are drained with :meth:`~lash_core.turn.TurnMachine.drain_events`; they never
cross the effect seam (no envelope carries them and no outcome answers them).
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.llm import Message, Usage
from lash_core.wire import JsonValue, omit_if_none

__all__ = [
    "AwaitDeadline",
    "NeedOutcomes",
    "PlannedEffect",
    "ProgressEvent",
    "RunEffects",
    "TextEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
    "TurnCompleted",
    "TurnEvent",
    "TurnFinished",
    "TurnOutcome",
    "TurnOutcomeEvent",
    "TurnResult",
    "TurnStep",
    "TurnStopReason",
    "TurnStopped",
    "UsageEvent",
]


class TurnStopReason(enum.StrEnum):
    """Why a turn stopped before a final answer."""

    MAX_ITERATIONS = "max_iterations"
    INCOMPLETE = "incomplete"
    PROVIDER_ERROR = "provider_error"
    CANCELLED = "cancelled"
    RUNTIME_ERROR = "runtime_error"


@attrs.frozen
class TurnCompleted:
    """The turn finished with ``message``, the model's final answer."""

    status: ClassVar[str] = "finished"
    message: Message


@attrs.frozen
class TurnStopped:
    """The turn stopped for ``reason``.

    ``detail`` refines ``provider_error`` with the model's stop reason or error kind
    (``content_filter``, ``context_overflow``, ``provider_error``, ``rate_limit``, ...);
    ``error`` says what failed for ``provider_error`` and ``runtime_error``.
    """

    status: ClassVar[str] = "stopped"
    reason: TurnStopReason
    detail: str | None = omit_if_none()
    error: ControllerError | None = omit_if_none()


TurnOutcome: TypeAlias = TurnCompleted | TurnStopped
"""How a turn ended (tag ``status``)."""

wire.tagged_union(TurnOutcome, "status", {"finished": TurnCompleted, "stopped": TurnStopped})


@attrs.frozen
class TurnResult:
    """A finished turn: how it ended, the whole conversation, the cumulative usage of every
    model call, the protocol iteration it ended in and the turn causes checkpoints delivered."""

    outcome: TurnOutcome
    messages: tuple[Message, ...]
    usage: Usage
    protocol_iteration: int
    turn_causes: tuple[JsonValue, ...] = ()


# -- stream events ---------------------------------------------------------------------------


@attrs.frozen
class TextEvent:
    """Assistant text the user has not seen yet (the model call did not stream it)."""

    type: ClassVar[str] = "text"
    text: str


@attrs.frozen
class ToolCallStartedEvent:
    """A tool call of the model's response is about to run (emitted in call order)."""

    type: ClassVar[str] = "tool_call_started"
    call_id: str
    tool_name: str
    args: JsonValue


@attrs.frozen
class ToolCallFinishedEvent:
    """A tool call's result, emitted in call order once the whole round has settled.

    ``output`` is what the model sees (the tool result part's output)."""

    type: ClassVar[str] = "tool_call_finished"
    call_id: str
    tool_name: str
    output: JsonValue
    is_error: bool
    duration_ms: int


@attrs.frozen
class UsageEvent:
    """One model call's usage and the turn's cumulative usage after it."""

    type: ClassVar[str] = "usage"
    usage: Usage
    total: Usage


@attrs.frozen
class ProgressEvent:
    """The turn moved to ``protocol_iteration``; ``messages`` were appended since the last
    progress event (or the start of the turn)."""

    type: ClassVar[str] = "progress"
    protocol_iteration: int
    messages: tuple[Message, ...]


@attrs.frozen
class TurnOutcomeEvent:
    """The turn ended (always the last event)."""

    type: ClassVar[str] = "turn_outcome"
    outcome: TurnOutcome


TurnEvent: TypeAlias = (
    TextEvent
    | ToolCallStartedEvent
    | ToolCallFinishedEvent
    | UsageEvent
    | ProgressEvent
    | TurnOutcomeEvent
)
"""A stream event (tag ``type``)."""

wire.tagged_union(
    TurnEvent,
    "type",
    {
        "text": TextEvent,
        "tool_call_started": ToolCallStartedEvent,
        "tool_call_finished": ToolCallFinishedEvent,
        "usage": UsageEvent,
        "progress": ProgressEvent,
        "turn_outcome": TurnOutcomeEvent,
    },
)


# -- what next() returns ---------------------------------------------------------------------


@attrs.frozen
class AwaitDeadline:
    """The relative deadline of a pending tool completion's ``await_event`` envelope (what
    :attr:`RunEffects.deadlines` lists).

    The machine has no clock, so it cannot write an absolute deadline into the envelope. The
    driver computes one when it starts the wait: ``now + timeout_ms`` on its own clock. After a
    restore the re-emitted envelope carries the same relative deadline, so the wait starts
    afresh; a driver that must keep the original instant records it in its own journal.
    """

    replay_key: str
    timeout_ms: int


PlannedEffect: TypeAlias = tuple[EffectEnvelope, int | None]
"""An envelope to run and its relative deadline in milliseconds (``None``: it has none; only a
pending tool completion's ``await_event`` envelope has one). See :class:`AwaitDeadline`."""


@attrs.frozen
class RunEffects:
    """Envelopes to run now, in any order and concurrently, each with its relative deadline
    (``effects``); answer each with :meth:`~lash_core.turn.TurnMachine.send`."""

    effects: tuple[PlannedEffect, ...]

    @property
    def envelopes(self) -> tuple[EffectEnvelope, ...]:
        """The envelopes, in order."""
        return tuple(envelope for envelope, _ in self.effects)

    @property
    def deadlines(self) -> tuple[AwaitDeadline, ...]:
        """The relative deadlines of the envelopes that have one, in order."""
        return tuple(
            AwaitDeadline(key, timeout_ms)
            for envelope, timeout_ms in self.effects
            if timeout_ms is not None and (key := envelope.replay_key) is not None
        )

    def timeout_ms(self, replay_key: str) -> int | None:
        """The relative deadline of the envelope with ``replay_key``, if it has one."""
        for envelope, timeout_ms in self.effects:
            if envelope.replay_key == replay_key:
                return timeout_ms
        return None


@attrs.frozen
class NeedOutcomes:
    """Nothing new to run: the machine waits for the outcomes of these replay keys."""

    replay_keys: tuple[str, ...]


@attrs.frozen
class TurnFinished:
    """The turn is over."""

    result: TurnResult


TurnStep: TypeAlias = RunEffects | NeedOutcomes | TurnFinished
"""What :meth:`~lash_core.turn.TurnMachine.next` returns."""
