"""The simulator's traces are a fixed point of refactoring: 2,000 seeds of the default world
give the same trace bytes as they did before the host, ``run_turn`` and the effect kinds were
redesigned (a change of behaviour anywhere along an envelope's path changes this digest)."""

from __future__ import annotations

import hashlib
from typing import Final

from lash_core.sim.run import simulate_seed

SEEDS: Final = 2000
DIGEST: Final = "c34da926bf64c44e51a9e9edad1cf3a3d98085b9d49a3cc2c4cbb65771a00d0d"
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
