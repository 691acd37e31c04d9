"""A virtual clock for asyncio, built only on public asyncio and selectors APIs.

Tests of code with long deadlines (an hour-long ``asyncio.timeout``, a retry back-off of a
day) should not take an hour. :class:`VirtualTimeEventLoop` is an ordinary
:class:`asyncio.SelectorEventLoop` whose :meth:`~VirtualTimeEventLoop.time` reads a
:class:`VirtualClock` instead of :func:`time.monotonic`, and whose selector lets the clock jump
forward whenever the loop would otherwise sit idle waiting for a timer::

    from lash_asyncio.clock import VirtualClock, run

    async def main() -> None:
        await asyncio.sleep(3600)  # returns at once

    clock = VirtualClock()
    run(main(), clock=clock)
    assert clock.now() == 3600.0

How it works
------------
Every asyncio event loop iteration (CPython 3.11, 3.12 and 3.13 alike) does the same thing:

1. compute a poll ``timeout``: ``0`` if callbacks are ready (or the loop is stopping),
   ``None`` if nothing is ready and no timer is scheduled, and otherwise
   ``min(max(0, next_timer_when - loop.time()), 86400)``;
2. call ``selector.select(timeout)`` and process the I/O events it returns;
3. move every timer with ``when < loop.time() + clock_resolution`` to the ready queue and run
   the ready callbacks.

Both hooks used here are public: :class:`asyncio.SelectorEventLoop` takes a ``selector``
argument, and :meth:`asyncio.AbstractEventLoop.time` is a method a subclass may override. The
loop is handed a selector wrapper whose ``select(timeout)``

* first polls the real selector without blocking and returns any ready I/O events, so ready
  I/O is always handled before time moves;
* with ``timeout is None`` (no timers at all) blocks on the real selector, exactly like the
  stock loop: only I/O, a signal or :meth:`~asyncio.loop.call_soon_threadsafe` from another
  thread can wake the loop, and they still do;
* with ``timeout > 0`` and :attr:`VirtualClock.autojump` on, advances the clock by ``timeout``
  and returns no events, without any real waiting. Because the loop derived ``timeout`` from
  its own earliest timer and from ``time()``, the jump lands on that timer and step 3 runs it;
* with ``timeout > 0`` and autojump off, blocks on the real selector for up to ``timeout``
  *real* seconds without touching virtual time (see "Manual mode").

A positive ``timeout`` is only ever passed when nothing is ready, so virtual time never moves
while there is work to do: tasks that keep handing control to each other (events, queues,
``sleep(0)``) all run at the same virtual instant.

Floating point
--------------
Virtual time is a float, like ``time.monotonic()``, and a jump adds the loop's own
``timeout`` to it, so a timer set with ``call_later(d)`` at virtual ``t`` is reached at
``t + timeout`` where ``timeout == (t + d) - t`` in float arithmetic. That lands exactly on
the timer whenever ``t <= when <= 2 * t`` (Sterbenz: the subtraction is then exact), which
covers every deadline less than a day ahead once virtual time exceeds a day; otherwise all the
values involved are below two days, where the rounding is under 1e-10 s, inside the
``clock_resolution`` (1e-9 s on Linux and macOS) within which the loop counts a timer as due.
So one jump always makes the next timer due, and no epsilon is added: ``sleep(0.1 + 0.2)``
from virtual 0 ends at exactly ``0.1 + 0.2``, not a nanosecond later. (Integer nanoseconds
would not help: the loop computes deadlines in float seconds itself.)

One cliff remains. From about 2**24 s (194 days) of virtual time on, an ulp exceeds twice the
resolution, ``time() + resolution == time()``, and a timer at exactly ``time()`` is *not*
due; real time would creep past it, virtual time would not, and the loop would spin with a
zero timeout forever. So there, and only there, :meth:`VirtualClock.advance` and autojumps go
one ulp past the requested time (an ulp is 3.7e-9 s at one year, 0.24 ms at 2**40 s), and
:meth:`VirtualTimeEventLoop.call_at` files a timer for exactly ``time()`` one ulp earlier.
Every jump also moves time by at least one ulp, so the loop can never stall on a jump.

Manual mode
-----------
``VirtualClock(autojump=False)`` is for stepping time yourself with
:meth:`VirtualClock.advance`. Call it from code running on the loop (a task, or a
``loop.call_soon`` callback); virtual time then moves only when you say, and timers that come
due fire on the loop's next iteration. From another thread use
``loop.call_soon_threadsafe(clock.advance, seconds)``: that wakes the loop, whereas a bare
``clock.advance`` from another thread only takes effect once the loop next wakes up for some
other reason. While it waits for a timer that you have not reached yet, a manual-mode loop
blocks on the real selector for up to the timer's (virtual) delay in real seconds, and then
again, until you advance the clock or I/O arrives.

Limits
------
* Real I/O, subprocesses, signals and threads (``run_in_executor``, ``to_thread``) still take
  real time. With autojump on, virtual time jumps whenever the loop has nothing *ready*, even
  if it is only waiting for such real work, so a virtual deadline guarding real work (say
  ``wait_for(loop.run_in_executor(...), 5)`` or a read timeout on a real socket) can expire at
  once. Around real work, use manual mode or no virtual deadline.
* A task that busy-loops without awaiting blocks virtual time just as it blocks the loop;
  only awaiting (returning to the loop) lets timers fire.
* The loop caps one poll at a day (86400 s), so a deadline ``n`` days away costs ``n`` loop
  iterations (microseconds each); a timer at ``math.inf`` (``asyncio.sleep(math.inf)``) makes
  an autojump loop jump forever instead of idling. Wait on an :class:`asyncio.Event` or a
  future for "forever".
* ``loop.slow_callback_duration`` (debug mode) is measured in virtual time, so slow callbacks
  are not reported unless they advance the clock themselves.
* One clock should drive one loop: an autojump on any loop moves the shared time for all.
* Python 3.12+'s :func:`asyncio.run` / :class:`asyncio.Runner` shut the default executor down
  under a 300 s (virtual) timeout, which autojump expires at once if a worker thread is still
  busy, giving a spurious ``RuntimeWarning``; :func:`run` here waits without a timeout.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from contextvars import Context
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["VirtualClock", "VirtualTimeEventLoop", "new_event_loop", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# asyncio's loop runs a timer once ``when < loop.time() + resolution``, with this resolution
# (the loop's own copy of the value is private).
_RESOLUTION = time.get_clock_info("monotonic").resolution


class VirtualClock:
    """Virtual time in seconds, read by :class:`VirtualTimeEventLoop` as ``loop.time()``.

    ``start`` is the initial reading (any finite float; asyncio only ever uses differences).
    With ``autojump`` (the default) a loop driven by this clock jumps straight to its next
    timer whenever it has nothing ready to run; with ``autojump=False`` time moves only by
    :meth:`advance`. ``autojump`` is a plain attribute and may be switched at any time; the
    loop reads it on every idle poll.

    Reading and advancing are thread-safe, but see the module docstring for why another
    thread should advance through ``loop.call_soon_threadsafe``.
    """

    __slots__ = ("_lock", "_now", "autojump")

    def __init__(self, start: float = 0.0, *, autojump: bool = True) -> None:
        start = float(start)
        if not math.isfinite(start):
            raise ValueError(f"start must be a finite number of seconds, got {start!r}")
        self._now = start
        self._lock = threading.Lock()
        self.autojump = autojump

    def now(self) -> float:
        """The current virtual time in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` (finite, not negative).

        Timers that come due fire on the loop's next iteration. The new time is
        ``now() + seconds`` in float arithmetic, plus one ulp beyond about 2**24 s (see
        "Floating point" in the module docstring). From another thread, call it through
        ``loop.call_soon_threadsafe`` so that the loop wakes up to notice.
        """
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be finite and not negative, got {seconds!r}")
        if seconds == 0:
            return
        with self._lock:
            self._now = _past_due(self._now, seconds)

    def _jump(self, timeout: float) -> None:
        """An autojump by the loop's poll timeout: never less than one step forward."""
        with self._lock:
            self._now = _past_due(self._now, timeout)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now!r}, autojump={self.autojump!r})"


def _past_due(now: float, seconds: float) -> float:
    """``now + seconds``, nudged up so that a timer landed on exactly counts as due.

    The loop runs a timer once ``when < time() + resolution``. Past about 2**24 s (194 days)
    adding the resolution no longer changes a float, so ``when == time()`` is *not* due and
    the loop would spin with a zero timeout; there the result gets one more ulp. Also never
    returns ``now`` itself for a positive step too small to register.
    """
    later = now + seconds
    if later <= now:
        later = math.nextafter(now, math.inf)
    if later + _RESOLUTION <= later:
        later = math.nextafter(later, math.inf)
    return later


class _VirtualTimeSelector(selectors.BaseSelector):
    """A selector that turns an idle wait for a timer into a jump of the virtual clock.

    Registration calls go straight to a real :class:`selectors.DefaultSelector`, which the
    loop's self-pipe (``call_soon_threadsafe``, signals) and all real I/O are registered with.
    """

    def __init__(self, clock: VirtualClock, real: selectors.BaseSelector | None = None) -> None:
        self._clock = clock
        self._real = real if real is not None else selectors.DefaultSelector()

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Ready I/O first; then block (no timers), jump (autojump) or wait in real time."""
        ready = self._real.select(0)
        if ready:
            return ready
        if timeout is None:
            # Nothing scheduled: only I/O or another thread can make progress, as usual.
            return self._real.select(None)
        if timeout <= 0:
            return ready
        if self._clock.autojump:
            self._clock._jump(timeout)
            return []
        return self._real.select(timeout)


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An :class:`asyncio.SelectorEventLoop` that runs on a :class:`VirtualClock`.

    ``time()`` returns ``clock.now()``, so ``call_later``, ``call_at``, ``asyncio.sleep``,
    ``asyncio.timeout`` and ``asyncio.wait_for`` all schedule against virtual time, and the
    loop's selector jumps the clock to the next timer whenever nothing is ready (see the
    module docstring). Everything else, real I/O included, is the stock selector loop.
    """

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self._lash_clock = clock if clock is not None else VirtualClock()
        super().__init__(selector=_VirtualTimeSelector(self._lash_clock))

    @property
    def clock(self) -> VirtualClock:
        """The virtual clock this loop reads."""
        return self._lash_clock

    def time(self) -> float:
        """The virtual time: ``self.clock.now()``."""
        return self._lash_clock.now()

    def call_at(
        self,
        when: float,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Schedule ``callback`` at virtual time ``when`` (``call_later`` comes through here).

        Past about 2**24 s of virtual time a timer at exactly ``time()`` (``call_later(0)``,
        or a delay lost to rounding) would never count as due, since virtual time does not
        creep forward on its own; such a timer is filed one ulp earlier, where it is due.
        """
        now = self.time()
        if now + _RESOLUTION <= when <= now:
            when = math.nextafter(now, -math.inf)
        return super().call_at(when, callback, *args, context=context)


def new_event_loop(clock: VirtualClock | None = None) -> VirtualTimeEventLoop:
    """A new :class:`VirtualTimeEventLoop` on ``clock`` (a fresh autojump clock at 0 if None).

    Also usable as a loop factory: ``asyncio.Runner(loop_factory=new_event_loop)``.
    """
    return VirtualTimeEventLoop(clock)


def run(
    main: Coroutine[Any, Any, T], *, clock: VirtualClock | None = None, debug: bool = False
) -> T:
    """Run ``main`` on a new :class:`VirtualTimeEventLoop` and return its result.

    Like :func:`asyncio.run`: refuses to run inside a running loop, and on the way out
    (whether ``main`` returned or raised) cancels and awaits the tasks still pending, reporting
    any that then fail to the loop's exception handler, finalizes async generators, shuts the
    default executor down (waiting without a timeout, see the module docstring) and closes the
    loop. Unlike it, it does not install the loop as the thread's current event loop and does
    not turn Ctrl-C into a cancellation of ``main``. Pass ``clock`` to read virtual time
    afterwards or to choose manual mode.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("lash_asyncio.clock.run() cannot be called from a running event loop")
    if not asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")

    loop = new_event_loop(clock)
    try:
        loop.set_debug(debug)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every pending task of ``loop`` and wait for them, as :func:`asyncio.run` does."""
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if task.cancelled():
            continue
        exception = task.exception()
        if exception is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during lash_asyncio.clock.run() shutdown",
                    "exception": exception,
                    "task": task,
                }
            )
