"""Provider-neutral LLM requests and responses.

These are lash's own compact types, not the reference runtime's (much larger) request spec: an
``llm_call`` or ``direct`` envelope built from them hashes consistently within lash but is not
byte-compatible with the reference's. Hashed data holds no floats (there is no temperature), so
the hash never depends on float formatting.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import ClassVar, Final, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core._fields import is_bool, is_instance, is_str, omitted_if_none, optional, tuple_of
from lash_core._unchecked import unchecked
from lash_core.wire import JsonValue, omit_if_empty, omit_if_none

_CODE = codes.LLM_VALUE_INVALID
_STR = is_str(_CODE)

__all__ = [
    "LlmCallError",
    "LlmErrorKind",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "MessagePart",
    "Role",
    "StopReason",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "ToolSpec",
    "Usage",
]


@attrs.frozen
class TextPart:
    """Plain text."""

    type: ClassVar[str] = "text"
    text: str = attrs.field(validator=_STR)


@attrs.frozen
class ToolCallPart:
    """The model asks for a tool call."""

    type: ClassVar[str] = "tool_call"
    call_id: str = attrs.field(validator=_STR)
    tool_name: str = attrs.field(validator=_STR)
    args: JsonValue


@attrs.frozen
class ToolResultPart:
    """The result of a tool call, given back to the model."""

    type: ClassVar[str] = "tool_result"
    call_id: str = attrs.field(validator=_STR)
    tool_name: str = attrs.field(validator=_STR)
    output: JsonValue
    is_error: bool = attrs.field(default=False, validator=is_bool(_CODE))


MessagePart: TypeAlias = TextPart | ToolCallPart | ToolResultPart
"""One part of a message (tag ``type``)."""

wire.tagged_union(
    MessagePart,
    "type",
    {"text": TextPart, "tool_call": ToolCallPart, "tool_result": ToolResultPart},
)


class Role(enum.StrEnum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@attrs.frozen
class Message:
    """One message of a conversation. ``id`` is left out of the JSON when ``None``."""

    role: Role = attrs.field(
        validator=is_instance(
            _CODE, "a Role (Role.USER, Role.ASSISTANT, Role.SYSTEM or Role.TOOL)", Role
        )
    )
    parts: tuple[MessagePart, ...] = attrs.field(
        validator=tuple_of(
            _CODE,
            "message parts (TextPart, ToolCallPart or ToolResultPart)",
            TextPart,
            ToolCallPart,
            ToolResultPart,
        )
    )
    id: str | None = omitted_if_none(optional(_CODE, "a str", lambda value: isinstance(value, str)))

    @classmethod
    def user(cls, text: str, /) -> Message:
        """A user message holding ``text``: ``Message.user("Weather in Oslo?")``."""
        return cls(Role.USER, (TextPart(text),))

    @classmethod
    def system(cls, text: str, /) -> Message:
        """A system message holding ``text``."""
        return cls(Role.SYSTEM, (TextPart(text),))

    @classmethod
    def assistant(
        cls, text: str | None = None, /, *, tool_calls: Iterable[ToolCallPart] = ()
    ) -> Message:
        """An assistant message: its ``text`` (if any), then its ``tool_calls`` in order.

        ``Message.assistant("Looking.", tool_calls=[ToolCallPart("c1", "weather", {})])``.
        """
        parts: list[MessagePart] = [] if text is None else [TextPart(text)]
        parts.extend(tool_calls)
        return cls(Role.ASSISTANT, tuple(parts))

    @classmethod
    def tool_results(cls, *results: ToolResultPart) -> Message:
        """The tool message that gives ``results`` back to the model, in order."""
        return cls(Role.TOOL, results)

    @property
    def text(self) -> str:
        """The message's text parts, joined (``""`` when it has none)."""
        return "".join(part.text for part in self.parts if isinstance(part, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        """The message's tool calls, in order."""
        return tuple(part for part in self.parts if isinstance(part, ToolCallPart))


@attrs.frozen
class ToolSpec:
    """A tool the model may call; ``input_schema`` is a JSON Schema."""

    name: str = attrs.field(validator=_STR)
    description: str = attrs.field(validator=_STR)
    input_schema: JsonValue


@attrs.frozen
class LlmRequest:
    """One model request. ``tools`` is left out when empty, ``system`` and
    ``max_output_tokens`` when ``None``."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = omit_if_empty()
    system: str | None = omit_if_none()
    max_output_tokens: int | None = omit_if_none()


@attrs.frozen
class Usage:
    """Token counts. ``a + b`` adds them field by field."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        # `Usage(...)` (it validates nothing), without its frame: a turn adds up every call's.
        return _usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


_usage: Final = unchecked(Usage)


class StopReason(enum.StrEnum):
    """Why the model stopped."""

    STOP = "stop"
    TOOL_USE = "tool_use"
    OUTPUT_LIMIT = "output_limit"
    CONTENT_FILTER = "content_filter"
    CONTEXT_OVERFLOW = "context_overflow"
    PROVIDER_ERROR = "provider_error"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@attrs.frozen
class LlmResponse:
    """A model response: the assistant message, the usage and the stop reason."""

    message: Message
    usage: Usage
    stop_reason: StopReason

    @classmethod
    def reply(
        cls,
        text: str | None = None,
        /,
        *,
        tool_calls: Iterable[ToolCallPart] = (),
        usage: Usage | None = None,
        stop_reason: StopReason | None = None,
    ) -> LlmResponse:
        """An assistant reply built from keywords: ``LlmResponse.reply("Done.")``.

        The message is :meth:`Message.assistant` of ``text`` and ``tool_calls``; ``usage``
        defaults to zero tokens; ``stop_reason`` defaults to ``tool_use`` when the reply has
        tool calls and to ``stop`` otherwise.
        """
        message = Message.assistant(text, tool_calls=tool_calls)
        if stop_reason is None:
            stop_reason = StopReason.TOOL_USE if message.tool_calls else StopReason.STOP
        return cls(message, Usage() if usage is None else usage, stop_reason)


class LlmErrorKind(enum.StrEnum):
    """The class of an LLM call failure (``unknown`` when absent on input)."""

    UNKNOWN = "unknown"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    TRANSPORT = "transport"
    AUTH = "auth"
    INVALID_REQUEST = "invalid_request"
    SERVER = "server"
    CONTENT_FILTER = "content_filter"
    CONTEXT_OVERFLOW = "context_overflow"


@attrs.frozen
class LlmCallError:
    """A failed LLM call, in the reference's field order. ``raw``, ``code`` and
    ``terminal_reason`` are always written (``null`` when ``None``)."""

    message: str
    retryable: bool
    kind: LlmErrorKind = LlmErrorKind.UNKNOWN
    raw: JsonValue = None
    code: str | None = None
    terminal_reason: StopReason | None = None
