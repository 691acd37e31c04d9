"""The await-event registry's parked waits: :meth:`park`, :meth:`park_waiter` and
:meth:`end_parked`, in a base of :class:`~lash_core.promise.AwaitEventRegistry` (which holds
the lookups, the resolve and the sessions).

A wait that cannot finish at once is *parked*: a :class:`~lash_core.promise.Waiter` joins the
key's entry, and the registry wakes it (sets its outcome and calls its ``set``) when a terminal
or an error reaches the key. With :meth:`park` the waiter holds a fresh event made by the
caller's factory; with :meth:`park_waiter` the waiter is made by the caller's factory and is its
own event (a driver's single-task waiter: one object per parked wait instead of two).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from lash_core import codes
from lash_core._promise_state import E, WaitEnd, Waiter, _Entry, _RegistryCounts
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey
from lash_core.resolution import CANCELLED, TIMEOUT, Resolution

__all__: list[str] = []

W = TypeVar("W", bound=Waiter[Any])


class _RegistryWaits(_RegistryCounts):
    """Parking and ending waits (a base of the registry; see :mod:`lash_core.promise`)."""

    _minted: dict[str, AwaitEventKey]
    _minted_order: deque[str]

    def _find(self, key: AwaitEventKey, create: bool) -> _Entry | None:
        raise NotImplementedError  # pragma: no cover (the registry's)

    def _settle(self, entry: _Entry, terminal: Resolution) -> None:
        raise NotImplementedError  # pragma: no cover (the registry's)

    def _forget(self, entry: _Entry) -> None:
        raise NotImplementedError  # pragma: no cover (the registry's)

    def park(self, key: AwaitEventKey, new_event: Callable[[], E]) -> Resolution | Waiter[E]:
        """Start waiting on ``key``: its terminal now, or a parked :class:`Waiter` holding a
        fresh ``new_event()``, which the registry sets when it wakes the waiter (so the event
        exists before the caller gives up control, and no wake-up can be lost).

        A first waiter materialises a pending promise (which a session cancel sweeps). Raises
        ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session,
        ``await_event_key_type`` for something that is not a key, and ``await_event_retired``
        if the key's terminal was retired.
        """

        def new_waiter() -> Waiter[E]:
            # `Waiter(entry, new_event(), index)`: park_waiter fills in the rest.
            waiter: Waiter[E] = object.__new__(Waiter)
            waiter.event = new_event()
            return waiter

        return self.park_waiter(key, new_waiter)

    def park_waiter(self, key: AwaitEventKey, new_waiter: Callable[[], W]) -> Resolution | W:
        """:meth:`park` with a waiter of the caller's own: its terminal now, or the parked
        ``new_waiter()``, a :class:`Waiter` whose ``set`` the registry calls when it wakes it
        (a driver's waiter that is its own event). The registry fills in its ``entry``,
        ``index`` and ``outcome``. Raises as :meth:`park` does."""
        entry = None
        if type(key) is AwaitEventKey:
            # `_find(key, True)`'s common case, inlined: a key minted here, in a session nobody
            # revoked and none of whose keys was retired; its promise is new or stored under
            # that very key object.
            key_id = key.key_id
            if type(key_id) is str and self._minted.get(key_id) is key:
                sid = key.scope.session_id
                revoked = self._revoked
                shard = None if revoked and sid in revoked else self._shards.get(sid)
                if shard is not None and shard.retired is None:
                    entries = shard.entries
                    entry = entries.get(key_id)
                    if entry is None:
                        # A new promise, and its first waiter.
                        entry = entries[key_id] = _Entry()
                        entry.key = key
                        entry.terminal = None
                        waiter = new_waiter()
                        waiter.entry = entry
                        waiter.outcome = None
                        waiter.index = 0
                        entry.waiters = waiter
                        self._parked += 1
                        return waiter
                    if entry.key is not key:
                        entry = None
        if entry is None:
            entry = self._find(key, True)
            assert entry is not None
        terminal = entry.terminal
        if terminal is not None:
            return terminal
        waiter = new_waiter()
        waiter.entry = entry
        waiter.outcome = None
        waiters = entry.waiters
        if waiters is None:
            waiter.index = 0
            entry.waiters = waiter
        elif isinstance(waiters, list):
            waiter.index = len(waiters)
            waiters.append(waiter)
        else:
            waiter.index = 1
            entry.waiters = [waiters, waiter]
        self._parked += 1
        return waiter

    def end_parked(self, waiter: Waiter[E], reason: WaitEnd) -> Resolution:
        """End a parked wait and return the terminal that won.

        * A woken waiter returns the terminal it was woken with (whatever ``reason`` says), or
          raises the error it was woken with (``await_event_unknown_or_revoked`` after a
          revocation, ``await_event_session_closed`` after a close,
          ``turn_control_wait_abandoned``).
        * A still-parked waiter ended by ``CANCELLED``/``DEADLINE`` writes ``cancelled``/
          ``timeout`` (first writer wins, so it may lose to a terminal already stored), wakes
          the key's other waiters (their events are set), and returns the terminal. On a
          turn-control key it writes nothing and raises ``turn_control_wait_cancelled``/
          ``turn_control_wait_timeout``.
        * Ending a still-parked waiter as ``WOKEN`` is a protocol error
          (``await_event_waiter_not_woken``) and changes nothing; ending a wait twice is
          ``await_event_waiter_unknown``.

        A driver whose wait returned (its event was set, its deadline passed or its cancel
        token fired) passes ``CANCELLED`` if a cancel was requested, else ``DEADLINE``: a woken
        waiter gets its terminal either way.
        """
        is_waiter = isinstance(waiter, Waiter)
        entry = waiter.entry if is_waiter else None
        if entry is None:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_UNKNOWN,
                "this wait already ended"
                if is_waiter
                else f"expected a Waiter from park, got {type(waiter).__name__}",
            )
        outcome = waiter.outcome
        if outcome is not None:
            # Woken: the outcome it was woken with, whatever the reason.
            waiter.entry = None
            self._parked -= 1
            if isinstance(outcome, LashError):
                raise LashError(outcome.code, outcome.message)
            return outcome
        if reason is not WaitEnd.CANCELLED and reason is not WaitEnd.DEADLINE:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_NOT_WOKEN,
                "the waiter has not been woken; end it as cancelled or deadline",
            )
        waiter.entry = None
        self._parked -= 1
        # Still parked: take it out of its entry (the last waiter fills its place).
        waiters = entry.waiters
        if type(waiters) is list:
            last = waiters.pop()
            if last is not waiter:
                last.index = waiter.index
                waiters[waiter.index] = last
            if not waiters:
                entry.waiters = None
        else:
            entry.waiters = None
        if entry.key.wait.is_turn_control:
            if entry.waiters is None:
                self._forget(entry)
            if reason is WaitEnd.CANCELLED:
                raise LashError(
                    codes.TURN_CONTROL_WAIT_CANCELLED,
                    "turn-control wait was cancelled; the key was not written",
                )
            raise LashError(
                codes.TURN_CONTROL_WAIT_TIMEOUT,
                "turn-control wait reached its deadline; the key was not written",
            )
        # Pending means no terminal (a woken waiter would have had an outcome).
        proposed = CANCELLED if reason is WaitEnd.CANCELLED else TIMEOUT
        self._settle(entry, proposed)
        return proposed
