"""The simulator's traces are a fixed point of refactoring: 2,000 seeds of the default world
give the same trace bytes as they did before the host, ``run_turn`` and the effect kinds were
redesigned (a change of behaviour anywhere along an envelope's path changes this digest)."""

from __future__ import annotations

import hashlib
from typing import Final

from lash_core.sim.run import simulate_seed

SEEDS: Final = 2000
DIGEST: Final = "88cd87610e4075033abdc8fa72fd8b71724dc8e10140e982b36825af92664697"
"""sha256 over ``simulate_seed(s).trace_bytes()`` for ``s`` in ``range(SEEDS)``, in order."""


def test_two_thousand_seed_traces_are_byte_identical() -> None:
    digest = hashlib.sha256()
    failing = []
    for seed in range(SEEDS):
        report = simulate_seed(seed)
        if report.failed:
            failing.append(seed)
        digest.update(report.trace_bytes())
    assert failing == []
    assert digest.hexdigest() == DIGEST
