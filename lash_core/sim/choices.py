"""Where every choice of a simulation comes from.

A :class:`ChoiceSource` answers one question, ``below(n)``: a number in ``range(n)``. The
simulator's scheduler and the simulated world ask it for everything they decide (which ready task
runs, how a model answers, how late a resolver is), so one source fixes a whole run:

* :class:`SeededChoices` is a small seeded generator (splitmix64): the same seed gives the same
  run, on any machine, with no global state;
* :class:`DataChoices` draws from Hypothesis's ``data`` object, so Hypothesis records the choices,
  shrinks them (towards 0: the first ready task, the plainest answer, no fault) and re-runs the
  simulation on the shrunk choices.

Choice 0 is always the plain one, so a source that answers 0 everywhere gives the simplest world
and a FIFO schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

__all__ = [
    "ChoiceSource",
    "DataChoices",
    "SeededChoices",
    "SplitMix64",
    "chance",
    "integer",
    "pick",
]

T = TypeVar("T")

_MASK = (1 << 64) - 1


class ChoiceSource(Protocol):
    """A source of choices: ``below(n)`` returns an integer in ``range(n)`` (``n >= 1``)."""

    def below(self, n: int) -> int: ...


def _trivial(n: int) -> bool:
    """Whether ``below(n)`` has only one answer (0); refuses ``n < 1``."""
    if n < 1:
        raise ValueError("below(n) needs n >= 1")
    return n == 1


class SplitMix64:
    """The splitmix64 generator: 64-bit outputs from a 64-bit state, seeded by an integer."""

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next_u64(self) -> int:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)


class SeededChoices:
    """Choices from a seeded :class:`SplitMix64` (``below(n)`` by multiply-shift)."""

    __slots__ = ("_rng", "seed")

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("a seed is a non-negative integer")
        self.seed = seed
        self._rng = SplitMix64(seed)

    def below(self, n: int) -> int:
        if _trivial(n):
            return 0
        return (self._rng.next_u64() * n) >> 64


class DataChoices:
    """Choices drawn from Hypothesis (``data`` is what ``st.data()`` gives a test).

    Hypothesis is imported when the first choice is drawn, so the library does not need it.
    """

    __slots__ = ("_data", "_integers")

    def __init__(self, data: Any) -> None:
        self._data = data
        self._integers: dict[int, Any] = {}

    def below(self, n: int) -> int:
        if _trivial(n):
            return 0
        strategy = self._integers.get(n)
        if strategy is None:
            import hypothesis.strategies as st

            strategy = self._integers[n] = st.integers(0, n - 1)
        value: int = self._data.draw(strategy)
        return value


def integer(source: ChoiceSource, low: int, high: int) -> int:
    """An integer in ``[low, high]`` (``low`` is the plain choice)."""
    return low + source.below(high - low + 1)


def chance(source: ChoiceSource, percent: int) -> bool:
    """``True`` with probability ``percent``/100 (``False`` is the plain choice)."""
    return source.below(100) >= 100 - percent


def pick(source: ChoiceSource, options: Sequence[T]) -> T:
    """One of ``options`` (the first is the plain choice)."""
    return options[source.below(len(options))]
