"""The durable host on the deterministic simulator: the simulator cannot wait on a file
descriptor (``loop_wait_readable_unsupported``), so a simulated durable host runs without a
doorbell, and its safety net wakes a waiter whose key another store object resolved."""

from __future__ import annotations

import pytest

from lash_core import codes, ok
from lash_core.durable_host import DurableHost, resume_turn
from lash_core.process.service import ProcessService
from lash_core.sim import SimLoop, SimPrimitives
from lash_core.store import Owner
from lash_core.store_memory import MemoryStore, MemoryStoreState
from lash_core.turn import TurnResult, run_turn
from lash_core.wire import canonical_json
from tests.durable_host.support import SESSION, TURN, Counts, handlers, new_machine, report_key

SECRET = b"durable-sim-secret-0123456789abcdef"


def test_the_simulator_cannot_wait_on_a_file_descriptor() -> None:
    loop = SimLoop()
    primitives = SimPrimitives(loop)

    async def main() -> bool:
        return await primitives.wait_readable(0, None)

    with pytest.raises(NotImplementedError, match=codes.LOOP_WAIT_READABLE_UNSUPPORTED):
        loop.run(main())


def _host(loop: SimLoop, store: MemoryStore, name: str) -> DurableHost:
    return DurableHost(
        SimPrimitives(loop),
        store,
        owner=Owner(name),
        now_ms=lambda: 5_000_000 + round(loop.now() * 1000),
        doorbell=None,
        secret_source=lambda: SECRET,
        processes=ProcessService,
    )


def test_a_durable_host_without_a_doorbell_runs_and_resumes_in_the_simulator() -> None:
    state = MemoryStoreState(SECRET)
    loop = SimLoop()
    host = _host(loop, MemoryStore(state), "first")
    counts = Counts()

    async def first() -> TurnResult:
        async with host.running():
            sim = host.primitives

            async def webhook() -> None:
                await sim.sleep(3)
                other = MemoryStore(state)  # another store object: no host is told
                assert other.resolve(report_key(other), ok("delivered")).status == "accepted"

            async with sim.open_task_group() as group:
                group.start(webhook)
                return await run_turn(new_machine(), host, handlers(host, counts))

    result = loop.run(first())
    assert counts.model == 2 and host.safety_net_wakes == 1
    assert 3.0 <= counts.model_times[1] <= 4.0  # woken by the safety net within a second

    # A finished turn resumed by another simulated host: its stored result, nothing runs.
    again = Counts()
    loop2 = SimLoop()
    host2 = _host(loop2, MemoryStore(state), "second")

    async def second() -> TurnResult:
        async with host2.running():
            return await resume_turn(host2, SESSION, TURN, handlers(host2, again))

    assert canonical_json(loop2.run(second())) == canonical_json(result)
    assert again.total == 0
