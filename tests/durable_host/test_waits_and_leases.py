"""Waits and leases on a durable host, on trio and asyncio: a fan-out replayed by replay key
with its cut-off effect run again in doubt, a key resolved by another store object waking the
parked turn through the doorbell (or the safety net), a deadline surviving a restart, and the
lease-fencing cases through the host."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from lash_core import ok
from lash_core.durable_host import resume_turn
from lash_core.durable_turn import EffectAttempt
from lash_core.effects import EffectEnvelope, EffectOutcome, ToolAttemptCommand
from lash_core.errors import LashError
from lash_core.resolution import CANCELLED, TIMEOUT
from lash_core.scope import TurnCancelGate, TurnScope, TurnTerminal
from lash_core.store import Owner, TurnRef
from lash_core.turn import (
    CancelRequested,
    RetryPolicy,
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
from lash_core.wire import canonical_json
from lash_sqlite import SqliteStore
from tests.durable_host.support import (
    CONFIG,
    FLAVORS,
    SESSION,
    TURN,
    Counts,
    Crash,
    Flavor,
    Wall,
    handlers,
    new_machine,
    report_key,
    run_until,
)

REF = TurnRef(SESSION, TURN)
DELAYS = {"lookup": 3.0, "weather": 1.0, "send_report": 2.0}


def _reference(flavor: Flavor, path: Path) -> TurnResult:
    store = SqliteStore(path)
    store.resolve(report_key(store), ok({"delivered": True}))

    async def main() -> TurnResult:
        async with flavor.open(store, Wall()) as host:
            return await run_turn(new_machine(), host, handlers(host, Counts(), delays=DELAYS))

    try:
        return flavor.run(main)
    finally:
        store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_fan_out_replays_by_replay_key_and_its_cut_off_call_runs_again_in_doubt(
    flavor: Flavor, tmp_path: Path
) -> None:
    expected = _reference(flavor, tmp_path / "reference.db")
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    store.resolve(report_key(store), ok({"delivered": True}))
    finished: list[str] = []
    lookup_key: list[str] = []

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        command = envelope.command
        if isinstance(command, ToolAttemptCommand):
            finished.append(command.call.tool_name)
            if len(finished) == 2:  # weather (1 s) and send_report (2 s); lookup still runs
                raise Crash("the process dies with lookup running")

    first = Counts()

    async def crash() -> None:
        async with flavor.open(store, Wall(), owner="first") as host:
            with pytest.raises(Crash):
                await run_turn(
                    new_machine(),
                    host,
                    handlers(host, first, delays=DELAYS),
                    on_effect=on_effect,
                )
            attempt = first.attempts["lookup"]
            assert attempt is not None and (attempt.attempt, attempt.in_doubt) == (1, False)
            assert ":c1:attempt:1" in attempt.idempotency_key
            lookup_key.append(attempt.idempotency_key)

    flavor.run(crash)
    store.close()
    assert finished == ["weather", "send_report"]

    store = SqliteStore(path)
    counts = Counts()

    async def resume() -> TurnResult:
        async with flavor.open(store, Wall(), owner="second") as host:
            result = await resume_turn(host, SESSION, TURN, handlers(host, counts, delays=DELAYS))
            journal = host.journals[REF]
            assert journal.replayed == 3 and journal.in_doubt == 1
            return result

    result = flavor.run(resume)
    store.close()
    # Only the cut-off call ran again, in doubt, under the same idempotency key.
    assert counts.tools == {"lookup": 1}
    assert counts.attempts["lookup"] == EffectAttempt(lookup_key[0], 2, True)
    assert counts.model == 1
    assert canonical_json(result) == canonical_json(expected)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
@pytest.mark.parametrize("doorbell", [True, False], ids=["doorbell", "safety_net"])
def test_a_key_resolved_by_another_store_object_wakes_the_parked_turn(
    flavor: Flavor, tmp_path: Path, doorbell: bool
) -> None:
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    counts = Counts()
    seen: dict[str, int] = {}

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), doorbell=doorbell) as host:
            loop = host.primitives

            async def webhook() -> None:
                await loop.sleep(5)
                # Another process's store object over the same file: no host, no loop.
                with SqliteStore(path) as other:
                    assert other.resolve(report_key(other), ok("delivered")).status == "accepted"

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
        # Woken by the datagram at once (virtual time), not by the safety net.
        assert seen == {"doorbell": 1, "safety_net": 0}
        assert counts.model_times[1] == pytest.approx(5.0, abs=1e-6)
    else:
        assert seen == {"doorbell": 0, "safety_net": 1}
        assert 5.0 < counts.model_times[1] <= 6.0  # within the 1 s safety-net interval


class _Hiccups(SqliteStore):
    """A store whose ``data_version`` fails (``store_unavailable``) on its 2nd to 6th calls."""

    calls = 0

    def data_version(self) -> int:
        self.calls += 1
        if 2 <= self.calls <= 6:
            raise LashError("store_unavailable", "the file is locked (a test's hiccup)")
        return super().data_version()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_the_listener_outlives_a_failing_data_version(flavor: Flavor, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = _Hiccups(path)
    counts = Counts()
    woken: list[int] = []

    async def main() -> TurnResult:
        async with flavor.open(store, Wall(), doorbell=False) as host:
            loop = host.primitives

            async def webhook() -> None:
                await loop.sleep(1)  # while the safety net's checks fail
                with SqliteStore(path) as other:
                    assert other.resolve(report_key(other), ok("delivered")).status == "accepted"

            async with loop.open_task_group() as group:
                group.start(webhook)
                result = await run_turn(new_machine(), host, handlers(host, counts))
            woken.append(host.safety_net_wakes)
            return result

    result = flavor.run(main)
    store.close()
    assert store.calls > 6  # the listener kept asking after the failures
    assert "delivered" in canonical_json(result)
    assert woken == [1]  # found by the first check that the store answered


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_wait_deadline_survives_a_restart(flavor: Flavor, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = SqliteStore(path)

    async def first() -> object:
        async with flavor.open(store, Wall(1_000_000), owner="first") as host:
            # The process stops 20 s into the report's 30 s wait.
            return await run_until(
                host, 20, lambda: run_turn(new_machine(), host, handlers(host, Counts()))
            )

    assert flavor.run(first) is None
    assert store.peek(report_key(store)) is None  # stopping wrote nothing: the wait survives
    store.close()

    store = SqliteStore(path)
    counts = Counts()

    async def second() -> TurnResult:
        # Restarted 20 s later (wall clock): 10 s of the wait are left.
        async with flavor.open(store, Wall(1_020_000), owner="second") as host:
            return await resume_turn(host, SESSION, TURN, handlers(host, counts))

    result = flavor.run(second)
    assert store.peek(report_key(store)) == TIMEOUT
    store.close()
    assert counts.tools == {} and counts.model == 1
    assert counts.model_times == [pytest.approx(10.0, abs=1e-3)]
    assert "timeout" in canonical_json(result)


# -- lease fencing through the host --------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_turn_of_a_session_leased_to_another_live_owner_is_refused(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    with SqliteStore(path) as other:
        other.acquire(SESSION, Owner("other"), 30_000, 1_000_000)
    store = SqliteStore(path)
    counts = Counts()

    async def main() -> None:
        async with flavor.open(store, Wall(1_000_000)) as host:
            await run_turn(new_machine(), host, handlers(host, counts))

    with pytest.raises(LashError) as caught:
        flavor.run(main)
    assert caught.value.code == "lease_held"
    assert counts.total == 0 and store.turn(REF) is None
    store.close()


def _steal(path: Path, now_ms: int) -> None:
    """Another owner takes the session over at ``now_ms`` (past the holder's ttl)."""
    with SqliteStore(path) as other:
        other.acquire(SESSION, Owner("successor"), 30_000, now_ms)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_stale_owner_cannot_record_and_its_successor_resumes(
    flavor: Flavor, tmp_path: Path
) -> None:
    expected = _reference(flavor, tmp_path / "reference.db")
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    store.resolve(report_key(store), ok({"delivered": True}))
    counts = Counts()
    wall = Wall(1_000_000)

    def on_effect(envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        # While lookup runs (the last to finish), this owner "pauses" past its 30 s ttl and a
        # successor takes the session over.
        command = envelope.command
        if isinstance(command, ToolAttemptCommand) and command.call.tool_name == "send_report":
            _steal(path, wall() + 31_000)

    async def stale() -> None:
        async with flavor.open(store, wall, owner="stale") as host:
            await run_turn(
                new_machine(), host, handlers(host, counts, delays=DELAYS), on_effect=on_effect
            )

    with pytest.raises(LashError) as caught:
        flavor.run(stale)
    assert caught.value.code == "lease_lost"
    assert counts.model == 1  # nothing ran after the refused write
    assert store.unfinished_turns() == [REF]
    store.close()

    # The successor resumes: lookup, never recorded, runs again in doubt.
    store = SqliteStore(path)
    again = Counts()

    async def successor() -> TurnResult:
        async with flavor.open(store, Wall(1_033_000), owner=Owner("successor")) as host:
            return await resume_turn(host, SESSION, TURN, handlers(host, again, delays=DELAYS))

    result = flavor.run(successor)
    store.close()
    assert again.tools == {"lookup": 1} and again.model == 1
    attempt = again.attempts["lookup"]
    assert attempt is not None and attempt.in_doubt and attempt.attempt == 2
    assert canonical_json(result) == canonical_json(expected)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_lost_renewal_ends_a_waiting_turn_without_writing_its_wait(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    counts = Counts()
    wall = Wall(1_000_000)

    async def main() -> None:
        async with flavor.open(store, wall, renew_every_ms=1_000) as host:
            loop = host.primitives

            async def successor() -> None:
                await loop.sleep(2.5)
                _steal(path, wall() + 31_000)

            async with loop.open_task_group() as group:
                group.start(successor)
                await run_turn(new_machine(), host, handlers(host, counts))

    with pytest.raises(BaseException) as caught:
        flavor.run(main)
    error = caught.value
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, LashError) and error.code == "lease_lost"
    assert counts.model == 1  # the turn stopped while waiting for the report
    assert store.peek(report_key(store)) is None  # the wait itself was not written
    assert store.unfinished_turns() == [REF]
    store.close()


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_retry_sleep_resumes_to_its_stored_due_time(flavor: Flavor, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    # The first model call fails (retryable); the retry waits 10 s first.
    config = attrs.evolve(CONFIG, model_retry=RetryPolicy(max_attempts=2, base_delay_ms=10_000))
    store = SqliteStore(path)
    store.resolve(report_key(store), ok({"delivered": True}))

    async def first() -> object:
        async with flavor.open(store, Wall(1_000_000), owner="first") as host:
            scripted = handlers(host, Counts(), fail_first_model=True)
            # The process stops 4 s into the 10 s back-off.
            return await run_until(host, 4, lambda: run_turn(new_machine(config), host, scripted))

    assert flavor.run(first) is None
    store.close()

    store = SqliteStore(path)
    counts = Counts()

    async def second() -> TurnResult:
        # Restarted 4 s later: 6 s of the back-off are left.
        async with flavor.open(store, Wall(1_004_000), owner="second") as host:
            scripted = handlers(host, counts, fail_first_model=True)
            return await resume_turn(host, SESSION, TURN, scripted)

    result = flavor.run(second)
    store.close()
    assert counts.model == 2  # the retry and the final answer; the failed attempt replayed
    assert counts.model_times[0] == pytest.approx(6.0, abs=1e-3)
    assert "all done" in canonical_json(result)


@pytest.mark.parametrize("flavor", FLAVORS, ids=lambda f: f.name)
def test_a_stop_request_ends_a_durable_turn_and_its_terminal_is_in_the_store(
    flavor: Flavor, tmp_path: Path
) -> None:
    path = tmp_path / "a.db"
    store = SqliteStore(path)
    address = TurnAddress(SESSION, TURN)
    outcome: list[object] = []

    async def main() -> TurnResult:
        async with flavor.open(store, Wall()) as host:
            loop = host.primitives
            machine = TurnMachine(
                CONFIG,
                session_id=SESSION,
                turn_id=TURN,
                turn_index=0,
                messages=new_machine().checkpoint().messages,
                cancel_gate=gate_key(host, address),
            )

            async def stop_button() -> None:
                await loop.sleep(5)  # while the turn waits for the report
                receipt = request_cancel(host, TurnCancelRequest(address, "stop-1", origin="web"))
                outcome.append(receipt.outcome)

            async with loop.open_task_group() as group:
                group.start(stop_button)
                result = await run_turn(machine, host, handlers(host, Counts()))
            outcome.append(await await_terminal(host, address))
            return result

    result = flavor.run(main)
    store.close()
    assert isinstance(result.outcome, TurnStopped)
    assert outcome[0] == CancelRequested(TurnCancellation("stop-1", "web", None))
    assert isinstance(outcome[1], TerminalCommitted)
    with SqliteStore(path) as other:  # another process sees the gate, the terminal, the result
        assert other.peek(other.mint(TurnScope(SESSION, TURN), TurnTerminal())) is not None
        assert other.peek(other.mint(TurnScope(SESSION, TURN), TurnCancelGate())) is not None
        assert other.peek(report_key(other)) == CANCELLED  # the stopped wait, written durably
        row = other.turn(REF)
        assert row is not None and row.result_json == canonical_json(result)
