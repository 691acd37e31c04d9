"""lash's requests and responses in the OpenAI chat completions wire format (pure: dicts in,
dicts out; the SDK call is in :mod:`lash_providers.openai_chat`)."""

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
    ToolResultPart,
    Usage,
)
from lash_providers._common import ResponseInvalid, arguments_text, parse_arguments, result_text

__all__ = ["ChunkAssembler", "chat_messages", "chat_tools", "response_from_completion"]

FINISH_REASONS: Mapping[str, StopReason] = {
    "stop": StopReason.STOP,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "length": StopReason.OUTPUT_LIMIT,
    "content_filter": StopReason.CONTENT_FILTER,
}


def _texts(parts: tuple[MessagePart, ...]) -> list[str]:
    return [part.text for part in parts if isinstance(part, TextPart)]


def _user_content(texts: list[str]) -> str | list[dict[str, Any]]:
    if len(texts) == 1:
        return texts[0]
    return [{"type": "text", "text": text} for text in texts]


def _tool_result(part: ToolResultPart) -> dict[str, Any]:
    content = result_text(part)
    if part.is_error and isinstance(part.output, str):
        content = f"error: {content}"
    return {"role": "tool", "tool_call_id": part.call_id, "content": content}


def chat_messages(request: LlmRequest) -> list[dict[str, Any]]:
    """The request's system prompt and conversation as chat messages.

    System messages (and ``request.system``, first) become ``system`` messages; tool results,
    in whichever message they are, become one ``tool`` message each, ahead of that message's
    text; an assistant's text is joined into one ``content`` string next to its
    ``tool_calls``."""
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        texts = _texts(message.parts)
        if message.role is Role.SYSTEM:
            if texts:
                out.append({"role": "system", "content": "\n\n".join(texts)})
            continue
        if message.role is Role.ASSISTANT:
            calls = [
                {
                    "id": part.call_id,
                    "type": "function",
                    "function": {"name": part.tool_name, "arguments": arguments_text(part.args)},
                }
                for part in message.parts
                if isinstance(part, ToolCallPart)
            ]
            entry: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
            continue
        out.extend(_tool_result(p) for p in message.parts if isinstance(p, ToolResultPart))
        if texts:
            out.append({"role": "user", "content": _user_content(texts)})
    return out


def chat_tools(request: LlmRequest) -> list[dict[str, Any]]:
    """The request's tool specs as ``function`` tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.input_schema,
            },
        }
        for spec in request.tools
    ]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(body: object) -> Usage:
    """``prompt_tokens``, ``completion_tokens`` and the cached part of the prompt."""
    if not isinstance(body, Mapping):
        return Usage()
    details = body.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        input_tokens=_int(body.get("prompt_tokens")),
        output_tokens=_int(body.get("completion_tokens")),
        cache_read_tokens=_int(cached),
    )


def _call_id(given: object, fallback: str) -> str:
    return given if isinstance(given, str) and given.strip() else fallback


def _stop_reason(finish: object, has_calls: bool) -> StopReason:
    reason = StopReason.UNKNOWN
    if isinstance(finish, str):
        reason = FINISH_REASONS.get(finish, StopReason.UNKNOWN)
    if has_calls and reason in (StopReason.STOP, StopReason.UNKNOWN):
        # Some compatible servers say "stop" (or nothing) when the answer is tool calls.
        return StopReason.TOOL_USE
    return reason


def _message(text: str, calls: list[ToolCallPart]) -> Message:
    parts: list[MessagePart] = [TextPart(text)] if text else []
    parts.extend(calls)
    return Message(Role.ASSISTANT, tuple(parts))


def response_from_completion(body: Mapping[str, Any], call_id_prefix: str) -> LlmResponse:
    """A ``chat.completion`` body as a response (its first choice). A tool call without an id
    gets ``{call_id_prefix}{index}``."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ResponseInvalid("the completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ResponseInvalid("the first choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ResponseInvalid(f"the message content is not text: {content!r}")
    calls: list[ToolCallPart] = []
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ResponseInvalid(f"tool call {index} has no function name")
        calls.append(
            ToolCallPart(
                _call_id(call.get("id"), f"{call_id_prefix}{index}"),
                function["name"],
                parse_arguments(function.get("arguments")),
            )
        )
    reason = _stop_reason(choice.get("finish_reason"), bool(calls))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not content and not calls:
        # The model refused (structured outputs): its reason as text, stopped by the filter.
        content, reason = refusal, StopReason.CONTENT_FILTER
    return LlmResponse(_message(content or "", calls), usage_of(body.get("usage")), reason)


class ChunkAssembler:
    """Builds the response of a streamed completion from its ``chat.completion.chunk`` bodies:
    :meth:`feed` each chunk (it returns the chunk's text delta), then :meth:`response`."""

    __slots__ = ("_calls", "_finish", "_prefix", "_seen", "_text", "_usage")

    def __init__(self, call_id_prefix: str) -> None:
        self._prefix = call_id_prefix
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: object = None
        self._usage = Usage()
        self._seen = False

    def feed(self, chunk: Mapping[str, Any]) -> str:
        """Take one chunk; return its text delta (``""`` if it has none)."""
        self._seen = True
        if chunk.get("usage") is not None:
            self._usage = usage_of(chunk["usage"])
        choices = chunk.get("choices") or ()
        delta_text = ""
        for choice in choices:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason") is not None:
                self._finish = choice["finish_reason"]
            delta = choice.get("delta")
            if not isinstance(delta, Mapping):
                continue
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text.append(content)
                delta_text += content
            for position, call in enumerate(delta.get("tool_calls") or ()):
                self._take_call(position, call)
        return delta_text

    def _take_call(self, position: int, call: object) -> None:
        if not isinstance(call, Mapping):
            raise ResponseInvalid(f"a streamed tool call is not an object: {call!r}")
        index = call.get("index", position)
        slot = self._calls.setdefault(index, {"id": None, "name": "", "arguments": []})
        if call.get("id"):
            slot["id"] = call["id"]
        function = call.get("function")
        if isinstance(function, Mapping):
            name = function.get("name")
            if isinstance(name, str) and name and name != slot["name"]:
                # Servers send the name once; some repeat it whole in every chunk.
                slot["name"] += name
            if function.get("arguments"):
                slot["arguments"].append(function["arguments"])

    def response(self) -> LlmResponse:
        """The assembled response."""
        if not self._seen:
            raise ResponseInvalid("the stream ended before its first chunk", retryable=True)
        calls = []
        for position, index in enumerate(sorted(self._calls)):
            slot = self._calls[index]
            if not slot["name"]:
                raise ResponseInvalid(f"streamed tool call {index} has no function name")
            calls.append(
                ToolCallPart(
                    _call_id(slot["id"], f"{self._prefix}{position}"),
                    slot["name"],
                    parse_arguments("".join(slot["arguments"])),
                )
            )
        reason = _stop_reason(self._finish, bool(calls))
        return LlmResponse(_message("".join(self._text), calls), self._usage, reason)
