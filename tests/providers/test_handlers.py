"""Building handlers (a missing SDK, bad options, ``model_from_spec``), the envelopes they
answer (``direct`` calls too, nothing else), and cancelling a call in flight on both
drivers."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest
import trio

from lash_core import (
    LashError,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Ok,
    Role,
    RunEffects,
    StopReason,
    TextPart,
    TurnHandlers,
    TurnResult,
    TurnStopped,
    Usage,
    codes,
)
from lash_core.durable import direct_call
from lash_core.effects import LlmRequest
from lash_core.host import InlineHost
from lash_core.loop import CancelToken
from lash_core.turn import TextEvent, TurnConfig, TurnEvent, TurnStopReason, run_turn
from lash_core.wire import Err
from lash_providers import AnthropicModel, OpenAIChatModel, model_from_spec
from lash_providers.testing import FakeServer, Reply
from tests.providers.support import DRIVERS, recorded, recorded_body, run_on, weather_machine
from tests.providers.tools import Tools


@pytest.mark.parametrize(
    ("build", "module", "extra"),
    [
        (lambda: OpenAIChatModel("m", api_key="k"), "openai", "openai"),
        (lambda: AnthropicModel("m", api_key="k"), "anthropic", "anthropic"),
    ],
)
def test_without_the_sdk_the_error_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, build: Any, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(LashError) as raised:
        build()
    assert raised.value.code == codes.PROVIDER_SDK_MISSING
    assert f"pip install 'lash-effects[{extra}]'" in raised.value.message


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: OpenAIChatModel("  ", api_key="k"), "model must be a non-blank str"),
        (lambda: OpenAIChatModel(7, api_key="k"), "model must be a non-blank str"),  # type: ignore[arg-type]
        (lambda: OpenAIChatModel("m", api_key="k", options={"stream": True}), "may not set"),
        (lambda: OpenAIChatModel("m", api_key="k", options=[1]), "options must be a mapping"),  # type: ignore[arg-type]
        (lambda: OpenAIChatModel("m", api_key="k", max_tokens_field="n"), "max_tokens_field"),
        (lambda: AnthropicModel("m", api_key="k", options={"system": "x"}), "may not set system"),
        (lambda: AnthropicModel("m", api_key="k", options={"top_k": {1}}), "options"),  # type: ignore[dict-item]
        (lambda: AnthropicModel("m", api_key="k", default_max_tokens=0), "default_max_tokens"),
        (lambda: model_from_spec("gpt-4o"), "PROVIDER:MODEL"),
        (lambda: model_from_spec("mistral:large"), "PROVIDER:MODEL"),
        (lambda: model_from_spec("openai:"), "PROVIDER:MODEL"),
    ],
)
def test_unusable_options_are_refused_with_a_code(build: Any, fragment: str) -> None:
    with pytest.raises(LashError) as raised:
        build()
    assert raised.value.code == codes.PROVIDER_CONFIG_INVALID
    assert fragment in raised.value.message


def test_openai_without_a_key_or_a_server_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")  # set but empty counts as unset
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LashError) as raised:
        OpenAIChatModel("gpt-4o-mini")
    assert raised.value.code == codes.PROVIDER_CONFIG_INVALID
    assert "OPENAI_API_KEY" in raised.value.message


def test_model_from_spec_builds_each_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_model = model_from_spec("openai:llama3.2")
    assert isinstance(openai_model, OpenAIChatModel)
    assert (openai_model.model, openai_model.max_tokens_field) == ("llama3.2", "max_tokens")
    assert str(openai_model.client.base_url) == "http://127.0.0.1:9/v1/"
    anthropic_model = model_from_spec("anthropic:claude-sonnet-4-5", api_key="sk-ant")
    assert isinstance(anthropic_model, AnthropicModel)
    assert anthropic_model.model == "claude-sonnet-4-5"


def test_a_handler_refuses_envelopes_that_are_not_model_calls() -> None:
    machine = weather_machine()
    step = machine.next()
    assert isinstance(step, RunEffects)
    body = recorded_body("openai", "completion_tool_calls")
    from lash_providers._openai_wire import response_from_completion

    response = response_from_completion(body, "x")
    machine.send(step.envelopes[0].replay_key or "", LlmCallOutcome(Ok(response), False))
    tools = machine.next()
    assert isinstance(tools, RunEffects)
    model = OpenAIChatModel("m", api_key="k", base_url="http://127.0.0.1:9/v1")

    async def main() -> None:
        await model(tools.envelopes[0])

    with pytest.raises(LashError) as raised:
        trio.run(main)
    assert raised.value.code == codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH


@pytest.mark.parametrize("driver", DRIVERS)
def test_direct_calls_are_answered_too(driver: str) -> None:
    request = LlmRequest("m", (Message(Role.USER, (TextPart("A title for this chat?"),)),))

    async def main(host: InlineHost) -> LlmResponse:
        async with AnthropicModel("claude-haiku-4-5", base_url=server.url, api_key="k") as model:
            return await direct_call(host, request, model, session_id="s", usage_source="title")

    with FakeServer([recorded("anthropic", "message_text")]) as server:
        response = run_on(driver, main)
    assert response.stop_reason is StopReason.STOP
    assert response.usage == Usage(180, 18)
    assert server.requests[0].body["model"] == "claude-haiku-4-5"


@pytest.mark.parametrize("driver", DRIVERS)
def test_cancelling_a_turn_cancels_the_call_in_flight(driver: str) -> None:
    """The server holds its answer; the turn is cancelled once the request arrived. The SDK's
    request is cancelled natively on either loop and the turn stops as cancelled."""
    release = threading.Event()
    reply = Reply.json(recorded_body("openai", "completion_text"), hold=release)
    cancel = CancelToken()

    async def wait_for_request(server: FakeServer) -> None:
        if driver == "trio":
            arrived = await trio.to_thread.run_sync(server.wait_for_requests, 1)
        else:
            arrived = await asyncio.to_thread(server.wait_for_requests, 1)
        assert arrived, "the request never reached the server"
        cancel.cancel()

    async def main(host: InlineHost) -> TurnResult:
        model = OpenAIChatModel("gpt-4o-mini", base_url=server.url + "/v1", api_key="k")
        handlers = TurnHandlers(model=model, tools=Tools())
        async with model, host.primitives.open_task_group() as group:
            group.start(lambda: wait_for_request(server))
            return await run_turn(weather_machine(), host, handlers, cancel=cancel)

    with FakeServer([reply]) as server:
        try:
            result = run_on(driver, main)
        finally:
            release.set()
    assert isinstance(result.outcome, TurnStopped)
    assert result.outcome.reason is TurnStopReason.CANCELLED
    assert len(server.requests) == 1


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_stream_cut_short_is_retryable_not_an_answer(driver: str) -> None:
    """A stream that ends without its last event would otherwise pass for a short answer."""
    cut = recorded("anthropic", "stream_text")
    text = cut.body.decode()
    cut_text = text[: text.index("event: message_delta")]
    empty = Reply.sse("data: [DONE]\n\n")

    async def main(host: InlineHost) -> list[LlmCallOutcome]:
        step = weather_machine().next()
        assert isinstance(step, RunEffects)
        outcomes = []
        async with AnthropicModel("c", base_url=server.url, api_key="k", stream=True) as claude:
            outcomes.append(await claude(step.envelopes[0]))
        url = server.url + "/v1"
        async with OpenAIChatModel("g", base_url=url, api_key="k", stream=True) as gpt:
            outcomes.append(await gpt(step.envelopes[0]))
        return [outcome for outcome in outcomes if isinstance(outcome, LlmCallOutcome)]

    with FakeServer([Reply.sse(cut_text), empty]) as server:
        claude, gpt = run_on(driver, main)
    for outcome, detail in (
        (claude, "the stream ended before message_stop"),
        (gpt, "the stream ended before its first chunk"),
    ):
        assert isinstance(outcome.result, Err)
        error = outcome.result.error
        assert (error.code, error.retryable) == (codes.PROVIDER_RESPONSE_INVALID, True)
        assert error.message.endswith(detail)


def test_streaming_without_a_sink_leaves_the_text_to_the_turn() -> None:
    events: list[TurnEvent] = []

    async def main(host: InlineHost) -> TurnResult:
        model = OpenAIChatModel("g", base_url=server.url + "/v1", api_key="k", stream=True)
        async with model:
            handlers = TurnHandlers(model=model)
            machine = weather_machine(config=TurnConfig(model="m"))
            return await run_turn(machine, host, handlers, on_event=events.append)

    with FakeServer([recorded("openai", "stream_text")]) as server:
        result = run_on("asyncio", main)
    assert server.requests[0].body["stream"] is True
    texts = [event for event in events if isinstance(event, TextEvent)]
    assert texts == [TextEvent("It is 21 °C in Oslo, and the report was delivered.")]
    assert result.messages[-1].parts == (TextPart(texts[0].text),)


def test_the_output_limit_field_follows_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert OpenAIChatModel("gpt-4o", api_key="k").max_tokens_field == "max_completion_tokens"
    local = OpenAIChatModel("llama3.2", base_url="http://localhost:11434/v1")
    assert local.max_tokens_field == "max_tokens"
    chosen = OpenAIChatModel("m", api_key="k", max_tokens_field="max_completion_tokens")
    assert chosen.max_tokens_field == "max_completion_tokens"
