"""Keyed promises: the pure transition rules and the await-event registry.

A promise is named by a signed :class:`~lash_core.keys.AwaitEventKey`. Its first terminal wins
forever; a resolution that lands before anyone waits is buffered; a revoked session refuses
everything. The rules (:func:`resolve_transition`, :func:`cancel_sweep_transition`,
:func:`revoke_transition`) are plain functions, and :class:`AwaitEventRegistry` applies them to
in-memory state.

The registry never waits. A wait that cannot finish at once is *parked* under a waiter id, and
every operation returns, with its result, the ids of the parked waiters it woke
(:class:`Step`). A driver keeps one level-triggered event per parked waiter, sets the events it
is told to set, and ends each wait with :meth:`AwaitEventRegistry.end_wait`, whose answer is the
terminal that won. So a wake-up can never be lost: a waiter is parked, and its event registered,
before the driver gives up control. The hosts use the same protocol in a form with no ids:
:meth:`AwaitEventRegistry.park` takes the waiter's event, which the registry then sets itself.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator
from typing import Final, Generic, NamedTuple, Protocol, TypeAlias, TypeVar

import attrs

from lash_core import codes
from lash_core.canonical import normalize_json_value
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner, constant_time_eq, derive_key_id
from lash_core.resolution import (
    ACCEPTED,
    CANCELLED,
    TIMEOUT,
    UNKNOWN_OR_REVOKED,
    AlreadyResolved,
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
    ResolveOutcome,
)
from lash_core.scope import (
    Custom,
    ExecutionScope,
    ProcessScope,
    ProcessSignal,
    QueueDrainScope,
    RuntimeOperationScope,
    SessionDeleteScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
    WaitIdentity,
    validate_scope,
    validate_wait,
)

__all__ = [
    "DEFAULT_ARCHIVE_LIMIT",
    "AlreadyResolvedTransition",
    "AwaitEventRegistry",
    "PromiseMissing",
    "PromisePending",
    "PromiseResolved",
    "PromiseRevoked",
    "PromiseState",
    "PromiseTransition",
    "Step",
    "StoreTransition",
    "UnchangedTransition",
    "UnknownOrRevokedTransition",
    "WaitEnd",
    "WaitParked",
    "WaitReady",
    "WaitStart",
    "Waiter",
    "Wakeable",
    "cancel_sweep_transition",
    "proposal_wins",
    "resolve_transition",
    "revoke_transition",
    "session_allows_access",
    "transition_outcome",
]

T = TypeVar("T")
E = TypeVar("E", bound="Wakeable")

DEFAULT_ARCHIVE_LIMIT: Final = 4096
"""Completed turn-control keys remembered per session (the reference's bound)."""
DEFAULT_MINT_CACHE: Final = 65_536
"""Recently minted key objects remembered, so presenting one of them back needs no HMAC."""


# -- the pure rules --------------------------------------------------------------------------


@attrs.frozen
class PromiseMissing:
    """No promise has been materialised for the key."""


@attrs.frozen
class PromisePending:
    """A waiter materialised the promise; no terminal yet."""


@attrs.frozen
class PromiseResolved:
    """The promise holds its terminal."""

    terminal: Resolution


@attrs.frozen
class PromiseRevoked:
    """The key's session was revoked."""


PromiseState: TypeAlias = PromiseMissing | PromisePending | PromiseResolved | PromiseRevoked


@attrs.frozen
class StoreTransition:
    """Write ``resolution`` as the terminal."""

    resolution: Resolution


@attrs.frozen
class AlreadyResolvedTransition:
    """Keep the stored terminal; the proposal is discarded."""

    terminal: Resolution


@attrs.frozen
class UnknownOrRevokedTransition:
    """Refuse: the session is revoked."""


@attrs.frozen
class UnchangedTransition:
    """Nothing to do."""


PromiseTransition: TypeAlias = (
    StoreTransition | AlreadyResolvedTransition | UnknownOrRevokedTransition | UnchangedTransition
)

_MISSING: Final = PromiseMissing()
_PENDING: Final = PromisePending()
_REVOKED: Final = PromiseRevoked()
_UNCHANGED: Final = UnchangedTransition()
_REFUSED: Final = UnknownOrRevokedTransition()


def proposal_wins(stored: Resolution | None) -> bool:
    """First writer wins: a proposed terminal is stored only if no terminal is."""
    return stored is None


def resolve_transition(state: PromiseState, proposed: Resolution) -> PromiseTransition:
    """First writer wins; a resolution before any wait is stored (buffered)."""
    if isinstance(state, PromiseRevoked):
        return _REFUSED
    stored = state.terminal if isinstance(state, PromiseResolved) else None
    if stored is None or proposal_wins(stored):
        return StoreTransition(proposed)
    return AlreadyResolvedTransition(stored)


def cancel_sweep_transition(wait: WaitIdentity, state: PromiseState) -> PromiseTransition:
    """A session cancel sweep: pending non-turn-control waits become ``cancelled``."""
    if wait.is_turn_control or isinstance(state, PromiseMissing):
        return _UNCHANGED
    if isinstance(state, PromisePending):
        return StoreTransition(CANCELLED)
    if isinstance(state, PromiseResolved):
        return AlreadyResolvedTransition(state.terminal)
    return _REFUSED


def revoke_transition(already_revoked: bool) -> bool:
    """Whether revoking changes anything (revocation is idempotent)."""
    return not already_revoked


def session_allows_access(revoked: bool) -> bool:
    """Mint and resolve consult this before touching any promise."""
    return not revoked


def transition_outcome(transition: PromiseTransition) -> ResolveOutcome | None:
    """The resolve outcome a transition answers with (``None`` for unchanged)."""
    if isinstance(transition, StoreTransition):
        return ACCEPTED
    if isinstance(transition, AlreadyResolvedTransition):
        return AlreadyResolved(transition.terminal)
    if isinstance(transition, UnknownOrRevokedTransition):
        return UNKNOWN_OR_REVOKED
    return None


# -- registry results ------------------------------------------------------------------------

_NO_WAKE: Final[frozenset[int]] = frozenset()


class Step(NamedTuple, Generic[T]):
    """An operation's result and the parked waiter ids it woke (set their events)."""

    value: T
    wake: frozenset[int]


@attrs.frozen
class WaitReady:
    """The key already has a terminal: no need to park."""

    resolution: Resolution


@attrs.frozen
class WaitParked:
    """The waiter is parked; wait for its event, then call ``end_wait``."""

    waiter_id: int


WaitStart: TypeAlias = WaitReady | WaitParked


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
    :meth:`AwaitEventRegistry.finish_parked` or :meth:`AwaitEventRegistry.end_parked`."""

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


class _Reported:
    """The event of a waiter begun with ``begin_wait``: setting it reports the waiter's id in
    the ``Step`` of the operation that woke it."""

    __slots__ = ("_woken", "waiter_id")

    def __init__(self, woken: list[int], waiter_id: int) -> None:
        self._woken = woken
        self.waiter_id = waiter_id

    def set(self) -> None:
        self._woken.append(self.waiter_id)


class _Entry:
    """One promise: its ``key``, its ``terminal`` (``None`` while pending) and its parked
    waiters not yet woken: ``None``, one waiter, or a list of them (``Waiter.index`` is each
    one's position).

    Made by :meth:`AwaitEventRegistry._find` only, without an ``__init__`` (entries are made
    on the hot path). Most promises have at most one waiter: it is held without a list.
    """

    __slots__ = ("key", "terminal", "waiters")

    key: AwaitEventKey
    terminal: Resolution | None
    waiters: Waiter[Wakeable] | list[Waiter[Wakeable]] | None


class _Shard:
    __slots__ = ("archive", "entries")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        # Completed turn-control entries, oldest first.
        self.archive: dict[str, _Entry] = {}


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


def _wake_all(entry: _Entry, outcome: Resolution | LashError) -> None:
    """Wake the waiters of ``entry`` with ``outcome`` (sets their events); none is left."""
    waiters = entry.waiters
    entry.waiters = None
    if isinstance(waiters, Waiter):
        waiters.outcome = outcome
        waiters.event.set()
    elif waiters is not None:
        for w in waiters:
            w.outcome = outcome
            w.event.set()


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


class AwaitEventRegistry:
    """The await-event registry of one host, as pure state.

    Sessions are sharded: revoking or cancelling one session touches only its own entries.
    Scopes without a session (process, runtime operation) live in their own shard that session
    operations never reach. Revoked sessions are remembered (tombstones) for the life of the
    registry unless :meth:`forget_revocation` is called.

    Waits come in two forms sharing every rule. :meth:`begin_wait` parks a waiter addressed by
    id, and each operation reports the ids it woke in its :class:`Step`. :meth:`park` parks a
    waiter with its own event, which the registry sets itself when it wakes the waiter; the
    hosts use this form, with :meth:`resolve_and_wake`, :meth:`finish_parked` and
    :meth:`end_parked`, and never see a ``Step`` on their hot path.

    Not thread-safe: drive it from one thread (the drivers' ``resolve_threadsafe`` hops to the
    loop thread first).
    """

    def __init__(
        self,
        signer: KeySigner,
        *,
        archive_limit: int = DEFAULT_ARCHIVE_LIMIT,
        mint_cache: int = DEFAULT_MINT_CACHE,
    ) -> None:
        if archive_limit < 0 or mint_cache < 0:
            raise ValueError("archive_limit and mint_cache must be >= 0")
        self._signer = signer
        self._archive_limit = archive_limit
        self._mint_cache = mint_cache
        # key_id -> the key object this registry minted. A presented key that IS one of these
        # objects was signed here and cannot have been altered (keys are frozen). Their ids,
        # oldest first, in a queue: evicting the oldest is O(1) (taking the first key of a dict
        # that has had many deletions walks over their empty slots).
        self._minted: dict[str, AwaitEventKey] = {}
        self._minted_order: deque[str] = deque()
        self._shards: dict[str | None, _Shard] = {}
        self._revoked: set[str] = set()
        # Waiters begun with begin_wait, by id, and the ids their events report.
        self._waiters: dict[int, Waiter[_Reported]] = {}
        self._woken: list[int] = []
        self._next_waiter = 1
        self._parked = 0

    # -- introspection -----------------------------------------------------------------------

    def _matches(self, stored: AwaitEventKey, presented: AwaitEventKey) -> bool:
        """Whether ``presented`` is an authentic key for the promise ``stored`` names.

        The stored key was verified when it was stored, so an identical signature (compared in
        constant time) needs no HMAC. A different signature over the same identity can still
        be authentic after a secret rotation, so it is then verified (with a single secret,
        signatures are deterministic and a different one is simply wrong).
        """
        if stored is presented:
            return True
        if not _same_identity(stored, presented):
            return False
        if constant_time_eq(stored.signature, presented.signature):
            return True
        return self._signer.rotating and self._signer.verify(presented)

    @property
    def signer(self) -> KeySigner:
        return self._signer

    @property
    def parked_count(self) -> int:
        """Waiters parked or woken but not yet ended."""
        return self._parked

    def total_entry_count(self) -> int:
        """Live promise entries in all shards."""
        return sum(len(s.entries) for s in self._shards.values())

    def entry_count(self, session_id: str | None) -> int:
        """Live promise entries of one session (``None``: scopes without a session)."""
        shard = self._shards.get(session_id)
        return 0 if shard is None else len(shard.entries)

    def archived_count(self, session_id: str | None) -> int:
        """Completed turn-control keys remembered for a session."""
        shard = self._shards.get(session_id)
        return 0 if shard is None else len(shard.archive)

    def has_session_state(self, session_id: str | None) -> bool:
        """Whether the registry holds any state (a shard) for ``session_id``."""
        return session_id in self._shards

    def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked

    def revoked_sessions(self) -> Iterator[str]:
        """Every tombstoned session id."""
        return iter(sorted(self._revoked))

    def is_waiter_woken(self, waiter_id: int) -> bool:
        """Whether a parked waiter has been woken (its ``end_wait`` will not block anything)."""
        w = self._waiters.get(waiter_id)
        return w is not None and w.outcome is not None

    # -- keys --------------------------------------------------------------------------------

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)``; creates no state.

        Raises ``missing_execution_scope_id`` / ``invalid_await_event_wait_identity`` for blank
        ids and ``await_event_unknown_or_revoked`` if the scope's session was revoked.
        """
        validate_scope(scope)
        validate_wait(wait)
        sid = scope.session_id
        if not session_allows_access(sid in self._revoked):
            raise LashError(
                codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
                f"session {sid!r} was revoked: no keys are minted for it",
            )
        key = self._signer.mint(scope, wait)
        if self._mint_cache:
            minted = self._minted
            key_id = key.key_id
            if key_id not in minted:
                order = self._minted_order
                if len(order) >= self._mint_cache:
                    del minted[order.popleft()]
                order.append(key_id)
            minted[key_id] = key
        return key

    def _find(self, key: AwaitEventKey, create: bool) -> _Entry | None:
        """The promise ``key`` names: its entry (live, or archived turn control). If nothing is
        stored for it yet: a new pending entry with ``create``, else ``None``.

        Raises ``await_event_unknown_or_revoked`` (changing nothing) for a forged, tampered or
        foreign key, or a revoked session. A key object this registry minted is authentic as
        it stands; a stored entry holds a key verified when it was stored, so the very same
        key object needs no further check, and an equal one only a constant-time comparison;
        any other key is verified (HMAC).
        """
        if type(key) is not AwaitEventKey:
            raise _revoked_error()
        key_id = key.key_id
        trusted = type(key_id) is str and self._minted.get(key_id) is key
        if not trusted and not _well_formed(key):
            raise _revoked_error()
        sid = key.scope.session_id
        if not session_allows_access(sid in self._revoked):  # (None never is revoked)
            raise _revoked_error()
        shard = self._shards.get(sid)
        if shard is not None:
            entry = shard.entries.get(key_id)
            if entry is None and shard.archive:
                entry = shard.archive.get(key_id)
            if entry is not None:
                if entry.key is key or self._matches(entry.key, key):
                    return entry
                raise _revoked_error()
        if not trusted and not self._signer.verify(key):
            raise _revoked_error()
        if not create:
            return None
        if shard is None:
            shard = self._shards[sid] = _Shard()
        entry = shard.entries[key_id] = _Entry()
        entry.key = key
        entry.terminal = None
        entry.waiters = None
        return entry

    def _step(self, value: T) -> Step[T]:
        """``value`` with the ids of the waiters woken since ``_woken`` was last cleared."""
        woken = self._woken
        if not woken:
            return Step(value, _NO_WAKE)
        wake = frozenset(woken)
        woken.clear()
        return Step(value, wake)

    # -- resolve -----------------------------------------------------------------------------

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> Step[ResolveOutcome]:
        """Propose ``resolution`` as the key's terminal. The first one wins.

        Answers ``accepted``, ``already_resolved`` (with the terminal that won) or
        ``unknown_or_revoked`` (forged, tampered or foreign key, or a revoked session).
        """
        self._woken.clear()
        return self._step(self.resolve_and_wake(key, resolution))

    def resolve_and_wake(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """:meth:`resolve` without the :class:`Step`: the events of the waiters it wakes are
        set, and that is all."""
        if type(resolution) is not ResolutionOk or type(resolution.payload) not in _SCALARS:
            resolution = _check_resolution(resolution)
        try:
            # A promise nobody waited for yet stores the resolution (buffered).
            entry = self._find(key, True)
        except LashError:
            return UNKNOWN_OR_REVOKED
        assert entry is not None
        stored = entry.terminal
        if stored is not None and not proposal_wins(stored):
            return AlreadyResolved(stored)
        # `_settle(entry, resolution)`, inlined on this hot path.
        entry.terminal = resolution
        if entry.waiters is not None:
            _wake_all(entry, resolution)
        if type(key.wait) is TurnTerminal:
            self._archive_turn_control(key)
        return ACCEPTED

    def _settle(self, entry: _Entry, terminal: Resolution) -> None:
        entry.terminal = terminal
        if entry.waiters is not None:
            _wake_all(entry, terminal)

    def _archive_turn_control(self, terminal_key: AwaitEventKey) -> None:
        shard = self._shards[terminal_key.scope.session_id]
        gate_id = derive_key_id(terminal_key.scope, TurnCancelGate())
        for key_id in (gate_id, terminal_key.key_id):
            entry = shard.entries.pop(key_id, None)
            if entry is None:
                continue
            if entry.terminal is not None:
                shard.archive[key_id] = entry
            elif entry.waiters is not None:
                # A gate still pending when the terminal is published: its waiters would wait
                # forever, so wake them with an error (the reference drops them silently).
                abandoned = LashError(
                    codes.TURN_CONTROL_WAIT_ABANDONED,
                    "the turn's terminal was published before its cancel gate was settled",
                )
                _wake_all(entry, abandoned)
        archive = shard.archive
        while len(archive) > self._archive_limit:
            del archive[next(iter(archive))]

    # -- peek --------------------------------------------------------------------------------

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None`` if it has none yet. Never creates state.

        Raises ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session.
        """
        entry = self._find(key, False)
        return None if entry is None else entry.terminal

    # -- waits -------------------------------------------------------------------------------

    def begin_wait(self, key: AwaitEventKey) -> WaitStart:
        """Start waiting on ``key``: its terminal now, or a parked waiter id.

        A first waiter materialises a pending promise (which a session cancel sweeps).
        Raises ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session.
        """
        waiter_id = self._next_waiter
        start = self.park(key, lambda: _Reported(self._woken, waiter_id))
        if not isinstance(start, Waiter):
            return WaitReady(start)
        self._next_waiter = waiter_id + 1
        self._waiters[waiter_id] = start
        return WaitParked(waiter_id)

    def park(self, key: AwaitEventKey, new_event: Callable[[], E]) -> Resolution | Waiter[E]:
        """:meth:`begin_wait` for a waiter with its own event: the key's terminal now, or a
        :class:`Waiter` holding a fresh ``new_event()``, which the registry sets when it wakes
        the waiter (so the event exists before the caller gives up control)."""
        entry = self._find(key, True)
        assert entry is not None
        terminal = entry.terminal
        if terminal is not None:
            return terminal
        waiters = entry.waiters
        if waiters is None:
            waiter = Waiter(entry, new_event(), 0)
            entry.waiters = waiter  # type: ignore[assignment]
        elif isinstance(waiters, Waiter):
            waiter = Waiter(entry, new_event(), 1)
            entry.waiters = [waiters, waiter]  # type: ignore[list-item]
        else:
            waiter = Waiter(entry, new_event(), len(waiters))
            waiters.append(waiter)  # type: ignore[arg-type]
        self._parked += 1
        return waiter

    def end_wait(self, waiter_id: int, reason: WaitEnd) -> Step[Resolution]:
        """End a parked wait and return the terminal that won.

        * A woken waiter returns the terminal it was woken with (whatever ``reason`` says), or
          raises the error it was woken with (``await_event_unknown_or_revoked`` after a
          revocation).
        * A still-parked waiter ended by ``CANCELLED``/``DEADLINE`` writes ``cancelled``/
          ``timeout`` (first writer wins, so it may lose to a terminal already stored), wakes
          the key's other waiters, and returns the terminal. On a turn-control key it writes
          nothing and raises ``turn_control_wait_cancelled``/``turn_control_wait_timeout``.
        * Ending a still-parked waiter as ``WOKEN`` is a protocol error and changes nothing.
        """
        return self._by_id(waiter_id, lambda waiter: self.end_parked(waiter, reason))

    def finish_wait(self, waiter_id: int, *, cancel_requested: bool) -> Step[Resolution]:
        """End a wait whose event fired or whose deadline passed, choosing why.

        Woken by the registry: its terminal. Otherwise ``cancel_requested`` (an explicit token
        fired) ends it as ``CANCELLED``, else as ``DEADLINE`` (see :meth:`end_wait`).
        """
        return self._by_id(
            waiter_id,
            lambda waiter: self.finish_parked(waiter, cancel_requested=cancel_requested),
        )

    def _by_id(
        self, waiter_id: int, end: Callable[[Waiter[_Reported]], Resolution]
    ) -> Step[Resolution]:
        waiter = self._waiters.get(waiter_id) if type(waiter_id) is int else None
        if waiter is None:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_UNKNOWN, f"waiter {waiter_id!r} is not parked here"
            )
        self._woken.clear()
        try:
            return self._step(end(waiter))
        finally:
            if waiter.entry is None:
                del self._waiters[waiter_id]

    def finish_parked(self, waiter: Waiter[E], *, cancel_requested: bool) -> Resolution:
        """:meth:`finish_wait` for a waiter parked with :meth:`park`."""
        return self.end_parked(waiter, None, cancel_requested)

    def end_parked(
        self, waiter: Waiter[E], reason: WaitEnd | None, cancel_requested: bool = False
    ) -> Resolution:
        """:meth:`end_wait` for a waiter parked with :meth:`park` (the events of the waiters it
        wakes are set). A ``reason`` of ``None`` chooses it as :meth:`finish_parked` does."""
        entry = waiter.entry
        if entry is None:
            raise LocalProtocolError(codes.AWAIT_EVENT_WAITER_UNKNOWN, "this wait already ended")
        outcome = waiter.outcome
        if outcome is not None:
            # Woken: the outcome it was woken with, whatever the reason.
            waiter.entry = None
            self._parked -= 1
            if isinstance(outcome, LashError):
                raise LashError(outcome.code, outcome.message)
            return outcome
        if reason is None:
            reason = WaitEnd.CANCELLED if cancel_requested else WaitEnd.DEADLINE
        elif reason is WaitEnd.WOKEN or not isinstance(reason, WaitEnd):
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
        else:
            entry.waiters = None
        if entry.key.wait.is_turn_control:
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

    # -- sessions ----------------------------------------------------------------------------

    def revoke_session(self, session_id: str) -> Step[bool]:
        """Tombstone a session: drop its promises, wake its waiters with
        ``await_event_unknown_or_revoked``, and refuse its keys from now on.

        Returns whether the session was newly revoked (revoking twice is harmless). Costs time
        in proportion to the session's own entries.
        """
        _check_session_id(session_id)
        if not revoke_transition(session_id in self._revoked):
            return Step(False, _NO_WAKE)
        self._revoked.add(session_id)
        shard = self._shards.pop(session_id, None)
        self._woken.clear()
        if shard is not None:
            # One error for all of them (each waiter raises its own copy).
            error = _revoked_error()
            for entry in shard.entries.values():
                if entry.waiters is not None:
                    _wake_all(entry, error)
        return self._step(True)

    def forget_revocation(self, session_id: str) -> bool:
        """Deliberately drop a session's tombstone (its keys will work again). Returns whether
        there was one."""
        if session_id in self._revoked:
            self._revoked.remove(session_id)
            return True
        return False

    def cancel_session(self, session_id: str) -> Step[int]:
        """Resolve every pending, non-turn-control wait of a session as ``cancelled``.

        Keys minted but never awaited are untouched (a later resolve is still accepted), turn
        control is untouched, and keys minted afterwards work normally. Returns how many
        promises were cancelled.
        """
        _check_session_id(session_id)
        shard = self._shards.get(session_id)
        if shard is None or session_id in self._revoked:
            return Step(0, _NO_WAKE)
        self._woken.clear()
        count = 0
        for entry in shard.entries.values():
            state: PromiseState = (
                _PENDING if entry.terminal is None else PromiseResolved(entry.terminal)
            )
            transition = cancel_sweep_transition(entry.key.wait, state)
            if isinstance(transition, StoreTransition):
                count += 1
                self._settle(entry, transition.resolution)
        return self._step(count)


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
