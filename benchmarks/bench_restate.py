"""lash turns on Restate next to the SQLite durable host, measured in one run.

A local Restate server (``lash_restate.server``: 127.0.0.1, telemetry off, data in a temporary
folder) and the turn service served in a thread of this process (hypercorn on asyncio). When
the server cannot be installed or started the benchmark reports nothing, unless
``LASH_REQUIRE_RESTATE=1`` (``dev.py test``), where that is an error.

* ``restate_turn``: a whole turn of the scripted agent of :mod:`benchmarks.bench_durable_turn`
  (:data:`~benchmarks.bench_durable_turn.STEPS` steps of one model call and one tool call,
  then the answer), started through Restate's ingress and awaited to its result, one after the
  other; every effect is a ``ctx.run`` journal entry. Baseline: the same turn on the SQLite
  durable host (``lash_trio.open_durable_host``, ``synchronous=FULL``). The detail has both
  rates in turns per second. Reported, not judged. ``restate_turn_vs_postgres``: the same
  against the turn on the Postgres durable host (the run's throwaway server, synced commits),
  where PostgreSQL is installed.
* ``restate_resolve_to_wake``: a turn waits on a pending tool; the time from a webhook starting
  its resolve (``RestateTurns.resolve``: the key verified, the resolve handler invoked through
  the ingress, the promise completed) to the turn's next model call starting in the service.
  Baseline: ``store_wake``'s doorbell on SQLite (a resolver process, the waiter here) over the
  same number of waits. Median of the waits; reported, not judged.
* ``restate_process``: one background process's whole life through
  ``lash_restate.RestateProcesses`` (start: the registry object registers it and starts its
  workflow; a signal: logged by the object, it completes the promise the body waits on; await:
  the terminal the workflow wrote), one process after the other. Baseline: the same process
  (start, signal, await through the host's process service, run by a ``ProcessRunner``) on the
  SQLite durable host (``synchronous=FULL``). Reported, not judged.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import trio

from benchmarks import bench_postgres, bench_store
from benchmarks.bench_durable_turn import STEPS, _handlers, _machine, _turns
from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, Sample, require
from lash_core.effects import (
    EffectEnvelope,
    LlmCallCommand,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolSpec,
    Usage,
)
from lash_core.effects.process import ProcessStart
from lash_core.effects.tools import Duration, PendingCompletion, ToolLaunchPending
from lash_core.errors import LashError
from lash_core.keys import KeySigner
from lash_core.process import ProcessContext, ProcessRunner, signal_request
from lash_core.process.records import (
    EngineInput,
    HostOriginator,
    ProcessEventType,
    ProcessIdentity,
    ProcessProvenance,
    ProcessRegistration,
    RecoveryDisposition,
    SuccessOutput,
)
from lash_core.resolution import ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.store import DurableStore
from lash_core.turn import TurnCompleted, TurnConfig, TurnHandlers, TurnMachine
from lash_core.wire import JsonValue, Ok
from lash_sqlite import SqliteStore
from lash_trio import open_durable_host

SECRET: Final = b"restate-bench-secret-0123456789abcdef"
USAGE: Final = Usage(50, 10)


@contextmanager
def _restate(
    service_name: str, handlers: object, processes: object = None
) -> Iterator[tuple[object, str] | None]:
    """A server and the service (``handlers(host)``, ``processes`` by name) served in a
    thread, registered: the client; ``None`` when the server is unavailable and not
    required."""
    try:
        from lash_restate import RestateTurns, TurnService
        from lash_restate.server import free_port, local_server
        from lash_restate.service import serving
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        if os.environ.get("LASH_REQUIRE_RESTATE") == "1":
            raise
        print(f"bench_restate: skipped ({exc})", flush=True)
        yield None
        return
    try:
        server_cm = local_server()
        server = server_cm.__enter__()
    except LashError as exc:
        if os.environ.get("LASH_REQUIRE_RESTATE") == "1":
            raise
        print(f"bench_restate: skipped ({exc})", flush=True)
        yield None
        return
    try:
        service = TurnService(
            service_name,
            handlers,  # type: ignore[arg-type]
            secret=SECRET,
            processes=processes,  # type: ignore[arg-type]
            ingress_url=server.ingress_url,
        )
        with serving(service, free_port()) as url:
            turns = RestateTurns(
                server.ingress_url, service_name, secret=SECRET, admin_url=server.admin_url
            )
            turns.register(url)
            yield turns, url
    finally:
        server_cm.__exit__(None, None, None)


@benchmark("restate_turn")
def restate_turn(ctx: Context) -> list[Figure]:
    """A scripted agent's turn on Restate vs on the SQLite durable host (turns per second)."""
    from lash_restate import RestateTurns

    steps = ctx.size(STEPS, 3)
    with _restate("lash_bench_turns", lambda host: _handlers(steps)) as found:
        if found is None:
            return []
        turns = found[0]
        assert isinstance(turns, RestateTurns)
        counter = [0]

        def subject(n: int) -> Body:
            first = counter[0]
            counter[0] += n

            def body() -> None:
                for i in range(first, first + n):
                    result = turns.result(turns.start(_machine(i)))
                    require(isinstance(result.outcome, TurnCompleted), "the turn completes")

            return body

        loops = ctx.size(5, 1)
        with (
            tempfile.TemporaryDirectory(prefix="lash-bench-") as directory,
            SqliteStore(Path(directory) / "agent.db") as store,
        ):
            sub, base = ctx.compare(subject, _turns_on(store, steps), loops=loops)
        figures = [
            ctx.figure(
                "restate_turn",
                sub,
                "the same turn on the SQLite durable host (synchronous=FULL)",
                base,
                detail={
                    "steps_per_turn": steps,
                    "effects_per_turn": 2 * steps + 1,
                    "restate_turns_per_s": 1e9 / sub.median_ns,
                    "sqlite_turns_per_s": 1e9 / base.median_ns,
                },
            )
        ]
        server = bench_postgres._server()
        if server is not None:
            schema = bench_postgres._schema()
            with bench_postgres._store(server.dsn, schema) as postgres:
                sub, base = ctx.compare(subject, _turns_on(postgres, steps), loops=loops)
            figures.append(
                ctx.figure(
                    "restate_turn_vs_postgres",
                    sub,
                    "the same turn on the Postgres durable host (synced commits)",
                    base,
                    detail={
                        "steps_per_turn": steps,
                        "restate_turns_per_s": 1e9 / sub.median_ns,
                        "postgres_turns_per_s": 1e9 / base.median_ns,
                    },
                )
            )
    return figures


def _turns_on(store: DurableStore, steps: int) -> Callable[[int], Body]:
    """The baseline's body factory: ``n`` more turns of the agent on a trio durable host over
    ``store`` (the SQLite file, or the run's Postgres server)."""
    counter = [0]

    def baseline(n: int) -> Body:
        first = counter[0]
        counter[0] += n

        async def main() -> None:
            async with open_durable_host(store, owner="bench") as host:
                await _turns(host, first, n, steps)

        return lambda: trio.run(main)

    return baseline


CONFIG: Final = TurnConfig(
    model="scripted",
    system_prompt="You wait for a confirmation.",
    tools=(ToolSpec("confirm", "Confirmed later.", {"type": "object"}),),
)


class _Waits:
    """The wake benchmark's service side: when each turn's tool has parked, and when its next
    model call started (``perf_counter_ns``, the system's monotonic clock)."""

    def __init__(self) -> None:
        self.parked: dict[str, threading.Event] = {}
        self.woke: dict[str, int] = {}

    def handlers(self, host: object) -> TurnHandlers:
        async def model(envelope: EffectEnvelope) -> LlmCallOutcome:
            command = envelope.command
            assert isinstance(command, LlmCallCommand)
            session = envelope.invocation.scope.session_id
            if len(command.request.messages) == 1:
                part = ToolCallPart("c1", "confirm", {})
                reply = LlmResponse(Message(Role.ASSISTANT, (part,)), USAGE, StopReason.TOOL_USE)
            else:
                self.woke.setdefault(session, time.perf_counter_ns())
                text = Message(Role.ASSISTANT, (TextPart("done"),))
                reply = LlmResponse(text, USAGE, StopReason.STOP)
            return LlmCallOutcome(Ok(reply), text_streamed=False)

        async def tools(envelope: EffectEnvelope) -> ToolAttemptOutcome:
            assert isinstance(envelope.command, ToolAttemptCommand)
            session = envelope.invocation.scope.session_id
            key = KeySigner(SECRET).mint(TurnScope(session, "t"), ToolCompletion("c1"))
            self.parked.setdefault(session, threading.Event()).set()
            pending = PendingCompletion(deadline=Duration(120, 0))
            return ToolAttemptOutcome(ToolLaunchPending(key, pending, 0))

        return TurnHandlers(model=model, tools=tools)


@benchmark("restate_resolve_to_wake")
def restate_resolve_to_wake(ctx: Context) -> list[Figure]:
    """Webhook resolve -> the waiting turn's next model call, on Restate vs SQLite's doorbell."""
    from lash_restate import RestateTurns

    count = ctx.size(30, 3)
    waits = _Waits()
    with _restate("lash_bench_wake", waits.handlers) as found:
        if found is None:
            return []
        turns = found[0]
        assert isinstance(turns, RestateTurns)
        latencies: list[float] = []
        run = f"{time.time_ns()}"
        for i in range(count):
            session = f"wake-{run}-{i}"
            parked = waits.parked.setdefault(session, threading.Event())
            ref = turns.start(
                TurnMachine(
                    CONFIG,
                    session_id=session,
                    turn_id="t",
                    turn_index=0,
                    messages=(Message(Role.USER, (TextPart("go"),)),),
                )
            )
            require(parked.wait(60), "the tool parked")
            key = KeySigner(SECRET).mint(TurnScope(session, "t"), ToolCompletion("c1"))
            t0 = time.perf_counter_ns()
            turns.resolve(key, ok(True))
            result = turns.result(ref)
            require(isinstance(result.outcome, TurnCompleted), "the turn completes")
            latencies.append(float(waits.woke[session] - t0))
    with tempfile.TemporaryDirectory(prefix="lash-bench-") as directory:
        db = Path(directory) / "wake.db"
        SqliteStore(db).close()
        delays = (1, 3)
        doorbell, _ = bench_store._wake_latencies(db, count, delays, poll=False)
    subject = Sample(len(latencies), (statistics.median(latencies),))
    base = Sample(len(doorbell), (statistics.median(doorbell),))
    return [
        ctx.figure(
            "restate_resolve_to_wake",
            subject,
            "SQLite doorbell, resolver in another process (store_wake, FULL)",
            base,
            detail={
                "op": "webhook resolve starts -> the waiting turn's next model call starts",
                "waits": count,
                "restate_p90_us": sorted(latencies)[int(0.9 * (count - 1))] / 1000,
            },
        )
    ]


def _job(process_id: str) -> ProcessRegistration:
    return ProcessRegistration(
        id=process_id,
        input=EngineInput("job", None),
        disposition=RecoveryDisposition.RERUNNABLE,
        identity=ProcessIdentity("job"),
        event_types=(ProcessEventType("signal.go"),),
        provenance=ProcessProvenance(HostOriginator()),
        env_ref="env:bench",
    )


@benchmark("restate_process")
def restate_process(ctx: Context) -> list[Figure]:
    """A process started, signalled and awaited on Restate vs on the SQLite durable host."""
    from lash_restate import RestateProcessContext, RestateProcesses, RestateTurns

    async def restate_job(process: RestateProcessContext) -> JsonValue:
        return await process.wait_signal("go")

    async def lash_job(process: ProcessContext) -> JsonValue:
        return await process.wait_signal("go")

    run = f"{time.time_ns()}"
    with _restate("lash_bench_procs", lambda host: _handlers(1), {"job": restate_job}) as found:
        if found is None:
            return []
        turns = found[0]
        assert isinstance(turns, RestateTurns)
        processes = RestateProcesses(turns.ingress_url, "lash_bench_procs")
        counter = [0]

        def subject(n: int) -> Body:
            first = counter[0]
            counter[0] += n

            def body() -> None:
                for i in range(first, first + n):
                    pid = f"job-{run}-{i}"
                    processes.start(_job(pid))
                    processes.signal(pid, "go", "s", i)
                    output = processes.await_terminal(pid)
                    require(output == SuccessOutput(i), "the process completes")

            return body

        with tempfile.TemporaryDirectory(prefix="lash-bench-") as directory:
            store = SqliteStore(Path(directory) / "processes.db")
            sqlite_counter = [0]

            def baseline(n: int) -> Body:
                first = sqlite_counter[0]
                sqlite_counter[0] += n

                async def main() -> None:
                    async with open_durable_host(store, owner="bench") as host:
                        service = host.processes
                        async with ProcessRunner(host, {"job": lash_job}).running():
                            for i in range(first, first + n):
                                pid = f"job-{i}"
                                await service.execute(ProcessStart(_job(pid)))
                                await service.execute(signal_request(pid, "go", "s", i))
                                output = await service.await_terminal(pid)
                                require(output == SuccessOutput(i), "the process completes")

                return lambda: trio.run(main)

            loops = ctx.size(10, 1)
            sub, base = ctx.compare(subject, baseline, loops=loops)
            store.close()
    return [
        ctx.figure(
            "restate_process",
            sub,
            "the same process on the SQLite durable host (synchronous=FULL)",
            base,
            detail={
                "op": "start, signal, await the terminal of one process",
                "restate_processes_per_s": 1e9 / sub.median_ns,
                "sqlite_processes_per_s": 1e9 / base.median_ns,
            },
        )
    ]
