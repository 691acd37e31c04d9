"""The process registry's event-await part: :class:`EventWaitsMixin`, mixed into
:class:`~lash_core.process.registry.ProcessRegistry` over its shared state.

Awaiting the next matching event after a cursor uses the same park/wake protocol as awaiting a
terminal: :meth:`~EventWaitsMixin.begin_event_await` answers at once when the log already holds
an event above the cursor whose type matches the filter (or the process is terminal), else it
parks an awaiter id. The append that logs the first matching event, or the process's terminal,
lists that id in its ``wake``; the host sets the awaiter's event and calls
:meth:`~EventWaitsMixin.end_event_await`, which reads the match from the log. Parked awaiters
are not durable (their ids belong to the running host) and a woken one is not woken again.
"""

from __future__ import annotations

from collections.abc import Iterable

from lash_core import codes
from lash_core.errors import LocalProtocolError
from lash_core.process._state import ProcessState, RegistryBase
from lash_core.process.events import ProcessEvent
from lash_core.process.lifecycle import argument_error, check_cursor
from lash_core.process.results import NO_WAKE, AwaitParked, EventAwaitStart, EventReady

__all__ = ["EventWaitsMixin"]

_Filter = frozenset[str] | None


def _check_types(event_types: object) -> _Filter:
    if event_types is None:
        return None
    if isinstance(event_types, str | bytes):
        raise argument_error("event types are an iterable of strings (or None: any)", event_types)
    if not isinstance(event_types, Iterable):
        raise argument_error("event types are an iterable of strings", event_types)
    try:
        types: frozenset[object] = frozenset(event_types)
    except TypeError:
        raise argument_error("event types are an iterable of strings", event_types) from None
    names = frozenset(t for t in types if type(t) is str)
    if not names or len(names) != len(types):
        raise argument_error("event types are a non-empty iterable of strings", event_types)
    return names


def _first_match(process: ProcessState, after: int, types: _Filter) -> ProcessEvent | None:
    for event in process.events[max(after, 0) :]:
        if types is None or event.event_type in types:
            return event
    return None


class EventWaitsMixin(RegistryBase):
    """Awaiting the next matching event of a process (the registry owns ``_next_waiter``, the
    counter its terminal awaiters share, so an awaiter id names one await of either kind)."""

    _next_waiter: int

    def __init__(self) -> None:
        super().__init__()
        # awaiter id -> (process id, cursor, type filter); process id -> its unwoken awaiters.
        self._event_waiters: dict[int, tuple[str, int, _Filter]] = {}
        self._event_waiting: dict[str, set[int]] = {}

    def begin_event_await(
        self, process_id: str, after: int = 0, event_types: Iterable[str] | None = None
    ) -> EventAwaitStart:
        """The first event with a sequence above ``after`` whose type is in ``event_types``
        (``None``: any type), at once when the log holds one (``EventReady``; its ``event`` is
        ``None`` when the process is terminal and the log holds none), else a parked awaiter
        id (``AwaitParked``), woken by the append of the first match or by the terminal."""
        process = self._get(process_id)
        after = check_cursor(after, "after")
        types = _check_types(event_types)
        match = _first_match(process, after, types)
        if match is not None or process.record.is_terminal:
            return EventReady(match)
        waiter_id = self._next_waiter
        self._next_waiter = waiter_id + 1
        self._event_waiters[waiter_id] = (process_id, after, types)
        self._event_waiting.setdefault(process_id, set()).add(waiter_id)
        return AwaitParked(waiter_id)

    def end_event_await(self, waiter_id: int) -> ProcessEvent | None:
        """End a parked event await: the first matching event after its cursor, or ``None``
        (the process ended without one, or the await was given up early).
        ``process_awaiter_unknown`` for an id that is not a parked event await."""
        entry = self._event_waiters.pop(waiter_id, None) if type(waiter_id) is int else None
        if entry is None:
            raise LocalProtocolError(
                codes.PROCESS_AWAITER_UNKNOWN,
                f"process event awaiter {waiter_id!r} is not parked here",
            )
        pid, after, types = entry
        waiting = self._event_waiting.get(pid)
        if waiting is not None:
            waiting.discard(waiter_id)
            if not waiting:
                del self._event_waiting[pid]
        return _first_match(self._processes[pid], after, types)

    @property
    def parked_event_count(self) -> int:
        """How many event awaits are parked (woken or not, until they end)."""
        return len(self._event_waiters)

    def _event_awaited(self) -> set[str]:
        """The processes with an event await not ended yet."""
        return {pid for pid, _, _ in self._event_waiters.values()}

    def _wake_event_waiters(self, event: ProcessEvent, *, terminal: bool) -> frozenset[int]:
        """The unwoken awaiters ``event`` (just logged) wakes: those it matches, or all of its
        process's when it ended the process; they are not woken again."""
        pid = event.process_id
        waiting = self._event_waiting.get(pid)
        if not waiting:
            return NO_WAKE
        woken = set()
        for waiter_id in waiting:
            _, after, types = self._event_waiters[waiter_id]
            matches = event.sequence > after and (types is None or event.event_type in types)
            if terminal or matches:
                woken.add(waiter_id)
        waiting -= woken
        if not waiting:
            del self._event_waiting[pid]
        return frozenset(woken)
