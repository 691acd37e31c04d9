"""Tool calls, tool batches, their launches, and the other payloads of turn effects.

The prepared-call, grant, batch, completed-call, pending-completion and launch shapes follow the
reference's wire format. :class:`ToolCallRecord` and :class:`ExecResponse` are lash's own
shapes (the reference's are tied to its tool runtime).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import attrs

from lash_core import wire
from lash_core.effects.llm import Message, ToolSpec
from lash_core.keys import AwaitEventKey
from lash_core.wire import U32, JsonValue, omit_if_none

if TYPE_CHECKING:
    from lash_core.effects.commands import ToolAttemptCommand

__all__ = [
    "CancelPolicy",
    "CheckpointDelivery",
    "CheckpointKind",
    "CompletedToolCall",
    "Duration",
    "ExecResponse",
    "ExecutionEnvironmentSync",
    "PendingCompletion",
    "PreparedToolBatch",
    "PreparedToolBatchCall",
    "PreparedToolCall",
    "TimeoutPolicy",
    "ToolAttemptLaunch",
    "ToolAttemptLaunchDone",
    "ToolBatchLaunchDone",
    "ToolCallLaunch",
    "ToolCallRecord",
    "ToolExecutionGrant",
    "ToolLaunchPending",
]


@attrs.frozen
class PreparedToolCall:
    """A tool call ready to run. ``replay`` (provider replay metadata) and ``prepared_payload``
    are left out of the JSON when ``None`` (JSON ``null``)."""

    call_id: str
    tool_id: str
    tool_name: str
    args: JsonValue
    replay: JsonValue = omit_if_none()
    prepared_payload: JsonValue = omit_if_none()


@attrs.frozen(kw_only=True)
class ToolExecutionGrant:
    """What a tool call is allowed to run with. ``source_id`` is always written (``null`` when
    ``None``). Keyword-only: the optional ``source_id`` precedes a required field."""

    manifest: JsonValue
    contract: JsonValue
    source_id: str | None = None
    execution_binding: JsonValue


@attrs.frozen
class PreparedToolBatchCall:
    """One call of a batch; ``replay_suffix`` is ``child:{index}:{call_id}``."""

    call: PreparedToolCall
    replay_suffix: str
    execution_grant: ToolExecutionGrant | None = omit_if_none()


@attrs.frozen
class PreparedToolBatch:
    """Tool calls dispatched together. Their results are applied in batch order."""

    batch_id: str
    calls: tuple[PreparedToolBatchCall, ...]

    @classmethod
    def build(
        cls,
        batch_id: str,
        calls: Iterable[PreparedToolCall],
        grants: Mapping[str, ToolExecutionGrant] | None = None,
    ) -> PreparedToolBatch:
        """A batch of ``calls`` in order, each with ``replay_suffix = child:{index}:{call_id}``.

        ``grants`` maps a call id to its execution grant; calls without an entry get none.
        """
        grants = grants or {}
        return cls(
            batch_id,
            tuple(
                PreparedToolBatchCall(
                    call, f"child:{index}:{call.call_id}", grants.get(call.call_id)
                )
                for index, call in enumerate(calls)
            ),
        )


@attrs.frozen
class CompletedToolCall:
    """A finished call of a batch. ``replay`` is always written (``null`` when ``None``)."""

    call_id: str
    tool_name: str
    args: JsonValue
    output: JsonValue
    model_return: JsonValue
    duration_ms: int
    replay: JsonValue = None


_SAME: Any = object()


@attrs.frozen
class ToolCallRecord:
    """The record of one finished tool attempt (lash's own shape, not the reference's).

    Build it with keywords (every field is required), or with :meth:`for_attempt`, which
    copies the call's fields from the attempt's command::

        ToolCallRecord(call_id="c1", tool_name="weather", args={"city": "Oslo"},
                       output={"temperature_c": 21, "station": "OSL-3"},
                       model_return={"temperature_c": 21},
                       duration_ms=3, attempt=1, success=True)

    ``output`` and ``model_return`` are two views of the result: ``model_return`` is what the
    **model** is given back (the tool result message, the ``tool_call_finished`` event);
    ``output`` is the tool's full result for **you**: it is recorded with the attempt (the
    effect trace, a durable host's journal) but never sent to the model. Most tools give the
    same value to both.
    """

    call_id: str
    """The id of the model's tool call (``ToolCallPart.call_id``)."""
    tool_name: str
    """The tool the model called."""
    args: JsonValue
    """The arguments the model gave."""
    output: JsonValue
    """The tool's full result, for the application and the record; not sent to the model."""
    model_return: JsonValue
    """What the model is given back as the tool's result."""
    duration_ms: int
    """How long the attempt took, in milliseconds (reported, not used by any rule)."""
    attempt: U32
    """The attempt's number, from 1 (the command's ``attempt``)."""
    success: bool
    """``False`` when the tool failed: the turn retries the call under its ``tool_retry``
    policy, and the last failure is given to the model as an error result."""

    @classmethod
    def for_attempt(
        cls,
        command: ToolAttemptCommand,
        output: JsonValue,
        *,
        model_return: JsonValue = _SAME,
        success: bool = True,
        duration_ms: int = 0,
    ) -> ToolCallRecord:
        """The record of ``command``'s attempt: its call id, tool name, arguments and attempt
        number, with ``output`` (and ``model_return``, the same value unless given)."""
        call = command.call
        return cls(
            call_id=call.call_id,
            tool_name=call.tool_name,
            args=call.args,
            output=output,
            model_return=output if model_return is _SAME else model_return,
            duration_ms=duration_ms,
            attempt=command.attempt,
            success=success,
        )


@attrs.frozen
class Duration:
    """A span of time as the reference writes it: ``{"secs": ..., "nanos": ...}``."""

    secs: int
    nanos: U32

    @classmethod
    def from_ms(cls, ms: int) -> Duration:
        """``ms`` milliseconds."""
        secs, rest = divmod(ms, 1000)
        return cls(secs, rest * 1_000_000)

    def to_ms(self) -> int:
        """Whole milliseconds (sub-millisecond nanos are dropped)."""
        return self.secs * 1000 + self.nanos // 1_000_000


class TimeoutPolicy(enum.StrEnum):
    """What a pending completion does at its deadline."""

    ERROR_AS_RESULT = "error_as_result"
    FAIL_TURN = "fail_turn"


class CancelPolicy(enum.StrEnum):
    """What a pending completion does when its turn is cancelled."""

    IGNORE = "ignore"
    CANCEL_EXTERNAL_WORK = "cancel_external_work"


@attrs.frozen
class PendingCompletion:
    """How a deferred tool call waits for its completion. ``deadline`` is left out when
    ``None``; the policies are always written."""

    deadline: Duration | None = omit_if_none()
    on_timeout: TimeoutPolicy = TimeoutPolicy.ERROR_AS_RESULT
    on_cancel: CancelPolicy = CancelPolicy.CANCEL_EXTERNAL_WORK


@attrs.frozen
class ToolBatchLaunchDone:
    """A batch call that finished: ``{"status":"done","result":...}``."""

    status: ClassVar[str] = "done"
    result: CompletedToolCall


@attrs.frozen
class ToolAttemptLaunchDone:
    """A tool attempt that finished: ``{"status":"done","record":...}``."""

    status: ClassVar[str] = "done"
    record: ToolCallRecord


@attrs.frozen
class ToolLaunchPending:
    """A call that completes later, from outside, by resolving ``key``."""

    status: ClassVar[str] = "pending"
    key: AwaitEventKey
    pending: PendingCompletion
    duration_ms: int


ToolCallLaunch: TypeAlias = ToolBatchLaunchDone | ToolLaunchPending
"""The launch of one batch call (tag ``status``)."""

ToolAttemptLaunch: TypeAlias = ToolAttemptLaunchDone | ToolLaunchPending
"""The launch of one tool attempt (tag ``status``)."""

wire.tagged_union(
    ToolCallLaunch, "status", {"done": ToolBatchLaunchDone, "pending": ToolLaunchPending}
)
wire.tagged_union(
    ToolAttemptLaunch, "status", {"done": ToolAttemptLaunchDone, "pending": ToolLaunchPending}
)


class CheckpointKind(enum.StrEnum):
    """Where in a turn a checkpoint is taken."""

    AFTER_WORK = "after_work"
    BEFORE_COMPLETION = "before_completion"


@attrs.frozen
class CheckpointDelivery:
    """What a checkpoint hands to the turn. Every field is written; each defaults to empty
    when absent on input."""

    committed_user_messages: tuple[Message, ...] = ()
    messages: tuple[Message, ...] = ()
    transient_messages: tuple[Message, ...] = ()
    turn_causes: tuple[JsonValue, ...] = ()


@attrs.frozen
class ExecResponse:
    """The result of running code (lash's own shape). ``result`` is always written."""

    output: str
    result: JsonValue = None
    is_error: bool = False


@attrs.frozen
class ExecutionEnvironmentSync:
    """A refreshed execution environment: the system prompt and the tools on offer."""

    system_prompt: str
    tool_specs: tuple[ToolSpec, ...]
