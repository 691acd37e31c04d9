"""Timing harness: figures, settings, calibrated and interleaved measurements.

A benchmark times a *body*: a zero-argument callable that performs ``loops`` operations. It is
built by a *prepare* function, ``prepare(loops) -> body``, which does whatever set-up the
operations need (fresh registries, pre-minted keys, argument lists) outside the timed region.
The harness calls ``prepare`` before every repeat, times only ``body()`` with the garbage
collector disabled, and reports the median time per operation over the repeats.

A figure and its baseline are measured by :meth:`Context.compare`, which alternates their
repeats (subject, baseline, subject, baseline, ...); the figure's ratio is the median of the
per-pair ratios, so drift in the machine's speed hits both sides alike and cancels out.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "Body",
    "Context",
    "Detail",
    "Figure",
    "Prepare",
    "Sample",
    "Settings",
    "each",
    "paused_gc",
    "require",
]

Body = Callable[[], object]
"""Performs the timed operations; its return value is ignored."""

Prepare = Callable[[int], Body]
"""``prepare(loops)`` sets up (untimed) and returns a body performing ``loops`` operations."""

Detail = dict[str, float | int | str]


@dataclass(frozen=True)
class Figure:
    """One reported figure: a median per operation and its ratio against a baseline.

    ``median_us`` and ``baseline_us`` are in ``unit`` (microseconds unless a figure says
    otherwise, e.g. ``B`` for bytes). ``budget`` is the largest acceptable ``ratio``;
    ``excess_budget`` the largest acceptable ``excess`` (median minus baseline, in ``unit``);
    ``max_budget`` the largest acceptable median itself (in ``unit``, for an absolute budget
    such as bytes per key). Each may be ``None`` (reported, not judged).
    """

    name: str
    median_us: float
    baseline_name: str
    baseline_us: float
    ratio: float
    budget: float | None
    detail: Detail = field(default_factory=dict)
    unit: str = "µs"
    excess_budget: float | None = None
    max_budget: float | None = None

    @property
    def excess(self) -> float:
        """What the subject costs on top of the baseline, in ``unit``."""
        return self.median_us - self.baseline_us

    @property
    def status(self) -> str:
        """``ok`` / ``OVER`` against the budgets, ``-`` when there is none."""
        if self.budget is None and self.excess_budget is None and self.max_budget is None:
            return "-"
        within_ratio = self.budget is None or self.ratio <= self.budget
        within_excess = self.excess_budget is None or self.excess <= self.excess_budget
        within_max = self.max_budget is None or self.median_us <= self.max_budget
        return "ok" if within_ratio and within_excess and within_max else "OVER"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "median_us": self.median_us,
            "baseline_name": self.baseline_name,
            "baseline_us": self.baseline_us,
            "ratio": self.ratio,
            "budget": self.budget,
            "unit": self.unit,
            "excess_budget": self.excess_budget,
            "max_budget": self.max_budget,
            "status": self.status,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Settings:
    """How hard to measure. :meth:`full` for real numbers, :meth:`smoke` to keep code alive."""

    smoke: bool
    repeats: int
    target_ns: int
    """Wall time one repeat of a calibrated body should take."""
    smoke_loops: int
    """Operations per repeat in smoke mode (no calibration)."""
    max_loops: int = 1_000_000

    @classmethod
    def full(cls) -> Settings:
        return cls(smoke=False, repeats=9, target_ns=50_000_000, smoke_loops=0)

    @classmethod
    def smoke_mode(cls) -> Settings:
        return cls(smoke=True, repeats=3, target_ns=0, smoke_loops=5)


@dataclass(frozen=True)
class Sample:
    """Per-operation times (ns) of each repeat, and the loop count they were measured with."""

    loops: int
    per_op_ns: tuple[float, ...]

    @property
    def median_ns(self) -> float:
        return statistics.median(self.per_op_ns)

    @property
    def median_us(self) -> float:
        return self.median_ns / 1000.0

    def detail(self, prefix: str = "") -> Detail:
        """Loops, repeats and spread (min/max in µs), for the JSON report."""
        return {
            f"{prefix}loops": self.loops,
            f"{prefix}repeats": len(self.per_op_ns),
            f"{prefix}min_us": min(self.per_op_ns) / 1000.0,
            f"{prefix}max_us": max(self.per_op_ns) / 1000.0,
        }


def _time_body(body: Body) -> int:
    """Nanoseconds ``body()`` takes, with the garbage collector off (and restored)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        body()
        end = time.perf_counter_ns()
    finally:
        if was_enabled:
            gc.enable()
    return end - start


def each(fn: Callable[..., object], args: list[tuple[object, ...]]) -> Body:
    """A body calling ``fn(*a)`` for every ``a`` in ``args`` (one operation per call)."""

    def body() -> None:
        for a in args:
            fn(*a)

    return body


@contextmanager
def paused_gc() -> Iterator[None]:
    """Keep the garbage collector off while building large untimed fixtures."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def require(condition: bool, message: str) -> None:
    """A sanity check on a benchmark's set-up (not skipped under ``python -O``)."""
    if not condition:
        raise RuntimeError(f"benchmark set-up check failed: {message}")


class Context:
    """What a benchmark gets: the settings and the measuring methods."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def smoke(self) -> bool:
        return self.settings.smoke

    def size(self, full: int, smoke: int) -> int:
        """Pick a problem size for the current mode."""
        return smoke if self.smoke else full

    def calibrate(self, prepare: Prepare) -> int:
        """Loops for one repeat to take about ``target_ns`` (fixed in smoke mode)."""
        s = self.settings
        if s.smoke:
            return s.smoke_loops
        loops = 1
        while True:
            elapsed = _time_body(prepare(loops))
            if elapsed >= s.target_ns // 5 or loops >= s.max_loops:
                break
            # Grow quickly, but never by more than 10x on a single (possibly noisy) reading.
            factor = 10 if elapsed <= 0 else min(10, max(2, math.ceil(s.target_ns / 5 / elapsed)))
            loops = min(s.max_loops, loops * factor)
        scaled = round(loops * s.target_ns / max(elapsed, 1))
        return max(1, min(s.max_loops, scaled))

    def measure(
        self, prepare: Prepare, *, loops: int | None = None, repeats: int | None = None
    ) -> Sample:
        """Median-ready sample of one body (``loops`` calibrated unless given)."""
        n = self.calibrate(prepare) if loops is None else loops
        r = self.settings.repeats if repeats is None else repeats
        return Sample(n, tuple(_time_body(prepare(n)) / n for _ in range(r)))

    def compare(
        self,
        subject: Prepare,
        baseline: Prepare,
        *,
        loops: int | None = None,
        repeats: int | None = None,
    ) -> tuple[Sample, Sample]:
        """Measure ``subject`` and ``baseline`` with their repeats interleaved.

        Each side is calibrated on its own (unless ``loops`` fixes both) so every repeat of
        either lasts about the target time.
        """
        n_sub = self.calibrate(subject) if loops is None else loops
        n_base = self.calibrate(baseline) if loops is None else loops
        r = self.settings.repeats if repeats is None else repeats
        sub: list[float] = []
        base: list[float] = []
        for _ in range(r):
            sub.append(_time_body(subject(n_sub)) / n_sub)
            base.append(_time_body(baseline(n_base)) / n_base)
        return Sample(n_sub, tuple(sub)), Sample(n_base, tuple(base))

    def figure(
        self,
        name: str,
        subject: Sample,
        baseline_name: str,
        baseline: Sample,
        *,
        budget: float | None = None,
        detail: Detail | None = None,
    ) -> Figure:
        """A figure from two samples.

        When the samples are paired (same number of repeats, as :meth:`compare` makes them),
        the ratio is the median of the per-repeat ratios: a repeat of the subject and the
        baseline repeat right after it ran on the machine in the same state, so drift in the
        machine's speed (a shared or virtualised CPU) cancels out. Otherwise it is the ratio of
        the medians (also kept in the detail as ``ratio_of_medians``).
        """
        of_medians = subject.median_ns / baseline.median_ns if baseline.median_ns > 0 else math.inf
        if len(subject.per_op_ns) == len(baseline.per_op_ns) and min(baseline.per_op_ns) > 0:
            pairs = zip(subject.per_op_ns, baseline.per_op_ns, strict=True)
            ratio = statistics.median(s / b for s, b in pairs)
        else:
            ratio = of_medians
        merged: Detail = {
            **subject.detail(),
            **baseline.detail("baseline_"),
            "ratio_of_medians": of_medians,
        }
        if detail:
            merged.update(detail)
        return Figure(
            name=name,
            median_us=subject.median_us,
            baseline_name=baseline_name,
            baseline_us=baseline.median_us,
            ratio=ratio,
            budget=budget,
            detail=merged,
        )
