"""A turn's stream events as an async iterator.

:func:`stream_turn` runs :func:`~lash_core.turn.run_turn` in a task of its own and hands you
its events as they happen::

    async with stream_turn(machine, host, handlers) as stream:
        async for event in stream:
            ...
    print(stream.result)

Leaving the block before the stream ended (a ``break``, an exception) cancels the turn: its
running effects are cancelled and the block waits for them to end. Events are buffered without
bound (a turn produces a bounded number of them). Like ``run_turn``, it awaits only the host's
loop primitives, so it runs on trio and asyncio alike.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable

from lash_core import codes
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import InlineHost
from lash_core.loop import CancelToken, WakeEvent
from lash_core.turn.events import TurnEvent, TurnResult
from lash_core.turn.machine import TurnMachine
from lash_core.turn.run import TurnHandlers, run_turn

__all__ = ["TurnStream", "stream_turn"]


class TurnStream:
    """The events of a running turn (``async for``), then its :attr:`result`."""

    __slots__ = ("_buffer", "_done", "_failure", "_host", "_result", "_wake")

    def __init__(self, host: InlineHost) -> None:
        self._host = host
        self._buffer: deque[TurnEvent] = deque()
        self._wake: WakeEvent = host.primitives.new_event()
        self._done = False
        self._result: TurnResult | None = None
        self._failure: Exception | None = None

    @property
    def done(self) -> bool:
        """The turn has ended (its events may still be buffered)."""
        return self._done

    @property
    def result(self) -> TurnResult:
        """The turn's result (``turn_not_finished`` before the turn ended)."""
        if self._failure is not None:
            raise self._failure
        if self._result is None:
            raise LocalProtocolError(
                codes.TURN_NOT_FINISHED, "the turn has not finished yet; read the stream to its end"
            )
        return self._result

    def __aiter__(self) -> TurnStream:
        return self

    async def __anext__(self) -> TurnEvent:
        loop = self._host.primitives
        while not self._buffer:
            if self._done:
                if self._failure is not None:
                    raise self._failure
                raise StopAsyncIteration
            event = self._wake = loop.new_event()
            await loop.wait_event(event, None)
        return self._buffer.popleft()

    def _push(self, event: TurnEvent) -> None:
        self._buffer.append(event)
        self._wake.set()

    def _end(self, result: TurnResult | None, failure: Exception | None) -> None:
        self._result, self._failure, self._done = result, failure, True
        self._wake.set()


@contextlib.asynccontextmanager
async def stream_turn(
    machine: TurnMachine,
    host: InlineHost,
    handlers: TurnHandlers,
    *,
    on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None = None,
    on_handler_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    cancel: CancelToken | None = None,
) -> AsyncIterator[TurnStream]:
    """Run the turn in the background and stream its events (see the module docstring).

    ``on_effect``, ``on_handler_error`` and ``cancel`` are :func:`~lash_core.turn.run_turn`'s.
    An exception the turn raises is raised by the iteration (and by :attr:`TurnStream.result`),
    not wrapped in an exception group.
    """
    stream = TurnStream(host)
    stop = CancelToken()
    unsubscribe = cancel.subscribe(stop.cancel) if cancel is not None else None

    async def run() -> None:
        try:
            result = await run_turn(
                machine,
                host,
                handlers,
                on_event=stream._push,
                on_effect=on_effect,
                on_handler_error=on_handler_error,
                cancel=stop,
            )
        except Exception as exc:
            stream._end(None, exc)
        else:
            stream._end(result, None)

    try:
        async with host.primitives.open_task_group() as group:
            group.start(run)
            try:
                yield stream
            finally:
                if not stream.done:
                    stop.cancel()
    finally:
        if unsubscribe is not None:
            unsubscribe()
