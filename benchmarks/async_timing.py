"""Timing of async code inside a running event loop (the mirror of ``Context.calibrate`` /
``Context.compare`` for sync code).

A ``TimedRun`` runs ``n`` operations and returns the nanoseconds they took. Each run is
calibrated on its own; the repeats of several runs are alternated, so the samples are paired.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Awaitable, Callable

from benchmarks.harness import Context, Sample

__all__ = ["TimedRun", "compare", "interleaved"]

TimedRun = Callable[[int], Awaitable[int]]


async def _timed(run: TimedRun, n: int) -> int:
    """``run(n)`` with the garbage collector off (and restored)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return await run(n)
    finally:
        if was_enabled:
            gc.enable()


async def _calibrate(ctx: Context, run: TimedRun) -> int:
    """Loops for one repeat to take about the target time (fixed in smoke mode)."""
    s = ctx.settings
    if s.smoke:
        return s.smoke_loops
    loops = 1
    while True:
        elapsed = await _timed(run, loops)
        if elapsed >= s.target_ns // 5 or loops >= s.max_loops:
            break
        factor = 10 if elapsed <= 0 else min(10, max(2, math.ceil(s.target_ns / 5 / elapsed)))
        loops = min(s.max_loops, loops * factor)
    scaled = round(loops * s.target_ns / max(elapsed, 1))
    return max(1, min(s.max_loops, scaled))


async def interleaved(ctx: Context, runs: list[TimedRun]) -> list[Sample]:
    """Every run calibrated on its own, their repeats alternated (paired)."""
    loops = [await _calibrate(ctx, run) for run in runs]
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(ctx.settings.repeats):
        for run, n, out in zip(runs, loops, times, strict=True):
            out.append(await _timed(run, n) / n)
    return [Sample(n, tuple(t)) for n, t in zip(loops, times, strict=True)]


async def compare(ctx: Context, subject: TimedRun, baseline: TimedRun) -> tuple[Sample, Sample]:
    """:func:`interleaved` of a subject and its baseline."""
    sub, base = await interleaved(ctx, [subject, baseline])
    return sub, base
