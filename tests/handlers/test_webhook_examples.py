"""The webhook apps of docs/examples, run for real: hypercorn serves each on 127.0.0.1 (a port
the kernel picked, on a socket that listens before the server starts, so no request can come too
early), httpx drives it, and the turn ends with the webhook's payload as its tool's result.

Nothing sleeps: each step waits for the server's answer; the timeouts only turn a hang into a
failure.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "docs" / "examples"
GUARD_S = 60.0
"""A generous failure guard for each request: nothing here waits on the clock."""


def _load(name: str) -> ModuleType:
    """A fresh copy of the example module (its own host and turns)."""
    spec = importlib.util.spec_from_file_location(f"docs_examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _server_config() -> tuple[Config, int, socket.socket]:
    """A config serving on a socket that already listens on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # the server owns (and closes) the copy
    config.accesslog = None
    return config, sock.getsockname()[1], sock


def _tampered(key: Any) -> Any:
    first = key["signature"][0]
    return {**key, "signature": ("1" if first == "0" else "0") + key["signature"][1:]}


async def _drive(port: int) -> dict[str, Any]:
    """Start a turn, resolve its key through the webhook (after a forged attempt), and read
    the turn's answer."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=GUARD_S) as client:
        started = await client.post("/reports", json={"to": "ops"})
        assert started.status_code == 202, started.text
        turn, key = started.json()["turn"], started.json()["key"]
        assert key["wait"] == {"type": "tool_completion", "tool_call_id": "call-1"}

        forged = await client.post("/webhook", json={"key": _tampered(key), "receipt": "x"})
        assert forged.json() == {"status": "unknown_or_revoked"}
        garbage = await client.post("/webhook", json={"key": {"nope": 1}, "receipt": "x"})
        assert garbage.status_code == 400 and garbage.json() == {"error": "wire_decode"}

        resolved = await client.post("/webhook", json={"key": key, "receipt": "r-1"})
        assert resolved.json() == {"status": "accepted"}
        again = await client.post("/webhook", json={"key": key, "receipt": "r-2"})
        assert again.json()["status"] == "already_resolved"

        done = await client.get(f"/reports/{turn}")
        assert done.status_code == 200, done.text
        answer: dict[str, Any] = done.json()
        return answer


EXPECTED = {
    "status": "finished",
    "answer": "Sent to ops.",
    "tool": {
        "type": "tool_result",
        "call_id": "call-1",
        "tool_name": "send_report",
        "output": {"receipt": "r-1"},
        "is_error": False,
    },
}


def test_the_asyncio_webhook_app_finishes_the_turn_with_the_webhooks_payload() -> None:
    from hypercorn.asyncio import serve

    module = _load("webhook_asyncio")
    config, port, sock = _server_config()

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        server = asyncio.create_task(serve(module.app, config, shutdown_trigger=stop.wait))
        try:
            return await _drive(port)
        finally:
            stop.set()
            await asyncio.wait_for(server, GUARD_S)

    with sock:
        assert asyncio.run(main()) == EXPECTED


def test_the_trio_webhook_app_finishes_the_turn_with_the_webhooks_payload() -> None:
    from hypercorn.trio import serve

    module = _load("webhook_trio")
    config, port, sock = _server_config()

    async def main() -> dict[str, Any]:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                functools.partial(serve, module.app, config, shutdown_trigger=stop.wait)
            )
            try:
                with trio.fail_after(GUARD_S):
                    return await _drive(port)
            finally:
                stop.set()

    with sock:
        assert trio.run(main) == EXPECTED


@pytest.mark.parametrize("name", ["webhook_asyncio", "webhook_trio"])
def test_each_webhook_app_is_under_100_lines(name: str) -> None:
    assert len((EXAMPLES / f"{name}.py").read_text(encoding="utf-8").splitlines()) < 100
