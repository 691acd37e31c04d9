"""The conformance kit's harness: what a driver provides and what every case may use.

Re-exported by :mod:`lash_core.testing.conformance`, which assembles the cases of its
``_conformance_*`` modules into :data:`~lash_core.testing.conformance.CASES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

import attrs

from lash_core.errors import LashError
from lash_core.host import (
    InlineHost,
)
from lash_core.scope import (
    TurnScope,
)

T = TypeVar("T")


class ConformanceFailure(AssertionError):
    """A conformance check failed."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceFailure(message)


@attrs.frozen
class TaskResult(Generic[T]):
    """How a spawned task ended: a value, an exception, or native cancellation."""

    value: T | None = None
    error: BaseException | None = None
    cancelled: bool = False


class TaskHandle(Protocol[T]):
    def cancel(self) -> None:
        """Cancel the task natively (trio cancel scope, asyncio ``Task.cancel``)."""
        ...

    async def join(self) -> TaskResult[T]:
        """Wait for the task to end and say how it ended."""
        ...


class Harness(Protocol):
    """What a scenario may use. Time is virtual: sleeping costs no real time."""

    def new_host(
        self, secret: bytes | None = None, previous: Iterable[bytes] = ()
    ) -> InlineHost: ...

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def spawn(self, fn: Callable[[], Awaitable[T]]) -> TaskHandle[T]: ...

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a real OS thread and wait for it without blocking the loop."""
        ...


class Driver(Protocol):
    """Runs one scenario in a fresh event loop on virtual time."""

    name: str

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None: ...


@attrs.frozen
class Case:
    name: str
    scenario: Callable[[Harness], Awaitable[None]]
    doc: str

    def run(self, driver: Driver) -> None:
        driver.run(self.scenario)


Scenario = Callable[[Harness], Awaitable[None]]


def case_into(cases: list[Case]) -> Callable[[Scenario], Scenario]:
    """A decorator that appends its scenario to ``cases`` as a :class:`Case` (named after the
    function, documented by its docstring) and returns it unchanged."""

    def case(fn: Scenario) -> Scenario:
        cases.append(Case(fn.__name__, fn, (fn.__doc__ or "").strip()))
        return fn

    return case


SETTLE = 0.001
"""A virtual pause long enough for every ready task to run."""

TURN = TurnScope("session", "turn")


async def settle(h: Harness) -> None:
    await h.sleep(SETTLE)


async def expect_error(code: str, awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except LashError as exc:
        check(exc.code == code, f"expected {code}, got {exc.code}")
        return
    raise ConformanceFailure(f"expected {code}, got no error")


def expect_error_now(code: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except LashError as exc:
        check(exc.code == code, f"expected {code}, got {exc.code}")
        return
    raise ConformanceFailure(f"expected {code}, got no error")
