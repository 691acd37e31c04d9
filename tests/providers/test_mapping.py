"""The pure mappings of both adapters (no SDK, no server): conversations with system messages,
mixed user turns, arguments that are not JSON, tool calls without ids, error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import Message, Role, StopReason, TextPart, ToolCallPart, Usage, codes
from lash_core.effects import LlmErrorKind, LlmRequest, ToolResultPart
from lash_providers import classify_http_error
from lash_providers._anthropic_wire import EventAssembler, messages_and_system
from lash_providers._common import ResponseInvalid, arguments_text, parse_arguments
from lash_providers._openai_wire import ChunkAssembler, chat_messages, response_from_completion

CALL = ToolCallPart("c1", "weather", {"city": "Oslo"})
RESULT = ToolResultPart("c1", "weather", {"temperature_c": 21})
FAILED = ToolResultPart("c2", "send_report", "mailbox full", is_error=True)


def _request(*messages: Message, system: str | None = None) -> LlmRequest:
    return LlmRequest("m", tuple(messages), system=system)


def test_openai_system_messages_and_tool_results_ahead_of_text() -> None:
    request = _request(
        Message(Role.SYSTEM, (TextPart("Be brief."), TextPart("Use metric units."))),
        Message(Role.USER, (TextPart("Weather?"), TextPart("In Oslo."))),
        Message(Role.ASSISTANT, (TextPart("Let me check."), CALL)),
        Message(Role.USER, (TextPart("Also send it."), RESULT, FAILED)),
        system="You are helpful.",
    )
    assert chat_messages(request) == [
        {"role": "system", "content": "You are helpful."},
        {"role": "system", "content": "Be brief.\n\nUse metric units."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Weather?"}, {"type": "text", "text": "In Oslo."}],
        },
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temperature_c":21}'},
        {"role": "tool", "tool_call_id": "c2", "content": "error: mailbox full"},
        {"role": "user", "content": "Also send it."},
    ]


def test_anthropic_merges_turns_of_one_role_with_tool_results_first() -> None:
    request = _request(
        Message(Role.SYSTEM, (TextPart("Be brief."),)),
        Message(Role.USER, (TextPart("Weather?"),)),
        Message(Role.ASSISTANT, (CALL,)),
        Message(Role.TOOL, (RESULT,)),
        Message(Role.USER, (TextPart("Also send it."), FAILED, TextPart(""))),
        system="You are helpful.",
    )
    messages, system = messages_and_system(request)
    assert system == "You are helpful.\n\nBe brief."
    assert messages == [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Oslo"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": '{"temperature_c":21}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "c2",
                    "content": "mailbox full",
                    "is_error": True,
                },
                {"type": "text", "text": "Also send it."},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("", {}),
        (None, {}),
        ('{"city": "Os', '{"city": "Os'),  # not JSON: the tool sees the text and can say so
    ],
)
def test_tool_arguments_as_the_model_wrote_them(text: str | None, value: Any) -> None:
    assert parse_arguments(text) == value


def test_arguments_that_were_not_json_go_back_verbatim() -> None:
    assert arguments_text('{"city": "Os') == '{"city": "Os'
    assert arguments_text({"city": "Oslo"}) == '{"city":"Oslo"}'


def test_tool_calls_without_ids_get_ids_from_the_replay_key() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "weather", "arguments": "{}"}},
                        {"id": "", "function": {"name": "send_report", "arguments": ""}},
                    ],
                },
                "finish_reason": "stop",
            }
        ]
    }
    response = response_from_completion(body, "s:t:0:0:llm_call:1:call-")
    assert response.message.parts == (
        ToolCallPart("s:t:0:0:llm_call:1:call-0", "weather", {}),
        ToolCallPart("s:t:0:0:llm_call:1:call-1", "send_report", {}),
    )
    # A compatible server that says "stop" with tool calls: they are tool use all the same.
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.usage == Usage()


def test_a_stream_whose_tool_calls_have_no_ids_and_usage_in_the_last_choice() -> None:
    assembler = ChunkAssembler("k:call-")
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"name": "weather"}}]},
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]},
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },
    ]
    assert [assembler.feed(chunk) for chunk in chunks] == ["Hi", "", ""]
    response = assembler.response()
    assert response.message.parts == (TextPart("Hi"), ToolCallPart("k:call-0", "weather", {"a": 1}))
    assert (response.usage, response.stop_reason) == (Usage(7, 3), StopReason.TOOL_USE)


def test_unreadable_bodies_are_refused() -> None:
    for body in ({}, {"choices": [{"message": {"content": 7}}]}):
        with pytest.raises(ResponseInvalid):
            response_from_completion(body, "p")
    with pytest.raises(ResponseInvalid, match="before message_start"):
        EventAssembler().response()
    with pytest.raises(ResponseInvalid, match="did not start"):
        EventAssembler().feed(
            {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta"}}
        )


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (408, None, LlmErrorKind.TIMEOUT, True),
        (409, {"error": {"message": "lock"}}, LlmErrorKind.SERVER, True),
        (502, "<html>bad gateway</html>", LlmErrorKind.SERVER, True),
        (529, {"type": "error", "error": {"type": "overloaded_error"}}, LlmErrorKind.SERVER, True),
        (402, {"error": {"type": "billing_error"}}, LlmErrorKind.AUTH, False),
        (400, {"error": {"code": "content_filter"}}, LlmErrorKind.CONTENT_FILTER, False),
        (None, {"type": "rate_limit_error"}, LlmErrorKind.RATE_LIMIT, True),
        (200, {"error": {"type": "invalid_request_error"}}, LlmErrorKind.INVALID_REQUEST, False),
        (None, {"error": {"type": "authentication_error"}}, LlmErrorKind.AUTH, False),
        (None, {"message": "stream broke"}, LlmErrorKind.SERVER, True),
    ],
)
def test_classification(status: int | None, body: Any, kind: LlmErrorKind, retryable: bool) -> None:
    error = classify_http_error("p", status, body)
    assert (error.kind, error.retryable, error.code) == (kind, retryable, codes.PROVIDER_HTTP_ERROR)


def test_a_body_that_is_not_json_is_kept_short_as_evidence() -> None:
    error = classify_http_error("p", 502, "x" * 5000)
    assert isinstance(error.raw, dict)
    assert error.raw["body"] == "x" * 2000
    assert error.message == "p: HTTP 502: " + "x" * 5000


def test_a_refusal_stops_as_content_filter_with_its_reason() -> None:
    body = {
        "choices": [
            {
                "message": {"content": None, "refusal": "I can't help with that."},
                "finish_reason": "stop",
            }
        ]
    }
    response = response_from_completion(body, "p")
    assert response.message.parts == (TextPart("I can't help with that."),)
    assert response.stop_reason is StopReason.CONTENT_FILTER


def test_a_tool_name_repeated_in_every_chunk_is_taken_once() -> None:
    assembler = ChunkAssembler("p")
    for piece in ('{"city":', '"Oslo"}'):
        call = {"index": 0, "id": "c1", "function": {"name": "weather", "arguments": piece}}
        assembler.feed({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    (part,) = assembler.response().message.parts
    assert part == ToolCallPart("c1", "weather", {"city": "Oslo"})
