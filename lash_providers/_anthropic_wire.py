"""lash's requests and responses in the Anthropic messages wire format (pure: dicts in, dicts
out; the SDK call is in :mod:`lash_providers.anthropic_messages`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lash_core.effects import (
    LlmRequest,
    LlmResponse,
    Message,
    MessagePart,
    Role,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from lash_providers._common import ResponseInvalid, parse_arguments, result_text

__all__ = [
    "EventAssembler",
    "message_tools",
    "messages_and_system",
    "response_from_message",
]

STOP_REASONS: Mapping[str, StopReason] = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "tool_use": StopReason.TOOL_USE,
    "max_tokens": StopReason.OUTPUT_LIMIT,
    "refusal": StopReason.CONTENT_FILTER,
    "model_context_window_exceeded": StopReason.CONTEXT_OVERFLOW,
}


def _block(part: MessagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ToolCallPart):
        args = part.args if isinstance(part.args, dict) else {"arguments": part.args}
        return {"type": "tool_use", "id": part.call_id, "name": part.tool_name, "input": args}
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": part.call_id,
        "content": result_text(part),
    }
    if part.is_error:
        block["is_error"] = True
    return block


def messages_and_system(request: LlmRequest) -> tuple[list[dict[str, Any]], str | None]:
    """The conversation as Anthropic messages, and the system prompt.

    ``request.system`` and the text of system messages are joined into ``system``. User and
    tool messages are ``user`` turns; consecutive turns of one role are merged into one (the
    API alternates roles), and in a user turn the tool results come first, as it requires.
    Empty text parts are dropped (the API refuses empty text blocks)."""
    system = [request.system] if request.system else []
    out: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role is Role.SYSTEM:
            system.extend(p.text for p in message.parts if isinstance(p, TextPart) and p.text)
            continue
        role = "assistant" if message.role is Role.ASSISTANT else "user"
        blocks = [
            _block(part)
            for part in message.parts
            if not (isinstance(part, TextPart) and not part.text)
        ]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            blocks = out.pop()["content"] + blocks
        if role == "user":
            blocks.sort(key=lambda block: block["type"] != "tool_result")
        out.append({"role": role, "content": blocks})
    return out, "\n\n".join(system) if system else None


def message_tools(request: LlmRequest) -> list[dict[str, Any]]:
    """The request's tool specs as Anthropic tools."""
    return [
        {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}
        for spec in request.tools
    ]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(body: object, base: Usage | None = None) -> Usage:
    """``input_tokens``, ``output_tokens`` and the cache reads and writes; a field the body
    does not carry keeps ``base``'s value."""
    base = base or Usage()
    if not isinstance(body, Mapping):
        return base

    def field(name: str, default: int) -> int:
        return _int(body[name]) if body.get(name) is not None else default

    return Usage(
        input_tokens=field("input_tokens", base.input_tokens),
        output_tokens=field("output_tokens", base.output_tokens),
        cache_read_tokens=field("cache_read_input_tokens", base.cache_read_tokens),
        cache_write_tokens=field("cache_creation_input_tokens", base.cache_write_tokens),
    )


def _stop_reason(value: object) -> StopReason:
    if isinstance(value, str):
        return STOP_REASONS.get(value, StopReason.UNKNOWN)
    return StopReason.UNKNOWN


def _part(block: object, index: int) -> MessagePart | None:
    if not isinstance(block, Mapping):
        raise ResponseInvalid(f"content block {index} is not an object")
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise ResponseInvalid(f"text block {index} has no text")
        return TextPart(text) if text else None
    if kind == "tool_use":
        call_id, name = block.get("id"), block.get("name")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise ResponseInvalid(f"tool_use block {index} has no id or name")
        args = block.get("input")
        return ToolCallPart(call_id, name, {} if args is None else args)
    return None  # thinking, server tool blocks: not part of lash's message model


def response_from_message(body: Mapping[str, Any]) -> LlmResponse:
    """A ``message`` body as a response."""
    content = body.get("content")
    if not isinstance(content, list):
        raise ResponseInvalid("the message has no content list")
    parts = [part for i, block in enumerate(content) if (part := _part(block, i)) is not None]
    return LlmResponse(
        Message(Role.ASSISTANT, tuple(parts)),
        usage_of(body.get("usage")),
        _stop_reason(body.get("stop_reason")),
    )


class EventAssembler:
    """Builds the response of a streamed message from its events (``message_start``,
    ``content_block_start``/``_delta``/``_stop``, ``message_delta``, ``message_stop``):
    :meth:`feed` each event (it returns the event's text delta), then :meth:`response`."""

    __slots__ = ("_blocks", "_started", "_stop", "_stopped", "_usage")

    def __init__(self, call_id_prefix: str = "") -> None:
        self._blocks: dict[int, dict[str, Any]] = {}
        self._usage = Usage()
        self._stop: object = None
        self._started = False
        self._stopped = False

    def feed(self, event: Mapping[str, Any]) -> str:
        """Take one event; return its text delta (``""`` if it has none)."""
        kind = event.get("type")
        if kind == "message_start":
            self._started = True
            message = event.get("message")
            if isinstance(message, Mapping):
                self._usage = usage_of(message.get("usage"))
        elif kind == "content_block_start":
            block = event.get("content_block")
            if not isinstance(block, Mapping):
                raise ResponseInvalid("content_block_start has no content block")
            self._blocks[self._index(event)] = {**block, "_json": []}
            text = block.get("text")
            return text if block.get("type") == "text" and isinstance(text, str) else ""
        elif kind == "content_block_delta":
            return self._delta(event)
        elif kind == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
                self._stop = delta["stop_reason"]
            self._usage = usage_of(event.get("usage"), self._usage)
        elif kind == "message_stop":
            self._stopped = True
        return ""

    def _index(self, event: Mapping[str, Any]) -> int:
        index = event.get("index")
        if not isinstance(index, int):
            raise ResponseInvalid(f"{event.get('type')} has no block index")
        return index

    def _delta(self, event: Mapping[str, Any]) -> str:
        block = self._blocks.get(self._index(event))
        delta = event.get("delta")
        if block is None or not isinstance(delta, Mapping):
            raise ResponseInvalid("content_block_delta for a block that did not start")
        if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            block["text"] = block.get("text", "") + delta["text"]
            return str(delta["text"])
        if delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            block["_json"].append(delta["partial_json"])
        return ""

    def response(self) -> LlmResponse:
        """The assembled response."""
        if not self._started or not self._stopped:
            missing = "message_stop" if self._started else "message_start"
            raise ResponseInvalid(f"the stream ended before {missing}", retryable=True)
        content = []
        for index in sorted(self._blocks):
            block = dict(self._blocks[index])
            pieces = block.pop("_json")
            if block.get("type") == "tool_use" and pieces:
                block["input"] = parse_arguments("".join(pieces))
            content.append(block)
        parts = [part for i, block in enumerate(content) if (part := _part(block, i)) is not None]
        return LlmResponse(
            Message(Role.ASSISTANT, tuple(parts)), self._usage, _stop_reason(self._stop)
        )
