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
from lash_core.turn.control import TurnCancelReceipt as TurnCancelReceipt
from lash_core.turn.control import await_terminal as await_terminal
from lash_core.turn.control import commit_turn as commit_turn
from lash_core.turn.control import fail_turn as fail_turn
from lash_core.turn.control import gate_key as gate_key
from lash_core.turn.control import publish_terminal as publish_terminal
from lash_core.turn.control import request_cancel as request_cancel
from lash_core.turn.control import request_cancel_threadsafe as request_cancel_threadsafe
from lash_core.turn.control import settle_before_commit as settle_before_commit
from lash_core.turn.control import terminal_key as terminal_key
from lash_core.turn.control import watch_cancel as watch_cancel
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
from lash_core.turn.gate import CancelAlreadyRequested as CancelAlreadyRequested
from lash_core.turn.gate import CancelRequested as CancelRequested
from lash_core.turn.gate import CompletionWonRace as CompletionWonRace
from lash_core.turn.gate import ControlUnknownOrRevoked as ControlUnknownOrRevoked
from lash_core.turn.gate import GateCancelRequested as GateCancelRequested
from lash_core.turn.gate import GateCompletionSealed as GateCompletionSealed
from lash_core.turn.gate import TerminalCommitted as TerminalCommitted
from lash_core.turn.gate import TerminalFailed as TerminalFailed
from lash_core.turn.gate import TurnAddress as TurnAddress
from lash_core.turn.gate import TurnCancellation as TurnCancellation
from lash_core.turn.gate import TurnCancelOutcome as TurnCancelOutcome
from lash_core.turn.gate import TurnCancelRequest as TurnCancelRequest
from lash_core.turn.gate import TurnGateTerminal as TurnGateTerminal
from lash_core.turn.gate import TurnTerminalRecord as TurnTerminalRecord
from lash_core.turn.gate import cancel_message as cancel_message
from lash_core.turn.gate import committed_result as committed_result
from lash_core.turn.gate import decode_gate as decode_gate
from lash_core.turn.machine import TurnMachine as TurnMachine
from lash_core.turn.run import TurnHandlers as TurnHandlers
from lash_core.turn.run import TurnHooks as TurnHooks
from lash_core.turn.run import TurnRunner as TurnRunner
from lash_core.turn.run import error_outcome as error_outcome
from lash_core.turn.run import run_turn as run_turn
from lash_core.turn.state import CallKind as CallKind
from lash_core.turn.state import CheckingGate as CheckingGate
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
    "CancelAlreadyRequested",
    "CancelRequested",
    "CheckingGate",
    "CompletionWonRace",
    "ControlUnknownOrRevoked",
    "GateCancelRequested",
    "GateCompletionSealed",
    "NeedOutcomes",
    "Phase",
    "ProgressEvent",
    "RetryPolicy",
    "RunEffects",
    "TerminalCommitted",
    "TerminalFailed",
    "TextEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
    "ToolSlot",
    "TurnAddress",
    "TurnCancelOutcome",
    "TurnCancelReceipt",
    "TurnCancelRequest",
    "TurnCancellation",
    "TurnCompleted",
    "TurnConfig",
    "TurnDone",
    "TurnEvent",
    "TurnFinished",
    "TurnGateTerminal",
    "TurnHandlers",
    "TurnHooks",
    "TurnMachine",
    "TurnOutcome",
    "TurnOutcomeEvent",
    "TurnResult",
    "TurnRunner",
    "TurnState",
    "TurnStep",
    "TurnStopReason",
    "TurnStopped",
    "TurnStream",
    "TurnTerminalRecord",
    "UsageEvent",
    "WaitingCheckpoint",
    "WaitingLlm",
    "WaitingSync",
    "WaitingTools",
    "await_terminal",
    "cancel_message",
    "commit_turn",
    "committed_result",
    "decode_gate",
    "error_outcome",
    "fail_turn",
    "gate_key",
    "publish_terminal",
    "request_cancel",
    "request_cancel_threadsafe",
    "run_turn",
    "settle_before_commit",
    "stream_turn",
    "terminal_key",
    "watch_cancel",
]
