"""``lash demo --model openai:NAME``: the demo turn against the OpenAI-compatible server at
``OPENAI_BASE_URL`` (here the fake one), or the scripted model when none is set."""

from __future__ import annotations

import json

import pytest

from lash_cli import EXIT_USAGE, main
from lash_providers import LOCAL_API_KEY
from lash_providers.testing import FakeServer
from tests.providers.support import DRIVERS, recorded

FINAL = "It is 21 °C in Oslo, and the report was delivered."


@pytest.mark.parametrize("loop", DRIVERS)
def test_the_demo_runs_against_the_server_at_openai_base_url(
    loop: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    replies = [recorded("openai", "completion_tool_calls"), recorded("openai", "completion_text")]
    with FakeServer(replies) as server:
        base_url = server.url + "/v1"
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        assert main(["demo", "--model", "openai:llama3.2", "--loop", loop]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"lash demo: one turn on {loop}, with the model openai:llama3.2 at {base_url}"
    )
    assert "SCRIPTED" not in out
    assert f"answer: {FINAL}" in out
    assert "tool_attempt" in out and "call_Rp2" in out
    first, second = server.requests
    assert first.headers["authorization"] == f"Bearer {LOCAL_API_KEY}"
    assert first.body["model"] == "llama3.2"
    messages = first.body["messages"]
    assert messages[0] == {"role": "system", "content": "You are a weather assistant."}
    tools = [tool["function"]["name"] for tool in first.body["tools"]]
    assert tools == ["weather", "send_report"]
    # The webhook's resolution of the pending tool went back to the model.
    results = [m for m in second.body["messages"] if m["role"] == "tool"]
    assert [json.loads(m["content"]) for m in results] == [
        {"city": "Oslo", "temperature_c": 21},
        {"delivered": True, "receipt": "r-1"},
    ]


def test_without_openai_base_url_the_scripted_model_runs_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["demo", "--model", "openai:llama3.2", "--virtual-time"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "lash demo: --model openai:llama3.2: OPENAI_BASE_URL is not set, so the SCRIPTED model runs"
    )
    assert "SCRIPTED model (no real model is called)" in lines[1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--model", "gpt-4o"], "expected openai:NAME"),
        (["demo", "--model", "anthropic:claude"], "expected openai:NAME"),
        (["demo", "keys", "--model", "openai:m"], "argument --model"),
        (["demo", "--model", "openai:m", "--store", "x.db"], "argument --model"),
        (["demo", "--model", "openai:m", "--virtual-time"], "argument --virtual-time"),
    ],
)
def test_misused_model_flags_are_usage_errors(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code  # type: ignore[assignment]
    assert status == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_the_json_trace_with_a_real_model_is_json_lines_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = [recorded("openai", "completion_tool_calls"), recorded("openai", "completion_text")]
    with FakeServer(replies) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
        assert main(["demo", "--model", "openai:qwen2.5", "--json", "--loop", "asyncio"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    result = lines[-1]
    assert result["kind"] == "result" and result["text"] == "TurnCompleted"
    assert result["data"]["usage"]["input_tokens"] == 300
    assert server.requests[0].headers["authorization"] == "Bearer sk-local"


def test_without_a_server_the_json_trace_notes_the_scripted_model_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["demo", "--model", "openai:qwen2.5", "--json", "--virtual-time"]) == 0
    captured = capsys.readouterr()
    assert "the SCRIPTED model runs" in captured.err
    assert all(json.loads(line) for line in captured.out.splitlines())
