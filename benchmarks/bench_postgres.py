"""The Postgres store: how fast a wake crosses processes, and how workers share turns.

Both run against a throwaway PostgreSQL server (:class:`~lash_postgres.throwaway.ThrowawayPostgres`
with PostgreSQL's durable defaults: each commit waits for its WAL flush), started once per run;
where PostgreSQL is not installed they are skipped (and say so).

* ``postgres_wake_p50`` / ``postgres_wake_p99``: a waiter parked in this process on a
  :class:`~lash_postgres.PostgresStore` with its doorbell (``store.open_doorbell()``),
  resolved by a resolver process (after a random 20-100 ms, 1-3 ms in smoke mode): the time
  from the resolver starting its ``resolve`` to the waiter having read the terminal. The
  baseline polls the store (25 ms, doubling to 1 s), as the reference runtime does. A resolve
  is one round trip (the schema's function ``lash_resolve``, its COMMIT included) and its
  notification carries the terminal, so the waiter reads nothing more. Judged: p50 at most
  :data:`WAKE_P50_BUDGET_US` µs, p99 at most :data:`WAKE_P99_BUDGET_US` µs, each plus what
  the disk's flush alone takes here (``disk_flush_us`` in the detail: the p50 of a bare
  synced ``INSERT`` committed on its own less that of an unsynced one, each after the same
  idle delays, measured in the same run): no store wakes a waiter before its resolver's
  commit is on disk.
* ``postgres_wake_async_p50`` / ``_p99``: the same with the resolver's store at
  ``synchronous_commit=False`` (its COMMIT does not wait for the WAL flush): the wake itself,
  without the disk, judged against :data:`WAKE_P50_BUDGET_US` alone. The detail splits each
  figure into the resolver's ``resolve`` call and what follows it, and gives the floor of
  any wake by ``LISTEN``/``NOTIFY`` on this machine: ``bare_notify_wake_p50_us``, the same
  waiter woken by a bare ``SELECT pg_notify(...)`` carrying the terminal (no table, no lock,
  nothing to commit). On a machine whose processes take long to be scheduled after an idle
  wait (a loaded, shared VM) that floor alone can exceed the budget.
* ``postgres_wake_dbos_p50`` (full mode, when DBOS is installed): the same p50 against DBOS's
  ``DBOSClient.send`` -> ``DBOS.recv`` on the same server (DBOS on Postgres also wakes by
  LISTEN/NOTIFY).
* ``postgres_durable_effect``: one durable effect (a lease-fenced ``begin`` and ``complete``)
  against a bare ``INSERT`` + ``COMMIT`` of a row of the same size over psycopg, in the same
  run; reported, not judged (one synced commit each: mostly the disk's flush).
* ``postgres_claims``: :data:`CLAIM_TURNS` unfinished turns (a 2-step scripted agent each)
  shared by :data:`CLAIM_WORKERS` worker processes that claim (``claim_turn``, ``FOR UPDATE
  SKIP LOCKED``) and resume them, time per turn from the workers' start to the last one's exit,
  against one worker alone in the same run. Reported, not judged: the machine's cores bound the
  speed-up; the detail has the turns per second.
"""

from __future__ import annotations

import atexit
import dataclasses
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs
import trio

from benchmarks import bench_peers, peer_agents
from benchmarks.bench_durable_turn import CONFIG as AGENT_CONFIG
from benchmarks.bench_durable_turn import _handlers as agent_handlers
from benchmarks.bench_store import OUTCOME
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, Sample, require
from lash_core import AwaitEventKey, TurnScope, from_json, ok, to_json
from lash_core.durable import durable_step_envelope
from lash_core.durable_turn import TurnStart
from lash_core.effects import Message, Role, TextPart
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.resolution import ResolutionOk
from lash_core.scope import Custom
from lash_core.store import Owner, Started
from lash_core.turn import TurnMachine
from lash_postgres.throwaway import ThrowawayPostgres, postgres_unavailable

if TYPE_CHECKING:
    from lash_postgres import PostgresStore

WAKE_P50_BUDGET_US: Final = 1_000.0
WAKE_P99_BUDGET_US: Final = 10_000.0
CLAIM_TURNS: Final = 1_000
CLAIM_WORKERS: Final = 4
CLAIM_STEPS: Final = 2
ROOT: Final = Path(__file__).resolve().parent.parent

_SERVER: list[ThrowawayPostgres] = []


def _server() -> ThrowawayPostgres | None:
    """The run's throwaway server (started on first use, stopped at exit), or ``None``."""
    if _SERVER:
        return _SERVER[0]
    why = postgres_unavailable()
    if why is not None:
        print(f"bench_postgres: skipped ({why})", file=sys.stderr)
        return None
    server = ThrowawayPostgres(durable=True).start()
    atexit.register(server.stop)
    _SERVER.append(server)
    return server


def _schema() -> str:
    return f"bench_{secrets.token_hex(4)}"


def _store(dsn: str, schema: str, synchronous_commit: bool = True) -> PostgresStore:
    """A store on ``schema`` (imported here: psycopg may not be installed)."""
    from lash_postgres import PostgresStore

    return PostgresStore(dsn, schema=schema, synchronous_commit=synchronous_commit)


# -- 1. a wake across processes --------------------------------------------------------------


def _resolver(dsn: str, schema: str, commit: str) -> int:
    """The resolver process: for each ``delay_ms address key_json`` line, sleep, then resolve
    the key with the monotonic time it started resolving (``commit``: ``sync`` or ``async``;
    ``notify``: no store, a bare ``NOTIFY`` of what a resolve would send, the floor)."""
    import psycopg

    with (
        _store(dsn, schema, synchronous_commit=commit == "sync") as store,
        psycopg.connect(dsn, autocommit=True) as raw,
    ):
        print("ready", flush=True)
        for line in sys.stdin:
            delay, address, key_json = line.split(" ", 2)
            key = from_json(key_json, AwaitEventKey)
            time.sleep(int(delay) / 1000)
            t0 = time.perf_counter_ns()
            if commit == "notify":
                payload = f"{key.key_id}\n{to_json(ok({'t0': t0}))}"
                raw.execute("SELECT pg_notify(%s, %s)", (address, payload)).fetchall()
            else:
                store.resolve(key, ok({"t0": t0}))
            print(time.perf_counter_ns() - t0, flush=True)
    return 0


def _wake_latencies(
    dsn: str, schema: str, count: int, delays: tuple[int, int], poll: bool, commit: str = "sync"
) -> tuple[list[float], list[float]]:
    """Per wait: ns from the resolver's start to this process having read the terminal, and
    ns the resolver's ``resolve`` took (its transaction, COMMIT included)."""
    resolver = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_postgres", "resolver", dsn, schema, commit],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert resolver.stdin is not None and resolver.stdout is not None
    latencies: list[float] = []
    resolves: list[float] = []
    rng = random.Random(7)
    try:
        require(resolver.stdout.readline().strip() == "ready", "the resolver started")
        with _store(dsn, schema) as store, store.open_doorbell() as bell:
            for i in range(count):
                key = store.mint(TurnScope("s1", f"t{poll}{commit}"), Custom(f"w{i}"))
                require(store.park(key, None if poll else bell.address) is None, "pending")
                resolver.stdin.write(f"{rng.randint(*delays)} {bell.address} {to_json(key)}\n")
                resolver.stdin.flush()
                terminal = None
                interval = 0.025
                while terminal is None:
                    if poll:
                        terminal = store.peek(key)
                        if terminal is None:
                            time.sleep(interval)
                            interval = min(interval * 2, 1.0)
                    elif key.key_id in bell.wait(60):
                        terminal = store.peek(key)
                done = time.perf_counter_ns()
                assert isinstance(terminal, ResolutionOk) and isinstance(terminal.payload, dict)
                t0 = terminal.payload["t0"]
                assert isinstance(t0, int)
                latencies.append(float(done - t0))
                resolves.append(float(resolver.stdout.readline()))
    finally:
        resolver.stdin.close()
        resolver.wait(timeout=120)
    return latencies, resolves


def _bare_commits(dsn: str, count: int, delays: tuple[int, int], synced: bool) -> list[float]:
    """ns per bare ``INSERT`` committed on its own (autocommit, psycopg), each after the same
    random idle delay as a wake's resolver: what the server and its disk take for one commit,
    with or without waiting for the WAL flush."""
    import psycopg

    rng = random.Random(11)
    options = "" if synced else "-c synchronous_commit=off"
    out: list[float] = []
    with psycopg.connect(dsn, autocommit=True, options=options) as raw:
        table = f"bare_{secrets.token_hex(4)}"
        raw.execute(f"CREATE TABLE {table}(k INTEGER PRIMARY KEY, v TEXT)")
        for i in range(count):
            time.sleep(rng.randint(*delays) / 1000)
            t0 = time.perf_counter_ns()
            raw.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, '{"status":"ok"}'))
            out.append(float(time.perf_counter_ns() - t0))
        raw.execute(f"DROP TABLE {table}")
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@benchmark("postgres_wake")
def postgres_wake(ctx: Context) -> list[Figure]:
    """Cross-process wake p50/p99 on Postgres: LISTEN/NOTIFY vs polling (and DBOS's recv)."""
    server = _server()
    if server is None:
        return []
    schema = _schema()
    _store(server.dsn, schema).close()
    delays = (1, 3) if ctx.smoke else (20, 100)
    count = ctx.size(200, 3)
    # Unmeasured first: a server just made by initdb takes its first commits slower (its
    # WAL and caches are new), and the first figure would pay for it.
    warm = _schema()
    _store(server.dsn, warm).close()
    _wake_latencies(server.dsn, warm, ctx.size(50, 1), (1, 3), poll=False)
    bell, resolves = _wake_latencies(server.dsn, schema, count, delays, poll=False)
    polled, _ = _wake_latencies(server.dsn, schema, ctx.size(40, 2), delays, poll=True)
    quick, quick_resolves = _wake_latencies(
        server.dsn, schema, count, delays, poll=False, commit="async"
    )
    floor, _ = _wake_latencies(server.dsn, schema, count, delays, poll=False, commit="notify")
    bare = ctx.size(100, 2)
    flush = _percentile(_bare_commits(server.dsn, bare, delays, synced=True), 0.5)
    unflushed = _percentile(_bare_commits(server.dsn, bare, delays, synced=False), 0.5)
    commits = {
        "bare_notify_wake_p50_us": _percentile(floor, 0.5) / 1000,
        "bare_synced_commit_p50_us": flush / 1000,
        "bare_unsynced_commit_p50_us": unflushed / 1000,
    }
    # The synced figure's budget adds what the disk's flush alone takes (a bare synced commit
    # less a bare unsynced one, measured after the same idle delays): no store can wake a
    # waiter before its resolver's commit is on disk.
    flush_us = max(0.0, flush - unflushed) / 1000
    figures = [
        *_wake_figures(ctx, "postgres_wake", bell, resolves, polled, delays, commits, flush_us),
        *_wake_figures(ctx, "postgres_wake_async", quick, quick_resolves, polled, delays, commits),
    ]
    figures.extend(_dbos_wake(ctx, server, bell))
    return figures


def _wake_figures(
    ctx: Context,
    prefix: str,
    bell: list[float],
    resolves: list[float],
    polled: list[float],
    delays: tuple[int, int],
    commits: dict[str, float],
    flush_us: float = 0.0,
) -> list[Figure]:
    after = [w - r for w, r in zip(bell, resolves, strict=True)]
    figures = []
    for name, q, budget in (
        (f"{prefix}_p50", 0.5, WAKE_P50_BUDGET_US + flush_us),
        (f"{prefix}_p99", 0.99, WAKE_P99_BUDGET_US + flush_us),
    ):
        figure = ctx.figure(
            name,
            Sample(len(bell), (_percentile(bell, q),)),
            "polling 25 ms doubling to 1 s",
            Sample(len(polled), (_percentile(polled, q),)),
            detail={
                "op": "resolve in another process -> parked waiter has read the terminal",
                "resolver_commit": "synced" if prefix == "postgres_wake" else "not waiting",
                "waits": len(bell),
                "polled_waits": len(polled),
                "resolver_delay_ms": f"{delays[0]}-{delays[1]}",
                "resolve_call_us": _percentile(resolves, q) / 1000,
                "after_resolve_returned_us": _percentile(after, q) / 1000,
                **commits,
                "disk_flush_us": flush_us,
                "budget_us": budget,
            },
        )
        figures.append(dataclasses.replace(figure, max_budget=budget))
    return figures


def _dbos_wake(ctx: Context, server: ThrowawayPostgres, bell: list[float]) -> list[Figure]:
    """lash's p50 against DBOS send -> recv on the same server (full mode, DBOS installed)."""
    dbos = None if ctx.smoke else peer_agents.import_optional("dbos")
    if dbos is None:
        why = "smoke mode" if ctx.smoke else "dbos not installed"
        print(f"postgres_wake_dbos_p50: skipped ({why})", file=sys.stderr)
        return []
    url = f"postgresql://lash@127.0.0.1:{server.port}/dbos_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="lash-bench-pg-") as directory:
        polled = bench_peers._dbos_wake_latencies(
            dbos, Path(directory), bench_peers.WAKE_WAITS, url=url
        )
    figure = ctx.figure(
        "postgres_wake_dbos_p50",
        Sample(len(bell), (statistics.median(bell),)),
        "DBOS send -> recv (Postgres, LISTEN/NOTIFY)",
        Sample(len(polled), (statistics.median(polled),)),
        detail={
            "op": "send/resolve in another process -> the waiter has the message",
            "waits": len(bell),
            "dbos_waits": len(polled),
            "dbos_max_us": max(polled) / 1000,
            "budget_us": WAKE_P50_BUDGET_US,
        },
    )
    return [dataclasses.replace(figure, max_budget=WAKE_P50_BUDGET_US)]


# -- 2. a durable effect ---------------------------------------------------------------------


@benchmark("postgres_durable_effect")
def postgres_durable_effect(ctx: Context) -> list[Figure]:
    """Lease-fenced begin + complete on Postgres vs a bare INSERT + COMMIT (psycopg)."""
    server = _server()
    if server is None:
        return []
    import psycopg

    schema = _schema()
    store = _store(server.dsn, schema)
    lease = store.acquire("s1", Owner("bench"), 3_600_000, 0)
    raw = psycopg.connect(server.dsn, autocommit=True, options=f"-c search_path={schema}")
    raw.execute("CREATE TABLE bare(k TEXT PRIMARY KEY, envelope TEXT, outcome TEXT)")
    counter = [0]

    def envelopes(n: int) -> list[tuple[str, CanonicalEnvelope]]:
        out = []
        for _ in range(n):
            counter[0] += 1
            step = f"step-{counter[0]}"
            env = durable_step_envelope("s1", step, {"city": "Oslo"}, turn_id="t1")
            out.append((f"s1:t1:durable:{step}", env.canonical()))
        return out

    def subject(n: int) -> Body:
        batch = envelopes(n)

        def body() -> None:
            for key, env in batch:
                store.begin(lease, env, 1)
                store.complete(lease, key, OUTCOME, 2)

        return body

    def baseline(n: int) -> Body:
        batch = envelopes(n)

        def body() -> None:
            for key, env in batch:
                with raw.transaction():
                    raw.execute("INSERT INTO bare VALUES (%s, %s, %s)", (key, env.json, OUTCOME))

        return body

    probe = envelopes(1)[0]
    require(isinstance(store.begin(lease, probe[1], 0), Started), "a new effect starts")
    store.complete(lease, probe[0], OUTCOME, 0)
    sub, base = ctx.compare(subject, baseline)
    store.close()
    raw.close()
    return [
        ctx.figure(
            "postgres_durable_effect",
            sub,
            "bare psycopg INSERT+COMMIT (synced)",
            base,
            detail={
                "op": "PostgresStore.begin + complete under a lease (two fenced transactions, "
                "the begin's commit not waiting for the WAL flush)",
            },
        )
    ]


# -- 3. workers sharing turns ----------------------------------------------------------------


def _machine(session_id: str) -> TurnMachine:
    config = attrs.evolve(AGENT_CONFIG, max_iterations=CLAIM_STEPS + 2)
    return TurnMachine(
        config,
        session_id=session_id,
        turn_id="turn",
        turn_index=0,
        messages=(Message(Role.USER, (TextPart("go"),)),),
    )


def _claimer(dsn: str, schema: str, name: str) -> int:
    """A worker process: claim and resume turns until none is left; prints how many."""
    import lash_trio

    store = _store(dsn, schema)
    handlers = agent_handlers(CLAIM_STEPS)
    done = 0

    async def work() -> None:
        nonlocal done
        async with lash_trio.open_durable_host(store, owner=name) as host:
            while True:
                claim = store.claim_turn(host.owner, 60_000, host.now_ms())
                if claim is None:
                    if not store.unfinished_turns():
                        return
                    await trio.sleep(0.005)  # the last ones are running elsewhere
                    continue
                ref, _ = claim
                await lash_trio.resume_turn(host, ref.session_id, ref.turn_id, handlers)
                done += 1

    try:
        trio.run(work)
    finally:
        store.close()
    print(done, flush=True)
    return 0


def _claim_run(dsn: str, turns: int, workers: int) -> float:
    """ns per turn: ``turns`` seeded in a fresh schema, run by ``workers`` processes."""
    schema = _schema()
    with _store(dsn, schema) as store:
        for i in range(turns):
            start = TurnStart.of(_machine(f"s{i}"))
            lease = store.acquire(start.session_id, Owner("seeder"), 60_000, 0)
            store.open_turn(lease, start.turn_id, start.to_json(), i)
            store.release(lease)
        t0 = time.perf_counter_ns()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_postgres",
                    "claimer",
                    dsn,
                    schema,
                    f"w{i}",
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name in (f"w{i}" for i in range(workers))
        ]
        counts = [int(p.communicate(timeout=600)[0].strip() or 0) for p in procs]
        elapsed = time.perf_counter_ns() - t0
        require(all(p.returncode == 0 for p in procs), "every worker exited cleanly")
        require(sum(counts) == turns, "every turn was run by exactly one worker")
        require(store.unfinished_turns() == [], "every turn finished")
    return elapsed / turns


@benchmark("postgres_claims")
def postgres_claims(ctx: Context) -> list[Figure]:
    """Turns shared by 4 claiming worker processes vs 1 worker, time per turn."""
    server = _server()
    if server is None:
        return []
    turns = ctx.size(CLAIM_TURNS, 8)
    repeats = ctx.size(3, 1)
    many: list[float] = []
    one: list[float] = []
    for _ in range(repeats):
        many.append(_claim_run(server.dsn, turns, CLAIM_WORKERS))
        one.append(_claim_run(server.dsn, turns, 1))
    figure = ctx.figure(
        "postgres_claims",
        Sample(turns, tuple(many)),
        "one worker alone",
        Sample(turns, tuple(one)),
        detail={
            "op": f"claim + resume a {CLAIM_STEPS}-step turn, {CLAIM_WORKERS} worker processes",
            "turns": turns,
            "workers": CLAIM_WORKERS,
            "turns_per_s": 1e9 / statistics.median(many),
            "one_worker_turns_per_s": 1e9 / statistics.median(one),
        },
    )
    return [figure]


if __name__ == "__main__":
    if sys.argv[1:2] == ["resolver"]:
        raise SystemExit(_resolver(sys.argv[2], sys.argv[3], sys.argv[4]))
    if sys.argv[1:2] == ["claimer"]:
        raise SystemExit(_claimer(sys.argv[2], sys.argv[3], sys.argv[4]))
    raise SystemExit("usage: python -m benchmarks.bench_postgres resolver|claimer DSN SCHEMA")
