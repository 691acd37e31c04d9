"""Four worker processes share 1,000 unfinished turns on one Postgres schema (claims with
``FOR UPDATE SKIP LOCKED``), half of them waiting on a webhook that arrives once they parked
(the other half's arrived before any worker started), while workers are SIGKILLed at random
store calls all through the run and restarted: every turn finishes once, each with the
uncrashed result, and no recorded effect runs again (an effect cut off between running and
being recorded runs again only in doubt, under the next attempt)."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from lash_core import ok
from lash_core.durable_turn import TurnStart
from lash_core.store import Owner, TurnRef, TurnStatus
from lash_core.turn import TurnResult
from lash_core.wire import canonical_json, from_json
from lash_postgres import PostgresStore
from tests.durable_host._claim_worker import TURN, new_machine, report_scope
from tests.store.conftest import fresh_schema

ROOT = Path(__file__).resolve().parent.parent.parent
WORKER = "tests.durable_host._claim_worker"
TURNS = 1_000
WORKERS = 4
KILLS = 16
KILL_AT_MAX = 700
"""A worker is killed at a random ``begin``/``complete`` call up to this one (8 per turn): a
worker's share is about 2,000 calls, so the kills fall all through the run."""
MIN_KILLS = 10
"""A worker started with a kill near the end may run out of turns first and exit cleanly."""
TIMEOUT = 120


def _seed(store: PostgresStore) -> None:
    """Open the turns (as a front end would) and resolve the odd ones' webhooks up front."""
    for i in range(TURNS):
        session_id = f"s{i:03}"
        lease = store.acquire(session_id, Owner("front-end"), 60_000, 0)
        start = TurnStart.of(new_machine(session_id))
        store.open_turn(lease, start.turn_id, start.to_json(), i)
        store.release(lease)
        if i % 2:
            store.resolve(store.mint(*report_scope(session_id)), ok({"early": i}))


def test_four_killed_and_restarted_workers_share_the_turns_and_run_each_effect_once(
    postgres_dsn: str, tmp_path: Path
) -> None:
    schema = fresh_schema()
    log = tmp_path / "log"
    rng = random.Random(20261203)
    kills_left = KILLS
    with PostgresStore(postgres_dsn, schema=schema) as store:
        _seed(store)
        selector = selectors.DefaultSelector()
        workers: dict[int, subprocess.Popen[bytes]] = {}
        pending: dict[int, bytes] = {}
        finished: dict[str, int] = defaultdict(int)
        killed = 0
        killed_at: list[int] = []  # how many turns had finished at each kill

        def start(index: int) -> None:
            nonlocal kills_left
            kill_at = 0
            if kills_left > 0:
                kills_left -= 1
                kill_at = rng.randint(1, KILL_AT_MAX)
            env = {
                **os.environ,
                "LASH_KILL_AT": str(kill_at),
                "LASH_DRIVER": "trio" if index % 2 else "asyncio",
            }
            process = subprocess.Popen(
                [sys.executable, "-m", WORKER, schema, postgres_dsn, str(log), f"w{index}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            workers[index] = process
            pending[index] = b""
            assert process.stdout is not None
            selector.register(process.stdout, selectors.EVENT_READ, index)

        def said(line: str) -> None:
            if line.startswith("parked "):
                # The webhook arrives while the turn waits: its NOTIFY wakes the worker.
                session_id = line.split()[1]
                store.resolve(store.mint(*report_scope(session_id)), ok({"late": session_id}))
            elif line.startswith("finished "):
                finished[line.split()[1]] += 1
            else:
                raise AssertionError(f"a worker said {line!r}")

        def ended(index: int) -> None:
            nonlocal killed
            process = workers.pop(index)
            assert process.stdout is not None and process.stderr is not None
            selector.unregister(process.stdout)
            status = process.wait(timeout=TIMEOUT)
            errors = process.stderr.read().decode(errors="replace")
            process.stdout.close()
            process.stderr.close()
            assert status in (0, -signal.SIGKILL), errors
            if status == -signal.SIGKILL:
                killed += 1
                killed_at.append(len(finished))
                start(index)

        for index in range(WORKERS):
            start(index)
        while workers:
            events = selector.select(timeout=TIMEOUT)
            assert events, "no worker said anything for two minutes"
            for event, _ in events:
                index = event.data
                chunk = os.read(event.fd, 65536)
                if not chunk:
                    ended(index)
                    continue
                *lines, pending[index] = (pending[index] + chunk).split(b"\n")
                for line in lines:
                    said(line.decode())
        selector.close()

        assert MIN_KILLS <= killed <= KILLS
        assert max(killed_at) >= TURNS // 2, "workers were killed in the second half too"
        with store._read() as db:
            rows = db.execute("SELECT replay_key, status, attempt FROM effects").fetchall()
        assert {status for _, status, _ in rows} == {"completed"}
        recorded = {key: attempt for key, _, attempt in rows}
        assert store.unfinished_turns() == []
        assert all(n == 1 for n in finished.values()), "no turn is finished twice"
        for i in range(TURNS):
            session_id = f"s{i:03}"
            row = store.turn(TurnRef(session_id, TURN))
            assert row is not None and row.status is TurnStatus.FINISHED
            assert row.result_json is not None
            result: TurnResult = from_json(row.result_json, TurnResult)
            assert canonical_json(result) == row.result_json
            assert "all done" in row.result_json
            assert ("early" if i % 2 else "late") in row.result_json

    runs: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for text in log.read_text("utf-8").splitlines():
        replay_key, attempt, doubt = text.split(" ")
        runs[replay_key].append((int(attempt), doubt == "1"))
    assert len(runs) == TURNS * 4, "two model calls and two tools per turn"
    assert recorded.keys() == runs.keys()
    reruns = 0
    for replay_key, attempts in runs.items():
        # A run after the first happens only when the one before was cut off unrecorded: in
        # doubt, under a later attempt (an attempt begun and killed before its handler ran
        # leaves no run, so the first run may be in doubt too) ...
        numbers = [n for n, _ in attempts]
        assert numbers == sorted(set(numbers)), (replay_key, attempts)
        assert all(doubt for n, doubt in attempts if n > 1), (replay_key, attempts)
        # ... and the outcome recorded is the last run's: nothing ran once it was recorded.
        assert recorded[replay_key] == numbers[-1], (replay_key, attempts)
        reruns += len(attempts) - 1
    assert reruns <= KILLS
