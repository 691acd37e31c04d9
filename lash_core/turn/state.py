"""The turn machine's state: one frozen wire value, :class:`TurnState`.

:meth:`~lash_core.turn.TurnMachine.checkpoint` returns it and
:meth:`~lash_core.turn.TurnMachine.restore` takes it back; ``lash_core.wire.to_json`` /
``from_json(text, TurnState)`` write and read it.
"""

from __future__ import annotations

import enum
from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import Invocation
from lash_core.effects.llm import LlmRequest, Message, ToolCallPart, ToolResultPart, ToolSpec, Usage
from lash_core.effects.tools import CheckpointKind, PendingCompletion
from lash_core.keys import AwaitEventKey
from lash_core.turn.config import TurnConfig
from lash_core.turn.events import TurnEvent, TurnResult
from lash_core.wire import JsonValue, omit_if_none

__all__ = [
    "CallKind",
    "CheckingGate",
    "Phase",
    "ToolSlot",
    "TurnDone",
    "TurnState",
    "WaitingCheckpoint",
    "WaitingLlm",
    "WaitingSync",
    "WaitingTools",
]


class CallKind(enum.StrEnum):
    """How a tool call of a round runs."""

    TOOL = "tool"
    """``tool_attempt`` envelopes (children of the round's ``tool_batch`` invocation)."""
    CODE = "code"
    """An ``exec_code`` envelope (the built-in code tool)."""


@attrs.frozen(kw_only=True)
class ToolSlot:
    """One call of a round.

    ``waiting`` is the replay key the call waits on (an attempt, its retry sleep, its pending
    completion or its exec), ``None`` once settled. A settled call has a ``result`` or, when
    its pending completion timed out under ``fail_turn``, a ``failure``.
    """

    call: ToolCallPart
    kind: CallKind
    replay_suffix: str | None = omit_if_none()
    attempt: int = 1
    waiting: str | None = omit_if_none()
    pending: PendingCompletion | None = omit_if_none()
    result: ToolResultPart | None = omit_if_none()
    failure: ControllerError | None = omit_if_none()
    duration_ms: int = 0

    @property
    def settled(self) -> bool:
        """The call has its result (or its failure)."""
        return self.waiting is None

    def settle(self, result: ToolResultPart, duration_ms: int) -> ToolSlot:
        """This call settled with ``result`` after ``duration_ms``.

        ``attrs.evolve(self, waiting=None, result=result, duration_ms=duration_ms)``, spelled
        out because every call of a round settles (evolve costs twice as much); keep it in step
        with the fields.
        """
        return ToolSlot(
            call=self.call,
            kind=self.kind,
            replay_suffix=self.replay_suffix,
            attempt=self.attempt,
            waiting=None,
            pending=self.pending,
            result=result,
            failure=self.failure,
            duration_ms=duration_ms,
        )


@attrs.frozen
class CheckingGate:
    """Reading the turn's cancel gate (``turn_cancel.start_gate``) before any other effect."""

    phase: ClassVar[str] = "checking_gate"


@attrs.frozen
class WaitingSync:
    """Waiting for ``sync_execution_environment``."""

    phase: ClassVar[str] = "waiting_sync"


@attrs.frozen
class WaitingLlm:
    """Waiting for attempt ``attempt`` of the model call ``first`` (attempt 1's invocation)
    with ``request``, or for the sleep before the next attempt."""

    phase: ClassVar[str] = "waiting_llm"
    request: LlmRequest
    first: Invocation
    attempt: int = 1


@attrs.frozen
class WaitingTools:
    """Waiting for a round of tool calls; ``batch`` is the ``tool_batch`` invocation that
    parents its attempts (``None`` when every call is a code call)."""

    phase: ClassVar[str] = "waiting_tools"
    slots: tuple[ToolSlot, ...]
    batch: Invocation | None = omit_if_none()


@attrs.frozen
class WaitingCheckpoint:
    """Waiting for a checkpoint; ``final`` is the answer to finish with when a
    ``before_completion`` checkpoint delivers nothing."""

    phase: ClassVar[str] = "waiting_checkpoint"
    checkpoint: CheckpointKind
    final: Message | None = omit_if_none()


@attrs.frozen
class TurnDone:
    """The turn is over."""

    phase: ClassVar[str] = "finished"
    result: TurnResult


Phase: TypeAlias = (
    CheckingGate | WaitingSync | WaitingLlm | WaitingTools | WaitingCheckpoint | TurnDone
)
"""Where the turn is (tag ``phase``)."""

wire.tagged_union(
    Phase,
    "phase",
    {
        "checking_gate": CheckingGate,
        "waiting_sync": WaitingSync,
        "waiting_llm": WaitingLlm,
        "waiting_tools": WaitingTools,
        "waiting_checkpoint": WaitingCheckpoint,
        "finished": TurnDone,
    },
)


@attrs.frozen(kw_only=True)
class TurnState:
    """Everything a turn machine holds.

    ``outbox`` holds envelopes not yet handed out by ``next()``; ``inflight`` those handed
    out and awaiting an outcome; ``events`` the stream events not yet drained.
    ``synced_iteration`` is the protocol iteration the execution environment was last synced
    for; ``transient`` are checkpoint messages for the next model request only;
    ``progress_cursor`` counts the messages already reported by progress events.
    ``cancel_gate`` is the turn's cancel-gate key when the turn is under turn control.
    """

    config: TurnConfig
    session_id: str
    turn_id: str
    turn_index: int
    cancel_gate: AwaitEventKey | None = omit_if_none()
    protocol_iteration: int = 0
    next_effect_id: int = 1
    synced_iteration: int | None = None
    system: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    messages: tuple[Message, ...] = ()
    transient: tuple[Message, ...] = ()
    turn_causes: tuple[JsonValue, ...] = ()
    usage: Usage = attrs.field(factory=Usage)
    progress_cursor: int = 0
    phase: Phase = WaitingSync()
    outbox: tuple[EffectEnvelope, ...] = ()
    inflight: tuple[EffectEnvelope, ...] = ()
    events: tuple[TurnEvent, ...] = ()
