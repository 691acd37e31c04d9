"""The sans-IO turn machine: one agent turn as a pure state machine.

Build a :class:`TurnMachine` from a :class:`TurnConfig` and the conversation so far, then loop:
``next()`` gives :class:`RunEffects` (envelopes to run, possibly concurrently),
:class:`NeedOutcomes` or :class:`TurnFinished`; ``send(replay_key, outcome)`` feeds each
outcome; ``drain_events()`` gives the stream events. ``checkpoint()`` is a wire value
(:class:`TurnState`) and ``TurnMachine.restore`` continues from it, re-emitting the envelopes
that were awaited.
"""

from __future__ import annotations

from lash_core.turn.config import RetryPolicy as RetryPolicy
from lash_core.turn.config import TurnConfig as TurnConfig
from lash_core.turn.events import AwaitDeadline as AwaitDeadline
from lash_core.turn.events import NeedOutcomes as NeedOutcomes
from lash_core.turn.events import ProgressEvent as ProgressEvent
from lash_core.turn.events import RunEffects as RunEffects
from lash_core.turn.events import TextEvent as TextEvent
from lash_core.turn.events import ToolCallFinishedEvent as ToolCallFinishedEvent
from lash_core.turn.events import ToolCallStartedEvent as ToolCallStartedEvent
from lash_core.turn.events import TurnCompleted as TurnCompleted
from lash_core.turn.events import TurnEvent as TurnEvent
from lash_core.turn.events import TurnFinished as TurnFinished
from lash_core.turn.events import TurnOutcome as TurnOutcome
from lash_core.turn.events import TurnOutcomeEvent as TurnOutcomeEvent
from lash_core.turn.events import TurnResult as TurnResult
from lash_core.turn.events import TurnStep as TurnStep
from lash_core.turn.events import TurnStopped as TurnStopped
from lash_core.turn.events import TurnStopReason as TurnStopReason
from lash_core.turn.events import UsageEvent as UsageEvent
from lash_core.turn.machine import TurnMachine as TurnMachine
from lash_core.turn.run import TurnHandlers as TurnHandlers
from lash_core.turn.run import error_outcome as error_outcome
from lash_core.turn.run import run_turn as run_turn
from lash_core.turn.state import CallKind as CallKind
from lash_core.turn.state import Phase as Phase
from lash_core.turn.state import ToolSlot as ToolSlot
from lash_core.turn.state import TurnDone as TurnDone
from lash_core.turn.state import TurnState as TurnState
from lash_core.turn.state import WaitingCheckpoint as WaitingCheckpoint
from lash_core.turn.state import WaitingLlm as WaitingLlm
from lash_core.turn.state import WaitingSync as WaitingSync
from lash_core.turn.state import WaitingTools as WaitingTools
from lash_core.turn.stream import TurnStream as TurnStream
from lash_core.turn.stream import stream_turn as stream_turn

__all__ = [
    "AwaitDeadline",
    "CallKind",
    "NeedOutcomes",
    "Phase",
    "ProgressEvent",
    "RetryPolicy",
    "RunEffects",
    "TextEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
    "ToolSlot",
    "TurnCompleted",
    "TurnConfig",
    "TurnDone",
    "TurnEvent",
    "TurnFinished",
    "TurnHandlers",
    "TurnMachine",
    "TurnOutcome",
    "TurnOutcomeEvent",
    "TurnResult",
    "TurnState",
    "TurnStep",
    "TurnStopReason",
    "TurnStopped",
    "TurnStream",
    "UsageEvent",
    "WaitingCheckpoint",
    "WaitingLlm",
    "WaitingSync",
    "WaitingTools",
    "error_outcome",
    "run_turn",
    "stream_turn",
]
