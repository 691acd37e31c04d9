"""Simulated worlds: deterministic traces, every oracle holding on the real core, worlds drawn
from Hypothesis, and each oracle able to fail."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lash_core import LocalProtocolError, codes
from lash_core.sim.choices import ChoiceSource, DataChoices, SeededChoices
from lash_core.sim.host import SimHost
from lash_core.sim.loop import SimLoop
from lash_core.sim.oracles import ORACLES, Violation, check_all
from lash_core.sim.run import SimReport, reproduce_command, simulate, simulate_seed
from lash_core.sim.world import (
    DEFAULT_SHAPE,
    MAX_LATENCY_MS,
    PATIENCE_FACTOR,
    PROCESS_PATIENCE_S,
    ModelStep,
    ProcessPlan,
    Recorder,
    SessionPlan,
    ToolPlan,
    TurnPlan,
    WorldPlan,
    WorldShape,
    draw_world,
    process_patience_s,
    run_world,
)


class _Zeros:
    def below(self, n: int) -> int:
        return 0


def test_the_same_seed_gives_byte_identical_traces() -> None:
    first = [simulate_seed(seed).trace_bytes() for seed in range(200)]
    again = [simulate_seed(seed).trace_bytes() for seed in range(200)]
    assert first == again
    assert len(set(first)) == 200


def test_traces_do_not_depend_on_hash_randomization() -> None:
    """Nothing iterates in hash order: other hash seeds give the same bytes."""
    script = (
        "import hashlib, sys\n"
        "from lash_core.sim.run import simulate_seed\n"
        "digest = hashlib.sha256()\n"
        "for seed in range(60):\n"
        "    digest.update(simulate_seed(seed).trace_bytes())\n"
        "sys.stdout.write(digest.hexdigest())\n"
    )
    digest = hashlib.sha256()
    for seed in range(60):
        digest.update(simulate_seed(seed).trace_bytes())
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        assert done.stdout == digest.hexdigest()


def test_the_core_passes_every_oracle_and_the_worlds_exercise_it() -> None:
    seen: Counter[str] = Counter()
    for seed in range(300):
        report = simulate_seed(seed)
        assert not report.failed, report.describe()
        for record in report.records:
            if record["ev"] == "turn_end":
                outcome = record["result"]["outcome"]
                seen[outcome.get("reason", outcome["status"])] += 1
            elif record["ev"] == "resolve":
                seen[f"resolve {record['how']} {record['outcome']['status']}"] += 1
            elif record["ev"] in ("revoke", "cancel"):
                seen[record["ev"]] += 1
                if "receipt" in record:
                    seen[f"cancel {record['receipt']['outcome']}"] += 1
            elif record["ev"] == "gate":
                seen[f"gate {record['winner']}"] += 1
            elif record["ev"] == "turn_failed":
                seen[f"turn_failed {record['code']}"] += 1
            elif record["ev"] == "handler":
                seen[f"handler {record['kind']}"] += 1
            elif record["ev"] == "process_start":
                seen["process started"] += 1
            elif record["ev"] == "signal":
                if record["waiting"] is not None:
                    seen["signal to a waiting process"] += 1
                elif record["state"] == "running":
                    seen["early signal"] += 1
            elif record["ev"] == "process_end":
                seen[f"process {record['output']['type']}"] += 1
            elif record["ev"] == "process_cancel":
                seen[f"process cancel while {record['state']}"] += 1
    # The worlds reach the interesting corners, not just happy paths.
    for what in (
        "finished",
        "cancelled",
        "provider_error",
        "incomplete",
        "runtime_error",
        "handler exec_code",
        "handler checkpoint",
        "cancel",
        "revoke",
        "resolve forged unknown_or_revoked",
        "resolve tampered unknown_or_revoked",
        "resolve second already_resolved",
        "resolve real accepted",
        "gate completion",
        "gate cancel",
        "cancel requested",
        "turn_failed turn_control_unknown_or_revoked",
        "process started",
        "early signal",
        "signal to a waiting process",
        "process success",
        "process cancelled",
        "process cancel while running",
        "process cancel while completed",
    ):
        assert seen[what] > 0, (what, seen)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_worlds_drawn_by_hypothesis_pass_every_oracle(data: st.DataObject) -> None:
    report = simulate(DataChoices(data))
    assert not report.failed, report.describe()


@pytest.mark.parametrize("seed", range(6))
def test_a_controlled_turn_cancelled_as_its_session_is_revoked_stops_at_once(seed: int) -> None:
    """Found by Hypothesis: a controlled turn finishing its tool round as its cancel and its
    session's revocation land at the same instant. The cancel's commit is refused; the turn
    still stops at that instant and fails to commit, and the world runs to its end."""
    tools = (ToolPlan("ok", 1),)
    steps = (ModelStep("tools", 1, 1, tools), ModelStep("answer", 1))
    turn = TurnPlan(steps, cancel_at_ms=2.0, controlled=True)
    plan = WorldPlan((SessionPlan("s0", 0, (turn,), revoke_at_ms=2.0),))
    loop = SimLoop(SeededChoices(seed))
    recorder = Recorder(loop.now)
    loop.run(run_world(plan, SimHost(loop, label="world"), recorder))
    assert check_all(recorder.records) == []
    ends = [(r["ev"], r["at"]) for r in recorder.records if r["ev"].startswith("turn_")]
    assert ends[0] == ("turn_start", 0)
    assert ends[-1][1] == 2000


def _run_plan(plan: WorldPlan, seed: int) -> list[dict[str, Any]]:
    loop = SimLoop(SeededChoices(seed))
    recorder = Recorder(loop.now)
    loop.run(run_world(plan, SimHost(loop, label="world"), recorder))
    assert check_all(recorder.records) == []
    return recorder.records


def _process_world(tool: ToolPlan, cancel_at_ms: float | None = None) -> WorldPlan:
    turn = TurnPlan((ModelStep("tools", 0, 1, (tool,)), ModelStep("answer")), cancel_at_ms)
    return WorldPlan((SessionPlan("s0", 0, (turn,)),))


def test_a_signal_arriving_as_the_process_finds_an_earlier_one_is_not_lost() -> None:
    """Found by a seed: the first ``go`` is sent before the process waits; the second arrives
    at the instant the process starts its first wait, which has found the first signal but not
    yet resumed. The second signal answers the second wait, on every schedule."""
    tool = ToolPlan("process", 0, process=ProcessPlan(("go", "go"), 5, (2.0, 5.0)))
    schedules = set()
    for seed in range(16):
        records = _run_plan(_process_world(tool), seed)
        resumed = [r["payload"]["signal"] for r in records if r["ev"] == "process_resumed"]
        assert resumed == ["s0-t0-m0-c0/1", "s0-t0-m0-c0/2"]
        schedules.add(tuple(r["ev"] for r in records if r["at"] == 5000 and "pid" in r))
    assert len(schedules) > 1  # the sender and the process met in both orders


def test_a_process_started_as_its_turn_is_cancelled_still_ends() -> None:
    """Found by a seed: the turn is cancelled at the instant its tool call's process start
    returns. The process still gets its signal and ends, and the world runs to its end."""
    tool = ToolPlan("process", 3, process=ProcessPlan(("go",), 1, (4.0,)))
    for seed in range(16):
        records = _run_plan(_process_world(tool, cancel_at_ms=3.0), seed)
        ends = [r["output"]["type"] for r in records if r["ev"] == "process_end"]
        assert ends == ["success"]


def test_all_zero_choices_give_the_plainest_world() -> None:
    plan = draw_world(_Zeros())
    assert plan.size == 3  # one session, one turn, one model step
    assert plan.faults == 0
    report = simulate(_Zeros())
    ends = [r for r in report.records if r["ev"] == "turn_end"]
    assert [e["result"]["outcome"]["status"] for e in ends] == ["finished"]


def test_seeded_choices_are_a_pure_function_of_the_seed() -> None:
    def draws(source: ChoiceSource) -> list[int]:
        return [source.below(n) for n in (2, 3, 10, 1000, 7) * 20]

    assert draws(SeededChoices(5)) == draws(SeededChoices(5))
    assert draws(SeededChoices(5)) != draws(SeededChoices(6))
    assert all(
        0 <= v < n for v, n in zip(draws(SeededChoices(9)), (2, 3, 10, 1000, 7) * 20, strict=True)
    )
    with pytest.raises(ValueError):
        SeededChoices(-1)


def test_the_reproduce_command_names_the_seed_and_the_shape() -> None:
    assert reproduce_command(42) == "lash sim --seed 42"
    shape = WorldShape(max_sessions=5, fault_percent=80)
    assert reproduce_command(7, shape) == "lash sim --seed 7 --sessions 5 --faults 80"
    report = simulate_seed(3)
    assert report.reproduce() == "lash sim --seed 3"


# -- each oracle can fail ---------------------------------------------------------------------

W = {"session": "s0", "turn": "s0-t0"}
OK = {"status": "ok", "payload": {"session": "s0"}}
USAGE = {"input_tokens": 1, "output_tokens": 1}


def _end(reason: str | None = None, messages: list[Any] | None = None, usage: Any = None) -> Any:
    outcome = {"status": "stopped", "reason": reason} if reason else {"status": "finished"}
    result = {"outcome": outcome, "messages": messages or [], "usage": usage or {}}
    return {"at": 9, "ev": "turn_end", "result": result, **W}


def _resolve(status: str, how: str = "real", terminal: Any = OK, at: int = 1) -> Any:
    outcome: dict[str, Any] = {"status": status}
    if status == "already_resolved":
        outcome["terminal"] = terminal
    return {
        "at": at,
        "ev": "resolve",
        "call": "c",
        "how": how,
        "resolution": OK,
        "outcome": outcome,
        "before": None,
        "after": None,
        **W,
    }


BROKEN: dict[str, list[dict[str, Any]]] = {
    "one_terminal_per_key": [_resolve("accepted"), _resolve("accepted")],
    "every_effect_answered_once": [
        {"at": 0, "ev": "emit", "keys": ["k1", "k2"], **W},
        {"at": 1, "ev": "effect", "key": "k1", "kind": "llm_call", "outcome": {}, **W},
        _end(),
    ],
    "nothing_after_the_terminal": [
        _end(),
        {"at": 10, "ev": "handler", "key": "k", "kind": "llm_call", **W},
    ],
    "tool_results_in_call_order": [
        _end(
            messages=[
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "tool_call", "call_id": "a"},
                        {"type": "tool_call", "call_id": "b"},
                    ],
                },
                {"role": "tool", "parts": [{"call_id": "b"}, {"call_id": "a"}]},
            ]
        )
    ],
    "usage_never_decreases": [
        {"at": 1, "ev": "event", "event": {"type": "usage", "usage": USAGE, "total": USAGE}, **W},
        _end(usage={"input_tokens": 0, "output_tokens": 1}),
    ],
    "sessions_stay_apart": [
        {
            "at": 1,
            "ev": "effect",
            "key": "k",
            "kind": "tool_attempt",
            "outcome": {"output": {"session": "s1"}},
            **W,
        },
    ],
    "forged_keys_change_nothing": [{**_resolve("accepted", how="forged"), "after": OK}],
    "wake_ups_are_delivered": [
        {"at": 0, "ev": "emit", "keys": ["w"], **W},
        _resolve("accepted", at=1),
        {
            "at": 5,
            "ev": "effect",
            "key": "w",
            "kind": "await_event",
            "call": "c",
            "outcome": {"resolution": OK},
            **W,
        },
    ],
    "cancelled_only_when_asked": [_end("cancelled")],
    "revocation_is_final": [
        {"at": 0, "ev": "revoke", "session": "s0", "newly": True},
        _resolve("accepted", at=1),
    ],
    "outcome_agrees_with_the_cancel_gate": [
        _end(),
        {"at": 10, "ev": "gate", "winner": "cancel", **W},
    ],
    "cancel_is_prompt": [
        {"at": 3, "ev": "cancel", **W},
        {"at": 4, "ev": "event", "event": {"type": "turn_outcome", "outcome": {}}, **W},
    ],
    # A restarted host ran an effect whose outcome an earlier host recorded.
    "no_recorded_effect_reruns": [
        {"at": 0, "ev": "emit", "keys": ["k"], **W},
        {"at": 0, "ev": "handler", "key": "k", "kind": "llm_call", **W},
        {"at": 1, "ev": "effect", "key": "k", "kind": "llm_call", "outcome": OK, **W},
        {"at": 2, "ev": "crash", "host": 1},
        {"at": 3, "ev": "resume", "host": 2, **W},
        {"at": 3, "ev": "emit", "keys": ["k"], **W},
        {"at": 3, "ev": "handler", "key": "k", "kind": "llm_call", **W},
    ],
    # An accepted resolution, and the turn's wait ended with a timeout.
    "no_accepted_resolution_lost": [
        _resolve("accepted", at=1),
        {
            "at": 5,
            "ev": "effect",
            "key": "w",
            "kind": "await_event",
            "call": "c",
            "outcome": {"resolution": {"status": "timeout"}},
            **W,
        },
    ],
}


P = {"pid": "p", "session": "s0"}
SUCCESS = {"type": "success", "value": {"session": "s0", "got": []}}
CANCELLED = {"type": "cancelled", "message": "process cancelled: sim"}


def _signal(at: int, payload: Any, name: str = "go") -> Any:
    return {"at": at, "ev": "signal", "name": name, "payload": payload, "waiting": None, **P}


def _wait(at: int, ordinal: int = 1, name: str = "go") -> Any:
    return {"at": at, "ev": "process_wait", "name": name, "ordinal": ordinal, **P}


def _resumed(at: int, payload: Any, ordinal: int = 1, name: str = "go") -> Any:
    record = {"at": at, "ev": "process_resumed", "name": name, "ordinal": ordinal}
    return {**record, "payload": payload, **P}


def _process_end(at: int, output: Any = SUCCESS) -> Any:
    return {"at": at, "ev": "process_end", "output": output, **P}


PROCESS_START = {"at": 0, "ev": "process_start", "waits": ["go"], **P, "turn": "s0-t0"}

BROKEN_PROCESSES: dict[str, list[dict[str, Any]]] = {
    "one_terminal_per_process": [
        PROCESS_START,
        _process_end(5),
        {"at": 9, "ev": "process_log", "pid": "p", "terminals": ["process.completed"] * 2},
    ],
    # The second signal's payload reaches the first wait (a signal sent before the wait).
    "signals_resume_waits_in_order": [
        PROCESS_START,
        _signal(1, {"n": 1}),
        _signal(2, {"n": 2}),
        _wait(3),
        _resumed(3, {"n": 2}),
    ],
    "cancelled_processes_end_cancelled": [
        PROCESS_START,
        {"at": 4, "ev": "process_cancel", "state": "running", **P},
        _process_end(4, {"type": "failure", "code": "x", "class": "process", "message": "x"}),
    ],
    "processes_stay_in_their_session": [
        PROCESS_START,
        {"at": 5, "ev": "process_awaited", "output": SUCCESS, "pid": "p", **W, "session": "s1"},
    ],
}
BROKEN.update(BROKEN_PROCESSES)


@pytest.mark.parametrize(
    ("name", "records"),
    [
        # A wait whose signal was sent never resumes.
        ("signals_resume_waits_in_order", [PROCESS_START, _wait(1), _signal(2, 7)]),
        # It resumes late, or with no signal sent at all.
        ("signals_resume_waits_in_order", [PROCESS_START, _wait(1), _signal(2, 7), _resumed(3, 7)]),
        ("signals_resume_waits_in_order", [PROCESS_START, _wait(1), _resumed(3, 7)]),
        # No terminal, or an await answering another terminal than the process's.
        ("one_terminal_per_process", [PROCESS_START]),
        (
            "one_terminal_per_process",
            [
                PROCESS_START,
                _process_end(3),
                {"at": 4, "ev": "process_awaited", "output": CANCELLED, **P, "turn": "s0-t0"},
            ],
        ),
        # Cancelled with no cancel requested, or later than the request.
        ("cancelled_processes_end_cancelled", [PROCESS_START, _process_end(3, CANCELLED)]),
        (
            "cancelled_processes_end_cancelled",
            [
                PROCESS_START,
                {"at": 2, "ev": "process_cancel", "state": "running", **P},
                _process_end(3, CANCELLED),
            ],
        ),
        # Asked to cancel while running, it completed later anyway.
        (
            "cancelled_processes_end_cancelled",
            [
                PROCESS_START,
                {"at": 2, "ev": "process_cancel", "state": "running", **P},
                _process_end(3),
            ],
        ),
        # A process resumed with another session's signal.
        ("processes_stay_in_their_session", [PROCESS_START, _resumed(2, {"session": "s1"})]),
    ],
)
def test_each_process_promise_is_checked(name: str, records: list[dict[str, Any]]) -> None:
    assert name in {v.oracle for v in check_all(records)}


def test_a_signal_before_its_wait_and_a_cancel_after_the_terminal_are_fine() -> None:
    records = [
        PROCESS_START,
        _signal(1, {"session": "s0", "n": 1}),
        _wait(3),
        _resumed(3, {"session": "s0", "n": 1}),
        _process_end(3),
        {"at": 4, "ev": "process_cancel", "state": "completed", **P},
        {"at": 5, "ev": "process_log", "pid": "p", "terminals": ["process.completed"]},
    ]
    assert check_all(records) == []


def test_a_handler_run_twice_is_caught() -> None:
    run = {"at": 0, "ev": "handler", "key": "k1", "kind": "llm_call", **W}
    found = check_all([{"at": 0, "ev": "emit", "keys": ["k1"], **W}, run, run])
    assert [v.oracle for v in found] == ["every_effect_answered_once"] * 2


@pytest.mark.parametrize("name", [o.name for o in ORACLES])
def test_each_oracle_bites_on_a_broken_trace(name: str) -> None:
    found = {v.oracle for v in check_all(BROKEN[name])}
    assert name in found


def test_a_clean_trace_has_no_violations() -> None:
    report = simulate_seed(11)
    assert check_all(list(report.records)) == []


def _report(plan: WorldPlan) -> SimReport:
    return SimReport(plan, DEFAULT_SHAPE, (), (Violation("an_oracle", "what it saw"),), 0, 1)


def test_a_report_describes_its_violations_with_the_command() -> None:
    report = simulate_seed(1)
    assert not report.failed
    assert report.effects > 0 and report.oracles_checked == len(ORACLES)
    assert report.trace_lines()[0].startswith('{"ev":"world","seed":1,"plan":')
    broken = _report(report.plan)
    assert broken.failed
    assert broken.describe() == "an_oracle: what it saw\nreproduce with: lash sim --seed 1"


def test_an_unusable_world_shape_is_refused() -> None:
    with pytest.raises(LocalProtocolError) as info:
        WorldShape(max_tools=0, max_latency_ms=-1, offset_ms=1.0)
    assert info.value.code == codes.SIM_WORLD_SHAPE_INVALID
    assert info.value.message == (
        "max_tools must be at least 1; max_latency_ms must not be negative; "
        "offset_ms must be at least 0 and below 1"
    )


# -- slow and instant worlds ------------------------------------------------------------------


def test_latency_100000_gives_processes_patience_to_match() -> None:
    """Once failed two oracles: a process gave up on its signal after a fixed 60 s, though the
    signal was planned (and sent) later than that in a world of 100 s latencies."""
    shape = WorldShape(max_latency_ms=100_000)
    for seed in (13, 23, 38, 85, 91):
        report = simulate_seed(seed, shape)
        assert report.violations == ()
        latest = max(
            tool.process.signal_ms[-1]
            for session in report.plan.sessions
            for turn in session.turns
            for step in turn.steps
            for tool in step.tools
            if tool.process is not None
        )
        assert latest > 60_000  # the old patience was too short for this world
        assert process_patience_s(report.plan) == PATIENCE_FACTOR * latest / 1000


def test_default_worlds_keep_the_fixed_patience() -> None:
    """Patience grows only past the 60 s floor, which default worlds never reach, so their
    traces are what they were before patience followed the latency."""
    for seed in range(2000):
        plan = draw_world(SeededChoices(seed))
        assert process_patience_s(plan) == PROCESS_PATIENCE_S


def test_latency_0_draws_and_runs_a_world() -> None:
    """Once raised ``ValueError: below(n) needs n >= 1`` drawing a late process signal."""
    shape = WorldShape(max_latency_ms=0)
    for seed in (6, 12, 22, 37, 40):
        report = simulate_seed(seed, shape)
        assert report.violations == ()
        tools = [t for s in report.plan.sessions for u in s.turns for m in u.steps for t in m.tools]
        assert any(t.process is not None and t.process.wait_ms == 0 for t in tools)


def test_a_latency_beyond_the_bound_is_refused() -> None:
    WorldShape(max_latency_ms=MAX_LATENCY_MS)
    with pytest.raises(LocalProtocolError) as info:
        WorldShape(max_latency_ms=MAX_LATENCY_MS + 1)
    assert info.value.code == codes.SIM_WORLD_SHAPE_INVALID
    assert info.value.message == f"max_latency_ms must be at most {MAX_LATENCY_MS}"


def test_a_summary_keeps_only_the_failures_it_is_asked_to() -> None:
    """``lash sim`` over many seeds kept every failing report (with its whole trace)."""
    from lash_core.sim.run import SimSummary

    broken = _report(simulate_seed(1).plan)
    summary = SimSummary(keep=2)
    for _ in range(5):
        summary.add(broken)
    summary.add(simulate_seed(2))
    assert summary.seeds == 6 and summary.failed == 5
    assert summary.failures == [broken, broken]
    assert dict(summary.table())["failures"] == 5
    every = SimSummary()
    every.add(broken)
    every.add(broken)
    assert len(every.failures) == 2
