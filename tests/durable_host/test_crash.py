"""Crash tests in real processes: the scripted durable turn (three tools, one pending on a key)
on a SQLite file or a Postgres schema, its process SIGKILLed at each effect boundary, then
resumed in a fresh process. Each recorded effect ran exactly once (the effect cut off between
running and being recorded at most twice, the second time in doubt under the same idempotency
key), and the result equals an uncrashed run's on SQLite byte for byte, on either store. Also:
two processes racing to resume one turn get one owner, and a resolution arriving while no
process runs is delivered on resume."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from lash_core import ok
from lash_core.wire import JsonValue
from tests.durable_host.support import report_key
from tests.store._worker import open_store
from tests.store.conftest import fresh_schema

ROOT = Path(__file__).resolve().parent.parent.parent
WORKER = "tests.durable_host._crash_worker"
TIMEOUT = 60


def _worker(
    mode: str, path: Path | str, log: Path, crash_at: str = "", driver: str = "trio"
) -> subprocess.Popen[str]:
    env = {**os.environ, "LASH_CRASH_AT": crash_at, "LASH_DRIVER": driver}
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, mode, str(path), str(log)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    lines = out.strip().splitlines()
    assert process.returncode in (0, 3, -signal.SIGKILL), err
    return process.returncode, lines[-1] if lines else ""


def _resolve_report(path: Path | str, value: JsonValue) -> str:
    with open_store(str(path)) as store:
        return store.resolve(report_key(store), ok(value)).status


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's turn is stored: a SQLite file, or a fresh schema on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "a.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return f"pg:{fresh_schema()}:{dsn}"


def _runs(log: Path) -> list[tuple[str, int, bool, str]]:
    """(replay key, attempt, in doubt, idempotency key) of every effect a handler ran."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text("utf-8").splitlines():
        key, attempt, doubt, idempotency = line.split(" ")
        out.append((key, int(attempt), doubt == "1", idempotency))
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, set[str]]:
    """The uncrashed run: its result JSON and the replay keys its handlers ran."""
    directory = tmp_path_factory.mktemp("reference")
    path, log = directory / "a.db", directory / "log"
    assert _resolve_report(path, {"delivered": True}) == "accepted"
    status, result = _finish(_worker("run", path, log))
    assert status == 0
    runs = _runs(log)
    keys = {key for key, *_ in runs}
    assert len(runs) == len(keys) == 5  # two model calls, three tools
    return result, keys


CRASH_POINTS = [
    ("begin:before:1", "trio"),  # before the first effect is recorded as begun
    ("begin:after:2", "asyncio"),  # a tool begun, not run
    ("complete:before:3", "trio"),  # a tool ran, its outcome not recorded
    ("complete:after:4", "asyncio"),  # recorded, not yet fed to the machine
    ("complete:before:5", "asyncio"),  # the final model call ran, not recorded
    ("begin:after:5", "trio"),  # the final model call begun, not run
]


@pytest.mark.parametrize(("crash_at", "driver"), CRASH_POINTS)
def test_sigkill_at_an_effect_boundary_then_resume(
    tmp_path: Path, reference: tuple[str, set[str]], crash_at: str, driver: str, store_spec: str
) -> None:
    expected, keys = reference
    path, log = store_spec, tmp_path / "log"
    assert _resolve_report(path, {"delivered": True}) == "accepted"
    status, _ = _finish(_worker("run", path, log, crash_at, driver))
    assert status == -signal.SIGKILL
    before = _runs(log)
    status, result = _finish(_worker("resume", path, log, "", driver))
    assert status == 0
    assert result == expected  # canonical JSON, byte for byte
    runs = _runs(log)
    per_key = Counter(key for key, *_ in runs)
    assert set(per_key) == keys
    twice = [key for key, n in per_key.items() if n > 1]
    if crash_at.startswith("complete:before"):
        # Cut off between running and being recorded: run once more, in doubt, same key.
        assert len(twice) == 1 and per_key[twice[0]] == 2
        first, second = [run for run in runs if run[0] == twice[0]]
        assert (first[1], first[2]) == (1, False)
        assert (second[1], second[2]) == (2, True)
        assert first[3] == second[3] == twice[0]
    else:
        assert twice == []  # every recorded effect ran exactly once
    assert len(before) < len(runs)
    with open_store(path) as store:
        assert store.unfinished_turns() == []


def test_a_resolution_arriving_while_no_process_runs_is_delivered_on_resume(
    tmp_path: Path, reference: tuple[str, set[str]], store_spec: str
) -> None:
    expected, keys = reference
    path, log = store_spec, tmp_path / "log"
    # The process dies while the turn waits for the report.
    status, _ = _finish(_worker("run", path, log, "park:after:1"))
    assert status == -signal.SIGKILL
    # The webhook arrives while no process runs.
    assert _resolve_report(path, {"delivered": True}) == "accepted"
    status, result = _finish(_worker("resume", path, log))
    assert status == 0 and result == expected
    assert Counter(key for key, *_ in _runs(log)) == Counter(keys)  # each ran once


def test_two_processes_racing_to_resume_one_turn_get_one_owner(
    tmp_path: Path, reference: tuple[str, set[str]], store_spec: str
) -> None:
    expected, keys = reference
    path, log = store_spec, tmp_path / "log"
    status, _ = _finish(_worker("run", path, log, "park:after:1"))
    assert status == -signal.SIGKILL
    env = {**os.environ, "LASH_PRINT_PARK": "1"}
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", WORKER, "resume", str(path), str(log)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    # Read both until one parked on the report and the other was refused.
    seen: dict[int, str] = {}
    with selectors.DefaultSelector() as selector:
        for i, racer in enumerate(racers):
            assert racer.stdout is not None
            selector.register(racer.stdout, selectors.EVENT_READ, i)
        while len(seen) < 2:
            events = selector.select(timeout=TIMEOUT)
            assert events, "neither racer answered"
            for event, _ in events:
                line = event.fileobj.readline().strip()  # type: ignore[union-attr]
                assert line, [r.stderr.read() for r in racers if r.stderr is not None]
                seen[event.data] = line
                selector.unregister(event.fileobj)
    assert sorted(seen.values()) == ["parked", "refused lease_held"]
    winner = racers[next(i for i, line in seen.items() if line == "parked")]
    loser = racers[next(i for i, line in seen.items() if line != "parked")]
    assert loser.wait(timeout=TIMEOUT) == 3
    assert _resolve_report(path, {"delivered": True}) == "accepted"  # wakes the owner
    status, result = _finish(winner)
    assert status == 0 and result == expected
    assert Counter(key for key, *_ in _runs(log)) == Counter(keys)
    for racer in racers:
        for stream in (racer.stdout, racer.stderr):
            if stream is not None:
                stream.close()
