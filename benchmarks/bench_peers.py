"""A durable 20-step agent on lash against the peers' durable agents, measured in one run.

An agent *step* is one model call and one tool call. The model is scripted (it asks for one
tool call per round, :data:`STEPS` rounds, then answers) and the tool is trivial, so nothing
leaves the process: what is timed is each system's own cost of running and persisting the
agent. A run is one whole agent (:data:`STEPS` tool rounds and the final answer); its time is
divided by :data:`STEPS`.

* lash: the pure :class:`~lash_core.turn.TurnMachine` driven synchronously, every effect
  journaled on a :class:`~lash_sqlite.SqliteStore` in a temporary directory: a lease-fenced
  ``begin`` before the effect runs (its canonical envelope built as a durable turn builds it,
  through :class:`~lash_core.durable_turn.CanonicalCache`: each message's JSON written once)
  and a fenced ``complete`` with its canonical outcome after (two transactions per effect),
  the session leased, the turn opened and finished, the lease released; at
  ``synchronous=FULL`` (the default) and at ``NORMAL``.
* LangGraph with ``SqliteSaver`` (one file in the temporary directory): a graph of a model node
  and a tool node over ``MessagesState``, checkpointed with ``durability="sync"``, with
  ``"async"`` (LangGraph's default), and with ``"sync"`` on a connection set to
  ``synchronous=NORMAL`` (``SqliteSaver`` takes the connection it is given; it runs WAL at the
  SQLite default, FULL, otherwise).
* DBOS on SQLite (its system database one file in the temporary directory, in the rollback
  journal mode DBOS chooses): a workflow whose every model call and every tool call is a
  ``@DBOS.step``.

The peers are in the ``test`` extra (``python3 dev.py setup`` installs them); one that is not
importable is skipped and named in the detail of ``peers_step_lash``. Smoke mode runs
``peers_step`` at :data:`SMOKE_STEPS` steps (a few seconds: the peers' imports and DBOS's
launch) so the peers' code cannot rot, and skips ``peers_wake`` (DBOS's ``recv`` polls once a
second: even one wait takes seconds). The repeats of every system are interleaved (one repeat
of each system in turn, then again), and each ratio is the median of the per-repeat ratios, so
drift in the machine's speed hits both sides alike.

Figures (per agent step, µs):

* ``peers_step_lash`` / ``peers_step_lash_normal``: lash with its store against the same agent
  on the bare machine (no store): what durability costs per step. Reported, not judged.
* ``peers_step_vs_langgraph`` / ``peers_step_vs_langgraph_async``: lash (FULL) against
  LangGraph + ``SqliteSaver`` at FULL (sync / async). Judged: at most :data:`PEER_BUDGET`.
* ``peers_step_vs_dbos``: lash (FULL) against DBOS on SQLite. Judged: at most
  :data:`PEER_BUDGET`.
* ``peers_step_normal_vs_langgraph``: lash at ``NORMAL`` against LangGraph (sync) at
  ``NORMAL``. Judged: at most :data:`PEER_BUDGET`.
* ``peers_step_normal_vs_dbos``: lash at ``NORMAL`` against DBOS (which has no such setting).
  Reported.
* ``peers_wake_dbos_p50`` / ``peers_wake_normal_dbos_p50``: a waiter woken by a resolver in
  another process: lash's doorbell (as ``store_wake``, fewer waits; the resolver's store at
  FULL / NORMAL) against DBOS's ``DBOSClient.send`` -> ``DBOS.recv`` on SQLite (it polls every
  second, so only :data:`WAKE_WAITS` waits). Judged like ``store_wake_p50``: lash's p50 at most
  ``bench_store.WAKE_P50_BUDGET_US`` µs.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

from benchmarks import bench_store
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, Sample, require
from benchmarks.peer_agents import (
    DBOS_SENDER,
    STEPS,
    TOPIC,
    Dbos,
    LangGraphAgent,
    LashAgent,
    Run,
    import_optional,
)
from lash_sqlite import SqliteStore

SMOKE_STEPS: Final = 3
PEER_BUDGET: Final = 0.5
"""lash's time per step, as a multiple of a peer's, at most."""
WAKE_WAITS: Final = 5
"""DBOS waits per run of ``peers_wake_dbos_p50`` (each takes about a second)."""
LASH_WAKE_WAITS: Final = 40
ROOT: Final = Path(__file__).resolve().parent.parent

# -- 1. time per agent step ----------------------------------------------------------------------


@dataclasses.dataclass
class _System:
    name: str
    run: Run
    runs_per_repeat: int
    times: list[float] = dataclasses.field(default_factory=list)
    """ns per agent step, one per repeat."""


def _timed(ctx: Context, system: _System, steps: int) -> float:
    """ns per agent step over one repeat of ``system`` (garbage collector off)."""
    tools: list[int] = []

    def prepare(loops: int) -> Body:
        def body() -> None:
            for _ in range(loops):
                tools.append(system.run())

        return body

    sample = ctx.measure(prepare, loops=system.runs_per_repeat, repeats=1)
    require(all(t == steps for t in tools), f"{system.name} made one tool call per step")
    return sample.per_op_ns[0] / steps


@benchmark("peers_step")
def peers_step(ctx: Context) -> list[Figure]:
    """Durable 20-step agent, per step: lash+SqliteStore vs LangGraph+SqliteSaver and DBOS."""
    steps = ctx.size(STEPS, SMOKE_STEPS)
    repeats = ctx.settings.repeats
    lash_runs = ctx.size(4, 1)
    skipped: list[str] = []
    closers: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="lash-bench-peers-") as directory:
        root = Path(directory)
        full = SqliteStore(root / "lash-full.db", ring=None, synchronous="FULL")
        normal = SqliteStore(root / "lash-normal.db", ring=None, synchronous="NORMAL")
        closers += [full.close, normal.close]
        systems = {
            "lash": _System("lash", LashAgent(full, steps, "full"), lash_runs),
            "lash_normal": _System("lash_normal", LashAgent(normal, steps, "normal"), lash_runs),
            "machine": _System("machine", LashAgent(None, steps, "bare"), lash_runs),
        }
        try:
            _add_peers(root, steps, systems, skipped, closers)
            for system in systems.values():
                system.run()  # warm up: imports, caches, the first file writes
            for _ in range(repeats):
                for system in systems.values():
                    system.times.append(_timed(ctx, system, steps))
        finally:
            for close in reversed(closers):
                close()
    return _step_figures(ctx, systems, steps, skipped)


def _add_peers(
    root: Path,
    steps: int,
    systems: dict[str, _System],
    skipped: list[str],
    closers: list[Callable[[], None]],
) -> None:
    if (
        import_optional("langgraph.checkpoint.sqlite") is None
        or import_optional("langgraph.graph") is None
    ):
        skipped.append("langgraph (langgraph and langgraph-checkpoint-sqlite not installed)")
        print("peers_step: LangGraph not installed, skipped", file=sys.stderr)
    else:
        variants: tuple[tuple[str, Literal["sync", "async"], Literal["FULL", "NORMAL"]], ...] = (
            ("langgraph_sync", "sync", "FULL"),
            ("langgraph_async", "async", "FULL"),
            ("langgraph_normal", "sync", "NORMAL"),
        )
        for name, durability, synchronous in variants:
            agent = LangGraphAgent(root / f"{name}.db", steps, durability, synchronous)
            closers.append(agent.close)
            systems[name] = _System(name, agent, 1)
    dbos = import_optional("dbos")
    if dbos is None:
        skipped.append("dbos (not installed)")
        print("peers_step: DBOS not installed, skipped", file=sys.stderr)
    else:
        launched = Dbos(dbos, root / "dbos.sqlite")
        closers.append(launched.close)
        systems["dbos"] = _System("dbos", launched.agent(steps), 1)


def _step_figures(
    ctx: Context, systems: dict[str, _System], steps: int, skipped: list[str]
) -> list[Figure]:
    def sample(name: str) -> Sample:
        s = systems[name]
        return Sample(s.runs_per_repeat, tuple(s.times))

    common: dict[str, float | int | str] = {
        "op": f"one agent step (model call + tool call) of a {steps}-step scripted agent",
        "steps": steps,
    }
    figures = []
    for suffix, name in (("", "lash"), ("_normal", "lash_normal")):
        figures.append(
            ctx.figure(
                f"peers_step_lash{suffix}",
                sample(name),
                "the same agent on the bare TurnMachine (no store)",
                sample("machine"),
                detail={
                    **common,
                    "synchronous": "FULL" if name == "lash" else "NORMAL",
                    "skipped": "; ".join(skipped) or "none",
                    "per_step_us": ", ".join(
                        f"{s.name} {statistics.median(s.times) / 1000:.1f}"
                        for s in systems.values()
                    ),
                },
            )
        )
    dbos_title = "DBOS on SQLite (@DBOS.step per call)"
    lash_full, lash_normal = "lash + SqliteStore (FULL)", "lash + SqliteStore (NORMAL)"
    comparisons: tuple[tuple[str, str, str, str, str, float | None], ...] = (
        ("vs_langgraph", "lash", lash_full, "langgraph_sync", _lg("sync", "FULL"), PEER_BUDGET),
        (
            "vs_langgraph_async",
            "lash",
            lash_full,
            "langgraph_async",
            _lg("async", "FULL"),
            PEER_BUDGET,
        ),
        ("vs_dbos", "lash", lash_full, "dbos", dbos_title, PEER_BUDGET),
        (
            "normal_vs_langgraph",
            "lash_normal",
            lash_normal,
            "langgraph_normal",
            _lg("sync", "NORMAL"),
            PEER_BUDGET,
        ),
        # DBOS has no setting for its SQLite file's synchronous mode: reported only.
        ("normal_vs_dbos", "lash_normal", lash_normal, "dbos", dbos_title, None),
    )
    for label, subject, subject_title, peer, title, budget in comparisons:
        if peer not in systems:
            continue
        figures.append(
            ctx.figure(
                f"peers_step_{label}",
                sample(subject),
                title,
                sample(peer),
                budget=budget,
                detail={**common, "subject": subject_title},
            )
        )
    return figures


def _lg(durability: str, synchronous: str) -> str:
    return f"LangGraph + SqliteSaver ({durability}, {synchronous})"


# -- 2. a wake across processes: lash's doorbell vs DBOS send -> recv ---------------------------


def _dbos_sender(url: str) -> int:
    """The sender process: for each ``delay_ms workflow_id`` line, sleep, then send the
    workflow a message carrying the monotonic time the send started."""
    dbos = importlib.import_module("dbos")
    client = dbos.DBOSClient(system_database_url=url)
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            delay, workflow_id = line.split()
            time.sleep(int(delay) / 1000)
            client.send(workflow_id, {"t0": time.perf_counter_ns()}, TOPIC)
    finally:
        client.destroy()
    return 0


def _dbos_wake_latencies(dbos: Any, root: Path, count: int, url: str | None = None) -> list[float]:
    launched = Dbos(dbos, root / "dbos-wake.sqlite", url)
    sender = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_peers", "dbos-sender", launched.url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdin is not None and sender.stdout is not None
    stdin = sender.stdin
    rng = random.Random(7)
    workflow_id = f"bench-waiter-{time.time_ns()}"

    def ask(_: int) -> None:
        stdin.write(f"{rng.randint(20, 100)} {workflow_id}\n")
        stdin.flush()

    try:
        require(sender.stdout.readline().strip() == "ready", "the DBOS sender started")
        DBOS_SENDER[0] = ask
        with dbos.SetWorkflowID(workflow_id):
            latencies = launched.functions["waiter"](count)
    finally:
        DBOS_SENDER[0] = lambda i: None
        stdin.close()
        sender.wait(timeout=120)
        launched.close()
    return [float(x) for x in latencies]


@benchmark("peers_wake")
def peers_wake(ctx: Context) -> list[Figure]:
    """Cross-process wake p50: lash's doorbell vs DBOS send -> recv on SQLite (1 s polling)."""
    if ctx.smoke:
        # DBOS's recv polls its table once a second: even one wait takes seconds.
        print("peers_wake: skipped in smoke mode (DBOS polls once a second)", file=sys.stderr)
        return []
    dbos = import_optional("dbos")
    if dbos is None:
        print("peers_wake: skipped (dbos not installed)", file=sys.stderr)
        return []
    bells: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="lash-bench-peers-") as directory:
        root = Path(directory)
        polled = _dbos_wake_latencies(dbos, root, WAKE_WAITS)
        db = root / "lash-wake.db"
        SqliteStore(db).close()
        for synchronous in ("FULL", "NORMAL"):
            bells[synchronous], _ = bench_store._wake_latencies(
                db, LASH_WAKE_WAITS, (20, 100), poll=False, synchronous=synchronous
            )
    figures = []
    for name, synchronous in (
        ("peers_wake_dbos_p50", "FULL"),
        ("peers_wake_normal_dbos_p50", "NORMAL"),
    ):
        bell = bells[synchronous]
        figure = ctx.figure(
            name,
            Sample(len(bell), (statistics.median(bell),)),
            "DBOS send -> recv (SQLite, 1 s poll)",
            Sample(len(polled), (statistics.median(polled),)),
            detail={
                "op": "send/resolve in another process -> the waiter has the message",
                "subject": f"lash doorbell, resolver's store at {synchronous}",
                "waits": len(bell),
                "dbos_waits": len(polled),
                "resolver_delay_ms": "20-100",
                "dbos_max_us": max(polled) / 1000,
                "budget_us": bench_store.WAKE_P50_BUDGET_US,
            },
        )
        figures.append(dataclasses.replace(figure, max_budget=bench_store.WAKE_P50_BUDGET_US))
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["dbos-sender"]:
        raise SystemExit(_dbos_sender(sys.argv[2]))
    raise SystemExit("usage: python -m benchmarks.bench_peers dbos-sender URL")
