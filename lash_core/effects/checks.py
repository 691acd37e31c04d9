"""Checking what a handler returned: an outcome of the right kind must also hold usable contents.

A handler is user code: it may return ``LlmCallOutcome(Ok(None), False)``, a pending launch whose
deadline is an ``int``, or a tool output holding a ``datetime`` or NaN. The attrs classes do not
check their fields, so without this check such a value reaches the turn machine (a raw
``AttributeError`` deep inside a transition) or fails much later when written as JSON, naming
no tool. :func:`check_outcome_contents` walks an outcome the way the wire format writes it and
refuses the first unusable field with a :class:`~lash_core.errors.LashError`:
``runtime_effect_invalid_outcome`` (a field of the wrong type, a value that is not JSON), or
``wire_too_deep`` (free-form JSON nested deeper than :data:`~lash_core.wire.MAX_JSON_DEPTH`),
the message naming the path (``launch.pending.deadline: expected a Duration or None, got
int``). Pure, and linear in the size of the outcome; a correct outcome costs a few type tests
per field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from lash_core import codes
from lash_core.effects.errors import ControllerError, ReplayMismatchSummary
from lash_core.effects.llm import (
    LlmCallError,
    LlmErrorKind,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
)
from lash_core.effects.outcomes import (
    CheckpointOutcome,
    DirectOutcome,
    DurableStepOutcome,
    EffectOutcome,
    ExecCodeOutcome,
    LlmCallOutcome,
    SyncExecutionEnvironmentOutcome,
    ToolAttemptOutcome,
    ToolBatchOutcome,
)
from lash_core.effects.tools import (
    CancelPolicy,
    CheckpointDelivery,
    CompletedToolCall,
    Duration,
    ExecResponse,
    ExecutionEnvironmentSync,
    PendingCompletion,
    TimeoutPolicy,
    ToolAttemptLaunchDone,
    ToolBatchLaunchDone,
    ToolCallRecord,
    ToolLaunchPending,
)
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.wire import Ok

__all__ = ["check_outcome_contents"]

from lash_core.effects._checks_base import (
    _U32,
    _U64,
    _Bad,
    _bool,
    _enum,
    _int,
    _items,
    _json,
    _opt_str,
    _optional,
    _record,
    _result,
    _scalar,
    _str,
    _u32,
    _union,
)

_message: Final = _record(
    Message,
    (
        ("role", _enum(Role)),
        (
            "parts",
            _items(
                _union(
                    (TextPart, _record(TextPart, (("text", _str),))),
                    (
                        ToolCallPart,
                        _record(
                            ToolCallPart,
                            (("call_id", _str), ("tool_name", _str), ("args", _json)),
                        ),
                    ),
                    (
                        ToolResultPart,
                        _record(
                            ToolResultPart,
                            (
                                ("call_id", _str),
                                ("tool_name", _str),
                                ("output", _json),
                                ("is_error", _bool),
                            ),
                        ),
                    ),
                )
            ),
        ),
        ("id", _opt_str),
    ),
)
_usage: Final = _record(
    Usage,
    (
        ("input_tokens", _int),
        ("output_tokens", _int),
        ("cache_read_tokens", _int),
        ("cache_write_tokens", _int),
    ),
)
_llm_result: Final = _result(
    _record(
        LlmResponse,
        (("message", _message), ("usage", _usage), ("stop_reason", _enum(StopReason))),
    ),
    _record(
        LlmCallError,
        (
            ("message", _str),
            ("retryable", _bool),
            ("kind", _enum(LlmErrorKind)),
            ("raw", _json),
            ("code", _opt_str),
            ("terminal_reason", _optional(_enum(StopReason), "a StopReason")),
        ),
    ),
)
_pending: Final = _record(
    ToolLaunchPending,
    (
        ("key", _record(AwaitEventKey, (("key_id", _str), ("signature", _str)))),
        (
            "pending",
            _record(
                PendingCompletion,
                (
                    (
                        "deadline",
                        _optional(
                            _record(Duration, (("secs", _int), ("nanos", _u32))), "a Duration"
                        ),
                    ),
                    ("on_timeout", _enum(TimeoutPolicy)),
                    ("on_cancel", _enum(CancelPolicy)),
                ),
            ),
        ),
        ("duration_ms", _int),
    ),
)
_tool_record: Final = _record(
    ToolCallRecord,
    (
        ("call_id", _str),
        ("tool_name", _str),
        ("args", _json),
        ("output", _json),
        ("model_return", _json),
        ("duration_ms", _int),
        ("attempt", _u32),
        ("success", _bool),
    ),
)
_completed_call: Final = _record(
    CompletedToolCall,
    (
        ("call_id", _str),
        ("tool_name", _str),
        ("args", _json),
        ("output", _json),
        ("model_return", _json),
        ("duration_ms", _int),
        ("replay", _json),
    ),
)
_messages: Final = _items(_message)

_CHECKS: Final[dict[type[Any], Callable[[Any], None]]] = {
    LlmCallOutcome: _record(LlmCallOutcome, (("result", _llm_result), ("text_streamed", _bool))),
    DirectOutcome: _record(DirectOutcome, (("result", _llm_result),)),
    ToolAttemptOutcome: _record(
        ToolAttemptOutcome,
        (
            (
                "launch",
                _union(
                    (
                        ToolAttemptLaunchDone,
                        _record(ToolAttemptLaunchDone, (("record", _tool_record),)),
                    ),
                    (ToolLaunchPending, _pending),
                ),
            ),
        ),
    ),
    ToolBatchOutcome: _record(
        ToolBatchOutcome,
        (
            (
                "launches",
                _items(
                    _union(
                        (
                            ToolBatchLaunchDone,
                            _record(ToolBatchLaunchDone, (("result", _completed_call),)),
                        ),
                        (ToolLaunchPending, _pending),
                    )
                ),
            ),
        ),
    ),
    ExecCodeOutcome: _record(
        ExecCodeOutcome,
        (
            (
                "result",
                _result(
                    _record(
                        ExecResponse, (("output", _str), ("result", _json), ("is_error", _bool))
                    ),
                    _str,
                ),
            ),
        ),
    ),
    CheckpointOutcome: _record(
        CheckpointOutcome,
        (
            (
                "result",
                _result(
                    _record(
                        CheckpointDelivery,
                        (
                            ("committed_user_messages", _messages),
                            ("messages", _messages),
                            ("transient_messages", _messages),
                            ("turn_causes", _items(_json)),
                        ),
                    ),
                    _record(
                        ControllerError,
                        (
                            ("code", _str),
                            ("message", _str),
                            (
                                "summary",
                                _optional(
                                    _record(
                                        ReplayMismatchSummary,
                                        (
                                            ("divergent_path_count", _int),
                                            ("first_divergent_paths", _items(_str)),
                                        ),
                                    ),
                                    "a ReplayMismatchSummary",
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    ),
    SyncExecutionEnvironmentOutcome: _record(
        SyncExecutionEnvironmentOutcome,
        (
            (
                "result",
                _result(
                    _optional(
                        _record(
                            ExecutionEnvironmentSync,
                            (
                                ("system_prompt", _str),
                                (
                                    "tool_specs",
                                    _items(
                                        _record(
                                            ToolSpec,
                                            (
                                                ("name", _str),
                                                ("description", _str),
                                                ("input_schema", _json),
                                            ),
                                        )
                                    ),
                                ),
                            ),
                        ),
                        "an ExecutionEnvironmentSync",
                    ),
                    _str,
                ),
            ),
        ),
    ),
    DurableStepOutcome: _record(DurableStepOutcome, (("value", _json),)),
}


# -- the fast path ---------------------------------------------------------------------------
# The common well-formed shapes (exact classes, ASCII strings, in-range integers, JSON that is
# a scalar or a small flat object of scalars), recognised without the walk above. Each
# ``_quick_*`` answers True only where the walk would pass; any other value (a subclass, a
# non-ASCII string, nested JSON, a wrong field) goes through the walk, which alone refuses.


def _plain_json(value: Any) -> bool:
    """``value`` passes :func:`_json` without the full JSON check."""
    if type(value) is dict:
        if len(value) > 8:
            return False
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            t = type(item)
            if t is str:
                if not item.isascii():
                    return False
            elif t is int:
                if not -(2**63) <= item <= _U64:
                    return False
            elif t is not bool and item is not None:
                return False
        return True
    return _scalar(value)


def _quick_llm_result(result: Any) -> bool:
    if type(result) is not Ok:
        return False
    response = result.value
    if type(response) is not LlmResponse or type(response.stop_reason) is not StopReason:
        return False
    usage = response.usage
    if type(usage) is not Usage:
        return False
    for count in (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
    ):
        if type(count) is not int or not 0 <= count <= _U64:
            return False
    message: Any = response.message
    if type(message) is not Message or type(message.role) is not Role:
        return False
    if message.id is not None and type(message.id) is not str:
        return False
    parts: Any = message.parts
    if type(parts) is not tuple and type(parts) is not list:
        return False
    part: Any
    for part in parts:
        t = type(part)
        if t is ToolCallPart:
            call_id = part.call_id
            name = part.tool_name
            if not (
                type(call_id) is str
                and call_id.isascii()
                and type(name) is str
                and name.isascii()
                and _plain_json(part.args)
            ):
                return False
        elif t is TextPart:
            text = part.text
            if type(text) is not str or not text.isascii():
                return False
        elif t is ToolResultPart:
            call_id = part.call_id
            name = part.tool_name
            if not (
                type(call_id) is str
                and call_id.isascii()
                and type(name) is str
                and name.isascii()
                and type(part.is_error) is bool
                and _plain_json(part.output)
            ):
                return False
        else:
            return False
    return True


def _quick_llm_call(outcome: Any) -> bool:
    return type(outcome.text_streamed) is bool and _quick_llm_result(outcome.result)


def _quick_direct(outcome: Any) -> bool:
    return _quick_llm_result(outcome.result)


def _quick_tool_attempt(outcome: Any) -> bool:
    launch = outcome.launch
    if type(launch) is not ToolAttemptLaunchDone:
        return False
    record = launch.record
    if type(record) is not ToolCallRecord:
        return False
    call_id = record.call_id
    name = record.tool_name
    duration = record.duration_ms
    attempt = record.attempt
    return (
        type(call_id) is str
        and call_id.isascii()
        and type(name) is str
        and name.isascii()
        and type(duration) is int
        and 0 <= duration <= _U64
        and type(attempt) is int
        and 0 <= attempt <= _U32
        and type(record.success) is bool
        and _plain_json(record.args)
        and _plain_json(record.output)
        # The model's view is often the output itself, checked just above.
        and (record.model_return is record.output or _plain_json(record.model_return))
    )


_QUICK: Final[dict[type[Any], Callable[[Any], bool]]] = {
    LlmCallOutcome: _quick_llm_call,
    DirectOutcome: _quick_direct,
    ToolAttemptOutcome: _quick_tool_attempt,
}


def _path(parts: list[str | int]) -> str:
    out: list[str] = []
    for part in reversed(parts):
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(f".{part}" if out else part)
    return "".join(out) or "outcome"


def check_outcome_contents(outcome: EffectOutcome) -> None:
    """Refuse an outcome holding an unusable field (see the module docstring); the error's
    message is ``{path}: {problem}``. Outcomes a handler never makes (sleep, registry and
    process outcomes, built by the host) are not walked."""
    cls = type(outcome)
    quick = _QUICK.get(cls)
    if quick is not None and quick(outcome):
        return
    check = _CHECKS.get(cls)
    if check is None:
        return
    try:
        check(outcome)
    except _Bad as bad:
        raise LashError(bad.code, f"{_path(bad.parts)}: {bad.message}") from None
    except RecursionError:
        raise LashError(codes.WIRE_TOO_DEEP, "the outcome nests too deeply") from None
