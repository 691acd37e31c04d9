"""A durable host on the Postgres store, on trio and asyncio: ``open_durable_host`` opens the
store's LISTEN doorbell, and a key resolved by another store object (another process) wakes
the parked turn by NOTIFY at once, or by the safety net without a doorbell."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest

from lash_core import ok
from lash_core.durable_host import DurableHost
from lash_core.turn import TurnResult, run_turn
from lash_core.wire import canonical_json
from lash_postgres import PostgresDoorbell, PostgresStore
from tests.durable_host.support import (
    FLAVORS,
    Counts,
    Flavor,
    Wall,
    handlers,
    new_machine,
    report_key,
)
from tests.store.conftest import fresh_schema


@pytest.fixture
def spec(postgres_dsn: str) -> Iterator[tuple[str, str]]:
    yield postgres_dsn, fresh_schema()


def _until_notified(host: DurableHost) -> None:
    """Block (real time) until the NOTIFY reached the host's doorbell socket, so the virtual
    clock cannot jump to the safety net's check first (the bound only limits a failure)."""
    bell = host._bell
    assert isinstance(bell, PostgresDoorbell)
    readable, _, _ = select.select([bell.fileno()], [], [], 30)
    assert readable, "the notification did not arrive"


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
@pytest.mark.parametrize("doorbell", [True, False], ids=["notify", "safety_net"])
def test_a_key_resolved_by_another_store_object_wakes_the_parked_turn(
    flavor: Flavor, spec: tuple[str, str], doorbell: bool
) -> None:
    dsn, schema = spec
    store = PostgresStore(dsn, schema=schema)
    counts = Counts()
    seen: dict[str, int] = {}

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), doorbell=doorbell) as host:
            loop = host.primitives
            if doorbell:
                assert isinstance(host._bell, PostgresDoorbell)

            async def webhook() -> None:
                await loop.sleep(5)
                with PostgresStore(dsn, schema=schema) as other:
                    assert other.resolve(report_key(other), ok("delivered")).status == "accepted"
                if doorbell:
                    _until_notified(host)

            async with loop.open_task_group() as group:
                group.start(webhook)
                result = await run_turn(new_machine(), host, handlers(host, counts))
            seen["doorbell"] = host.doorbell_wakes
            seen["safety_net"] = host.safety_net_wakes
            return result

    result = flavor.run(main)
    store.close()
    assert "delivered" in canonical_json(result)
    assert counts.model == 2
    if doorbell:
        assert seen == {"doorbell": 1, "safety_net": 0}
        assert counts.model_times[1] == pytest.approx(5.0, abs=1e-6)
    else:
        assert seen == {"doorbell": 0, "safety_net": 1}
        assert 5.0 < counts.model_times[1] <= 6.0  # within the 1 s safety-net interval
    with PostgresStore(dsn, schema=schema) as cold:
        assert cold.unfinished_turns() == []
