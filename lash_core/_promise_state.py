"""The await-event registry's state: parked waiters, one entry per promise, the fingerprints of
retired keys, per-session shards, and the checks on what callers present (keys, resolutions,
session ids). :class:`~lash_core.promise.AwaitEventRegistry` owns these;
:mod:`lash_core.promise` re-exports the public names (:class:`WaitEnd`, :class:`Waiter`,
:class:`Wakeable`).
"""

from __future__ import annotations

import enum
from array import array
from collections import deque
from collections.abc import Iterator
from typing import Final, Generic, Protocol, TypeVar

from lash_core import codes
from lash_core.canonical import normalize_json_value
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.resolution import (
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
)
from lash_core.scope import (
    Custom,
    ProcessScope,
    ProcessSignal,
    QueueDrainScope,
    RuntimeOperationScope,
    SessionDeleteScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
)

__all__ = ["WaitEnd", "Waiter", "Wakeable"]

E = TypeVar("E", bound="Wakeable")


# -- registry results ------------------------------------------------------------------------


class WaitEnd(enum.Enum):
    """Why a parked wait ends."""

    WOKEN = "woken"
    """Its event was set."""
    CANCELLED = "cancelled"
    """Its caller cancelled (an explicit token or native cancellation)."""
    DEADLINE = "deadline"
    """Its deadline passed."""


class Wakeable(Protocol):
    """What the registry sets when it wakes a waiter (a level-triggered event). ``set`` must
    not call back into the registry."""

    def set(self) -> None: ...


# -- registry state --------------------------------------------------------------------------


class Waiter(Generic[E]):
    """A wait parked with :meth:`AwaitEventRegistry.park`: an opaque handle holding the event
    the registry sets when it wakes the waiter. End it with
    :meth:`AwaitEventRegistry.end_parked`."""

    __slots__ = ("entry", "event", "index", "outcome")

    def __init__(self, entry: _Entry, event: E, index: int) -> None:
        # None once the wait has ended.
        self.entry: _Entry | None = entry
        self.event = event
        """The event the registry sets when it wakes this waiter."""
        # Position in its entry while parked and not woken.
        self.index = index
        # Set when woken: the terminal that won, or the error the waiter must raise.
        self.outcome: Resolution | LashError | None = None

    def set(self) -> None:
        """Set this waiter's event (the registry calls it as it wakes the waiter). A waiter
        that is its own event (see :meth:`AwaitEventRegistry.park_waiter`) overrides it."""
        self.event.set()

    @property
    def woken(self) -> bool:
        """Whether the registry has woken this waiter (its event is set)."""
        return self.outcome is not None

    @property
    def ended(self) -> bool:
        """Whether :meth:`AwaitEventRegistry.end_parked` has ended this wait."""
        return self.entry is None


class _Entry:
    """One promise: its ``key``, its ``terminal`` (``None`` while pending) and its parked
    waiters not yet woken: ``None``, one waiter, or a list of them (``Waiter.index`` is each
    one's position).

    Made by :meth:`AwaitEventRegistry._find` only, without an ``__init__`` (entries are made
    on the hot path). Most promises have at most one waiter: it is held without a list.
    Hashed by identity (the registry's window of recent terminals is keyed by entry).
    """

    __slots__ = ("key", "terminal", "waiters")

    key: AwaitEventKey
    terminal: Resolution | None
    waiters: Waiter[Wakeable] | list[Waiter[Wakeable]] | None


_FINGERPRINT_MASK: Final = (1 << 64) - 1


def _fingerprint(key_id: str) -> int:
    """64 bits of a key id, never 0 (the empty slot): the string's own hash, which Python
    computed when the id was first used as a dict key and keeps on the string. It is stable
    for the life of the process, which is all an in-memory registry needs."""
    return (hash(key_id) & _FINGERPRINT_MASK) or 1


class _Retired:
    """The fingerprints of a session's retired keys: an open-addressing hash set of 64-bit
    integers in one ``array('Q')`` (8 bytes a slot, at most two thirds full), so a retired key
    costs 12 to 24 bytes instead of the ~1 KB of its entry."""

    __slots__ = ("count", "slots")

    def __init__(self) -> None:
        self.slots = array("Q", bytes(8 * 8))
        self.count = 0

    def __contains__(self, fp: int) -> bool:
        slots = self.slots
        mask = len(slots) - 1
        i = fp & mask
        while True:
            held = slots[i]
            if held == fp:
                return True
            if held == 0:
                return False
            i = (i + 1) & mask

    def add(self, fp: int) -> None:
        slots = self.slots
        size = len(slots)
        if 3 * (self.count + 1) > 2 * size:
            self._grow()
            slots = self.slots
            size = len(slots)
        mask = size - 1
        i = fp & mask
        while True:
            held = slots[i]
            if held == 0:
                slots[i] = fp
                self.count += 1
                return
            if held == fp:
                return
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self.slots
        slots = self.slots = array("Q", bytes(16 * len(old)))
        mask = len(slots) - 1
        for held in old:
            if held:
                i = held & mask
                while slots[i]:
                    i = (i + 1) & mask
                slots[i] = held


class _Shard:
    __slots__ = ("entries", "retired")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        # Fingerprints of the session's retired keys (made on the first retirement).
        self.retired: _Retired | None = None


class _RegistryCounts:
    """The read-only views of :class:`~lash_core.promise.AwaitEventRegistry`'s state (its
    base, so the registry's module holds the operations)."""

    __slots__ = ()

    _signer: KeySigner
    _retain_recent: int
    _parked: int
    _shards: dict[str | None, _Shard]
    _revoked: set[str]
    _recent: deque[_Entry]
    _room: int

    @property
    def signer(self) -> KeySigner:
        return self._signer

    @property
    def retain_recent(self) -> int:
        """How many terminals the registry keeps in full (the others are retired)."""
        return self._retain_recent

    @property
    def parked_count(self) -> int:
        """Waiters parked or woken but not yet ended."""
        return self._parked

    def total_entry_count(self) -> int:
        """Promise entries (pending or holding a terminal) in all shards."""
        return sum(len(s.entries) for s in self._shards.values())

    def entry_count(self, session_id: str | None) -> int:
        """Promise entries of one session (``None``: scopes without a session)."""
        shard = self._shards.get(session_id)
        return 0 if shard is None else len(shard.entries)

    def recent_count(self) -> int:
        """Terminals kept in full (at most ``retain_recent``)."""
        return self._retain_recent - self._room

    def retired_count(self, session_id: str | None) -> int:
        """Retired keys of one session (each remembered by a fingerprint only)."""
        shard = self._shards.get(session_id)
        return 0 if shard is None or shard.retired is None else shard.retired.count

    def has_session_state(self, session_id: str | None) -> bool:
        """Whether the registry holds any state (a shard) for ``session_id``."""
        return session_id in self._shards

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    def revoked_sessions(self) -> Iterator[str]:
        """Every tombstoned session id."""
        return iter(sorted(self._revoked))


def _same_identity(stored: AwaitEventKey, presented: AwaitEventKey) -> bool:
    return (
        stored.key_id == presented.key_id
        and stored.scope == presented.scope
        and stored.wait == presented.wait
    )


def _revoked_error() -> LashError:
    return LashError(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        "await-event key is unknown, does not match its promise, or its session was revoked",
    )


def _key_type_error(key: object) -> LocalProtocolError:
    return LocalProtocolError(
        codes.AWAIT_EVENT_KEY_TYPE,
        f"expected an AwaitEventKey, got {type(key).__name__}: decode a key received as text "
        "with from_json(AwaitEventKey, text) (or a decoded JSON object with "
        "from_wire(data, AwaitEventKey)) before presenting it",
    )


def _retired_error(retain_recent: int) -> LashError:
    return LashError(
        codes.AWAIT_EVENT_RETIRED,
        "the key was resolved long ago and its terminal has been retired (the registry keeps "
        f"the last {retain_recent} terminals in full): it is still resolved, so nothing can "
        "replace it, but its terminal can no longer be read",
    )


def _closed_error() -> LashError:
    return LashError(
        codes.AWAIT_EVENT_SESSION_CLOSED,
        "the wait's session was closed while it was parked; its promises were dropped",
    )


def _wake_all(entry: _Entry, outcome: Resolution | LashError) -> None:
    """Wake the waiters of ``entry`` with ``outcome`` (sets their events); none is left."""
    waiters = entry.waiters
    entry.waiters = None
    if isinstance(waiters, list):
        for w in waiters:
            w.outcome = outcome
            w.set()
    elif waiters is not None:
        waiters.outcome = outcome
        waiters.set()


_SCALARS: Final = frozenset((str, bool, type(None)))


def _check_resolution(resolution: object) -> Resolution:
    """``resolution`` if it is one (an ok payload normalised to JSON values), else
    ``await_event_invalid_resolution``. (An ok with a scalar payload needs no check.)"""
    if isinstance(resolution, ResolutionTimeout | ResolutionCancelled):
        return resolution
    if isinstance(resolution, ResolutionOk):
        try:
            payload = normalize_json_value(resolution.payload)
        except ValueError as exc:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_INVALID_RESOLUTION, f"ok payload is not JSON: {exc}"
            ) from None
        return resolution if payload is resolution.payload else ResolutionOk(payload)
    if isinstance(resolution, ResolutionErr):
        return resolution
    raise LocalProtocolError(
        codes.AWAIT_EVENT_INVALID_RESOLUTION,
        f"expected a Resolution (ok, err, timeout or cancelled), got {type(resolution).__name__}",
    )


# The string fields of each scope and wait type (a ProcessSignal's ordinal is an int).
_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    TurnScope: ("session_id", "turn_id"),
    ProcessScope: ("process_id",),
    QueueDrainScope: ("session_id", "drain_id"),
    SessionDeleteScope: ("session_id",),
    RuntimeOperationScope: ("operation_id",),
    ToolCompletion: ("tool_call_id",),
    ProcessSignal: ("process_id", "signal_name"),
    TurnCancelGate: (),
    TurnTerminal: (),
    Custom: ("key",),
}
_SCOPE_TYPES: Final = frozenset(
    (TurnScope, ProcessScope, QueueDrainScope, SessionDeleteScope, RuntimeOperationScope)
)
_WAIT_TYPES: Final = frozenset(
    (ToolCompletion, ProcessSignal, TurnCancelGate, TurnTerminal, Custom)
)


def _well_formed(key: object) -> bool:
    """A key object whose parts have the right types (anything else is refused, not raised)."""
    if type(key) is not AwaitEventKey:
        return False
    scope, wait = key.scope, key.wait
    st, wt = type(scope), type(wait)
    if st not in _SCOPE_TYPES or wt not in _WAIT_TYPES:
        return False
    if type(key.key_id) is not str or type(key.signature) is not str:
        return False
    for name in _FIELDS[st]:
        if type(getattr(scope, name)) is not str:
            return False
    for name in _FIELDS[wt]:
        if type(getattr(wait, name)) is not str:
            return False
    return wt is not ProcessSignal or type(wait.ordinal) is int  # type: ignore[union-attr]


def _check_session_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not session_id.strip():
        raise LocalProtocolError(
            codes.INVALID_AWAIT_EVENT_SESSION_ID, "session ids must be non-empty strings"
        )
