"""Which loop a driver's host runs on: thread entry, several runs, the wrong library.

Real threads, no sleeps: every wait on another thread is an event or a join whose timeout is
only a guard against a hang (a hang fails the test instead of blocking the suite).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

import lash_asyncio
import lash_trio
from lash_asyncio.clock import VirtualClock, new_event_loop
from lash_core import ToolCompletion, TurnScope, codes, ok
from lash_core.effects import EffectEnvelope, LlmCallOutcome
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.resolution import Accepted, ResolveOutcome
from lash_core.turn import TurnCompleted, TurnConfig, TurnHandlers, TurnMachine
from tests.turn.world import answer, user

SCOPE = TurnScope("s", "t")
GUARD_S = 30.0
"""Only a guard: a thread that has not finished by then is a hang."""


def _key(host: InlineHost, call_id: str = "c1") -> Any:
    return host.await_event_key(SCOPE, ToolCompletion(call_id))


def _in_thread(fn: Callable[[], ResolveOutcome]) -> ResolveOutcome | BaseException:
    """Run ``fn`` on a fresh thread and return its result or exception."""
    got: list[ResolveOutcome | BaseException] = []

    def run() -> None:
        try:
            got.append(fn())
        except BaseException as exc:
            got.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD_S)
    assert not thread.is_alive(), "the thread hangs"
    return got[0]


def _code(outcome: object) -> str:
    assert isinstance(outcome, LashError), outcome
    return outcome.code


# -- resolve_threadsafe on the loop's own thread ------------------------------------------------


def test_resolve_threadsafe_on_the_asyncio_loop_thread_raises_instead_of_deadlocking() -> None:
    async def main() -> None:
        host = lash_asyncio.InlineEffectHost()
        key = _key(host)
        with pytest.raises(LashError) as caught:
            host.resolve_threadsafe(key, ok(1))
        assert caught.value.code == codes.RESOLVE_THREADSAFE_ON_LOOP_THREAD
        assert host.peek_await_event(key) is None  # nothing was resolved

    asyncio.run(main())


def test_resolve_threadsafe_on_the_trio_thread_raises_instead_of_deadlocking() -> None:
    async def main() -> None:
        host = lash_trio.InlineEffectHost()
        key = _key(host)
        with pytest.raises(LashError) as caught:
            host.resolve_threadsafe(key, ok(1))
        assert caught.value.code == codes.RESOLVE_THREADSAFE_ON_LOOP_THREAD
        assert host.peek_await_event(key) is None

    trio.run(main)


# -- resolve_threadsafe when the loop is gone --------------------------------------------------


@pytest.mark.parametrize("driver", ["trio", "asyncio"])
def test_resolve_threadsafe_before_any_loop_raises_loop_not_running(driver: str) -> None:
    host = lash_trio.InlineEffectHost() if driver == "trio" else lash_asyncio.InlineEffectHost()
    key = _key(host)
    outcome = _in_thread(lambda: host.resolve_threadsafe(key, ok(1)))
    assert _code(outcome) == codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING
    assert host.peek_await_event(key) is None


def test_resolve_threadsafe_after_asyncio_run_ended_raises_instead_of_blocking() -> None:
    host = lash_asyncio.InlineEffectHost()
    key = _key(host)

    async def use() -> None:
        assert await host.await_await_event(_key(host, "c0"), timeout=0) is not None

    asyncio.run(use())
    outcome = _in_thread(lambda: host.resolve_threadsafe(key, ok(1)))
    assert _code(outcome) == codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING
    assert host.peek_await_event(key) is None


def test_resolve_threadsafe_after_trio_run_ended_raises_loop_not_running() -> None:
    host = lash_trio.InlineEffectHost()
    key = _key(host)

    async def use() -> None:
        await host.await_await_event(_key(host, "c0"), timeout=0)

    trio.run(use, clock=trio.testing.MockClock(autojump_threshold=0))
    outcome = _in_thread(lambda: host.resolve_threadsafe(key, ok(1)))
    assert _code(outcome) == codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING


class _RecordingLoop(asyncio.SelectorEventLoop):
    """A loop that tells when a thread has queued a callback on it."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = threading.Event()

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        handle = super().call_soon_threadsafe(callback, *args, context=context)
        self.queued.set()
        return handle


def test_resolve_threadsafe_while_the_asyncio_loop_shuts_down_raises_instead_of_blocking() -> None:
    loop = _RecordingLoop()
    host = lash_asyncio.InlineEffectHost()
    key = _key(host)

    async def use() -> None:
        await host.await_await_event(_key(host, "c0"), timeout=0)

    loop.run_until_complete(use())  # the host is bound to `loop`, which no longer runs
    got: list[object] = []

    def resolve() -> None:
        try:
            got.append(host.resolve_threadsafe(key, ok(1)))
        except LashError as exc:
            got.append(exc)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    assert loop.queued.wait(GUARD_S)  # the call is queued on the loop...
    loop.close()  # ...which closes without running it
    thread.join(GUARD_S)
    assert not thread.is_alive(), "resolve_threadsafe blocks forever"
    assert _code(got[0]) == codes.RESOLVE_THREADSAFE_LOOP_NOT_RUNNING
    assert host.peek_await_event(key) is None


# -- one asyncio host, several asyncio.run calls ----------------------------------------------

MODULE_HOST = lash_asyncio.InlineEffectHost(bytes(range(32)))


def _turn_handlers() -> TurnHandlers:
    async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
        return LlmCallOutcome(answer("hi"), text_streamed=False)

    return TurnHandlers(model=model)


def test_a_module_level_asyncio_host_works_in_two_asyncio_runs() -> None:
    key = _key(MODULE_HOST, "twice")

    async def first() -> ResolveOutcome:
        waiter = asyncio.ensure_future(MODULE_HOST.await_await_event(key))
        await asyncio.sleep(0)  # the waiter is parked
        thread_outcome = await asyncio.to_thread(MODULE_HOST.resolve_threadsafe, key, ok(1))
        assert await asyncio.wait_for(waiter, GUARD_S) == ok(1)
        return thread_outcome

    async def second(turn_id: str) -> None:
        # What the first run resolved is still there, and waits, sleeps, turns and thread
        # entry use the new loop.
        assert await MODULE_HOST.await_await_event(key) == ok(1)
        later = _key(MODULE_HOST, f"later-{turn_id}")
        waiter = asyncio.ensure_future(MODULE_HOST.await_await_event(later))
        await asyncio.sleep(0)
        await asyncio.to_thread(MODULE_HOST.resolve_threadsafe, later, ok(2))
        assert await asyncio.wait_for(waiter, GUARD_S) == ok(2)
        machine = TurnMachine(
            TurnConfig(model="m"),
            session_id="s",
            turn_id=turn_id,
            turn_index=0,
            messages=(user("go"),),
        )
        result = await lash_asyncio.run_turn(machine, MODULE_HOST, _turn_handlers())
        assert isinstance(result.outcome, TurnCompleted)

    assert asyncio.run(first()) == Accepted()
    asyncio.run(second("t2"))
    clock = VirtualClock()
    loop = new_event_loop(clock)
    try:
        loop.run_until_complete(second("t3"))
    finally:
        loop.close()


def test_a_trio_host_works_in_two_trio_runs() -> None:
    host = lash_trio.InlineEffectHost(bytes(range(32)))

    async def resolve_from_thread(value: int) -> None:
        later = _key(host, f"later-{value}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, host.resolve_threadsafe, later, ok(value))
            assert await host.await_await_event(later) == ok(value)

    trio.run(resolve_from_thread, 1)
    trio.run(resolve_from_thread, 2)


# -- a host under the other library ------------------------------------------------------------


def test_a_trio_host_under_asyncio_raises_host_wrong_event_loop() -> None:
    host = lash_trio.InlineEffectHost()
    machine = TurnMachine(
        TurnConfig(model="m"), session_id="s", turn_id="t", turn_index=0, messages=()
    )

    async def main() -> None:
        with pytest.raises(LashError) as waiting:
            await host.await_await_event(_key(host), timeout=1)
        assert waiting.value.code == codes.HOST_WRONG_EVENT_LOOP
        assert "trio.run" in waiting.value.message
        with pytest.raises(LashError) as turning:
            await lash_trio.run_turn(machine, host, _turn_handlers())
        assert turning.value.code == codes.HOST_WRONG_EVENT_LOOP
        assert host.peek_await_event(_key(host)) is None

    asyncio.run(main())


def test_an_asyncio_host_under_trio_raises_host_wrong_event_loop() -> None:
    host = lash_asyncio.InlineEffectHost()
    machine = TurnMachine(
        TurnConfig(model="m"), session_id="s", turn_id="t", turn_index=0, messages=()
    )

    async def main() -> None:
        with pytest.raises(LashError) as waiting:
            await host.await_await_event(_key(host), timeout=1)
        assert waiting.value.code == codes.HOST_WRONG_EVENT_LOOP
        assert "asyncio" in waiting.value.message
        with pytest.raises(LashError) as turning:
            await lash_asyncio.run_turn(machine, host, _turn_handlers())
        assert turning.value.code == codes.HOST_WRONG_EVENT_LOOP
        assert host.peek_await_event(_key(host)) is None

    trio.run(main)
