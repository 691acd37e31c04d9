"""Effect outcomes: what the host answers to an envelope (tag ``type``).

Every kind has an outcome except ``trigger``, which this library does not model. Two optional
fields of the reference are left out because lash does not model what they carry: the
``call_record`` of ``llm_call``/``direct`` and the ``triggers`` of ``tool_attempt``/
``tool_batch`` (the reference skips both when empty, so outcomes without them have the same
JSON).

:func:`expect_outcome` and the ``into_*`` helpers extract a typed payload, failing with
``runtime_effect_wrong_outcome`` when the outcome is of another kind.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, TypeAlias, TypeVar

import attrs

from lash_core import codes, wire
from lash_core.effects.errors import ControllerError
from lash_core.effects.invocation import EffectKind
from lash_core.effects.llm import LlmCallError, LlmErrorKind, LlmResponse
from lash_core.effects.process import ProcessEffectOutcome
from lash_core.effects.tools import (
    CancelPolicy,
    CheckpointDelivery,
    Duration,
    ExecResponse,
    ExecutionEnvironmentSync,
    PendingCompletion,
    TimeoutPolicy,
    ToolAttemptLaunch,
    ToolAttemptLaunchDone,
    ToolCallLaunch,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.resolution import Resolution
from lash_core.wire import Err, JsonValue, Ok, Result

__all__ = [
    "AwaitEventOutcome",
    "CheckpointOutcome",
    "DirectOutcome",
    "DurableStepOutcome",
    "EffectOutcome",
    "ExecCodeOutcome",
    "LlmCallOutcome",
    "PeekAwaitEventOutcome",
    "ProcessOutcome",
    "SleepOutcome",
    "SyncExecutionEnvironmentOutcome",
    "ToolAttemptOutcome",
    "ToolBatchOutcome",
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
    "wrong_outcome",
]


@attrs.frozen
class LlmCallOutcome:
    """The model's response or error; ``text_streamed`` says text already reached the user."""

    kind: ClassVar[EffectKind] = EffectKind.LLM_CALL
    result: Result[LlmResponse, LlmCallError]
    text_streamed: bool

    @classmethod
    def ok(cls, response: LlmResponse, *, text_streamed: bool = False) -> LlmCallOutcome:
        """The model answered ``response``:
        ``LlmCallOutcome.ok(LlmResponse.reply("Done."))``."""
        return cls(Ok(response), text_streamed)

    @classmethod
    def error(
        cls,
        message: str,
        *,
        retryable: bool,
        kind: LlmErrorKind = LlmErrorKind.UNKNOWN,
        code: str | None = None,
    ) -> LlmCallOutcome:
        """The model call failed with ``message``. A ``retryable`` failure is retried under
        the turn's ``model_retry`` policy; a permanent one stops the turn
        (``provider_error``)."""
        return cls(Err(LlmCallError(message, retryable, kind, code=code)), False)


@attrs.frozen
class DirectOutcome:
    """The direct call's response or error."""

    kind: ClassVar[EffectKind] = EffectKind.DIRECT
    result: Result[LlmResponse, LlmCallError]


@attrs.frozen
class ToolAttemptOutcome:
    """The attempt finished (``done``) or completes later (``pending``)."""

    kind: ClassVar[EffectKind] = EffectKind.TOOL_ATTEMPT
    launch: ToolAttemptLaunch

    @classmethod
    def done(cls, record: ToolCallRecord) -> ToolAttemptOutcome:
        """The attempt finished with ``record`` (see :meth:`ToolCallRecord.for_attempt`)."""
        return cls(ToolAttemptLaunchDone(record))

    @classmethod
    def pending(
        cls,
        key: AwaitEventKey,
        *,
        deadline_ms: int | None = None,
        on_timeout: TimeoutPolicy = TimeoutPolicy.ERROR_AS_RESULT,
        on_cancel: CancelPolicy = CancelPolicy.CANCEL_EXTERNAL_WORK,
        duration_ms: int = 0,
    ) -> ToolAttemptOutcome:
        """The attempt completes later, when ``key`` (the call's ``ToolCompletion`` key in its
        turn) is resolved; after ``deadline_ms`` (if given) ``on_timeout`` applies."""
        deadline = None if deadline_ms is None else Duration.from_ms(deadline_ms)
        pending = PendingCompletion(deadline, on_timeout, on_cancel)
        return cls(ToolLaunchPending(key, pending, duration_ms))


@attrs.frozen
class ToolBatchOutcome:
    """One launch per batch call, in batch order."""

    kind: ClassVar[EffectKind] = EffectKind.TOOL_BATCH
    launches: tuple[ToolCallLaunch, ...]


@attrs.frozen
class ProcessOutcome:
    """The process registry's answer."""

    kind: ClassVar[EffectKind] = EffectKind.PROCESS
    result: ProcessEffectOutcome


@attrs.frozen
class ExecCodeOutcome:
    """The run's response, or an error message."""

    kind: ClassVar[EffectKind] = EffectKind.EXEC_CODE
    result: Result[ExecResponse, str]


@attrs.frozen
class CheckpointOutcome:
    """What the checkpoint delivers, or why it failed."""

    kind: ClassVar[EffectKind] = EffectKind.CHECKPOINT
    result: Result[CheckpointDelivery, ControllerError]


@attrs.frozen
class SyncExecutionEnvironmentOutcome:
    """The refreshed environment (``None``: unchanged), or an error message."""

    kind: ClassVar[EffectKind] = EffectKind.SYNC_EXECUTION_ENVIRONMENT
    result: Result[ExecutionEnvironmentSync | None, str]


@attrs.frozen
class SleepOutcome:
    """The sleep ended: ``{"type":"sleep"}``."""

    kind: ClassVar[EffectKind] = EffectKind.SLEEP


@attrs.frozen
class AwaitEventOutcome:
    """The key's terminal resolution."""

    kind: ClassVar[EffectKind] = EffectKind.AWAIT_EVENT
    resolution: Resolution


@attrs.frozen
class PeekAwaitEventOutcome:
    """The key's resolution, or ``None`` (written as ``null``) while unresolved."""

    kind: ClassVar[EffectKind] = EffectKind.PEEK_AWAIT_EVENT
    resolution: Resolution | None


@attrs.frozen
class DurableStepOutcome:
    """The step's journaled value."""

    kind: ClassVar[EffectKind] = EffectKind.DURABLE_STEP
    value: JsonValue


EffectOutcome: TypeAlias = (
    LlmCallOutcome
    | DirectOutcome
    | ToolAttemptOutcome
    | ToolBatchOutcome
    | ProcessOutcome
    | ExecCodeOutcome
    | CheckpointOutcome
    | SyncExecutionEnvironmentOutcome
    | SleepOutcome
    | AwaitEventOutcome
    | PeekAwaitEventOutcome
    | DurableStepOutcome
)
"""The host's answer to an envelope (tag ``type``, the outcome's ``kind``)."""

_OUTCOMES: tuple[type[EffectOutcome], ...] = (
    LlmCallOutcome,
    DirectOutcome,
    ToolAttemptOutcome,
    ToolBatchOutcome,
    ProcessOutcome,
    ExecCodeOutcome,
    CheckpointOutcome,
    SyncExecutionEnvironmentOutcome,
    SleepOutcome,
    AwaitEventOutcome,
    PeekAwaitEventOutcome,
    DurableStepOutcome,
)

wire.tagged_union(EffectOutcome, "type", {cls.kind.value: cls for cls in _OUTCOMES})


# -- typed extraction ------------------------------------------------------------------------


class _HasKind(Protocol):
    kind: ClassVar[EffectKind]


OutcomeT = TypeVar("OutcomeT", bound=_HasKind)


def wrong_outcome(expected: EffectKind, outcome: object) -> LashError:
    """The ``runtime_effect_wrong_outcome`` error for ``outcome`` answering an envelope of kind
    ``expected``, naming both kinds (``expected sleep outcome, got durable_step``; a value that
    is no outcome is named by its type)."""
    got = outcome.kind.value if isinstance(outcome, _OUTCOMES) else type(outcome).__name__
    return LashError(
        codes.RUNTIME_EFFECT_WRONG_OUTCOME, f"expected {expected.value} outcome, got {got}"
    )


def expect_outcome(outcome: EffectOutcome, expected: type[OutcomeT]) -> OutcomeT:
    """``outcome`` if it is an ``expected``; else ``runtime_effect_wrong_outcome`` naming both
    kinds (``expected sleep outcome, got durable_step``).
    :func:`lash_core.effects.kinds.check_outcome` checks an outcome against an envelope's kind."""
    if isinstance(outcome, expected):
        return outcome
    raise wrong_outcome(expected.kind, outcome)


def into_llm_call(
    outcome: EffectOutcome,
) -> tuple[Result[LlmResponse, LlmCallError], bool]:
    """``(result, text_streamed)`` of an ``llm_call`` outcome."""
    llm = expect_outcome(outcome, LlmCallOutcome)
    return llm.result, llm.text_streamed


def into_direct_response(outcome: EffectOutcome) -> Result[LlmResponse, LlmCallError]:
    """The result of a ``direct`` outcome."""
    return expect_outcome(outcome, DirectOutcome).result


def into_tool_attempt(outcome: EffectOutcome) -> ToolAttemptLaunch:
    """The launch of a ``tool_attempt`` outcome."""
    return expect_outcome(outcome, ToolAttemptOutcome).launch


def into_tool_batch(outcome: EffectOutcome) -> tuple[ToolCallLaunch, ...]:
    """The launches of a ``tool_batch`` outcome."""
    return expect_outcome(outcome, ToolBatchOutcome).launches


def into_process(outcome: EffectOutcome) -> ProcessEffectOutcome:
    """The registry's answer in a ``process`` outcome."""
    return expect_outcome(outcome, ProcessOutcome).result


def into_exec_code(outcome: EffectOutcome) -> Result[ExecResponse, str]:
    """The result of an ``exec_code`` outcome."""
    return expect_outcome(outcome, ExecCodeOutcome).result


def into_checkpoint(outcome: EffectOutcome) -> Result[CheckpointDelivery, ControllerError]:
    """The result of a ``checkpoint`` outcome."""
    return expect_outcome(outcome, CheckpointOutcome).result


def into_sync_execution_environment(
    outcome: EffectOutcome,
) -> Result[ExecutionEnvironmentSync | None, str]:
    """The result of a ``sync_execution_environment`` outcome."""
    return expect_outcome(outcome, SyncExecutionEnvironmentOutcome).result


def into_await_event(outcome: EffectOutcome) -> Resolution:
    """The resolution of an ``await_event`` outcome."""
    return expect_outcome(outcome, AwaitEventOutcome).resolution


def into_peek_await_event(outcome: EffectOutcome) -> Resolution | None:
    """The resolution (or ``None``) of a ``peek_await_event`` outcome."""
    return expect_outcome(outcome, PeekAwaitEventOutcome).resolution


def into_durable_step(outcome: EffectOutcome) -> JsonValue:
    """The value of a ``durable_step`` outcome."""
    return expect_outcome(outcome, DurableStepOutcome).value
