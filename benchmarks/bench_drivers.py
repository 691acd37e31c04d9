"""The drivers: resolve-to-wake latency, waits on resolved keys, parked waits (memory, and
revoking a session among many) and a zero-length sleep effect, for trio and for asyncio.

Every figure is measured per driver, inside that driver's own loop (``trio.run`` /
``asyncio.run``) on its real clock, against the loop's bare primitive (an ``Event``,
``sleep(0)``) measured in the same run. The harness's ``calibrate``/``compare`` are synchronous,
so the async mirror in :mod:`benchmarks.async_timing` is used: a *timed run* ``run(n)`` sets up
(untimed), performs ``n`` operations and returns the nanoseconds those took; ``compare`` calibrates
both sides and alternates their repeats.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import PurePath
from typing import Any, Final, Protocol, TypeVar, TypeVarTuple, Unpack

import trio
import trio.testing

from benchmarks.async_timing import compare
from benchmarks.catalog import BenchmarkFn, benchmark
from benchmarks.fixtures import SECRET, KeyPool, signer, sleep_envelope
from benchmarks.harness import Context, Detail, Figure, Sample, paused_gc, require
from lash_asyncio import InlineEffectHost as AsyncioHost
from lash_core import AwaitEventKey, InlineHost, LashError, ok
from lash_core.effects import (
    SleepOutcome,
)
from lash_core.host import SleepExecutor
from lash_core.resolution import ACCEPTED
from lash_trio import InlineEffectHost as TrioHost

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

"""``run(n)``: set up (untimed), perform ``n`` operations, return the nanoseconds they took."""

RESOLUTION: Final = ok(None)
WAKE_BUDGET: Final = 1.4
"""Resolve-to-wake round trip, as a ratio of the bare-Event ping-pong."""
OWN_BYTES_BUDGET: Final = 2048
"""What lash adds to a parked wait on top of a task parked on a bare Event, in bytes."""
REVOKE_BUDGET: Final = 1.5
PARKED_FULL: Final = 100_000
PARKED_SMOKE: Final = 1_000
SESSION_WAITS: Final = 100
"""Parked waits per session (the revoked session holds this many)."""
REVOKE_REPEATS: Final = 201
SAMPLE_WAITS: Final = 1_000
"""Parked waits of the (snapshotted) sample that gives the memory breakdown by file."""
SETTLE_ROUNDS: Final = 100_000
"""asyncio: most ``sleep(0)`` rounds to wait for tasks to park or end before giving up."""
TOP_FILES: Final = 8
"""Files listed in a memory figure's breakdown."""


# -- the drivers -----------------------------------------------------------------------------


class _Event(Protocol):
    def set(self) -> None: ...

    def wait(self) -> Awaitable[object]: ...


class _Group(Protocol):
    def spawn(
        self, fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, object]], *args: *Ts
    ) -> None: ...


class _Driver(abc.ABC):
    """One loop: how to run in it, its bare primitives and a lash host bound to it."""

    name: str
    event_name: str
    new_event: Callable[[], _Event]
    sleep: Callable[[float], Awaitable[object]]

    @abc.abstractmethod
    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``fn`` in a fresh loop of this driver."""

    @abc.abstractmethod
    def host(self) -> InlineHost:
        """A fresh lash host (signing with the benchmark secret, so pooled keys verify)."""

    @abc.abstractmethod
    def group(self) -> contextlib.AbstractAsyncContextManager[_Group]:
        """A task group; leaving it waits for every task spawned in it."""

    @abc.abstractmethod
    async def settle(self, done: Callable[[], bool]) -> None:
        """Let the other tasks run until they are all blocked; ``done()`` must then hold."""


class _TrioGroup:
    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    def spawn(self, fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, object]], *args: *Ts) -> None:
        self._nursery.start_soon(fn, *args)


class _TrioDriver(_Driver):
    name = "trio"
    event_name = "trio.Event"

    def __init__(self) -> None:
        self.new_event = trio.Event
        self.sleep = trio.sleep

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return trio.run(fn)

    def host(self) -> InlineHost:
        return TrioHost(SECRET)

    @contextlib.asynccontextmanager
    async def group(self) -> AsyncIterator[_Group]:
        async with trio.open_nursery() as nursery:
            yield _TrioGroup(nursery)

    async def settle(self, done: Callable[[], bool]) -> None:
        await trio.testing.wait_all_tasks_blocked()
        require(done(), "every task has parked or ended once trio is idle")


class _AsyncioGroup:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[object]] = []

    def spawn(self, fn: Callable[[Unpack[Ts]], Coroutine[Any, Any, object]], *args: *Ts) -> None:
        self.tasks.append(asyncio.create_task(fn(*args)))

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()


class _AsyncioDriver(_Driver):
    name = "asyncio"
    event_name = "asyncio.Event"

    def __init__(self) -> None:
        self.new_event = asyncio.Event
        self.sleep = asyncio.sleep

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run(fn())

    def host(self) -> InlineHost:
        return AsyncioHost(SECRET)

    @contextlib.asynccontextmanager
    async def group(self) -> AsyncIterator[_Group]:
        group = _AsyncioGroup()
        try:
            yield group
        except BaseException:
            group.cancel()
            raise
        finally:
            results = await asyncio.gather(*group.tasks, return_exceptions=True)
            failures = [r for r in results if isinstance(r, Exception)]
            if failures:
                raise failures[0]

    async def settle(self, done: Callable[[], bool]) -> None:
        for _ in range(SETTLE_ROUNDS):
            if done():
                return
            await asyncio.sleep(0)
        require(done(), f"tasks park or end within {SETTLE_ROUNDS} loop rounds")


DRIVERS: Final[tuple[_Driver, ...]] = (_TrioDriver(), _AsyncioDriver())


# -- async timing (the mirror of Context.calibrate / Context.compare) -----------------------


def _time_call(fn: Callable[[], object]) -> int:
    """Nanoseconds one synchronous call takes, with the garbage collector off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        fn()
        end = time.perf_counter_ns()
    finally:
        if was_enabled:
            gc.enable()
    return end - start


# -- inputs ----------------------------------------------------------------------------------

_POOLS: dict[tuple[int, int], KeyPool] = {}


def _pool(prefix: int, sessions: int) -> KeyPool:
    """A key pool shared by both drivers (keys are minted once, outside any timing)."""
    pool = _POOLS.get((prefix, sessions))
    if pool is None:
        pool = _POOLS[prefix, sessions] = KeyPool(signer(), sessions=sessions, prefix=prefix)
    return pool


# Key-pool prefixes (first session numbers), far apart so no two fixtures share a session.
PING_PONG_KEYS: Final = 3_000_000
RESOLVED_KEYS: Final = 4_000_000
PARKED_KEYS: Final = 0
REVOKE_BIG_KEYS: Final = 1_000_000
REVOKE_SMALL_KEYS: Final = 2_000_000
SAMPLE_KEYS: Final = 5_000_000


def _sessions(prefix: int, count: int) -> list[tuple[str, list[AwaitEventKey]]]:
    """``count`` keys in sessions of ``SESSION_WAITS`` (pool ``prefix``), by session."""
    sessions = _by_session(_pool(prefix, sessions=count // SESSION_WAITS).take(count))
    require(
        all(len(keys) == SESSION_WAITS for _, keys in sessions),
        "every session holds SESSION_WAITS keys",
    )
    return sessions


def _by_session(keys: list[AwaitEventKey]) -> list[tuple[str, list[AwaitEventKey]]]:
    """Keys grouped by their session, sessions in order of first appearance."""
    groups: dict[str, list[AwaitEventKey]] = {}
    for key in keys:
        sid = key.session_id
        require(sid is not None, "turn keys have a session")
        groups.setdefault(sid or "", []).append(key)
    return list(groups.items())


# -- 1. resolve-to-wake ping-pong --------------------------------------------------------------


async def _resolve_to_wake(driver: _Driver, ctx: Context) -> list[Figure]:
    pool = _pool(PING_PONG_KEYS, sessions=16)

    async def lash(n: int) -> int:
        host = driver.host()
        # Minted by the host, as an application would (the pool only supplies identities).
        keys = [host.await_event_key(k.scope, k.wait) for k in pool.take(2 * n)]
        to_b, to_a = keys[:n], keys[n:]
        registry = host.registry

        async def b() -> None:
            for i in range(n):
                await host.wait_for_event(to_b[i])
                host.resolve_await_event(to_a[i], RESOLUTION)

        async with driver.group() as group:
            group.spawn(b)
            await driver.settle(lambda: registry.parked_count == 1)
            start = time.perf_counter_ns()
            for i in range(n):
                host.resolve_await_event(to_b[i], RESOLUTION)
                await host.wait_for_event(to_a[i])
            end = time.perf_counter_ns()
        require(registry.parked_count == 0, "every wait ended")
        require(host.peek_await_event(to_a[-1]) == RESOLUTION, "the last hop resolved")
        return end - start

    async def bare(n: int) -> int:
        to_b = [driver.new_event() for _ in range(n)]
        to_a = [driver.new_event() for _ in range(n)]
        started: list[bool] = []

        async def b() -> None:
            started.append(True)
            for i in range(n):
                await to_b[i].wait()
                to_a[i].set()

        async with driver.group() as group:
            group.spawn(b)
            await driver.settle(lambda: bool(started))
            start = time.perf_counter_ns()
            for i in range(n):
                to_b[i].set()
                await to_a[i].wait()
            end = time.perf_counter_ns()
        return end - start

    sub, base = await compare(ctx, lash, bare)
    return [
        ctx.figure(
            f"{driver.name}_resolve_to_wake",
            sub,
            f"{driver.event_name} ping-pong",
            base,
            budget=WAKE_BUDGET,
            detail={"op": "one round trip: 2 resolves, 2 parked waits, 2 task switches"},
        )
    ]


# -- 2. await an already-resolved key --------------------------------------------------------


async def _await_resolved(driver: _Driver, ctx: Context) -> list[Figure]:
    identity = _pool(RESOLVED_KEYS, sessions=1).take(1)[0]

    async def lash(n: int) -> int:
        host = driver.host()
        key = host.await_event_key(identity.scope, identity.wait)
        require(host.resolve_await_event(key, RESOLUTION) is ACCEPTED, "a fresh key is accepted")
        start = time.perf_counter_ns()
        for _ in range(n):
            await host.wait_for_event(key)
        end = time.perf_counter_ns()
        return end - start

    async def bare(n: int) -> int:
        event = driver.new_event()
        event.set()
        start = time.perf_counter_ns()
        for _ in range(n):
            await event.wait()
        end = time.perf_counter_ns()
        return end - start

    sub, base = await compare(ctx, lash, bare)
    return [
        ctx.figure(
            f"{driver.name}_await_resolved",
            sub,
            f"{driver.event_name}.wait() (set)",
            base,
        )
    ]


# -- 3. parked waits: memory, and revoking one session among many ------------------------------


class _Counts:
    __slots__ = ("ended", "parked")

    def __init__(self) -> None:
        self.parked = 0
        self.ended = 0


async def _park_lash(host: InlineHost, key: AwaitEventKey, counts: _Counts) -> None:
    """Park on ``key`` until its session is revoked."""
    counts.parked += 1
    try:
        await host.wait_for_event(key)
    except LashError:
        counts.ended += 1
        return
    raise RuntimeError("a parked benchmark wait was resolved")


async def _park_bare(
    new_event: Callable[[], _Event], events: list[_Event | None], counts: _Counts
) -> None:
    """Park on a fresh bare event (kept in ``events``, a list made beforehand) until it is set."""
    event = new_event()
    events[counts.parked] = event
    counts.parked += 1
    await event.wait()


def _short(filename: str) -> str:
    return "/".join(PurePath(filename).parts[-2:])


class _Allocation:
    """Bytes allocated, and still live, between :meth:`begin` and :meth:`end` (tracemalloc must
    be running): ``tracemalloc.get_traced_memory()``, after a garbage collection at both ends.
    With ``by_file`` it also snapshots, for a breakdown by the allocating file (slow for large
    runs: ``Snapshot.compare_to`` of a million traces takes seconds)."""

    def __init__(self, *, by_file: bool = False) -> None:
        self.bytes = 0
        self.by_file: dict[str, int] = {}
        self._snapshots = by_file
        self._before: tracemalloc.Snapshot | None = None
        self._current = 0

    async def begin(self, driver: _Driver) -> None:
        # Yield once first: asyncio keeps the handle that resumed this task (and whatever it
        # holds, e.g. a finished gather's results) alive until the task yields again.
        await driver.sleep(0)
        gc.collect()
        if self._snapshots:
            self._before = tracemalloc.take_snapshot()
        self._current = tracemalloc.get_traced_memory()[0]

    async def end(self, driver: _Driver) -> None:
        await driver.sleep(0)
        gc.collect()
        self.bytes = tracemalloc.get_traced_memory()[0] - self._current
        if self._before is not None:
            after = tracemalloc.take_snapshot()
            for diff in after.compare_to(self._before, "filename"):
                name = _short(diff.traceback[0].filename)
                self.by_file[name] = self.by_file.get(name, 0) + diff.size_diff
            self._before = None


def _by_file(allocation: _Allocation, n: int, minus: _Allocation | None = None) -> str:
    """Bytes per wait by allocating file (less ``minus``'s), largest first."""
    totals = dict(allocation.by_file)
    if minus is not None:
        for name, size in minus.by_file.items():
            totals[name] = totals.get(name, 0) - size
    top = sorted(totals.items(), key=lambda item: -abs(item[1]))[:TOP_FILES]
    sign = "+" if minus is not None else ""
    return ", ".join(f"{name} {size / n:{sign}.0f}" for name, size in top)


async def _park_bare_many(driver: _Driver, n: int, allocation: _Allocation) -> None:
    """``n`` tasks parked on bare events, measured by ``allocation``, then released."""
    events: list[_Event | None] = [None] * n
    async with driver.group() as group:
        counts = _Counts()
        await allocation.begin(driver)
        with paused_gc():
            for _ in range(n):
                group.spawn(_park_bare, driver.new_event, events, counts)
            await driver.settle(lambda: counts.parked == n)
        await allocation.end(driver)
        for event in events:
            if event is not None:
                event.set()


class _Parked:
    """A lash host whose sessions' keys are each awaited by a parked task of ``group``."""

    def __init__(self, driver: _Driver, group: _Group) -> None:
        self.driver = driver
        self.group = group
        self.host = driver.host()
        self.counts = _Counts()
        self.live: dict[str, int] = {}
        """Parked waits per session."""
        self.parked = 0
        self.ended = 0

    def _parked_all(self) -> bool:
        return self.host.registry.parked_count == self.parked == self.counts.parked - self.ended

    def _ended_all(self) -> bool:
        return self.counts.ended == self.ended

    async def park(self, sessions: list[tuple[str, list[AwaitEventKey]]]) -> None:
        """A parked task per key, spawned and run until they are all parked."""
        host, counts, spawn = self.host, self.counts, self.group.spawn
        for session_id, keys in sessions:
            for key in keys:
                spawn(_park_lash, host, key, counts)
            self.live[session_id] = len(keys)
            self.parked += len(keys)
        await self.driver.settle(self._parked_all)

    async def revoke(self, session_id: str) -> int:
        """Nanoseconds to revoke one session; then lets its woken waiters end (untimed)."""
        revoke = functools.partial(self.host.revoke_await_events_for_session, session_id)
        elapsed = _time_call(revoke)
        woken = self.live.pop(session_id)
        self.parked -= woken
        self.ended += woken
        await self.driver.settle(self._ended_all)
        return elapsed

    async def release(self) -> None:
        """Revoke every session still holding parked waits (they end normally)."""
        for session_id in list(self.live):
            await self.revoke(session_id)
        require(self.host.registry.parked_count == 0, "every parked wait ended")


async def _parked(driver: _Driver, ctx: Context) -> list[Figure]:
    n = ctx.size(PARKED_FULL, PARKED_SMOKE)
    require(n % SESSION_WAITS == 0, "whole sessions")
    repeats = ctx.size(REVOKE_REPEATS, ctx.settings.repeats)
    fixture = _sessions(PARKED_KEYS, n)
    sample = _sessions(SAMPLE_KEYS, SAMPLE_WAITS)
    big_fresh = _sessions(REVOKE_BIG_KEYS, repeats * SESSION_WAITS)
    small_fresh = _sessions(REVOKE_SMALL_KEYS, repeats * SESSION_WAITS)
    require(len(fixture) >= repeats, "enough sessions to revoke")
    started = time.perf_counter()

    # Memory: n tasks parked on bare events, then n tasks parked in lash waits; the breakdown
    # by file comes from the same two measurements on a SAMPLE_WAITS sample first.
    sample_bare, sample_lash = _Allocation(by_file=True), _Allocation(by_file=True)
    bare, lash = _Allocation(), _Allocation()
    # Leave tracing as we found it (someone may be tracing the whole process).
    own_tracing = not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        await _park_bare_many(driver, SAMPLE_WAITS, sample_bare)
        async with driver.group() as group:
            parked = _Parked(driver, group)
            await sample_lash.begin(driver)
            with paused_gc():
                await parked.park(sample)
            await sample_lash.end(driver)
            await parked.release()
        await _park_bare_many(driver, n, bare)
        async with driver.group() as group:
            big = _Parked(driver, group)
            await lash.begin(driver)
            with paused_gc():
                await big.park(fixture)
            await lash.end(driver)
            if own_tracing:
                tracemalloc.stop()
                # Stopping frees millions of small trace records; glibc consolidates them on
                # the next large allocation (~0.3 s here), which must not land in a revoke.
                bytes(1 << 16)
            memory_s = time.perf_counter() - started

            # Revocation of one session of SESSION_WAITS parked waits: in the host holding n
            # (each revoked session is replaced by a fresh one, untimed) vs in a host holding
            # only that session. Same loop, so both see the same n tasks in it.
            small = _Parked(driver, group)
            big_ns: list[float] = []
            small_ns: list[float] = []
            for r in range(repeats):
                require(big.host.registry.parked_count == n, "n waits are parked in the big host")
                big_ns.append(await big.revoke(fixture[r][0]))
                await big.park([big_fresh[r]])
                await small.park([small_fresh[r]])
                small_ns.append(await small.revoke(small_fresh[r][0]))
            await big.release()
    finally:
        if own_tracing and tracemalloc.is_tracing():
            tracemalloc.stop()

    lash_per = lash.bytes / n
    sample_own = (sample_lash.bytes - sample_bare.bytes) / SAMPLE_WAITS
    bare_per = bare.bytes / n
    includes = (
        "bytes per parked wait: the task, its coroutine frames and the driver's event; lash adds "
        "its registry entry and waiter (which holds the event) and its own frame; keys minted "
        "beforehand (not counted)"
    )
    memory = Figure(
        name=f"{driver.name}_parked_memory",
        median_us=lash_per,
        baseline_name=f"task on bare {driver.event_name}",
        baseline_us=bare_per,
        ratio=lash_per / bare_per,
        budget=None,
        unit="B",
        excess_budget=OWN_BYTES_BUDGET,
        detail={
            "parked": n,
            "sessions": len(fixture),
            "includes": includes,
            "lash_bytes_per_wait": round(lash_per, 1),
            "bare_bytes_per_wait": round(bare_per, 1),
            "own_bytes_per_wait": round(lash_per - bare_per, 1),
            "sample_waits": SAMPLE_WAITS,
            "sample_own_bytes_per_wait": round(sample_own, 1),
            "sample_own_by_file": _by_file(sample_lash, SAMPLE_WAITS, minus=sample_bare),
            "sample_lash_by_file": _by_file(sample_lash, SAMPLE_WAITS),
            "sample_bare_by_file": _by_file(sample_bare, SAMPLE_WAITS),
            "measure_s": round(memory_s, 3),
        },
    )
    detail: Detail = {
        "subject": f"revoke {SESSION_WAITS} parked @ {n:,} parked in the host",
        "parked": n,
        "session_parked": SESSION_WAITS,
        "timed": "revoke_await_events_for_session (registry revoke + setting the woken events)",
        "total_s": round(time.perf_counter() - started, 3),
    }
    revoke = ctx.figure(
        f"{driver.name}_revoke_among_parked",
        Sample(1, tuple(big_ns)),
        f"revoke @ {SESSION_WAITS} parked",
        Sample(1, tuple(small_ns)),
        budget=REVOKE_BUDGET,
        detail=detail,
    )
    return [memory, revoke]


# -- 4. a zero-length sleep effect -------------------------------------------------------------


async def _sleep0_effect(driver: _Driver, ctx: Context) -> list[Figure]:
    envelope = sleep_envelope(0)
    executor = SleepExecutor()

    async def lash(n: int) -> int:
        host = driver.host()
        outcome = await host.execute_effect(envelope, executor)
        require(isinstance(outcome, SleepOutcome), "a sleep effect answers a sleep outcome")
        start = time.perf_counter_ns()
        for _ in range(n):
            await host.execute_effect(envelope, executor)
        end = time.perf_counter_ns()
        return end - start

    async def bare(n: int) -> int:
        sleep = driver.sleep
        start = time.perf_counter_ns()
        for _ in range(n):
            await sleep(0)
        end = time.perf_counter_ns()
        return end - start

    sub, base = await compare(ctx, lash, bare)
    return [ctx.figure(f"{driver.name}_sleep0_effect", sub, f"{driver.name}.sleep(0)", base)]


# -- registration ----------------------------------------------------------------------------

Measure = Callable[[_Driver, Context], Coroutine[Any, Any, list[Figure]]]


def _bind(driver: _Driver, measure: Measure, summary: str) -> BenchmarkFn:
    def run(ctx: Context) -> list[Figure]:
        return driver.run(functools.partial(measure, driver, ctx))

    run.__doc__ = f"{driver.name}: {summary}"
    return run


_SUITE: Final[tuple[tuple[str, Measure, str], ...]] = (
    (
        "resolve_to_wake",
        _resolve_to_wake,
        "ping-pong through await-event keys (resolve, wake) vs bare Events",
    ),
    (
        "await_resolved",
        _await_resolved,
        "wait_for_event on a resolved key vs Event.wait() on a set event",
    ),
    (
        "parked_memory",
        _parked,
        "bytes per parked wait (vs a task on a bare Event); revoke one session among them",
    ),
    (
        "sleep0_effect",
        _sleep0_effect,
        "execute_effect(sleep 0ms, SleepExecutor) vs the loop's sleep(0)",
    ),
)

for _name, _measure, _summary in _SUITE:
    for _driver in DRIVERS:
        benchmark(f"{_driver.name}_{_name}")(_bind(_driver, _measure, _summary))
