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

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.sim.choices import ChoiceSource, DataChoices, SeededChoices
from lash_core.sim.oracles import ORACLES, Violation, check_all
from lash_core.sim.run import SimReport, reproduce_command, simulate, simulate_seed
from lash_core.sim.world import DEFAULT_SHAPE, WorldPlan, WorldShape, draw_world


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
    ):
        assert seen[what] > 0, (what, seen)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_worlds_drawn_by_hypothesis_pass_every_oracle(data: st.DataObject) -> None:
    report = simulate(DataChoices(data))
    assert not report.failed, report.describe()


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
}


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
