"""The process registry: appending events, awaiting terminals, listing grants at scale.

* ``process_append_event``: ``ProcessRegistry.append_event`` of a keyed event against the bare
  work it must do, written with the stdlib on plain dicts: a replay-key lookup, the SHA-256 of
  the canonical ``[event_type, payload]``, a dict insert and a list append.
* ``{driver}_process_await_terminal``: a ping-pong between two tasks through process terminals
  (each hop writes one process's terminal and wakes the task parked awaiting it), against the
  same ping-pong through the loop's bare ``Event``. Measured in ``trio.run`` and
  ``asyncio.run`` on their real clocks (the drivers of :mod:`benchmarks.bench_drivers`).
* ``process_list_grants_10k``: listing the live grants of a scope holding 10,000 processes,
  against sorting the same number of plain ``(grant, record)`` dict pairs and filtering them.
* ``process_signal_scaling``: the per-signal cost of ``signal`` commands to a process that is not
  waiting and whose log already holds 100,000 signals, against the same to a process holding
  100 (a signal's ordinal is a per-type count, so the ratio stays near 1; it used to scan the
  whole log).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from benchmarks.async_timing import compare
from benchmarks.bench_drivers import DRIVERS, _Driver
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, paused_gc, require
from lash_core import JsonValue
from lash_core.effects.invocation import Replay
from lash_core.process import CommandDone, ProcessRegistry, apply_process_command, signal_request
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessListMode,
)
from lash_core.process.records import (
    EngineInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SessionScope,
    SuccessOutput,
)

APPEND_BUDGET: Final = 6.0
"""Keyed append, as a ratio of the bare dict + canonical hash work."""
AWAIT_BUDGET: Final = 8.0
"""Terminal ping-pong hop, as a ratio of the bare-Event ping-pong (it writes a terminal)."""
LIST_BUDGET: Final = 3.0
"""Listing 10,000 live grants, as a ratio of sorting and filtering plain pairs."""
SIGNAL_BUDGET: Final = 1.5
"""Per-signal cost at 100,000 logged signals, as a ratio of the cost at 100."""
SIGNAL_SMALL: Final = 100
SIGNAL_BIG_FULL: Final = 100_000
SIGNAL_BIG_SMOKE: Final = 1_000
SIGNAL_BATCH: Final = 100
"""Signals sent per timed repeat (each repeat of the small side starts again from 100)."""
SIGNAL_REPEATS: Final = 31
LIST_SIZE_FULL: Final = 10_000
LIST_SIZE_SMOKE: Final = 200
OUTPUT: Final = SuccessOutput(None)
SCOPE: Final = SessionScope("bench")
_SEPARATORS: Final = (",", ":")


def _registration(pid: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=EngineInput("bench"),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity("bench"),
        event_types=(ProcessEventType("note"), ProcessEventType("signal.go")),
        provenance=ProcessProvenance(HostOriginator()),
        env_ref="env:bench",
    )


# -- 1. append ---------------------------------------------------------------------------------


def baseline_append(
    log: list[dict[str, Any]],
    keys: dict[str, tuple[str, int]],
    event_type: str,
    payload: Any,
    key: str,
) -> None:
    """The bare work of a keyed append on plain data."""
    if key in keys:
        raise AssertionError("keys are fresh")
    text = json.dumps([event_type, payload], separators=_SEPARATORS, sort_keys=True)
    keys[key] = (hashlib.sha256(text.encode()).hexdigest(), len(log))
    log.append(
        {"process_id": "p", "sequence": len(log) + 1, "event_type": event_type, "payload": payload}
    )


@benchmark("process_append_event")
def process_append_event(ctx: Context) -> list[Figure]:
    """ProcessRegistry.append_event (keyed) vs a dict lookup + canonical hash + list append."""
    payload: JsonValue = {"step": 3, "detail": "halfway there"}

    def subject(n: int) -> Body:
        registry = ProcessRegistry()
        registry.register(_registration("p"), 0)
        requests = [ProcessEventAppendRequest("note", payload, Replay(f"k{i}")) for i in range(n)]

        def body() -> None:
            append = registry.append_event
            for i, request in enumerate(requests):
                append("p", request, i)

        return body

    def baseline(n: int) -> Body:
        log: list[dict[str, Any]] = []
        keys: dict[str, tuple[str, int]] = {}
        ids = [f"k{i}" for i in range(n)]

        def body() -> None:
            for key in ids:
                baseline_append(log, keys, "note", payload, key)

        return body

    check = ProcessRegistry()
    check.register(_registration("p"), 0)
    appended = check.append_event("p", ProcessEventAppendRequest("note", payload, Replay("k")), 0)
    require(appended.event.sequence == 1 and check.event_count("p") == 1, "the append landed")
    sub, base = ctx.compare(subject, baseline)
    return [
        ctx.figure(
            "process_append_event",
            sub,
            "dict + canonical sha256 + list append",
            base,
            budget=APPEND_BUDGET,
        )
    ]


# -- 2. await a terminal -----------------------------------------------------------------------


async def _ping_pong(
    driver: _Driver,
    n: int,
    wait: Callable[[str], Awaitable[object]],
    wake: Callable[[str], object],
    parked: Callable[[], bool],
) -> int:
    """``n`` hops between two tasks: the timed task wakes ``b{i}`` and waits for ``a{i}``, the
    other waits for ``b{i}`` and wakes ``a{i}``. Timing starts once the other task has started
    and ``parked()`` holds. Returns the nanoseconds of the hops."""
    started: list[bool] = []

    async def other() -> None:
        started.append(True)
        for i in range(n):
            await wait(f"b{i}")
            wake(f"a{i}")

    async with driver.group() as group:
        group.spawn(other)
        await driver.settle(lambda: bool(started) and parked())
        start = time.perf_counter_ns()
        for i in range(n):
            wake(f"b{i}")
            await wait(f"a{i}")
        end = time.perf_counter_ns()
    return end - start


def _always() -> bool:
    return True


async def _await_terminal(driver: _Driver, ctx: Context) -> list[Figure]:
    async def lash(n: int) -> int:
        service = driver.host().processes
        for i in range(n):
            service.registry.register(_registration(f"a{i}"), 0)
            service.registry.register(_registration(f"b{i}"), 0)
        elapsed = await _ping_pong(
            driver,
            n,
            service.await_terminal,
            lambda pid: service.finish(pid, OUTPUT),
            lambda: service.registry.parked_count == 1,
        )
        require(service.registry.parked_count == 0, "every await ended")
        require(service.registry.record(f"a{n - 1}").is_terminal, "the last hop landed")
        return elapsed

    async def bare(n: int) -> int:
        events = {f"{side}{i}": driver.new_event() for i in range(n) for side in "ab"}
        return await _ping_pong(
            driver, n, lambda name: events[name].wait(), lambda name: events[name].set(), _always
        )

    sub, base = await compare(ctx, lash, bare)
    return [
        ctx.figure(
            f"{driver.name}_process_await_terminal",
            sub,
            f"{driver.event_name} ping-pong",
            base,
            budget=AWAIT_BUDGET,
            detail={"op": "one hop: a terminal written, a parked await woken, a task switch"},
        )
    ]


@benchmark("process_await_terminal")
def process_await_terminal(ctx: Context) -> list[Figure]:
    """A ping-pong through process terminals vs through bare Events, per driver."""
    figures: list[Figure] = []
    for driver in DRIVERS:
        figures += driver.run(functools.partial(_await_terminal, driver, ctx))
    return figures


# -- 3. list grants ----------------------------------------------------------------------------


@benchmark("process_list_grants_10k")
def process_list_grants_10k(ctx: Context) -> list[Figure]:
    """list_handle_grants(live) over 10,000 granted processes vs sorting plain dict pairs."""
    size = ctx.size(LIST_SIZE_FULL, LIST_SIZE_SMOKE)
    registry = ProcessRegistry()
    descriptor = HandleDescriptor("bench")
    grants: dict[str, dict[str, Any]] = {}
    records: dict[str, dict[str, Any]] = {}
    # Inserted in a shuffled (but fixed) order, so sorting has work to do.
    for i in range(size):
        pid = f"p{(i * 7919) % size:06d}"
        registry.register(_registration(pid), 0)
        registry.grant_handle(SCOPE, pid, descriptor)
        grants[pid] = {"session_id": "bench", "process_id": pid, "descriptor": {"kind": "bench"}}
        records[pid] = {"id": pid, "status": {"state": "running"}}
    for i in range(0, size, 10):  # a tenth of them finished
        pid = f"p{i:06d}"
        registry.append_terminal(pid, OUTPUT, 1)
        records[pid]["status"] = {"state": "completed"}

    def baseline_list() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [
            (grants[pid], records[pid])
            for pid in sorted(grants)
            if records[pid]["status"]["state"] == "running"
        ]

    live = registry.list_handle_grants(SCOPE, ProcessListMode.LIVE)
    require(len(live) == len(baseline_list()) == size - size // 10, "both list the live ones")

    def subject(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                registry.list_handle_grants(SCOPE, ProcessListMode.LIVE)

        return body

    def baseline(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                baseline_list()

        return body

    sub, base = ctx.compare(subject, baseline)
    return [
        ctx.figure(
            "process_list_grants_10k",
            sub,
            "sorted plain dict pairs, filtered",
            base,
            budget=LIST_BUDGET,
            detail={"processes": size, "live": len(live)},
        )
    ]


# -- 4. signal scaling -------------------------------------------------------------------------


class _SignalLog:
    """A process ``p`` that is not waiting, its log holding ``size`` ``signal.go`` events;
    :meth:`prepare` returns a body sending ``loops`` more ``signal`` commands. ``fresh``
    rebuilds the registry for every repeat (so each starts at ``size``); otherwise one registry
    keeps growing (by ``loops`` a repeat, small against ``size``)."""

    def __init__(self, size: int, *, fresh: bool) -> None:
        self.size = size
        self.fresh = fresh
        self.registry = self._build()
        self.sent = size

    def _build(self) -> ProcessRegistry:
        registry = ProcessRegistry()
        registry.register(_registration("p"), 0)
        with paused_gc():
            for i in range(self.size):
                apply_process_command(registry, signal_request("p", "go", f"s{i}"), 0)
        require(registry.event_type_count("p", "signal.go") == self.size, "the log is built")
        return registry

    def prepare(self, loops: int) -> Body:
        if self.fresh:
            self.registry = self._build()
            self.sent = self.size
        registry, first = self.registry, self.sent
        commands = [signal_request("p", "go", f"s{first + i}") for i in range(loops)]
        self.sent += loops

        def body() -> None:
            for command in commands:
                apply_process_command(registry, command, 1)

        return body

    def check(self) -> None:
        """The next signal answers the next ordinal (one more than the log holds)."""
        step = apply_process_command(self.registry, signal_request("p", "go", "check"), 1)
        ordinal = step.signal.wait.ordinal if isinstance(step, CommandDone) and step.signal else 0
        require(ordinal == self.sent + 1, "a signal answers the next ordinal")
        self.sent += 1


@benchmark("process_signal_scaling")
def process_signal_scaling(ctx: Context) -> list[Figure]:
    """signal commands to a process not waiting: log of 100,000 signals vs 100."""
    big_size = ctx.size(SIGNAL_BIG_FULL, SIGNAL_BIG_SMOKE)
    started = time.perf_counter()
    big = _SignalLog(big_size, fresh=False)
    build_s = time.perf_counter() - started
    small = _SignalLog(SIGNAL_SMALL, fresh=True)
    big.check()
    small.check()
    loops = ctx.size(SIGNAL_BATCH, ctx.settings.smoke_loops)
    repeats = ctx.size(SIGNAL_REPEATS, ctx.settings.repeats)
    sub, base = ctx.compare(big.prepare, small.prepare, loops=loops, repeats=repeats)
    return [
        ctx.figure(
            "process_signal_scaling",
            sub,
            f"signal @ {SIGNAL_SMALL:,} logged signals",
            base,
            budget=SIGNAL_BUDGET,
            detail={
                "subject": f"signal @ {big_size:,} logged signals",
                "signals_per_repeat": loops,
                "big_size": big_size,
                "small_size": SIGNAL_SMALL,
                "build_s": round(build_s, 3),
            },
        )
    ]
