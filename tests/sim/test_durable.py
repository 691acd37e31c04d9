"""Durable worlds: sessions on a durable host over a memory store whose host crashes and
restarts. The same seed gives the same trace bytes; hundreds of seeds with crashes pass every
oracle, and the crashes land where they matter (an effect between its begin and its complete,
an outcome just recorded, a turn waiting on a key, a resolution arriving while no host runs);
each deliberate defect of the durable tier is found by a seed and shrunk by Hypothesis."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lash_core import codes
from lash_core.errors import LashError
from lash_core.sim.choices import DataChoices
from lash_core.sim.oracles import ORACLES
from lash_core.sim.run import SimReport, reproduce_command, simulate, simulate_seed
from lash_core.sim.world import WorldShape
from tests.sim.defects import DURABLE_DEFECTS

CRASHY = WorldShape(durable=True, crash_percent=60)
SEEDS = 300
HUNT = WorldShape(
    max_sessions=2,
    max_turns=1,
    max_steps=2,
    max_tools=2,
    fault_percent=80,
    durable=True,
    crash_percent=80,
)
"""A smaller, faultier, crashier durable world for the hunt: shrinking is quick."""


def test_a_durable_seed_gives_identical_trace_bytes_twice() -> None:
    for seed in (0, 7, 42):
        first = simulate_seed(seed, CRASHY)
        assert any(r["ev"] == "crash" for r in first.records) or seed != 42
        assert simulate_seed(seed, CRASHY).trace_bytes() == first.trace_bytes()


def test_a_durable_world_without_crashes_resumes_nothing() -> None:
    shape = WorldShape(durable=True)
    for seed in range(50):
        report = simulate_seed(seed, shape)
        assert not report.failed, report.describe()
        events = Counter(r["ev"] for r in report.records)
        assert events["crash"] == events["resume"] == events["replay"] == 0
        assert events["host_up"] == 1
        assert all(not r["in_doubt"] for r in report.records if r["ev"] == "handler")


def _crash_points(report: SimReport) -> Counter[str]:
    """Where each crash landed: ``mid_effect`` (a handler ran, its outcome not yet recorded),
    ``after_outcome`` (right after an outcome was recorded), ``mid_wait`` (a turn waiting on a
    key it was handed), and resolutions ``accepted_while_down``."""
    points: Counter[str] = Counter()
    running: set[str] = set()
    waiting: set[str] = set()
    down = False
    previous: dict[str, Any] = {}
    for record in report.records:
        ev = record["ev"]
        if ev == "handler":
            running.add(record["key"])
        elif ev == "emit":
            waiting |= {k for k in record["keys"] if k.endswith(":await")}
        elif ev == "effect":
            running.discard(record["key"])
            waiting.discard(record["key"])
        elif ev == "crash":
            down = True
            points["mid_effect"] += bool(running)
            points["mid_wait"] += bool(waiting)
            points["after_outcome"] += previous.get("ev") == "effect" and (
                previous["at"] == record["at"]
            )
            running, waiting = set(), set()
        elif ev == "host_up":
            down = False
        elif ev == "resolve" and down and record["outcome"]["status"] == "accepted":
            points["accepted_while_down"] += 1
        previous = record
    return points


def test_hundreds_of_crashing_durable_seeds_pass_every_oracle() -> None:
    names = {o.name for o in ORACLES}
    assert {"no_recorded_effect_reruns", "no_accepted_resolution_lost"} <= names
    points: Counter[str] = Counter()
    events: Counter[str] = Counter()
    for seed in range(SEEDS):
        report = simulate_seed(seed, CRASHY)
        assert not report.failed, report.describe()
        points += _crash_points(report)
        events.update(r["ev"] for r in report.records)
        events["in_doubt"] += sum(
            1 for r in report.records if r["ev"] == "handler" and r["in_doubt"]
        )
    # The crashes land everywhere the oracles care about, and turns really resume.
    assert min(points[p] for p in ("mid_effect", "after_outcome", "mid_wait")) >= 10, points
    assert points["accepted_while_down"] >= 5, points
    assert events["resume"] >= SEEDS // 2 and events["replay"] >= SEEDS, events
    assert events["in_doubt"] >= 20, events


def test_crashes_need_a_durable_world() -> None:
    with pytest.raises(LashError) as caught:
        WorldShape(crash_percent=10)
    assert caught.value.code == codes.SIM_WORLD_SHAPE_INVALID
    assert "needs a durable world" in caught.value.message


def test_the_reproduce_command_names_the_durable_flags() -> None:
    assert reproduce_command(5, CRASHY) == "lash sim --seed 5 --durable --crashes 60"
    assert reproduce_command(5, WorldShape(durable=True)) == "lash sim --seed 5 --durable"


@pytest.mark.parametrize("defect", sorted(DURABLE_DEFECTS))
def test_a_crashing_seed_finds_the_durable_defect(
    defect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, oracle = DURABLE_DEFECTS[defect]
    apply(monkeypatch)
    for seed in range(SEEDS):
        report = simulate_seed(seed, CRASHY)
        if report.failed:
            break
    else:
        pytest.fail(f"no seed below {SEEDS} finds {defect}")
    assert oracle in {v.oracle for v in report.violations}, report.describe()
    assert f"reproduce with: lash sim --seed {seed} --durable --crashes 60" in report.describe()
    again = simulate_seed(seed, CRASHY)
    assert again.trace_bytes() == report.trace_bytes()
    assert again.violations == report.violations


@pytest.mark.parametrize("defect", sorted(DURABLE_DEFECTS))
def test_hypothesis_shrinks_the_failing_durable_world(
    defect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, oracle = DURABLE_DEFECTS[defect]
    apply(monkeypatch)
    runs: list[SimReport] = []

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def probe(data: st.DataObject) -> None:
        report = simulate(DataChoices(data), HUNT)
        runs.append(report)
        assert not report.failed, report.describe()

    with pytest.raises(AssertionError):
        probe()
    shrunk = runs[-1]  # Hypothesis re-runs the minimal example last
    assert shrunk.failed
    assert oracle in {v.oracle for v in shrunk.violations}, (shrunk.describe(), shrunk.plan)
    first = next(r for r in runs if r.failed)
    assert shrunk.plan.size <= first.plan.size
    # One crash and one small turn are enough to show either defect.
    assert len(shrunk.plan.crashes) == 1, shrunk.plan
    assert shrunk.plan.size <= 8, shrunk.plan


def test_lash_sim_runs_durable_worlds_with_crashes(capsys: pytest.CaptureFixture[str]) -> None:
    from lash_cli import main

    assert main(["sim", "--seeds", "20", "--durable", "--crashes", "60"]) == 0
    out = capsys.readouterr().out
    assert "; durable, 60% host crashes" in out
    reports = [simulate_seed(seed, CRASHY) for seed in range(20)]
    assert f"faults injected  {sum(r.faults for r in reports):>10,}" in out
    assert sum(len(r.plan.crashes) for r in reports) > 0
    # Crashes without a durable world are refused, with the coded error.
    assert main(["sim", "--seeds", "1", "--crashes", "10"]) == 2
    assert "sim_world_shape_invalid" in capsys.readouterr().err


# -- the two durable oracles, rule by rule ---------------------------------------------------

W = {"session": "s0", "turn": "s0-t0"}
OUT = {"status": "ok", "payload": {"session": "s0"}}


def _handler(
    at: int, key: str = "k", attempt: int = 1, doubt: bool = False, idem: str = "k"
) -> Any:
    return {
        "at": at,
        "ev": "handler",
        "key": key,
        "kind": "tool_attempt",
        "attempt": attempt,
        "in_doubt": doubt,
        "idempotency_key": idem,
        **W,
    }


def _effect(at: int, outcome: Any = OUT) -> Any:
    return {"at": at, "ev": "effect", "key": "k", "kind": "tool_attempt", "outcome": outcome, **W}


CRASH = [{"at": 2, "ev": "crash", "host": 1}, {"at": 3, "ev": "resume", "host": 2, **W}]


def _reruns(records: list[Any]) -> list[str]:
    from lash_core.sim.oracles import check_all

    return [v.message for v in check_all(records) if v.oracle == "no_recorded_effect_reruns"]


def test_an_effect_cut_off_by_a_crash_runs_once_more_in_doubt() -> None:
    records = [_handler(0), *CRASH, _handler(3, attempt=2, doubt=True), _effect(4)]
    assert _reruns(records) == []


@pytest.mark.parametrize(
    ("records", "finding"),
    [
        ([_handler(0), *CRASH, _handler(3, attempt=2)], "ran again after a crash but not in doubt"),
        (
            [_handler(0), *CRASH, _handler(3, attempt=2, doubt=True, idem="other")],
            "ran again in doubt with idempotency key other",
        ),
        ([_handler(0), _handler(1, attempt=2, doubt=True)], "ran again with no crash since"),
        ([_handler(0), _effect(1), *CRASH, _handler(3, attempt=2, doubt=True)], "was recorded"),
        (
            [
                *CRASH,
                {"at": 3, "ev": "replay", "key": "k", "kind": "tool_attempt", "outcome": OUT, **W},
            ],
            "replayed an outcome that was never recorded",
        ),
        (
            [
                _handler(0),
                _effect(1),
                *CRASH,
                {"at": 3, "ev": "replay", "key": "k", "kind": "tool_attempt", "outcome": {}, **W},
            ],
            "replayed {}",
        ),
    ],
)
def test_each_rerun_rule_is_checked(records: list[Any], finding: str) -> None:
    found = _reruns(records)
    assert len(found) == 1 and finding in found[0], found


def test_an_accepted_resolution_the_ended_turn_never_saw_is_lost() -> None:
    from lash_core.sim.oracles import check_all

    resolve = {
        "at": 1,
        "ev": "resolve",
        "call": "c",
        "how": "real",
        "resolution": OUT,
        "outcome": {"status": "accepted"},
        "before": None,
        "after": None,
        **W,
    }
    result = {"outcome": {"status": "finished"}, "messages": [], "usage": {}}
    end = {"at": 9, "ev": "turn_end", "result": result, **W}
    found = [v for v in check_all([resolve, end]) if v.oracle == "no_accepted_resolution_lost"]
    assert len(found) == 1 and "never saw it" in found[0].message
    # A turn that was cancelled may never consume it.
    cancel = {"at": 2, "ev": "cancel", **W}
    found = [
        v for v in check_all([resolve, cancel, end]) if v.oracle == "no_accepted_resolution_lost"
    ]
    assert found == []
