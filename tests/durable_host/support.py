"""A scripted multi-tool turn and both drivers, for the durable host's tests.

The model asks for three tools at once (``lookup`` answers, ``weather`` fails, ``send_report``
is pending on an await-event key with a 30 s deadline), then answers. Handlers count what they
run. Time is virtual (trio's ``MockClock``, the asyncio driver's virtual clock); the host's wall
clock is ``Wall``: a base in milliseconds plus the loop's clock, so a test can "restart" at a
later wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import attrs
import trio
import trio.testing

import lash_asyncio
import lash_asyncio.clock
import lash_trio
from lash_core.durable_host import DurableHost
from lash_core.durable_turn import EffectAttempt
from lash_core.effects import (
    EffectEnvelope,
    LlmCallCommand,
    LlmCallOutcome,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolSpec,
)
from lash_core.effects.tools import Duration, PendingCompletion, ToolLaunchPending
from lash_core.keys import AwaitEventKey
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.store import DurableStore
from lash_core.turn import TurnConfig, TurnHandlers, TurnMachine
from tests.turn.world import answer, calls, done, llm_error, user

T = TypeVar("T")

SESSION: Final = "s"
TURN: Final = "t"
CONFIG: Final = TurnConfig(
    model="scripted",
    system_prompt="You help.",
    tools=(
        ToolSpec("lookup", "Look something up.", {"type": "object"}),
        ToolSpec("weather", "The weather (its service is down).", {"type": "object"}),
        ToolSpec("send_report", "Send a report; confirmed later.", {"type": "object"}),
    ),
)
REPORT_CALL: Final = "c3"


def new_machine(config: TurnConfig = CONFIG) -> TurnMachine:
    return TurnMachine(
        config, session_id=SESSION, turn_id=TURN, turn_index=0, messages=(user("go"),)
    )


def report_key(store: DurableStore) -> AwaitEventKey:
    """The key ``send_report`` waits on (the same in every process using the store)."""
    return store.mint(TurnScope(SESSION, TURN), ToolCompletion(REPORT_CALL))


@attrs.define
class Counts:
    """What the handlers ran in this process."""

    model: int = 0
    model_times: list[float] = attrs.field(factory=list)
    tools: dict[str, int] = attrs.field(factory=dict)
    attempts: dict[str, EffectAttempt | None] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        return self.model + sum(self.tools.values())


def handlers(
    host: DurableHost,
    counts: Counts,
    *,
    delays: dict[str, float] | None = None,
    tools: tuple[str, ...] = ("lookup", "weather", "send_report"),
    log: Callable[[EffectEnvelope], None] | None = None,
    fail_first_model: bool = False,
) -> TurnHandlers:
    """The scripted turn's handlers on ``host``; ``delays`` (seconds, virtual) per tool;
    ``log`` is told of every envelope a handler runs, as it starts; ``fail_first_model``: the
    first attempt of the first model call fails (retryable)."""
    loop = host.primitives
    delays = delays or {}

    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        command = envelope.command
        assert isinstance(command, LlmCallCommand)
        counts.model += 1
        if log is not None:
            log(envelope)
        counts.model_times.append(loop.now())
        first_attempt = ":attempt:" not in (envelope.replay_key or "")
        if fail_first_model and first_attempt and len(command.request.messages) == 1:
            return LlmCallOutcome(llm_error(True), text_streamed=False)
        if len(command.request.messages) == 1:
            specs = [(f"c{i + 1}", name) for i, name in enumerate(tools)]
            return LlmCallOutcome(calls(*specs), text_streamed=False)
        return LlmCallOutcome(answer("all done"), text_streamed=False)

    async def tool(envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        name = command.call.tool_name
        counts.tools[name] = counts.tools.get(name, 0) + 1
        if log is not None:
            log(envelope)
        counts.attempts[name] = host.effect_attempt(envelope)
        if delays.get(name):
            await loop.sleep(delays[name])
        if name == "weather":
            raise RuntimeError("the weather service is down")
        if name == "send_report":
            key = host.await_event_key(TurnScope(SESSION, TURN), ToolCompletion(REPORT_CALL))
            pending = PendingCompletion(deadline=Duration(30, 0))
            return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))
        return ToolAttemptOutcome(done(command.call.call_id, command.attempt))

    return TurnHandlers(model=model, tools=tool)


class Crash(Exception):
    """Raised by a test's hook to stop a run the way a dying process would (nothing more is
    written)."""


@attrs.define
class Wall:
    """The host's wall clock: ``base_ms`` plus the loop's (virtual) clock."""

    base_ms: int = 1_000_000
    loop_now: Callable[[], float] = attrs.field(default=lambda: 0.0)

    def __call__(self) -> int:
        return self.base_ms + round(self.loop_now() * 1000)


class Flavor:
    """One driver: how to run a test's main, read its clock and open a durable host."""

    name: str

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def open(self, store: DurableStore, wall: Wall, **options: Any) -> Any:
        raise NotImplementedError


class TrioFlavor(Flavor):
    name = "trio"

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        async def body() -> T:
            return await main()

        return trio.run(body, clock=trio.testing.MockClock(autojump_threshold=0))

    def now(self) -> float:
        return trio.current_time()

    def open(self, store: DurableStore, wall: Wall, **options: Any) -> Any:
        wall.loop_now = self.now
        return lash_trio.open_durable_host(store, now_ms=wall, **options)


class AsyncioFlavor(Flavor):
    name = "asyncio"

    def run(self, main: Callable[[], Awaitable[T]]) -> T:
        async def body() -> T:
            return await main()

        return lash_asyncio.clock.run(body())

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def open(self, store: DurableStore, wall: Wall, **options: Any) -> Any:
        wall.loop_now = self.now
        return lash_asyncio.open_durable_host(store, now_ms=wall, **options)


FLAVORS: Final = [TrioFlavor(), AsyncioFlavor()]


async def run_until(host: DurableHost, seconds: float, fn: Callable[[], Awaitable[T]]) -> T | None:
    """``fn()``'s result, or ``None`` if it was still running after ``seconds`` (then it is
    cancelled natively: a process stopping, which writes nothing durable)."""
    loop = host.primitives
    out: list[T] = []
    handles: list[Any] = []

    async def body() -> None:
        out.append(await fn())
        handles[1].cancel()

    async def timer() -> None:
        await loop.sleep(seconds)
        handles[0].cancel()

    async with loop.open_task_group() as group:
        handles.append(group.start(body))
        handles.append(group.start(timer))
    return out[0] if out else None
