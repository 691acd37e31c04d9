"""lash turns as a Restate workflow: one workflow invocation per turn, keyed by
``<session id>/<turn id>``.

* ``run`` (the workflow's main handler) takes the turn's start (:class:`TurnStart` JSON),
  rebuilds the :class:`~lash_core.turn.TurnMachine` and runs it with the
  :class:`~lash_core.turn.run.TurnRunner` on a :class:`RestateTurnHost`: every effect is a
  journal entry of the invocation, so Restate's retries and resumptions replay recorded
  outcomes and run only what was never recorded. It returns the turn's
  :class:`~lash_core.turn.events.TurnResult` as JSON. A replay that meets an envelope the
  journal recorded otherwise (the code changed) fails the invocation with Restate's
  ``TerminalError`` carrying lash's ``runtime_effect_replay_hash_mismatch`` and the JSON-path
  diff: it is never retried.
* ``resolve`` (shared) takes ``{"key": <AwaitEventKey>, "resolution": <Resolution>}``: the key
  is verified with the service's secret (a forged, tampered or foreign key is answered
  ``unknown_or_revoked`` and nothing is written), then its promise is completed, first writer
  wins; the answer is lash's :class:`~lash_core.resolution.ResolveOutcome` JSON.
* ``cancel`` (shared) takes ``{"message": ...}`` and completes the turn's cancel promise: the
  turn's next (or current) wait is cancelled and the turn ends ``cancelled``.

:meth:`TurnService.app` is the ASGI application (serve it with hypercorn, see :func:`serve`);
:class:`lash_restate.client.RestateTurns` talks to it through Restate's ingress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import restate
from restate.exceptions import TerminalError

from lash_core import codes
from lash_core.durable_turn import TurnStart
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.records import ProcessRecord
from lash_core.resolution import (
    ACCEPTED,
    UNKNOWN_OR_REVOKED,
    AlreadyResolved,
    Resolution,
    ResolveOutcome,
)
from lash_core.turn.config import TurnConfig
from lash_core.turn.hooks import TurnHandlers, TurnHooks
from lash_core.turn.run import TurnRunner
from lash_core.wire import canonical_json, from_json
from lash_restate._host import (
    CANCEL_PROMISE,
    RestateJournal,
    RestateTurnHost,
    decode_terminal,
    promise_name,
)
from lash_restate._keys import key_accepted, workflow_id
from lash_restate.client import RestateProcesses
from lash_restate.processes import ProcessWorkflows, RestateProcessFunction
from lash_restate.sessions import SessionGrants

__all__ = ["TurnService", "key_accepted", "resolve_promise", "serve", "serving", "workflow_id"]


def _terminal(message: str, error: LashError | None = None) -> TerminalError:
    metadata = None if error is None else {"lash_code": error.code}
    return TerminalError(message, status_code=409 if error is not None else 400, metadata=metadata)


def _decode(body: Any, tp: Any, what: str) -> Any:
    try:
        return from_json(json.dumps(body), tp)
    except (LashError, TypeError, ValueError) as exc:
        raise _terminal(
            f"{codes.RESTATE_TURN_INPUT_INVALID}: {what} does not decode: {exc}"
        ) from None


class TurnService:
    """A Restate workflow (named ``name``) that runs lash turns (see the module documentation).

    * ``handlers(host)`` builds the turn's :class:`~lash_core.turn.TurnHandlers` for its host
      (a tool that completes later mints its key with ``host.await_event_key``);
    * ``secret`` (16 bytes or more) signs and verifies the keys; ``previous`` secrets are still
      accepted (rotation). Give the same secret to the webhook's
      :class:`~lash_restate.client.RestateTurns`;
    * ``config``: this code's turn configuration, used instead of the one stored with the turn's
      start (so a replay checks the journal against the code that runs now);
    * ``hooks(host)``: your own :class:`~lash_core.turn.TurnHooks`, called after the journal's;
    * ``processes``: the process bodies (by ``engine`` kind or ``tool_call`` tool name) that
      run as workflows keyed by process id (:mod:`lash_restate.processes`);
    * ``ingress_url``: Restate's ingress, where the turns' ``process`` effects are sent
      (without it they are ``restate_processes_unsupported``);
    * ``on_process_change(record)``: told of each change a process's body made to its record
      or log, once saved (at least once);
    * ``on_wake(delivery)``: told of each wake delivery a session's object records as pending,
      as it records it: a ``pending_wakes`` read sent after that sees it (at least once).

    ``calls`` counts, for tests and reports, the journaled effects whose handler ran in this
    process (replayed ones are not counted).
    """

    def __init__(
        self,
        name: str,
        handlers: Callable[[RestateTurnHost], TurnHandlers],
        *,
        secret: bytes,
        previous: Iterable[bytes] = (),
        config: TurnConfig | None = None,
        hooks: Callable[[RestateTurnHost], TurnHooks] | None = None,
        inactivity_timeout: timedelta | None = None,
        processes: Mapping[str, RestateProcessFunction] | None = None,
        ingress_url: str | None = None,
        on_process_change: Callable[[ProcessRecord], None] | None = None,
        on_wake: Callable[[ProcessWakeDelivery], None] | None = None,
    ) -> None:
        self.name = name
        self.signer = KeySigner(secret, previous)
        self._secret = secret
        self._previous = tuple(previous)
        self._handlers = handlers
        self._config = config
        self._hooks = hooks
        self.calls = 0
        self.processes = ProcessWorkflows(
            name,
            processes or {},
            self.signer,
            inactivity_timeout=inactivity_timeout,
            on_change=on_process_change,
        )
        self.sessions = SessionGrants(self.processes, name, on_wake=on_wake)
        self._process_client = None if ingress_url is None else RestateProcesses(ingress_url, name)
        workflow = restate.Workflow(name, inactivity_timeout=inactivity_timeout)
        self.workflow = workflow

        @workflow.main(name="run")
        async def run(ctx: restate.WorkflowContext, start: dict[str, Any]) -> dict[str, Any]:
            return await self._run(ctx, start)

        @workflow.handler(name="resolve")
        async def resolve(ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> Any:
            return await self._resolve(ctx, body)

        @workflow.handler(name="cancel")
        async def cancel(ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> bool:
            return await self._cancel(ctx, body)

    def app(self) -> Any:
        """The ASGI application serving this workflow, its processes' object and workflow, and
        the sessions' grant index and transfer service (Restate's endpoint protocol)."""
        return restate.app(
            services=[self.workflow, *self.processes.services, *self.sessions.services]
        )

    # -- handlers ----------------------------------------------------------------------------

    async def _run(self, ctx: restate.WorkflowContext, body: dict[str, Any]) -> dict[str, Any]:
        start: TurnStart = _decode(body, TurnStart, "the turn start")
        if workflow_id(start.session_id, start.turn_id) != ctx.key():
            raise _terminal(
                f"{codes.RESTATE_TURN_INPUT_INVALID}: turn {start.turn_id!r} of session "
                f"{start.session_id!r} was started under the workflow key {ctx.key()!r}"
            )
        journal = RestateJournal()
        host = RestateTurnHost(
            ctx, self._secret, self._previous, journal, process_client=self._process_client
        )
        if self._hooks is not None:
            journal = RestateJournal(self._hooks(host))
            host.journal = journal
        runner = TurnRunner(start.machine(self._config), host, self._handlers(host), hooks=journal)
        host.on_cancel = runner.stop
        try:
            result = await runner.run()
            if host.divergence is not None:
                raise host.divergence
        except LashError as error:
            raise _terminal(f"{error.code}: {error}", error) from None
        finally:
            self.calls += host.live_runs
        encoded: dict[str, Any] = json.loads(canonical_json(result))
        return encoded

    async def _resolve(self, ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> Any:
        if not isinstance(body, dict) or "key" not in body or "resolution" not in body:
            raise _terminal(
                f"{codes.RESTATE_TURN_INPUT_INVALID}: resolve takes "
                '{"key": <await event key>, "resolution": <resolution>}'
            )
        key: AwaitEventKey = _decode(body["key"], AwaitEventKey, "the key")
        resolution: Resolution = _decode(body["resolution"], Resolution, "the resolution")
        outcome = await resolve_promise(ctx, self.signer, key, resolution)
        return json.loads(canonical_json(outcome))

    async def _cancel(self, ctx: restate.WorkflowSharedContext, body: dict[str, Any]) -> bool:
        message = body.get("message") if isinstance(body, dict) else None
        text = json.dumps({"message": message if isinstance(message, str) else None})
        try:
            await ctx.promise(CANCEL_PROMISE, type_hint=str).resolve(text)
        except TerminalError:
            return False  # a cancel was requested already
        return True


async def resolve_promise(
    ctx: restate.WorkflowSharedContext,
    signer: KeySigner,
    key: AwaitEventKey,
    resolution: Resolution,
) -> ResolveOutcome:
    """Verify ``key`` (``unknown_or_revoked``, nothing written, if it is not this workflow's and
    signed by ``signer``), then complete its promise with ``resolution``: ``accepted``, or
    ``already_resolved`` with the terminal that won first."""
    if not key_accepted(signer, key, ctx.key()):
        return UNKNOWN_OR_REVOKED
    promise = ctx.promise(promise_name(key), type_hint=str)
    stored = await promise.peek()
    if stored is not None:
        return AlreadyResolved(decode_terminal(stored))
    try:
        await promise.resolve(canonical_json(resolution))
    except TerminalError:
        won = await promise.peek()
        assert won is not None
        return AlreadyResolved(decode_terminal(won))
    return ACCEPTED


async def serve(
    service: TurnService,
    port: int,
    *,
    host: str = "127.0.0.1",
    shutdown: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Serve ``service`` with hypercorn on ``host:port`` (HTTP/1.1 and HTTP/2 cleartext) until
    ``shutdown()`` returns (or forever)."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    if shutdown is None:
        await hypercorn_serve(service.app(), config)
    else:
        await hypercorn_serve(service.app(), config, shutdown_trigger=shutdown)


@contextlib.contextmanager
def serving(service: TurnService, port: int, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``service`` in a background thread (its own asyncio loop) for the block; yields
    the URL to register. For tests, benchmarks and scripts; a deployment runs :func:`serve`."""
    from lash_restate.server import wait_for_port

    started = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        holder["stop"] = stop
        started.set()
        await serve(service, port, host=host, shutdown=stop.wait)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    started.wait(10)
    try:
        wait_for_port(port)
        yield f"http://{host}:{port}"
    finally:
        loop = holder.get("loop")
        if loop is not None:
            loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
