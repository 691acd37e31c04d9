"""Effects: invocations, commands, envelopes, outcomes, replay keys and their payloads.

Everything here is a frozen value with a wire form (see :mod:`lash_core.wire`). Build an
envelope with :meth:`EffectEnvelope.build` (it validates), hand it to a host, and read the
:data:`EffectOutcome` back with :func:`expect_outcome` or an ``into_*`` helper.
"""

from __future__ import annotations

from lash_core.effects.commands import AwaitEventCommand as AwaitEventCommand
from lash_core.effects.commands import CheckpointCommand as CheckpointCommand
from lash_core.effects.commands import DirectCommand as DirectCommand
from lash_core.effects.commands import DurableStepCommand as DurableStepCommand
from lash_core.effects.commands import EffectCommand as EffectCommand
from lash_core.effects.commands import ExecCodeCommand as ExecCodeCommand
from lash_core.effects.commands import LlmCallCommand as LlmCallCommand
from lash_core.effects.commands import PeekAwaitEventCommand as PeekAwaitEventCommand
from lash_core.effects.commands import ProcessEffectCommand as ProcessEffectCommand
from lash_core.effects.commands import SleepCommand as SleepCommand
from lash_core.effects.commands import (
    SyncExecutionEnvironmentCommand as SyncExecutionEnvironmentCommand,
)
from lash_core.effects.commands import ToolAttemptCommand as ToolAttemptCommand
from lash_core.effects.commands import ToolBatchCommand as ToolBatchCommand
from lash_core.effects.envelope import CanonicalEnvelope as CanonicalEnvelope
from lash_core.effects.envelope import EffectEnvelope as EffectEnvelope
from lash_core.effects.envelope import validate_envelope as validate_envelope
from lash_core.effects.errors import ControllerError as ControllerError
from lash_core.effects.errors import ReplayMismatchSummary as ReplayMismatchSummary
from lash_core.effects.invocation import CausalRef as CausalRef
from lash_core.effects.invocation import EffectCause as EffectCause
from lash_core.effects.invocation import EffectKind as EffectKind
from lash_core.effects.invocation import EffectSubject as EffectSubject
from lash_core.effects.invocation import Invocation as Invocation
from lash_core.effects.invocation import InvocationScope as InvocationScope
from lash_core.effects.invocation import ProcessCause as ProcessCause
from lash_core.effects.invocation import ProcessEventCause as ProcessEventCause
from lash_core.effects.invocation import ProcessEventSubject as ProcessEventSubject
from lash_core.effects.invocation import ProcessSubject as ProcessSubject
from lash_core.effects.invocation import Replay as Replay
from lash_core.effects.invocation import SessionNodeCause as SessionNodeCause
from lash_core.effects.invocation import SessionNodeSubject as SessionNodeSubject
from lash_core.effects.invocation import Subject as Subject
from lash_core.effects.invocation import ToolCallCause as ToolCallCause
from lash_core.effects.invocation import TriggerOccurrenceCause as TriggerOccurrenceCause
from lash_core.effects.invocation import TriggerOccurrenceSubject as TriggerOccurrenceSubject
from lash_core.effects.invocation import TurnCause as TurnCause
from lash_core.effects.llm import LlmCallError as LlmCallError
from lash_core.effects.llm import LlmErrorKind as LlmErrorKind
from lash_core.effects.llm import LlmRequest as LlmRequest
from lash_core.effects.llm import LlmResponse as LlmResponse
from lash_core.effects.llm import Message as Message
from lash_core.effects.llm import MessagePart as MessagePart
from lash_core.effects.llm import Role as Role
from lash_core.effects.llm import StopReason as StopReason
from lash_core.effects.llm import TextPart as TextPart
from lash_core.effects.llm import ToolCallPart as ToolCallPart
from lash_core.effects.llm import ToolResultPart as ToolResultPart
from lash_core.effects.llm import ToolSpec as ToolSpec
from lash_core.effects.llm import Usage as Usage
from lash_core.effects.outcomes import AwaitEventOutcome as AwaitEventOutcome
from lash_core.effects.outcomes import CheckpointOutcome as CheckpointOutcome
from lash_core.effects.outcomes import DirectOutcome as DirectOutcome
from lash_core.effects.outcomes import DurableStepOutcome as DurableStepOutcome
from lash_core.effects.outcomes import EffectOutcome as EffectOutcome
from lash_core.effects.outcomes import ExecCodeOutcome as ExecCodeOutcome
from lash_core.effects.outcomes import LlmCallOutcome as LlmCallOutcome
from lash_core.effects.outcomes import PeekAwaitEventOutcome as PeekAwaitEventOutcome
from lash_core.effects.outcomes import ProcessOutcome as ProcessOutcome
from lash_core.effects.outcomes import SleepOutcome as SleepOutcome
from lash_core.effects.outcomes import (
    SyncExecutionEnvironmentOutcome as SyncExecutionEnvironmentOutcome,
)
from lash_core.effects.outcomes import ToolAttemptOutcome as ToolAttemptOutcome
from lash_core.effects.outcomes import ToolBatchOutcome as ToolBatchOutcome
from lash_core.effects.outcomes import expect_outcome as expect_outcome
from lash_core.effects.outcomes import into_await_event as into_await_event
from lash_core.effects.outcomes import into_checkpoint as into_checkpoint
from lash_core.effects.outcomes import into_direct_response as into_direct_response
from lash_core.effects.outcomes import into_durable_step as into_durable_step
from lash_core.effects.outcomes import into_exec_code as into_exec_code
from lash_core.effects.outcomes import into_llm_call as into_llm_call
from lash_core.effects.outcomes import into_peek_await_event as into_peek_await_event
from lash_core.effects.outcomes import into_process as into_process
from lash_core.effects.outcomes import (
    into_sync_execution_environment as into_sync_execution_environment,
)
from lash_core.effects.outcomes import into_tool_attempt as into_tool_attempt
from lash_core.effects.outcomes import into_tool_batch as into_tool_batch
from lash_core.effects.process import ProcessAwait as ProcessAwait
from lash_core.effects.process import ProcessAwaited as ProcessAwaited
from lash_core.effects.process import ProcessCancel as ProcessCancel
from lash_core.effects.process import ProcessCancelled as ProcessCancelled
from lash_core.effects.process import ProcessCommand as ProcessCommand
from lash_core.effects.process import ProcessDeleteSession as ProcessDeleteSession
from lash_core.effects.process import ProcessEffectOutcome as ProcessEffectOutcome
from lash_core.effects.process import ProcessExecutionContext as ProcessExecutionContext
from lash_core.effects.process import ProcessList as ProcessList
from lash_core.effects.process import ProcessListed as ProcessListed
from lash_core.effects.process import ProcessSessionDeleted as ProcessSessionDeleted
from lash_core.effects.process import ProcessSignalled as ProcessSignalled
from lash_core.effects.process import ProcessSignalSend as ProcessSignalSend
from lash_core.effects.process import ProcessStart as ProcessStart
from lash_core.effects.process import ProcessStarted as ProcessStarted
from lash_core.effects.process import ProcessTransfer as ProcessTransfer
from lash_core.effects.process import ProcessTransferred as ProcessTransferred
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED as PROCESS_CANCEL_REQUESTED
from lash_core.effects.replay_keys import PROCESS_EVENT_SESSION as PROCESS_EVENT_SESSION
from lash_core.effects.replay_keys import TURN_CANCEL_POST_ABORT_GATE as TURN_CANCEL_POST_ABORT_GATE
from lash_core.effects.replay_keys import TURN_CANCEL_START_GATE as TURN_CANCEL_START_GATE
from lash_core.effects.replay_keys import ChildInvocations as ChildInvocations
from lash_core.effects.replay_keys import causal_discriminator as causal_discriminator
from lash_core.effects.replay_keys import child_effect_invocation as child_effect_invocation
from lash_core.effects.replay_keys import child_replay_base as child_replay_base
from lash_core.effects.replay_keys import direct_discriminator as direct_discriminator
from lash_core.effects.replay_keys import direct_invocation as direct_invocation
from lash_core.effects.replay_keys import direct_replay_key as direct_replay_key
from lash_core.effects.replay_keys import direct_request_hash as direct_request_hash
from lash_core.effects.replay_keys import (
    pending_tool_completion_invocation as pending_tool_completion_invocation,
)
from lash_core.effects.replay_keys import (
    process_cancel_requested_replay_key as process_cancel_requested_replay_key,
)
from lash_core.effects.replay_keys import process_effect_invocation as process_effect_invocation
from lash_core.effects.replay_keys import process_event_invocation as process_event_invocation
from lash_core.effects.replay_keys import process_event_payload_hash as process_event_payload_hash
from lash_core.effects.replay_keys import (
    process_signal_wait_invocation as process_signal_wait_invocation,
)
from lash_core.effects.replay_keys import process_sleep_invocation as process_sleep_invocation
from lash_core.effects.replay_keys import process_terminal_replay_key as process_terminal_replay_key
from lash_core.effects.replay_keys import process_tool_prefix as process_tool_prefix
from lash_core.effects.replay_keys import tool_attempt_invocation as tool_attempt_invocation
from lash_core.effects.replay_keys import (
    tool_batch_attempt_invocation as tool_batch_attempt_invocation,
)
from lash_core.effects.replay_keys import tool_batch_invocation as tool_batch_invocation
from lash_core.effects.replay_keys import (
    tool_batch_retry_sleep_invocation as tool_batch_retry_sleep_invocation,
)
from lash_core.effects.replay_keys import tool_retry_sleep_invocation as tool_retry_sleep_invocation
from lash_core.effects.replay_keys import (
    trigger_occurrence_replay_key as trigger_occurrence_replay_key,
)
from lash_core.effects.replay_keys import (
    turn_cancel_post_abort_gate_invocation as turn_cancel_post_abort_gate_invocation,
)
from lash_core.effects.replay_keys import (
    turn_cancel_start_gate_invocation as turn_cancel_start_gate_invocation,
)
from lash_core.effects.replay_keys import turn_effect_in_scope as turn_effect_in_scope
from lash_core.effects.replay_keys import turn_effect_invocation as turn_effect_invocation
from lash_core.effects.replay_keys import turn_effect_replay_key as turn_effect_replay_key
from lash_core.effects.replay_keys import wake_id as wake_id
from lash_core.effects.tools import CancelPolicy as CancelPolicy
from lash_core.effects.tools import CheckpointDelivery as CheckpointDelivery
from lash_core.effects.tools import CheckpointKind as CheckpointKind
from lash_core.effects.tools import CompletedToolCall as CompletedToolCall
from lash_core.effects.tools import Duration as Duration
from lash_core.effects.tools import ExecResponse as ExecResponse
from lash_core.effects.tools import ExecutionEnvironmentSync as ExecutionEnvironmentSync
from lash_core.effects.tools import PendingCompletion as PendingCompletion
from lash_core.effects.tools import PreparedToolBatch as PreparedToolBatch
from lash_core.effects.tools import PreparedToolBatchCall as PreparedToolBatchCall
from lash_core.effects.tools import PreparedToolCall as PreparedToolCall
from lash_core.effects.tools import TimeoutPolicy as TimeoutPolicy
from lash_core.effects.tools import ToolAttemptLaunch as ToolAttemptLaunch
from lash_core.effects.tools import ToolAttemptLaunchDone as ToolAttemptLaunchDone
from lash_core.effects.tools import ToolBatchLaunchDone as ToolBatchLaunchDone
from lash_core.effects.tools import ToolCallLaunch as ToolCallLaunch
from lash_core.effects.tools import ToolCallRecord as ToolCallRecord
from lash_core.effects.tools import ToolExecutionGrant as ToolExecutionGrant
from lash_core.effects.tools import ToolLaunchPending as ToolLaunchPending
from lash_core.process.events import ProcessEvent as ProcessEvent
from lash_core.process.events import ProcessEventAppendRequest as ProcessEventAppendRequest
from lash_core.process.events import ProcessEventSemantics as ProcessEventSemantics
from lash_core.process.events import ProcessEventTerminal as ProcessEventTerminal
from lash_core.process.events import ProcessEventWake as ProcessEventWake
from lash_core.process.events import SystemTime as SystemTime
from lash_core.process.grants import HandleDescriptor as HandleDescriptor
from lash_core.process.grants import ProcessHandleGrant as ProcessHandleGrant
from lash_core.process.grants import ProcessListMode as ProcessListMode
from lash_core.process.grants import ProcessSessionDeleteReport as ProcessSessionDeleteReport
from lash_core.process.grants import ProcessStartGrant as ProcessStartGrant
from lash_core.process.records import AbandonedOutput as AbandonedOutput
from lash_core.process.records import AbandonedStatus as AbandonedStatus
from lash_core.process.records import AbandonEvidence as AbandonEvidence
from lash_core.process.records import AbandonWriter as AbandonWriter
from lash_core.process.records import CancelledOutput as CancelledOutput
from lash_core.process.records import CancelledStatus as CancelledStatus
from lash_core.process.records import CompletedStatus as CompletedStatus
from lash_core.process.records import EngineInput as EngineInput
from lash_core.process.records import ExternalInput as ExternalInput
from lash_core.process.records import FailedStatus as FailedStatus
from lash_core.process.records import FailureOutput as FailureOutput
from lash_core.process.records import HostOriginator as HostOriginator
from lash_core.process.records import ProcessAwaitOutput as ProcessAwaitOutput
from lash_core.process.records import ProcessEventType as ProcessEventType
from lash_core.process.records import ProcessExternalRef as ProcessExternalRef
from lash_core.process.records import ProcessIdentity as ProcessIdentity
from lash_core.process.records import ProcessInput as ProcessInput
from lash_core.process.records import ProcessOriginator as ProcessOriginator
from lash_core.process.records import ProcessProvenance as ProcessProvenance
from lash_core.process.records import ProcessRecord as ProcessRecord
from lash_core.process.records import ProcessRegistration as ProcessRegistration
from lash_core.process.records import ProcessStatus as ProcessStatus
from lash_core.process.records import RecoveryDisposition as RecoveryDisposition
from lash_core.process.records import RunningStatus as RunningStatus
from lash_core.process.records import SessionOriginator as SessionOriginator
from lash_core.process.records import SessionScope as SessionScope
from lash_core.process.records import SessionTurnInput as SessionTurnInput
from lash_core.process.records import SignalWait as SignalWait
from lash_core.process.records import SuccessOutput as SuccessOutput
from lash_core.process.records import ToolCallInput as ToolCallInput
from lash_core.process.records import WaitKind as WaitKind
from lash_core.process.records import WaitState as WaitState

__all__ = [
    "PROCESS_CANCEL_REQUESTED",
    "PROCESS_EVENT_SESSION",
    "TURN_CANCEL_POST_ABORT_GATE",
    "TURN_CANCEL_START_GATE",
    "AbandonEvidence",
    "AbandonWriter",
    "AbandonedOutput",
    "AbandonedStatus",
    "AwaitEventCommand",
    "AwaitEventOutcome",
    "CancelPolicy",
    "CancelledOutput",
    "CancelledStatus",
    "CanonicalEnvelope",
    "CausalRef",
    "CheckpointCommand",
    "CheckpointDelivery",
    "CheckpointKind",
    "CheckpointOutcome",
    "ChildInvocations",
    "CompletedStatus",
    "CompletedToolCall",
    "ControllerError",
    "DirectCommand",
    "DirectOutcome",
    "DurableStepCommand",
    "DurableStepOutcome",
    "Duration",
    "EffectCause",
    "EffectCommand",
    "EffectEnvelope",
    "EffectKind",
    "EffectOutcome",
    "EffectSubject",
    "EngineInput",
    "ExecCodeCommand",
    "ExecCodeOutcome",
    "ExecResponse",
    "ExecutionEnvironmentSync",
    "ExternalInput",
    "FailedStatus",
    "FailureOutput",
    "HandleDescriptor",
    "HostOriginator",
    "Invocation",
    "InvocationScope",
    "LlmCallCommand",
    "LlmCallError",
    "LlmCallOutcome",
    "LlmErrorKind",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "MessagePart",
    "PeekAwaitEventCommand",
    "PeekAwaitEventOutcome",
    "PendingCompletion",
    "PreparedToolBatch",
    "PreparedToolBatchCall",
    "PreparedToolCall",
    "ProcessAwait",
    "ProcessAwaitOutput",
    "ProcessAwaited",
    "ProcessCancel",
    "ProcessCancelled",
    "ProcessCause",
    "ProcessCommand",
    "ProcessDeleteSession",
    "ProcessEffectCommand",
    "ProcessEffectOutcome",
    "ProcessEvent",
    "ProcessEventAppendRequest",
    "ProcessEventCause",
    "ProcessEventSemantics",
    "ProcessEventSubject",
    "ProcessEventType",
    "ProcessExecutionContext",
    "ProcessExternalRef",
    "ProcessHandleGrant",
    "ProcessIdentity",
    "ProcessInput",
    "ProcessList",
    "ProcessListMode",
    "ProcessListed",
    "ProcessOriginator",
    "ProcessOutcome",
    "ProcessProvenance",
    "ProcessRecord",
    "ProcessRegistration",
    "ProcessSessionDeleteReport",
    "ProcessSessionDeleted",
    "ProcessSignalSend",
    "ProcessSignalled",
    "ProcessStart",
    "ProcessStartGrant",
    "ProcessStarted",
    "ProcessStatus",
    "ProcessSubject",
    "ProcessTransfer",
    "ProcessTransferred",
    "RecoveryDisposition",
    "Replay",
    "ReplayMismatchSummary",
    "Role",
    "RunningStatus",
    "SessionNodeCause",
    "SessionNodeSubject",
    "SessionOriginator",
    "SessionScope",
    "SessionTurnInput",
    "SignalWait",
    "SleepCommand",
    "SleepOutcome",
    "StopReason",
    "Subject",
    "SuccessOutput",
    "SyncExecutionEnvironmentCommand",
    "SyncExecutionEnvironmentOutcome",
    "SystemTime",
    "TextPart",
    "TimeoutPolicy",
    "ToolAttemptCommand",
    "ToolAttemptLaunch",
    "ToolAttemptLaunchDone",
    "ToolAttemptOutcome",
    "ToolBatchCommand",
    "ToolBatchLaunchDone",
    "ToolBatchOutcome",
    "ToolCallCause",
    "ToolCallInput",
    "ToolCallLaunch",
    "ToolCallPart",
    "ToolCallRecord",
    "ToolExecutionGrant",
    "ToolLaunchPending",
    "ToolResultPart",
    "ToolSpec",
    "TriggerOccurrenceCause",
    "TriggerOccurrenceSubject",
    "TurnCause",
    "Usage",
    "WaitKind",
    "WaitState",
    "causal_discriminator",
    "child_effect_invocation",
    "child_replay_base",
    "direct_discriminator",
    "direct_invocation",
    "direct_replay_key",
    "direct_request_hash",
    "expect_outcome",
    "into_await_event",
    "into_checkpoint",
    "into_direct_response",
    "into_durable_step",
    "into_exec_code",
    "into_llm_call",
    "into_peek_await_event",
    "into_process",
    "into_sync_execution_environment",
    "into_tool_attempt",
    "into_tool_batch",
    "pending_tool_completion_invocation",
    "process_cancel_requested_replay_key",
    "process_effect_invocation",
    "process_event_invocation",
    "process_event_payload_hash",
    "process_signal_wait_invocation",
    "process_sleep_invocation",
    "process_terminal_replay_key",
    "process_tool_prefix",
    "tool_attempt_invocation",
    "tool_batch_attempt_invocation",
    "tool_batch_invocation",
    "tool_batch_retry_sleep_invocation",
    "tool_retry_sleep_invocation",
    "trigger_occurrence_replay_key",
    "turn_cancel_post_abort_gate_invocation",
    "turn_cancel_start_gate_invocation",
    "turn_effect_in_scope",
    "turn_effect_invocation",
    "turn_effect_replay_key",
    "validate_envelope",
    "wake_id",
]
