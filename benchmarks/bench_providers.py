"""What the provider adapters cost on top of the JSON work a call does anyway.

* ``provider_openai_request`` / ``provider_anthropic_request``: mapping a 60-message
  conversation (20 rounds of a user message, an assistant tool call and its result) to the
  provider's request body, against ``json.dumps`` of that same body (what the SDK does with it
  next).
* ``provider_openai_stream``: folding a streamed answer of 200 chunks (text deltas, then a tool
  call in pieces, then the usage) into one response, against ``json.loads`` of the chunks' text
  (what the SDK does with each before the adapter sees it).

Nothing here opens a socket: the handlers are built (their clients too) but never called.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_core import Message, Role, TextPart, ToolCallPart, ToolSpec
from lash_core.effects import LlmRequest, ToolResultPart
from lash_core.wire import JsonValue
from lash_providers import AnthropicModel, OpenAIChatModel
from lash_providers._openai_wire import ChunkAssembler

ROUNDS = 20
CHUNKS = 200


def conversation(rounds: int) -> LlmRequest:
    """``rounds`` of user text, an assistant tool call and the tool's result."""
    messages: list[Message] = []
    for n in range(rounds):
        messages.append(Message(Role.USER, (TextPart(f"What is the weather in city {n}?"),)))
        call = ToolCallPart(f"call-{n}", "weather", {"city": f"city {n}", "units": "metric"})
        messages.append(Message(Role.ASSISTANT, (TextPart("Checking."), call)))
        output: JsonValue = {"city": f"city {n}", "temperature_c": n, "conditions": ["calm"]}
        messages.append(Message(Role.TOOL, (ToolResultPart(f"call-{n}", "weather", output),)))
    spec = ToolSpec("weather", "Current weather.", {"type": "object", "required": ["city"]})
    return LlmRequest("m", tuple(messages), tools=(spec,), system="Be brief.")


def stream_chunks(count: int) -> list[str]:
    """The text of a chat.completion stream: text deltas, a tool call in pieces, the usage."""
    chunks: list[dict[str, Any]] = []
    for n in range(count - 12):
        chunks.append({"choices": [{"index": 0, "delta": {"content": f"word{n} "}}]})
    start = {"index": 0, "id": "call_1", "function": {"name": "weather", "arguments": ""}}
    chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [start]}}]})
    for piece in ['{"ci', 'ty": ', '"Os', 'lo"', ', "un', 'its": ', '"met', 'ric"', "}"]:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        chunks.append({"choices": [{"index": 0, "delta": delta}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 200}})
    return [json.dumps(chunk) for chunk in chunks]


def _request_figure(ctx: Context, name: str, model: Any) -> list[Figure]:
    request = conversation(ctx.size(ROUNDS, 3))
    body = model.request_body(request)
    # Anthropic merges a tool result and the next user message into one user turn.
    require(len(body["messages"]) >= 2 * len(request.messages) // 3, "every message is mapped")

    def subject(n: int) -> Body:
        def run() -> None:
            for _ in range(n):
                model.request_body(request)

        return run

    def baseline(n: int) -> Body:
        def run() -> None:
            for _ in range(n):
                json.dumps(body)

        return run

    sub, base = ctx.compare(subject, baseline)
    detail: dict[str, float | int | str] = {"messages": len(request.messages)}
    return [ctx.figure(name, sub, "json.dumps(the body)", base, detail=detail)]


@benchmark("provider_openai_request")
def provider_openai_request(ctx: Context) -> list[Figure]:
    """OpenAIChatModel.request_body(60 messages) vs json.dumps of the body it builds."""
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key="k")
    return _request_figure(ctx, "provider_openai_request", model)


@benchmark("provider_anthropic_request")
def provider_anthropic_request(ctx: Context) -> list[Figure]:
    """AnthropicModel.request_body(60 messages) vs json.dumps of the body it builds."""
    model = AnthropicModel("m", base_url="http://127.0.0.1:9", api_key="k")
    return _request_figure(ctx, "provider_anthropic_request", model)


@benchmark("provider_openai_stream")
def provider_openai_stream(ctx: Context) -> list[Figure]:
    """ChunkAssembler over a 200-chunk stream vs json.loads of the chunks' text."""
    texts = stream_chunks(ctx.size(CHUNKS, 20))
    chunks = [json.loads(text) for text in texts]

    def assemble() -> None:
        assembler = ChunkAssembler("p")
        for chunk in chunks:
            assembler.feed(chunk)
        assembler.response()

    assembler = ChunkAssembler("p")
    for chunk in chunks:
        assembler.feed(chunk)
    parts = assembler.response().message.parts
    require(isinstance(parts[-1], ToolCallPart), "the stream assembles to a tool call")

    def subject(n: int) -> Body:
        def run() -> None:
            for _ in range(n):
                assemble()

        return run

    def baseline(n: int) -> Body:
        def run() -> None:
            for _ in range(n):
                for text in texts:
                    json.loads(text)

        return run

    sub, base = ctx.compare(subject, baseline)
    detail: dict[str, float | int | str] = {"chunks": len(chunks)}
    return [
        ctx.figure("provider_openai_stream", sub, "json.loads(each chunk)", base, detail=detail)
    ]
