"""The OpenAI chat completions handler, through the real ``openai`` SDK client, against a
local server that answers with recorded responses: the requests it sent (the mapping) and
what it made of the answers, on trio and on asyncio."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import (
    LlmCallOutcome,
    RunEffects,
    StopReason,
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
from lash_core.wire import Err, Ok
from lash_providers import LOCAL_API_KEY, OpenAIChatModel
from lash_providers.testing import FakeServer, Reply
from tests.providers.support import CONFIG, DRIVERS, recorded, run_on, weather_machine
from tests.providers.tools import Tools

SYSTEM = {"role": "system", "content": "You are a weather assistant."}
USER = {"role": "user", "content": "Weather in Oslo? Then send me a report."}
TOOL_SPECS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_report",
            "description": "Send a report.",
            "parameters": {"type": "object"},
        },
    },
]
ASSISTANT_CALLS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_Wx1",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
        },
        {
            "id": "call_Rp2",
            "type": "function",
            "function": {"name": "send_report", "arguments": '{"to":"ops@example.com"}'},
        },
    ],
}
TOOL_RESULTS = [
    {"role": "tool", "tool_call_id": "call_Wx1", "content": '{"city":"Oslo","temperature_c":21}'},
    {"role": "tool", "tool_call_id": "call_Rp2", "content": "delivered"},
]
FINAL = "It is 21 °C in Oslo, and the report was delivered."


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
        model = OpenAIChatModel(
            "gpt-4o-mini", base_url=server.url + "/v1", api_key="sk-test", **options
        )
        async with model:
            handlers = TurnHandlers(model=model, tools=tools)
            on_event = None if events is None else events.append
            return await run_turn(weather_machine(config=config), host, handlers, on_event=on_event)

    return run_on(driver, main), tools


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_tool_round_trip_maps_requests_and_responses(driver: str) -> None:
    replies = [recorded("openai", "completion_tool_calls"), recorded("openai", "completion_text")]
    with FakeServer(replies) as server:
        result, tools = _run_weather_turn(driver, server)
    assert result.outcome == TurnCompleted(result.messages[-1])
    assert result.messages[-1].parts == (TextPart(FINAL),)
    assert result.messages[1].parts == (
        ToolCallPart("call_Wx1", "weather", {"city": "Oslo"}),
        ToolCallPart("call_Rp2", "send_report", {"to": "ops@example.com"}),
    )
    assert sorted(tools.calls) == [
        ("call_Rp2", "send_report", {"to": "ops@example.com"}),
        ("call_Wx1", "weather", {"city": "Oslo"}),
    ]
    # Usage of both calls, the cached part of the first prompt as cache reads.
    assert result.usage == Usage(120, 24, 64) + Usage(180, 18, 0)
    first, second = server.requests
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer sk-test"
    # The SDK does not retry on its own: the turn's model_retry policy does.
    assert first.headers["x-stainless-retry-count"] == "0"
    assert first.body == {"model": "gpt-4o-mini", "messages": [SYSTEM, USER], "tools": TOOL_SPECS}
    assert second.body == {
        "model": "gpt-4o-mini",
        "messages": [SYSTEM, USER, ASSISTANT_CALLS, *TOOL_RESULTS],
        "tools": TOOL_SPECS,
    }


@pytest.mark.parametrize("driver", DRIVERS)
def test_streaming_sends_text_deltas_as_turn_events_and_assembles_the_answer(driver: str) -> None:
    deltas: list[TextEvent] = []
    events: list[TurnEvent] = []
    replies = [recorded("openai", "stream_tool_calls"), recorded("openai", "stream_text")]
    with FakeServer(replies) as server:
        result, tools = _run_weather_turn(driver, server, events=events, on_text=deltas.append)
    assert [event.text for event in deltas] == [
        "It is 21 °C",
        " in Oslo,",
        " and the report was delivered.",
    ]
    # The outcome said text_streamed, so the turn does not send the text a second time.
    assert not [event for event in events if isinstance(event, TextEvent)]
    assert result.messages[-1].parts == (TextPart(FINAL),)
    assert result.messages[1].parts == (
        ToolCallPart("call_Wx1", "weather", {"city": "Oslo"}),
        ToolCallPart("call_Rp2", "send_report", {"to": "ops@example.com"}),
    )
    assert {name: args for _, name, args in tools.calls} == {
        "weather": {"city": "Oslo"},
        "send_report": {"to": "ops@example.com"},
    }
    assert result.usage == Usage(120, 24) + Usage(180, 18, 128)
    for request in server.requests:
        assert request.body["stream"] is True
        assert request.body["stream_options"] == {"include_usage": True}
    assert server.requests[1].body["messages"][2:] == [ASSISTANT_CALLS, *TOOL_RESULTS]


def _one_call(driver: str, server: FakeServer, **options: Any) -> LlmCallOutcome:
    async def main(host: InlineHost) -> LlmCallOutcome:
        step = weather_machine().next()
        assert isinstance(step, RunEffects)
        options.setdefault("base_url", server.url + "/v1")
        async with OpenAIChatModel("gpt-4o-mini", api_key="sk-test", **options) as model:
            outcome = await model(step.envelopes[0])
        assert isinstance(outcome, LlmCallOutcome)
        return outcome

    return run_on(driver, main)


ERRORS = [
    ("error_400", 400, LlmErrorKind.INVALID_REQUEST, False),
    ("error_401", 401, LlmErrorKind.AUTH, False),
    ("error_403", 403, LlmErrorKind.AUTH, False),
    ("error_404", 404, LlmErrorKind.INVALID_REQUEST, False),
    ("error_422", 422, LlmErrorKind.INVALID_REQUEST, False),
    ("error_context_length", 400, LlmErrorKind.CONTEXT_OVERFLOW, False),
    ("error_429", 429, LlmErrorKind.RATE_LIMIT, True),
    ("error_500", 500, LlmErrorKind.SERVER, True),
    ("error_503", 503, LlmErrorKind.SERVER, True),
]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(("name", "status", "kind", "retryable"), ERRORS)
def test_each_error_status_is_classified_with_its_evidence(
    driver: str, name: str, status: int, kind: LlmErrorKind, retryable: bool
) -> None:
    reply = recorded("openai", name)
    with FakeServer([reply]) as server:
        outcome = _one_call(driver, server)
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable, error.code) == (kind, retryable, "provider_http_error")
    provider = recorded_error(name)
    assert error.message.startswith(f"openai: HTTP {status} (")
    assert error.message.endswith(f": {provider['message']}")
    assert isinstance(error.raw, dict)
    assert error.raw["status"] == status
    assert error.raw["message"] == provider["message"]
    assert error.raw["provider"] == "openai"
    assert error.raw["body"] == provider
    headers = dict(reply.headers)
    assert error.raw.get("request_id") == headers.get("x-request-id")
    assert error.raw.get("retry_after") == headers.get("retry-after")


def recorded_error(name: str) -> dict[str, Any]:
    from tests.providers.support import recorded_body

    error: dict[str, Any] = recorded_body("openai", name)["error"]
    return error


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_error_in_the_middle_of_a_stream_is_retryable(driver: str) -> None:
    deltas: list[TextEvent] = []
    with FakeServer([recorded("openai", "stream_error")]) as server:
        outcome = _one_call(driver, server, on_text=deltas.append)
    assert [event.text for event in deltas] == ["It is"]
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable, error.code) == (
        LlmErrorKind.SERVER,
        True,
        codes.PROVIDER_HTTP_ERROR,
    )
    assert error.message == (
        "openai: error event in stream (server_error): "
        "The server had an error while processing your request. Sorry about that!"
    )
    assert outcome.text_streamed is True


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_rate_limit_is_retried_by_the_turn_and_a_401_is_not(driver: str) -> None:
    config = TurnConfig(
        model="request-model",
        tools=CONFIG.tools,
        model_retry=RetryPolicy(max_attempts=3, base_delay_ms=0),
    )
    replies = [recorded("openai", "error_429"), recorded("openai", "completion_text")]
    with FakeServer(replies) as server:
        result, _ = _run_weather_turn(driver, server, config)
    assert isinstance(result.outcome, TurnCompleted)
    assert len(server.requests) == 2
    with FakeServer([recorded("openai", "error_401")]) as server:
        result, _ = _run_weather_turn(driver, server, config)
    assert len(server.requests) == 1
    assert isinstance(result.outcome, TurnStopped)
    assert result.outcome.reason is TurnStopReason.PROVIDER_ERROR
    assert result.outcome.detail == "auth"
    assert result.outcome.error is not None
    assert result.outcome.error.code == codes.PROVIDER_HTTP_ERROR


@pytest.mark.parametrize("driver", DRIVERS)
def test_stop_reasons_reach_the_turn(driver: str) -> None:
    with FakeServer([recorded("openai", "completion_length")]) as server:
        result, _ = _run_weather_turn(driver, server)
    assert result.outcome == TurnStopped(TurnStopReason.INCOMPLETE, detail="output_limit")
    with FakeServer([recorded("openai", "error_context_length")]) as server:
        result, _ = _run_weather_turn(driver, server)
    assert isinstance(result.outcome, TurnStopped)
    assert result.outcome.detail == "context_overflow"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_refused_connection_is_retryable(driver: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FakeServer() as server:
        outcome = _one_call(driver, server, base_url=f"http://127.0.0.1:{port}/v1")
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable, error.code) == (
        LlmErrorKind.TRANSPORT,
        True,
        codes.PROVIDER_UNREACHABLE,
    )


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_client_timeout_is_retryable(driver: str) -> None:
    import httpx2
    import openai

    def time_out(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    async def main(host: InlineHost) -> LlmCallOutcome:
        step = weather_machine().next()
        assert isinstance(step, RunEffects)
        client = openai.AsyncOpenAI(
            api_key="sk-test",
            base_url="http://127.0.0.1:9/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(time_out)),
        )
        async with OpenAIChatModel("gpt-4o-mini", client=client) as model:
            outcome = await model(step.envelopes[0])
        assert isinstance(outcome, LlmCallOutcome)
        return outcome

    outcome = run_on(driver, main)
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.kind, error.retryable, error.code) == (
        LlmErrorKind.TIMEOUT,
        True,
        codes.PROVIDER_TIMEOUT,
    )


@pytest.mark.parametrize(
    "body",
    [{"id": "x", "object": "chat.completion", "choices": []}, {"choices": [{"index": 0}]}],
)
def test_a_success_body_that_cannot_be_read_is_permanent(body: dict[str, Any]) -> None:
    with FakeServer([Reply.json(body)]) as server:
        outcome = _one_call("trio", server)
    assert isinstance(outcome.result, Err)
    error = outcome.result.error
    assert (error.retryable, error.code) == (False, codes.PROVIDER_RESPONSE_INVALID)
    assert error.message.startswith("openai: the response could not be read: ")


def test_settings_reach_the_request() -> None:
    config = TurnConfig(model="request-model", max_output_tokens=256)
    text = recorded("openai", "completion_text")
    with FakeServer([text, text, text]) as server:
        _run_weather_turn("asyncio", server, config, options={"temperature": 0.2, "top_k": 40})
        _run_weather_turn("asyncio", server, config, max_tokens_field="max_completion_tokens")

        async def main(host: InlineHost) -> None:
            step = weather_machine(config=config).next()
            assert isinstance(step, RunEffects)
            model = OpenAIChatModel(base_url=server.url + "/v1", api_key="sk-test")
            async with model:
                await model(step.envelopes[0])

        run_on("asyncio", main)
    first, second, third = (request.body for request in server.requests)
    assert first == {
        "model": "gpt-4o-mini",
        "messages": [USER],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_k": 40,
    }
    assert second == {"model": "gpt-4o-mini", "messages": [USER], "max_completion_tokens": 256}
    # Without a model name, the request's own (the turn config's) is sent.
    assert third["model"] == "request-model"


def test_without_a_key_a_local_server_gets_a_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeServer([recorded("openai", "completion_text")]) as server:

        async def main(host: InlineHost) -> LlmCallOutcome:
            step = weather_machine().next()
            assert isinstance(step, RunEffects)
            async with OpenAIChatModel("llama3.2", base_url=server.url + "/v1") as model:
                outcome = await model(step.envelopes[0])
            assert isinstance(outcome, LlmCallOutcome)
            return outcome

        outcome = run_on("trio", main)
    assert isinstance(outcome.result, Ok)
    assert outcome.result.value.stop_reason is StopReason.STOP
    assert server.requests[0].headers["authorization"] == f"Bearer {LOCAL_API_KEY}"
