"""The Anthropic messages handler, through the real ``anthropic`` SDK client, against a local
server that answers with recorded responses: the requests it sent (the mapping) and what it
made of the answers, on trio and on asyncio."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import (
    LlmCallOutcome,
    RunEffects,
    TextPart,
    ToolCallPart,
    TurnCompleted,
    TurnConfig,
    TurnEvent,
    TurnHandlers,
    TurnResult,
    TurnStopped,
    Usage,
    codes,
)
from lash_core.effects import LlmErrorKind
from lash_core.host import InlineHost
from lash_core.turn import RetryPolicy, TextEvent, TurnStopReason, run_turn
from lash_core.wire import Err
from lash_providers import DEFAULT_MAX_TOKENS, AnthropicModel
from lash_providers.testing import FakeServer
from tests.providers.support import (
    CONFIG,
    DRIVERS,
    recorded,
    recorded_body,
    run_on,
    weather_machine,
)
from tests.providers.tools import Tools

SYSTEM = "You are a weather assistant."
USER = {
    "role": "user",
    "content": [{"type": "text", "text": "Weather in Oslo? Then send me a report."}],
}
TOOL_SPECS = [
    {
        "name": "weather",
        "description": "Current weather for a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
    {"name": "send_report", "description": "Send a report.", "input_schema": {"type": "object"}},
]
FINAL = "It is 21 °C in Oslo, and the report was delivered."


def _results(first: str, second: str) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": first,
                "content": '{"city":"Oslo","temperature_c":21}',
            },
            {"type": "tool_result", "tool_use_id": second, "content": "delivered"},
        ],
    }


def _run_weather_turn(
    driver: str,
    server: FakeServer,
    config: TurnConfig = CONFIG,
    *,
    events: list[TurnEvent] | None = None,
    **options: Any,
) -> tuple[TurnResult, Tools]:
    tools = Tools()

    async def main(host: InlineHost) -> TurnResult:
        model = AnthropicModel(
            "claude-sonnet-4-5", base_url=server.url, api_key="sk-ant-test", **options
        )
        async with model:
            handlers = TurnHandlers(model=model, tools=tools)
            on_event = None if events is None else events.append
            return await run_turn(weather_machine(config=config), host, handlers, on_event=on_event)

    return run_on(driver, main), tools


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_tool_round_trip_maps_requests_and_responses(driver: str) -> None:
    replies = [recorded("anthropic", "message_tool_use"), recorded("anthropic", "message_text")]
    with FakeServer(replies) as server:
        result, tools = _run_weather_turn(driver, server)
    assert result.outcome == TurnCompleted(result.messages[-1])
    assert result.messages[-1].parts == (TextPart(FINAL),)
    first_id, second_id = "toolu_01A09q90qw90lq917835lq9", "toolu_01B19q90qw90lq917835lq8"
    assert result.messages[1].parts == (
        TextPart("I'll check the weather and send the report."),
        ToolCallPart(first_id, "weather", {"city": "Oslo"}),
        ToolCallPart(second_id, "send_report", {"to": "ops@example.com"}),
    )
    assert {name: args for _, name, args in tools.calls} == {
        "weather": {"city": "Oslo"},
        "send_report": {"to": "ops@example.com"},
    }
    assert result.usage == Usage(120, 24, 64, 32) + Usage(180, 18)
    first, second = server.requests
    assert (first.method, first.path) == ("POST", "/v1/messages")
    # The key goes as x-api-key or (anthropic 2.x) as a bearer token.
    credentials = first.headers.get("x-api-key") or first.headers["authorization"]
    assert credentials.removeprefix("Bearer ") == "sk-ant-test"
    assert first.headers["anthropic-version"]
    assert first.headers["x-stainless-retry-count"] == "0"
    assert first.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [USER],
        "system": SYSTEM,
        "tools": TOOL_SPECS,
    }
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "I'll check the weather and send the report."},
            {"type": "tool_use", "id": first_id, "name": "weather", "input": {"city": "Oslo"}},
            {
                "type": "tool_use",
                "id": second_id,
                "name": "send_report",
                "input": {"to": "ops@example.com"},
            },
        ],
    }
    assert second.body["messages"] == [USER, assistant, _results(first_id, second_id)]


@pytest.mark.parametrize("driver", DRIVERS)
def test_streaming_sends_text_deltas_as_turn_events_and_assembles_the_answer(driver: str) -> None:
    deltas: list[TextEvent] = []
    events: list[TurnEvent] = []
    replies = [recorded("anthropic", "stream_tool_use"), recorded("anthropic", "stream_text")]
    with FakeServer(replies) as server:
        result, tools = _run_weather_turn(driver, server, events=events, on_text=deltas.append)
    assert [event.text for event in deltas] == [
        "Checking.",
        "It is 21 °C",
        " in Oslo,",
        " and the report was delivered.",
    ]
    assert not [event for event in events if isinstance(event, TextEvent)]
    assert result.messages[1].parts == (
        TextPart("Checking."),
        ToolCallPart("toolu_01A", "weather", {"city": "Oslo"}),
        ToolCallPart("toolu_01B", "send_report", {"to": "ops@example.com"}),
    )
    assert result.messages[-1].parts == (TextPart(FINAL),)
    assert {name: args for _, name, args in tools.calls} == {
        "weather": {"city": "Oslo"},
        "send_report": {"to": "ops@example.com"},
    }
    # message_start gives the input side, message_delta the final output count.
    assert result.usage == Usage(120, 24) + Usage(180, 18, 96, 0)
    assert all(request.body["stream"] is True for request in server.requests)
    assert server.requests[1].body["messages"][2] == _results("toolu_01A", "toolu_01B")


def _one_call(driver: str, server: FakeServer, **options: Any) -> LlmCallOutcome:
    async def main(host: InlineHost) -> LlmCallOutcome:
        step = weather_machine().next()
        assert isinstance(step, RunEffects)
        options.setdefault("base_url", server.url)
        async with AnthropicModel("claude-sonnet-4-5", api_key="sk-ant-test", **options) as model:
            outcome = await model(step.envelopes[0])
        assert isinstance(outcome, LlmCallOutcome)
        return outcome

    return run_on(driver, main)


ERRORS = [
    ("error_400", 400, LlmErrorKind.INVALID_REQUEST, False),
    ("error_401", 401, LlmErrorKind.AUTH, False),
    ("error_403", 403, LlmErrorKind.AUTH, False),
    ("error_404", 404, LlmErrorKind.INVALID_REQUEST, False),
    ("error_413", 413, LlmErrorKind.INVALID_REQUEST, False),
    ("error_422", 422, LlmErrorKind.INVALID_REQUEST, False),
    ("error_context_length", 400, LlmErrorKind.CONTEXT_OVERFLOW, False),
    ("error_429", 429, LlmErrorKind.RATE_LIMIT, True),
    ("error_500", 500, LlmErrorKind.SERVER, True),
    ("error_529", 529, LlmErrorKind.SERVER, True),
]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(("name", "status", "kind", "retryable"), ERRORS)
def test_each_error_status_is_classified_with_its_evidence(
    driver: str, name: str, status: int, kind: LlmErrorKind, retryable: bool
) -> None:
    reply = recorded("anthropic", name)
    with FakeServer([reply]) as server:
        outcome = _one_call(driver, server)
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable, error.code) == (kind, retryable, "provider_http_error")
    body = recorded_body("anthropic", name)
    provider = body["error"]
    assert error.message == f"anthropic: HTTP {status} ({provider['type']}): {provider['message']}"
    assert isinstance(error.raw, dict)
    assert error.raw["status"] == status
    assert error.raw["type"] == provider["type"]
    assert error.raw["body"] == body
    headers = dict(reply.headers)
    assert error.raw.get("request_id") == headers.get("request-id")
    assert error.raw.get("retry_after") == headers.get("retry-after")


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_overload_in_the_middle_of_a_stream_is_retryable(driver: str) -> None:
    deltas: list[TextEvent] = []
    with FakeServer([recorded("anthropic", "stream_error_overloaded")]) as server:
        outcome = _one_call(driver, server, on_text=deltas.append)
    assert [event.text for event in deltas] == ["It is"]
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable) == (LlmErrorKind.SERVER, True)
    assert error.message == "anthropic: error event in stream (overloaded_error): Overloaded"


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_overload_is_retried_by_the_turn_and_a_bad_request_is_not(driver: str) -> None:
    config = TurnConfig(
        model="request-model", model_retry=RetryPolicy(max_attempts=3, base_delay_ms=0)
    )
    replies = [recorded("anthropic", "error_529"), recorded("anthropic", "message_text")]
    with FakeServer(replies) as server:
        result, _ = _run_weather_turn(driver, server, config)
    assert result.outcome == TurnCompleted(result.messages[-1])
    assert len(server.requests) == 2
    with FakeServer([recorded("anthropic", "error_400")]) as server:
        result, _ = _run_weather_turn(driver, server, config)
    assert len(server.requests) == 1
    assert isinstance(result.outcome, TurnStopped)
    assert (result.outcome.reason, result.outcome.detail) == (
        TurnStopReason.PROVIDER_ERROR,
        "invalid_request",
    )


def test_max_tokens_stops_the_turn_as_incomplete() -> None:
    with FakeServer([recorded("anthropic", "message_max_tokens")]) as server:
        result, _ = _run_weather_turn("asyncio", server)
    assert result.outcome == TurnStopped(TurnStopReason.INCOMPLETE, detail="output_limit")


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_refused_connection_and_a_timeout_are_retryable(driver: str) -> None:
    import socket

    import anthropic
    import httpx2

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeServer() as server:
        refused = _one_call(driver, server, base_url=f"http://127.0.0.1:{port}")

    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    async def main(host: InlineHost) -> LlmCallOutcome:
        step = weather_machine().next()
        assert isinstance(step, RunEffects)
        client = anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            base_url="http://127.0.0.1:9",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(time_out)),
        )
        async with AnthropicModel("claude-sonnet-4-5", client=client) as model:
            outcome = await model(step.envelopes[0])
        assert isinstance(outcome, LlmCallOutcome)
        return outcome

    timed_out = run_on(driver, main)
    for outcome, kind, code in (
        (refused, LlmErrorKind.TRANSPORT, codes.PROVIDER_UNREACHABLE),
        (timed_out, LlmErrorKind.TIMEOUT, codes.PROVIDER_TIMEOUT),
    ):
        assert isinstance(outcome.result, Err)
        error = outcome.result.error
        assert (error.kind, error.retryable, error.code) == (kind, True, code)


def test_settings_reach_the_request() -> None:
    config = TurnConfig(model="request-model", max_output_tokens=300)
    with FakeServer([recorded("anthropic", "message_text")]) as server:
        _run_weather_turn(
            "trio", server, config, options={"temperature": 0.5, "stop_sequences": ["END"]}
        )
    assert server.requests[0].body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "messages": [USER],
        "temperature": 0.5,
        "stop_sequences": ["END"],
    }
