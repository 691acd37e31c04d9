"""Properties of both mappings over generated requests (any roles, parts in any order, any JSON
in arguments and outputs): what the APIs require holds, and no call or result is lost."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from lash_core import Role, TextPart, ToolCallPart
from lash_core.effects import LlmRequest, ToolResultPart
from lash_core.testing.strategies import json_values, wire_values
from lash_providers._anthropic_wire import messages_and_system
from lash_providers._common import arguments_text, parse_arguments
from lash_providers._openai_wire import chat_messages

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _count(request: LlmRequest, kind: type, roles: tuple[Role, ...]) -> int:
    return sum(
        isinstance(part, kind)
        for message in request.messages
        if message.role in roles
        for part in message.parts
    )


@SETTINGS
@given(wire_values(LlmRequest))
def test_anthropic_turns_alternate_with_tool_results_first(request: LlmRequest) -> None:
    messages, system = messages_and_system(request)
    json.dumps(messages)
    roles = [message["role"] for message in messages]
    assert all(a != b for a, b in itertools.pairwise(roles))
    blocks: list[dict[str, Any]] = [block for m in messages for block in m["content"]]
    assert all(m["content"] for m in messages)
    assert not [b for b in blocks if b["type"] == "text" and not b["text"]]
    for message in messages:
        if message["role"] == "user":
            kinds = [block["type"] == "tool_result" for block in message["content"]]
            assert kinds == sorted(kinds, reverse=True), "a tool result after other content"
    others = (Role.USER, Role.ASSISTANT, Role.TOOL)
    assert sum(b["type"] == "tool_use" for b in blocks) == _count(request, ToolCallPart, others)
    assert sum(b["type"] == "tool_result" for b in blocks) == _count(
        request, ToolResultPart, others
    )
    texts = [
        part.text
        for message in request.messages
        if message.role is Role.SYSTEM
        for part in message.parts
        if isinstance(part, TextPart)
    ]
    assert (system or "") == "\n\n".join(t for t in (request.system, *texts) if t)


@SETTINGS
@given(wire_values(LlmRequest))
def test_openai_keeps_every_call_and_result(request: LlmRequest) -> None:
    messages = chat_messages(request)
    json.dumps(messages)
    assert {m["role"] for m in messages} <= {"system", "user", "assistant", "tool"}
    calls = [call for m in messages for call in m.get("tool_calls", ())]
    assert len(calls) == _count(request, ToolCallPart, (Role.ASSISTANT,))
    results = [m for m in messages if m["role"] == "tool"]
    assert len(results) == _count(request, ToolResultPart, (Role.USER, Role.TOOL))
    assert all(isinstance(m["content"], str) for m in results)
    user_texts = _count(request, TextPart, (Role.USER, Role.TOOL))
    assert sum(m["role"] == "user" for m in messages) <= user_texts


@SETTINGS
@given(json_values())
def test_tool_arguments_round_trip_as_json_text(args: Any) -> None:
    if isinstance(args, str):
        assert arguments_text(args) == args
    else:
        assert parse_arguments(arguments_text(args)) == args
