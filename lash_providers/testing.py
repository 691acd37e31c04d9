"""A fake provider for tests and examples: a small HTTP server on ``127.0.0.1`` (a free port,
in a thread) that answers each request with the next queued :class:`Reply` and keeps every
request it received, so a test asserts both what the model handler sent and what it made of
the answer. The real SDK clients talk to it as they would to the provider::

    with FakeServer([Reply.json({...})]) as server:
        model = OpenAIChatModel("gpt-4o-mini", base_url=server.url + "/v1")
        ...
    assert server.requests[0].body["model"] == "gpt-4o-mini"

Replies are served in order, whatever the path; a request with no reply left is answered
``500`` (``fake_server_error``) and recorded all the same.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import attrs

from lash_core.wire import JsonValue

__all__ = ["HOLD_LIMIT", "FakeServer", "ReceivedRequest", "Reply", "sse_text"]

HOLD_LIMIT = 30.0
"""Seconds a held reply waits for its event at most (a guard: a test that forgets to release
it fails instead of hanging)."""


def sse_text(events: Iterable[tuple[str | None, JsonValue]], *, done: bool = False) -> str:
    """Server-sent events as text: each ``(event name or None, data)``, the data written as
    JSON (a ``str`` as it is); ``done`` ends with OpenAI's ``data: [DONE]``."""
    lines = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        lines.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines)


@attrs.frozen
class Reply:
    """One answer: a status, a body and its content type, and extra headers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    hold: threading.Event | None = attrs.field(default=None, eq=False, kw_only=True)
    """Answer only once this is set (a reply still in flight, to cancel it); the server
    gives up waiting after :data:`HOLD_LIMIT` seconds."""

    @classmethod
    def json(
        cls,
        value: JsonValue,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        hold: threading.Event | None = None,
    ) -> Reply:
        """A JSON body."""
        body = json.dumps(value).encode()
        return cls(status, body, "application/json", tuple((headers or {}).items()), hold=hold)

    @classmethod
    def sse(
        cls,
        text: str,
        *,
        headers: Mapping[str, str] | None = None,
        hold: threading.Event | None = None,
    ) -> Reply:
        """A stream of server-sent events (see :func:`sse_text`), status 200."""
        items = tuple((headers or {}).items())
        return cls(200, text.encode(), "text/event-stream", items, hold=hold)


@attrs.frozen
class ReceivedRequest:
    """A request the server received: its method, path, headers (names in lower case) and
    body (decoded JSON, else the text)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


class FakeServer:
    """The fake provider (see the module docstring). Use it as a context manager."""

    def __init__(self, replies: Iterable[Reply] = ()) -> None:
        self._replies: deque[Reply] = deque(replies)
        self._lock = threading.Condition()
        self.requests: list[ReceivedRequest] = []
        """Every request received, in order."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, *replies: Reply) -> None:
        """Queue more replies."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no path: OpenAI clients add ``/v1``)."""
        if self._server is None:
            raise RuntimeError("the fake server is not running (use it in a with block)")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _next(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            if self._replies:
                return self._replies.popleft()
        return Reply.json(
            {
                "error": {
                    "type": "fake_server_error",
                    "message": f"no reply queued for {request.method} {request.path}",
                }
            },
            status=500,
        )

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body: JsonValue = json.loads(raw)
                except ValueError:
                    body = raw
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = owner._next(ReceivedRequest("POST", self.path, headers, body))
                if reply.hold is not None:
                    reply.hold.wait(HOLD_LIMIT)
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", reply.content_type)
                    self.send_header("content-length", str(len(reply.body)))
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away (a cancelled call)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def wait_for_requests(self, count: int, timeout: float = HOLD_LIMIT) -> bool:
        """Block until ``count`` requests arrived (``False`` after ``timeout`` seconds). For a
        thread (``trio.to_thread.run_sync``, ``asyncio.to_thread``), not the event loop."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self.requests) >= count, timeout)

    def bodies(self) -> Sequence[Any]:
        """The bodies of the requests received, in order."""
        with self._lock:
            return [request.body for request in self.requests]
