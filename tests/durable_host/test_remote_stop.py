"""A stop request from another process reaches a running durable turn, on trio and asyncio: the
running host parks on the turn's cancel gate with its doorbell, so a ``request_cancel`` made
through another store object over the same file rings it (or the safety net finds it), and the
turn stops as a local request would; a stop request made while no process runs the turn stops
it as soon as it is resumed, before anything runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lash_core.durable_host import DurableHost, resume_turn
from lash_core.turn import (
    CancelRequested,
    TerminalCommitted,
    TurnAddress,
    TurnCancellation,
    TurnCancelRequest,
    TurnMachine,
    TurnResult,
    TurnStopped,
    await_terminal,
    gate_key,
    request_cancel,
    run_turn,
)
from lash_sqlite import SqliteStore
from tests.durable_host.support import (
    CONFIG,
    FLAVORS,
    SESSION,
    TURN,
    Counts,
    Flavor,
    Wall,
    handlers,
    new_machine,
    run_until,
)

ADDRESS = TurnAddress(SESSION, TURN)
STOP = TurnCancelRequest(ADDRESS, "stop-1", origin="web")


def _controlled(host: DurableHost) -> TurnMachine:
    return TurnMachine(
        CONFIG,
        session_id=SESSION,
        turn_id=TURN,
        turn_index=0,
        messages=new_machine().checkpoint().messages,
        cancel_gate=gate_key(host, ADDRESS),
    )


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
@pytest.mark.parametrize("doorbell", [True, False], ids=["doorbell", "safety_net"])
def test_a_stop_request_from_another_process_stops_the_running_turn(
    flavor: Flavor, tmp_path: Path, doorbell: bool
) -> None:
    """It was honoured only when the turn committed (here: when the report's 30 s deadline
    ended the wait), because the turn's cancel watcher is in its own process's memory."""
    path = tmp_path / "stop.db"
    store = SqliteStore(path)
    seen: dict[str, object] = {}

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), doorbell=doorbell) as host:
            loop = host.primitives

            async def stop_button() -> None:
                await loop.sleep(5)  # while the turn waits for the report
                # Another process: its own store object over the file, its own host.
                with SqliteStore(path) as web_store:
                    async with flavor.open(web_store, Wall(), owner="web") as web:
                        seen["receipt"] = request_cancel(web, STOP).outcome

            async with loop.open_task_group() as group:
                group.start(stop_button)
                result = await run_turn(_controlled(host), host, handlers(host, Counts()))
            seen["stopped_at"] = loop.now()
            seen["terminal"] = await await_terminal(host, ADDRESS)
            return result

    result = flavor.run(main)
    store.close()
    assert isinstance(result.outcome, TurnStopped)
    assert seen["receipt"] == CancelRequested(TurnCancellation("stop-1", "web", None))
    terminal = seen["terminal"]
    assert isinstance(terminal, TerminalCommitted)
    assert terminal.cancellation == TurnCancellation("stop-1", "web", None)
    stopped_at = seen["stopped_at"]
    assert isinstance(stopped_at, float)
    if doorbell:
        assert stopped_at == pytest.approx(5.0, abs=1e-6)  # the datagram, at once
    else:
        assert 5.0 < stopped_at <= 6.0  # within the safety net's longest interval


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_stop_request_made_while_no_process_runs_stops_the_resumed_turn_at_once(
    flavor: Flavor, tmp_path: Path
) -> None:
    path, killed = tmp_path / "stop.db", tmp_path / "killed.db"
    first_counts, resumed_counts = Counts(), Counts()

    async def first(host: DurableHost) -> TurnResult | None:
        async def kill_9() -> None:
            await host.primitives.sleep(4)  # the turn waits for its report
            # What a SIGKILL now leaves: the file as committed (a process stopping cleanly
            # would go on to commit the turn as cancelled).
            with sqlite3.connect(path) as source, sqlite3.connect(killed) as copy:
                source.backup(copy)

        async with host.primitives.open_task_group() as group:
            group.start(kill_9)
            return await run_until(
                host, 5, lambda: run_turn(_controlled(host), host, handlers(host, first_counts))
            )

    async def stop(host: DurableHost) -> object:
        return request_cancel(host, STOP).outcome

    async def resumed(host: DurableHost) -> tuple[TurnResult, object]:
        result = await resume_turn(host, SESSION, TURN, handlers(host, resumed_counts))
        return result, await await_terminal(host, ADDRESS)

    def in_a_process(body, owner: str, file: Path = killed, at: int = 1_100_000):  # type: ignore[no-untyped-def]
        store = SqliteStore(file)

        async def main():  # type: ignore[no-untyped-def]
            async with flavor.open(store, Wall(base_ms=at), owner=owner) as host:
                return await body(host)

        try:
            return flavor.run(main)
        finally:
            store.close()

    assert in_a_process(first, "api-1", path, 1_000_000) is None
    # 100 s later (the killed owner's 30 s lease has expired), on the file it left:
    assert first_counts.model == 1
    assert in_a_process(stop, owner="web") == CancelRequested(
        TurnCancellation("stop-1", "web", None)
    )
    result, terminal = in_a_process(resumed, "api-2")
    assert isinstance(result.outcome, TurnStopped)
    assert resumed_counts.total == 0  # nothing ran: not the final model call
    assert isinstance(terminal, TerminalCommitted)
    assert terminal.cancellation == TurnCancellation("stop-1", "web", None)
    with SqliteStore(killed) as store:
        assert store.unfinished_turns() == []
