"""Effect commands: what an envelope asks the host to do (tag ``type``).

Every kind of :class:`~lash_core.effects.invocation.EffectKind` has a command except
``trigger``, which this library does not model. Each command class carries its ``kind``; the
wire tag is the kind's string.
"""

from __future__ import annotations

from typing import ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.effects.invocation import EffectKind
from lash_core.effects.llm import LlmRequest
from lash_core.effects.process import ProcessCommand
from lash_core.effects.tools import (
    CheckpointKind,
    PreparedToolBatch,
    PreparedToolCall,
    ToolExecutionGrant,
)
from lash_core.keys import AwaitEventKey
from lash_core.wire import U32, JsonValue, omit_if_none

__all__ = [
    "AwaitEventCommand",
    "CheckpointCommand",
    "DirectCommand",
    "DurableStepCommand",
    "EffectCommand",
    "ExecCodeCommand",
    "LlmCallCommand",
    "PeekAwaitEventCommand",
    "ProcessEffectCommand",
    "SleepCommand",
    "SyncExecutionEnvironmentCommand",
    "ToolAttemptCommand",
    "ToolBatchCommand",
]


@attrs.frozen
class LlmCallCommand:
    """A turn's model call."""

    kind: ClassVar[EffectKind] = EffectKind.LLM_CALL
    request: LlmRequest


@attrs.frozen
class DirectCommand:
    """A model call outside the turn loop; ``usage_source`` names who pays for it."""

    kind: ClassVar[EffectKind] = EffectKind.DIRECT
    request: LlmRequest
    usage_source: str


@attrs.frozen(kw_only=True)
class ToolAttemptCommand:
    """Attempt ``attempt`` (from 1) of at most ``max_attempts`` of one tool call.
    Keyword-only (the optional ``execution_grant`` precedes required fields)."""

    kind: ClassVar[EffectKind] = EffectKind.TOOL_ATTEMPT
    call: PreparedToolCall
    execution_grant: ToolExecutionGrant | None = omit_if_none()
    attempt: U32
    max_attempts: U32


@attrs.frozen
class ToolBatchCommand:
    """Run a batch of tool calls."""

    kind: ClassVar[EffectKind] = EffectKind.TOOL_BATCH
    batch: PreparedToolBatch


@attrs.frozen
class ProcessEffectCommand:
    """A process registry operation."""

    kind: ClassVar[EffectKind] = EffectKind.PROCESS
    command: ProcessCommand


@attrs.frozen
class ExecCodeCommand:
    """Run ``code`` written in ``language``."""

    kind: ClassVar[EffectKind] = EffectKind.EXEC_CODE
    language: str
    code: str


@attrs.frozen
class CheckpointCommand:
    """Take a checkpoint of the turn."""

    kind: ClassVar[EffectKind] = EffectKind.CHECKPOINT
    checkpoint: CheckpointKind


@attrs.frozen
class SyncExecutionEnvironmentCommand:
    """Refresh the execution environment (system prompt and tools)."""

    kind: ClassVar[EffectKind] = EffectKind.SYNC_EXECUTION_ENVIRONMENT
    update_machine_config: bool


@attrs.frozen
class SleepCommand:
    """Sleep ``duration_ms`` milliseconds (the driver owns the clock)."""

    kind: ClassVar[EffectKind] = EffectKind.SLEEP
    duration_ms: int


@attrs.frozen
class AwaitEventCommand:
    """Wait until ``key`` is resolved."""

    kind: ClassVar[EffectKind] = EffectKind.AWAIT_EVENT
    key: AwaitEventKey


@attrs.frozen
class PeekAwaitEventCommand:
    """Read ``key``'s resolution, if any, without waiting."""

    kind: ClassVar[EffectKind] = EffectKind.PEEK_AWAIT_EVENT
    key: AwaitEventKey


@attrs.frozen
class DurableStepCommand:
    """Run a host-defined durable step once; its value is journaled."""

    kind: ClassVar[EffectKind] = EffectKind.DURABLE_STEP
    step_id: str
    input: JsonValue


EffectCommand: TypeAlias = (
    LlmCallCommand
    | DirectCommand
    | ToolAttemptCommand
    | ToolBatchCommand
    | ProcessEffectCommand
    | ExecCodeCommand
    | CheckpointCommand
    | SyncExecutionEnvironmentCommand
    | SleepCommand
    | AwaitEventCommand
    | PeekAwaitEventCommand
    | DurableStepCommand
)
"""What an envelope asks for (tag ``type``, the command's ``kind``)."""

_COMMANDS: tuple[type[EffectCommand], ...] = (
    LlmCallCommand,
    DirectCommand,
    ToolAttemptCommand,
    ToolBatchCommand,
    ProcessEffectCommand,
    ExecCodeCommand,
    CheckpointCommand,
    SyncExecutionEnvironmentCommand,
    SleepCommand,
    AwaitEventCommand,
    PeekAwaitEventCommand,
    DurableStepCommand,
)

wire.tagged_union(EffectCommand, "type", {cls.kind.value: cls for cls in _COMMANDS})
