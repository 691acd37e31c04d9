"""The process registry of a durable host, on trio and asyncio: restored from the store when
the host opens and saved after each process command and each event a running process appends,
so processes started and signalled on one host survive a reopen (records, events, grants,
pending wakes, leases and fences), and a runner on the next host carries them on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lash_core import JsonValue
from lash_core.durable_host import DurableHost
from lash_core.effects.process import ProcessCancel, ProcessStart
from lash_core.process import ProcessContext, ProcessRunner, signal_request
from lash_core.process.grants import HandleDescriptor, ProcessStartGrant
from lash_core.process.records import (
    CancelledOutput,
    PointerSelector,
    ProcessEventType,
    ProcessWakeSpec,
    SuccessOutput,
)
from lash_sqlite import SqliteStore
from tests.durable_host.support import FLAVORS, Flavor, Wall
from tests.process.support import note, registration, scope, snapshot

WAKING_TYPES = (
    ProcessEventType("signal.go", wake=ProcessWakeSpec(PointerSelector("/text"))),
    ProcessEventType("note"),
)
GRANT = ProcessStartGrant(scope("s1"), HandleDescriptor("job", "the report job"))


async def waits(ctx: ProcessContext) -> JsonValue:
    return await ctx.wait_signal("go")


async def two(ctx: ProcessContext) -> JsonValue:
    return [await ctx.wait_signal("go"), await ctx.wait_signal("go")]


FUNCTIONS = {"waits": waits, "two": two}


def _durable(snap: Any) -> Any:
    """What a registry keeps durably: everything but the parked awaiters (their ids belong to
    the running process)."""
    return snap[:9]


def _in_a_process(flavor: Flavor, path: Path, body, wall: Wall):  # type: ignore[no-untyped-def]
    store = SqliteStore(path)

    async def main():  # type: ignore[no-untyped-def]
        async with flavor.open(store, wall) as host:
            return await body(host)

    try:
        return flavor.run(main)
    finally:
        store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_processes_started_and_signalled_on_one_host_survive_a_reopen(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "processes.db"
    kept: list[Any] = []

    async def first(host: DurableHost) -> None:
        service = host.processes
        await service.execute(ProcessStart(registration("job", "waits"), GRANT))
        reg = registration("pair", "two", event_types=WAKING_TYPES, wake_target=scope("s1"))
        await service.execute(ProcessStart(reg))
        await service.execute(signal_request("pair", "go", "sig-1", {"text": "go now"}))
        service.append_event("pair", note({"progress": 1}, key="n-1"))
        await service.execute(ProcessCancel("job", "not needed"))
        lease = service.registry.claim_process_lease("pair", "worker-a", 60_000, host.now_ms())
        host.save_processes()  # a lease claimed on the registry directly: saved by hand
        assert lease.fencing_token == 1
        kept.append(snapshot(service.registry))

    async def second(host: DurableHost) -> Any:
        return snapshot(host.processes.registry)

    _in_a_process(flavor, path, first, Wall(base_ms=1_000_000))
    # No runner ran: the processes are live, with their log, grant, wake and lease.
    restored = _in_a_process(flavor, path, second, Wall(base_ms=1_010_000))
    assert _durable(restored) == _durable(kept[0])

    async def third(host: DurableHost) -> Any:
        registry = host.processes.registry
        [wake] = registry.pending_wakes(scope("s1"))
        assert (wake.event_type, wake.input) == ("signal.go", "go now")
        assert [r.id for _, r in registry.list_handle_grants(scope("s1"))] == ["job"]
        lease = registry.lease("pair")
        assert lease is not None and lease.owner == "worker-a"
        # The lease expired 60 s after it was taken: the next holder gets the next token.
        taken = registry.claim_process_lease("pair", "worker-b", 60_000, host.now_ms())
        assert taken.fencing_token == 2
        host.save_processes()
        # A runner on this host carries the processes on: the cancelled one ends cancelled,
        # the pair takes the signal sent before the reopen and waits for its second.
        async with ProcessRunner(host, FUNCTIONS).running():
            await host.processes.execute(signal_request("pair", "go", "sig-2", {"text": "again"}))
            outputs = [await host.processes.await_terminal(pid) for pid in ("job", "pair")]
        return outputs

    outputs = _in_a_process(flavor, path, third, Wall(base_ms=1_100_000))
    assert isinstance(outputs[0], CancelledOutput)
    assert outputs[1] == SuccessOutput([{"text": "go now"}, {"text": "again"}])

    async def fourth(host: DurableHost) -> Any:
        registry = host.processes.registry
        states = {r.id: r.status.state for r in registry.list_processes()}
        return states, registry.lease("pair")

    states, lease = _in_a_process(flavor, path, fourth, Wall(base_ms=1_200_000))
    assert states == {"job": "cancelled", "pair": "completed"}
    # The terminal released the lease (the release was saved), and the fence was kept.
    assert lease is None
    with SqliteStore(path) as store:
        rows = store.process_rows()
    assert rows.leases == () and ("pair", 2) in rows.fences


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_durable_host_stamps_process_rows_with_its_wall_clock(
    flavor: Flavor, tmp_path: Path
) -> None:
    """The registry's timestamps were the loop's clock, which starts again in each process."""
    path = tmp_path / "clock.db"

    async def start(host: DurableHost) -> int:
        await host.processes.execute(ProcessStart(registration("job", "waits")))
        return host.processes.registry.record("job").created_at_ms

    assert _in_a_process(flavor, path, start, Wall(base_ms=5_000_000)) == 5_000_000
