"""Worlds drawn by Hypothesis give the same envelopes, results and resolver answers on the
simulator, on trio (``MockClock``) and on asyncio (the virtual clock).

Cancels and revocations land half a millisecond off the whole milliseconds every other event
happens on (``offset_ms=0.5``), so no two drivers may order them differently; the simulator's
own scheduling choices come from the same Hypothesis data.
"""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lash_asyncio import InlineEffectHost as AsyncioHost
from lash_asyncio.clock import VirtualClock
from lash_asyncio.clock import run as run_asyncio
from lash_core import InlineHost
from lash_core.canonical import canonical_text_of
from lash_core.demo_turn import DemoLine, run_demo_turn
from lash_core.sim import DataChoices, SeededChoices, SimHost, SimLoop
from lash_core.sim.host import derived_secret
from lash_core.sim.oracles import check_all
from lash_core.sim.world import (
    ModelStep,
    ProcessPlan,
    Recorder,
    SessionPlan,
    ToolPlan,
    TurnPlan,
    WorldPlan,
    WorldShape,
    draw_world,
    run_world,
)
from lash_core.wire import canonical_json
from lash_trio import InlineEffectHost as TrioHost

SHAPE = WorldShape(max_sessions=2, max_turns=2, max_steps=3, max_tools=3, offset_ms=0.5)
SECRET = derived_secret("world")


def _observed(recorder: Recorder) -> dict[str, Any]:
    """What must agree: each turn's envelopes (as a sorted multiset of canonical JSON), each
    turn's result, and every record of the trace in order of time (same-instant records in
    text order, each envelope's hand-out on its own)."""
    envelopes = {
        f"{s}/{t}": sorted(canonical_json(e) for e in es)
        for (s, t), es in sorted(recorder.envelopes.items())
    }
    results = {
        f"{r['session']}/{r['turn']}": r["result"]
        for r in recorder.records
        if r["ev"] == "turn_end"
    }
    records = sorted((r["at"], canonical_text_of(r)) for r in _one_key_per_emit(recorder.records))
    return {"envelopes": envelopes, "results": results, "records": records}


def _one_key_per_emit(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with each ``emit`` split by key: outcomes arriving at the same instant may
    be fed in one batch or several, in any order, so a driver may hand out their follow-up
    envelopes together or apart."""
    split: list[dict[str, Any]] = []
    for record in records:
        if record["ev"] == "emit":
            split += [{**record, "keys": [key]} for key in record["keys"]]
        else:
            split.append(record)
    return split


async def _run(plan: WorldPlan, host: InlineHost) -> Recorder:
    recorder = Recorder(host.primitives.now)
    await run_world(plan, host, recorder)
    return recorder


def _on_sim(plan: WorldPlan, data: st.DataObject) -> Recorder:
    loop = SimLoop(DataChoices(data))
    return loop.run(_run(plan, SimHost(loop, SECRET)))


def _on_trio(plan: WorldPlan) -> Recorder:
    async def main() -> Recorder:
        return await _run(plan, TrioHost(SECRET))

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _on_asyncio(plan: WorldPlan) -> Recorder:
    async def main() -> Recorder:
        return await _run(plan, AsyncioHost(SECRET))

    return run_asyncio(main(), clock=VirtualClock())


def test_the_turn_demo_is_the_same_on_the_simulator_and_trio() -> None:
    def lines_on(host: InlineHost, run: Any) -> list[DemoLine]:
        lines: list[DemoLine] = []
        run(host, lines.append)
        return lines

    loop = SimLoop()
    on_sim = lines_on(SimHost(loop, SECRET), lambda host, emit: loop.run(run_demo_turn(host, emit)))
    on_trio = lines_on(
        TrioHost(SECRET),
        lambda host, emit: trio.run(
            run_demo_turn, host, emit, clock=trio.testing.MockClock(autojump_threshold=0)
        ),
    )

    # Same-instant completions may be reported in either order; each instant holds the same.
    def by_instant(lines: list[DemoLine]) -> list[DemoLine]:
        return sorted(lines, key=lambda line: (line.at, line.kind, line.text))

    assert by_instant(on_sim) == by_instant(on_trio)
    assert on_sim[-1].kind == "result" and on_sim[-1].at == 0.2


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_sim_trio_and_asyncio_agree(data: st.DataObject) -> None:
    plan = draw_world(DataChoices(data), SHAPE)
    on_sim = _on_sim(plan, data)
    on_trio = _on_trio(plan)
    on_asyncio = _on_asyncio(plan)
    assert check_all(on_sim.records) == []
    assert check_all(on_trio.records) == []
    assert check_all(on_asyncio.records) == []
    assert _observed(on_sim) == _observed(on_trio)
    assert _observed(on_sim) == _observed(on_asyncio)


def test_same_instant_outcomes_handed_out_together_or_apart_agree() -> None:
    """Found by Hypothesis: two tools finishing at once (one pending, one failing and retried)
    let drivers hand out the follow-up envelopes in either order."""
    tools = (
        ToolPlan("ok", 3),
        ToolPlan("pending", 0, "on_time", 1, 2),
        ToolPlan("fail", 0),
    )
    turn = TurnPlan((ModelStep("tools", 0, 1, tools), ModelStep("answer")))
    plan = WorldPlan((SessionPlan("s0", 0, (turn,)),))
    expected = _observed(_on_trio(plan))
    assert _observed(_on_asyncio(plan)) == expected
    for seed in range(8):
        loop = SimLoop(SeededChoices(seed))
        on_sim = loop.run(_run(plan, SimHost(loop, SECRET)))
        assert _observed(on_sim) == expected


def test_processes_signalled_before_and_after_their_waits_and_cancelled_agree() -> None:
    """Two sessions' tool calls start processes: one gets its first signal before it waits and
    its second while it waits, one is cancelled while it waits, one completes before its
    cancel arrives. Every driver gives the same records."""
    signalled = ProcessPlan(("go", "go"), 3, (1.5, 6.5))
    cancelled = ProcessPlan(("more",), 0, (9.5,), cancel_at_ms=2.5)
    finished = ProcessPlan(("go",), 0, (0.5,), cancel_at_ms=4.5)
    tools = (ToolPlan("process", 1, process=signalled), ToolPlan("process", 0, process=cancelled))
    first = TurnPlan((ModelStep("tools", 0, 1, tools), ModelStep("answer")))
    second = TurnPlan((ModelStep("tools", 2, 1, (ToolPlan("process", 0, process=finished),)),))
    plan = WorldPlan((SessionPlan("s0", 0, (first,)), SessionPlan("s1", 1, (second,))))
    expected = _observed(_on_trio(plan))
    assert _observed(_on_asyncio(plan)) == expected
    for seed in range(8):
        loop = SimLoop(SeededChoices(seed))
        on_sim = loop.run(_run(plan, SimHost(loop, SECRET)))
        assert check_all(on_sim.records) == []
        assert _observed(on_sim) == expected
    records = [json.loads(text) for _, text in expected["records"]]
    ends = {r["pid"]: r["output"]["type"] for r in records if r["ev"] == "process_end"}
    assert ends == {"s0-t0-m0-c0": "success", "s0-t0-m0-c1": "cancelled", "s1-t0-m0-c0": "success"}
    signals = [(r["pid"], r["waiting"]) for r in records if r["ev"] == "signal"]
    assert ("s0-t0-m0-c0", None) in signals and ("s0-t0-m0-c0", 2) in signals
    resumed = [r["payload"] for r in records if r["ev"] == "process_resumed"]
    assert {"session": "s0", "signal": "s0-t0-m0-c0/1"} in resumed
