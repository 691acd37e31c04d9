"""Benchmarks for lash_core, run with ``python -m benchmarks`` (stdlib only, plus lash).

Every figure is the median time per operation over several repeats, reported with its ratio
against a baseline measured in the same run, and judged against a budget where one is set.
See :mod:`benchmarks.harness` for the timing method and :mod:`benchmarks.catalog` for adding
figures.
"""

from benchmarks.harness import Figure

__all__ = ["Figure"]
