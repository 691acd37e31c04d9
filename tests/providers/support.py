"""What the provider tests share: the recorded replies in tests/data/providers, a turn run on
either driver, and a ready-made machine for the demo's two tools."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from lash_core import Message, Role, TextPart, ToolSpec, TurnConfig, TurnMachine
from lash_core.host import InlineHost
from lash_providers.testing import Reply

T = TypeVar("T")

DATA = Path(__file__).resolve().parent.parent / "data" / "providers"
DRIVERS = ("trio", "asyncio")


def recorded(provider: str, name: str) -> Reply:
    """A recorded reply: ``NAME.json`` (``{status, headers, body}``) or ``NAME.sse`` (a
    stream)."""
    stream = DATA / provider / f"{name}.sse"
    if stream.exists():
        return Reply.sse(stream.read_text(encoding="utf-8"))
    data = json.loads((DATA / provider / f"{name}.json").read_text(encoding="utf-8"))
    return Reply.json(data["body"], status=data["status"], headers=data["headers"])


def recorded_body(provider: str, name: str) -> Any:
    """The JSON body of a recorded reply."""
    return json.loads((DATA / provider / f"{name}.json").read_text(encoding="utf-8"))["body"]


def run_on(driver: str, main: Callable[[InlineHost], Awaitable[T]]) -> T:
    """Run ``main(host)`` on ``driver`` with its inline host, on the real clock (the server
    is real I/O: a virtual clock would jump to the client's timeout while it waits)."""
    if driver == "trio":
        from lash_trio import InlineEffectHost as TrioHost

        async def on_trio() -> T:
            return await main(TrioHost())

        return trio.run(on_trio)
    from lash_asyncio import InlineEffectHost as AsyncioHost

    async def on_asyncio() -> T:
        return await main(AsyncioHost())

    return asyncio.run(on_asyncio())


TOOLS = (
    ToolSpec(
        "weather",
        "Current weather for a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    ToolSpec("send_report", "Send a report.", {"type": "object"}),
)
CONFIG = TurnConfig(
    model="request-model", system_prompt="You are a weather assistant.", tools=TOOLS
)


def weather_machine(turn_id: str = "turn-1", config: TurnConfig = CONFIG) -> TurnMachine:
    """A turn that asks for the weather in Oslo and a report."""
    return TurnMachine(
        config,
        session_id="session-1",
        turn_id=turn_id,
        turn_index=0,
        messages=(Message(Role.USER, (TextPart("Weather in Oslo? Then send me a report."),)),),
    )
