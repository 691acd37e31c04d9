"""The catalogue of benchmarks: a name, the figures it reports, and the function producing them.

To add figures, write a module with functions decorated by :func:`benchmark` and list the
module in :data:`SUITES`. A benchmark function takes the :class:`~benchmarks.harness.Context`
and returns its :class:`~benchmarks.harness.Figure` records (usually one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.harness import Context, Figure

__all__ = ["SUITES", "Benchmark", "BenchmarkFn", "all_benchmarks", "benchmark"]

BenchmarkFn = Callable[[Context], list[Figure]]

SUITES: tuple[str, ...] = (
    "benchmarks.bench_keys",
    "benchmarks.bench_envelope",
    "benchmarks.bench_wire",
    "benchmarks.bench_registry",
    "benchmarks.bench_drivers",
    "benchmarks.bench_turn",
    "benchmarks.bench_run_turn",
    "benchmarks.bench_process",
    "benchmarks.bench_journal",
    "benchmarks.bench_sim",
    "benchmarks.bench_store",
    "benchmarks.bench_postgres",
    "benchmarks.bench_dbos_claims",
    "benchmarks.bench_durable_turn",
    "benchmarks.bench_handlers",
    "benchmarks.bench_peers",
    "benchmarks.bench_restate",
    "benchmarks.bench_providers",
)
"""Modules defining benchmarks, in the order their benchmarks run and are reported."""


@dataclass(frozen=True)
class Benchmark:
    name: str
    fn: BenchmarkFn
    summary: str


_BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register ``fn`` under ``name`` (its docstring's first line is the summary)."""

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in _BENCHMARKS and _BENCHMARKS[name].fn is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _BENCHMARKS[name] = Benchmark(name, fn, summary)
        return fn

    return register


def all_benchmarks() -> list[Benchmark]:
    """Every registered benchmark, importing the suites first."""
    for module in SUITES:
        importlib.import_module(module)
    return list(_BENCHMARKS.values())
