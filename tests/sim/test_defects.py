"""The oracles bite: each deliberate defect in the core is found by a seed within a bounded
budget, and Hypothesis, drawing the same world from its own data, shrinks it to a small world
that still fails when re-run."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lash_core.sim.choices import DataChoices
from lash_core.sim.run import SimReport, simulate, simulate_seed
from lash_core.sim.world import WorldShape
from tests.sim.defects import DEFECTS

SEED_BUDGET = 300
HUNT = WorldShape(max_sessions=2, max_turns=1, max_steps=2, max_tools=2, fault_percent=80)
"""A smaller, faultier world for the hunt: fewer choices, so shrinking is quick."""


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_seed_finds_the_defect(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apply, oracle = DEFECTS[defect]
    apply(monkeypatch)
    for seed in range(SEED_BUDGET):
        report = simulate_seed(seed)
        if report.failed:
            break
    else:
        pytest.fail(f"no seed below {SEED_BUDGET} finds {defect}")
    assert oracle in {v.oracle for v in report.violations}, report.describe()
    assert f"reproduce with: lash sim --seed {seed}" in report.describe()
    # The failing seed reproduces: the same trace, the same violations.
    again = simulate_seed(seed)
    assert again.trace_bytes() == report.trace_bytes()
    assert again.violations == report.violations


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_hypothesis_shrinks_the_failing_world(defect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apply, oracle = DEFECTS[defect]
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
    # At most two turns and two tool calls: the failing turn, beside at most one trivial
    # session the failing one's name depends on.
    turns = [t for s in shrunk.plan.sessions for t in s.turns]
    assert len(turns) <= 2
    assert sum(len(step.tools) for t in turns for step in t.steps) <= 2
    assert shrunk.plan.size <= 10, shrunk.plan
