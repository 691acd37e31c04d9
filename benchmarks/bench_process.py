"""The process registry: appending events, awaiting terminals, listing grants at scale.

* ``process_append_event``: ``ProcessRegistry.append_event`` of a keyed event against the bare
  work it must do, written with the stdlib on plain dicts: a replay-key lookup, the SHA-256 of
  the canonical ``[event_type, payload]``, a dict insert and a list append.
* ``{driver}_process_await_terminal``: a ping-pong between two tasks through process terminals
  (each hop writes one process's terminal and wakes the task parked awaiting it), against the
  same ping-pong through the loop's bare ``Event``. Measured in ``trio.run`` and
  ``asyncio.run`` on their real clocks.
* ``process_list_grants_10k``: listing the live grants of a scope holding 10,000 processes,
  against sorting the same number of plain ``(grant, record)`` dict pairs and filtering them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import trio

from benchmarks.async_timing import compare
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_asyncio import InlineEffectHost as AsyncioHost
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    EngineInput,
    HandleDescriptor,
    HostOriginator,
    ProcessEventAppendRequest,
    ProcessEventType,
    ProcessIdentity,
    ProcessListMode,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SessionScope,
    SuccessOutput,
)
from lash_core.host import InlineHost
from lash_core.process import ProcessRegistry
from lash_core.wire import JsonValue
from lash_trio import InlineEffectHost as TrioHost

APPEND_BUDGET: Final = 6.0
"""Keyed append, as a ratio of the bare dict + canonical hash work."""
AWAIT_BUDGET: Final = 8.0
"""Terminal ping-pong hop, as a ratio of the bare-Event ping-pong (it writes a terminal)."""
LIST_BUDGET: Final = 3.0
"""Listing 10,000 live grants, as a ratio of sorting and filtering plain pairs."""
LIST_SIZE_FULL: Final = 10_000
LIST_SIZE_SMOKE: Final = 200
SECRET: Final = bytes(range(32))
OUTPUT: Final = SuccessOutput(None)
SCOPE: Final = SessionScope("bench")
_SEPARATORS: Final = (",", ":")


def _registration(pid: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=pid,
        input=EngineInput("bench"),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity("bench"),
        event_types=(ProcessEventType("note"),),
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


class _Loop:
    def __init__(
        self,
        name: str,
        event_name: str,
        run: Callable[[Callable[[], Awaitable[list[Figure]]]], list[Figure]],
        host: Callable[[], InlineHost],
        new_event: Callable[[], Any],
    ) -> None:
        self.name = name
        self.event_name = event_name
        self.run = run
        self.host = host
        self.new_event = new_event


def _run_trio(fn: Callable[[], Awaitable[list[Figure]]]) -> list[Figure]:
    return trio.run(fn)


def _run_asyncio(fn: Callable[[], Awaitable[list[Figure]]]) -> list[Figure]:
    async def main() -> list[Figure]:
        return await fn()

    return asyncio.run(main())


LOOPS: Final = (
    _Loop("trio", "trio.Event", _run_trio, lambda: TrioHost(SECRET), trio.Event),
    _Loop("asyncio", "asyncio.Event", _run_asyncio, lambda: AsyncioHost(SECRET), asyncio.Event),
)


async def _settle(host: InlineHost, done: Callable[[], bool]) -> None:
    for _ in range(100_000):
        if done():
            return
        await host.primitives.sleep(0)
    raise AssertionError("the other task never parked")


async def _await_terminal(loop: _Loop, ctx: Context) -> list[Figure]:
    async def lash(n: int) -> int:
        host = loop.host()
        service = host.processes
        for i in range(n):
            service.registry.register(_registration(f"a{i}"), 0)
            service.registry.register(_registration(f"b{i}"), 0)

        async def other() -> None:
            for i in range(n):
                await service.await_terminal(f"b{i}")
                service.finish(f"a{i}", OUTPUT)

        async with host.primitives.open_task_group() as group:
            group.start(other)
            await _settle(host, lambda: service.registry.parked_count == 1)
            start = time.perf_counter_ns()
            for i in range(n):
                service.finish(f"b{i}", OUTPUT)
                await service.await_terminal(f"a{i}")
            end = time.perf_counter_ns()
        require(service.registry.parked_count == 0, "every await ended")
        return end - start

    async def bare(n: int) -> int:
        host = loop.host()
        to_b = [loop.new_event() for _ in range(n)]
        to_a = [loop.new_event() for _ in range(n)]
        started: list[bool] = []

        async def other() -> None:
            started.append(True)
            for i in range(n):
                await to_b[i].wait()
                to_a[i].set()

        async with host.primitives.open_task_group() as group:
            group.start(other)
            await _settle(host, lambda: bool(started))
            start = time.perf_counter_ns()
            for i in range(n):
                to_b[i].set()
                await to_a[i].wait()
            end = time.perf_counter_ns()
        return end - start

    sub, base = await compare(ctx, lash, bare)
    return [
        ctx.figure(
            f"{loop.name}_process_await_terminal",
            sub,
            f"{loop.event_name} ping-pong",
            base,
            budget=AWAIT_BUDGET,
            detail={"op": "one hop: a terminal written, a parked await woken, a task switch"},
        )
    ]


@benchmark("process_await_terminal")
def process_await_terminal(ctx: Context) -> list[Figure]:
    """A ping-pong through process terminals vs through bare Events, per driver."""
    figures: list[Figure] = []
    for loop in LOOPS:
        figures += loop.run(lambda loop=loop: _await_terminal(loop, ctx))  # type: ignore[misc]
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
