"""Keyed promises: the pure transition rules and the await-event registry.

A promise is named by a signed :class:`~lash_core.keys.AwaitEventKey`. Its first terminal wins
forever; a resolution that lands before anyone waits is buffered; a revoked session refuses
everything. The rules (:func:`resolve_transition`, :func:`cancel_sweep_transition`,
:func:`revoke_transition`) are plain functions, and :class:`AwaitEventRegistry` applies them to
in-memory state, with memory bounded by a retention rule (recent terminals in full, older ones
as fingerprints, closed sessions not at all).

The registry never waits. A wait that cannot finish at once is *parked* with its own
level-triggered event (:meth:`AwaitEventRegistry.park`), which the registry sets when it wakes
the waiter; the driver waits for the event (or a deadline, or a cancel) and ends the wait with
:meth:`AwaitEventRegistry.end_parked`, whose answer is the terminal that won. So a wake-up can
never be lost: a waiter is parked, and its event exists, before the driver gives up control.
"""

from __future__ import annotations

import enum
from array import array
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Final, Generic, Protocol, TypeAlias, TypeVar

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
    "DEFAULT_MINT_CACHE",
    "DEFAULT_RETAIN_RECENT",
    "AlreadyResolvedTransition",
    "AwaitEventRegistry",
    "PromiseMissing",
    "PromisePending",
    "PromiseResolved",
    "PromiseRevoked",
    "PromiseState",
    "PromiseTransition",
    "StoreTransition",
    "UnchangedTransition",
    "UnknownOrRevokedTransition",
    "WaitEnd",
    "Waiter",
    "Wakeable",
    "cancel_sweep_transition",
    "proposal_wins",
    "resolve_transition",
    "revoke_transition",
    "session_allows_access",
    "transition_outcome",
]

E = TypeVar("E", bound="Wakeable")

DEFAULT_RETAIN_RECENT: Final = 16_384
"""Terminals the registry keeps in full (registry-wide); older ones are retired."""
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

    Sessions are sharded: revoking, cancelling or closing one session touches only its own
    entries. Scopes without a session (process, runtime operation) live in their own shard
    that session operations never reach. Revoked sessions are remembered (tombstones) for the
    life of the registry unless :meth:`forget_revocation` is called; closed sessions
    (:meth:`close_session`) are forgotten entirely.

    Memory is bounded by a retention rule: a pending promise is kept while anyone waits on
    it; the last ``retain_recent`` terminals (registry-wide, in the order they were written)
    are kept in full; an older terminal is *retired*: its entry is dropped and only a 64-bit
    fingerprint of its key id stays in its session, so a duplicate resolve, a peek or a wait
    raises ``await_event_retired`` instead of seeing the key as new. See docs/registry.md,
    "Running a server".

    A wait is parked with :meth:`park`, which takes the waiter's event; the registry sets it
    when it wakes the waiter, and the wait ends with :meth:`end_parked`.

    Not thread-safe: drive it from one thread (the drivers' ``resolve_threadsafe`` hops to the
    loop thread first).
    """

    def __init__(
        self,
        signer: KeySigner,
        *,
        retain_recent: int = DEFAULT_RETAIN_RECENT,
        mint_cache: int = DEFAULT_MINT_CACHE,
    ) -> None:
        if type(retain_recent) is not int or type(mint_cache) is not int:
            raise TypeError("retain_recent and mint_cache must be ints")
        if retain_recent < 0 or mint_cache < 0:
            raise ValueError("retain_recent and mint_cache must be >= 0")
        self._signer = signer
        self._retain_recent = retain_recent
        self._mint_cache = mint_cache
        # key_id -> the key object this registry minted. A presented key that IS one of these
        # objects was signed here and cannot have been altered (keys are frozen). Their ids,
        # oldest first, in a queue: evicting the oldest is O(1) (taking the first key of a dict
        # that has had many deletions walks over their empty slots).
        self._minted: dict[str, AwaitEventKey] = {}
        self._minted_order: deque[str] = deque()
        self._shards: dict[str | None, _Shard] = {}
        self._revoked: set[str] = set()
        # Entries holding a terminal, oldest terminal first (at most retain_recent of them).
        self._recent: OrderedDict[_Entry, None] = OrderedDict()
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
        return len(self._recent)

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
        """The promise ``key`` names: its entry. If nothing is stored for it yet: a new pending
        entry with ``create``, else ``None``.

        Raises, changing nothing: ``await_event_key_type`` for something that is not a key at
        all; ``await_event_unknown_or_revoked`` for a forged, tampered or foreign key, or a
        revoked session; ``await_event_retired`` for an authentic key whose terminal was
        retired. A key object this registry minted is authentic as it stands; a stored entry
        holds a key verified when it was stored, so the very same key object needs no further
        check, and an equal one only a constant-time comparison; any other key is verified
        (HMAC).
        """
        if type(key) is not AwaitEventKey:
            if not isinstance(key, AwaitEventKey):
                raise _key_type_error(key)
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
            if entry is not None:
                if entry.key is key or self._matches(entry.key, key):
                    return entry
                raise _revoked_error()
        if not trusted and not self._signer.verify(key):
            raise _revoked_error()
        retired = None if shard is None else shard.retired
        if retired is not None and _fingerprint(key_id) in retired:
            raise _retired_error(self._retain_recent)
        if not create:
            return None
        if shard is None:
            shard = self._shards[sid] = _Shard()
        entry = shard.entries[key_id] = _Entry()
        entry.key = key
        entry.terminal = None
        entry.waiters = None
        return entry

    # -- retention ---------------------------------------------------------------------------

    def _keep(self, entry: _Entry) -> None:
        """``entry`` just got its terminal: it joins the recent window, and the oldest terminal
        beyond the window is retired: its entry is dropped, its key id's fingerprint kept."""
        recent = self._recent
        recent[entry] = None
        if len(recent) <= self._retain_recent:
            return
        key = recent.popitem(last=False)[0].key
        # The shard exists: closing or revoking a session takes its entries out of the window.
        shard = self._shards[key.scope.session_id]
        entries = shard.entries
        del entries[key.key_id]
        if not entries:
            # A dict never shrinks: a session that held many entries would keep their table.
            shard.entries = {}
        retired = shard.retired
        if retired is None:
            retired = shard.retired = _Retired()
        retired.add(_fingerprint(key.key_id))

    def _forget(self, entry: _Entry) -> None:
        """Drop a pending entry nobody waits on any more (no different from no entry at all)."""
        key = entry.key
        shard = self._shards[key.scope.session_id]
        if shard.entries.get(key.key_id) is entry:
            del shard.entries[key.key_id]

    def _drop_shard(self, session_id: str, error: LashError) -> _Shard | None:
        """Remove a session's shard, take its terminals out of the window and wake its parked
        waiters with ``error``."""
        shard = self._shards.pop(session_id, None)
        if shard is not None:
            recent = self._recent
            for entry in shard.entries.values():
                if entry.terminal is not None:
                    recent.pop(entry, None)
                elif entry.waiters is not None:
                    _wake_all(entry, error)
        return shard

    # -- resolve -----------------------------------------------------------------------------

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Propose ``resolution`` as the key's terminal. The first one wins, and the events of
        the waiters it wakes are set.

        Answers ``accepted``, ``already_resolved`` (with the terminal that won) or
        ``unknown_or_revoked`` (forged, tampered or foreign key, or a revoked session).
        Raises, changing nothing, ``await_event_key_type`` if ``key`` is not an
        :class:`~lash_core.keys.AwaitEventKey` (a JSON text or dict not yet decoded),
        ``await_event_invalid_resolution`` for a bad resolution, and ``await_event_retired``
        if the key's terminal was retired (it was resolved long ago).
        """
        if type(resolution) is not ResolutionOk or type(resolution.payload) not in _SCALARS:
            resolution = _check_resolution(resolution)
        try:
            # A promise nobody waited for yet stores the resolution (buffered).
            entry = self._find(key, True)
        except LashError as exc:
            if exc.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED:
                return UNKNOWN_OR_REVOKED
            raise
        assert entry is not None
        stored = entry.terminal
        if stored is not None and not proposal_wins(stored):
            return AlreadyResolved(stored)
        if type(key.wait) is TurnTerminal:
            self._end_turn(key)
        # `_settle(entry, resolution)`, inlined on this hot path.
        entry.terminal = resolution
        if entry.waiters is not None:
            _wake_all(entry, resolution)
        self._keep(entry)
        return ACCEPTED

    def _settle(self, entry: _Entry, terminal: Resolution) -> None:
        entry.terminal = terminal
        if entry.waiters is not None:
            _wake_all(entry, terminal)
        self._keep(entry)

    def _end_turn(self, terminal_key: AwaitEventKey) -> None:
        """The turn's terminal is being published: a cancel gate still pending is dropped, and
        its waiters (who would wait forever) are woken with an error (the reference drops them
        silently)."""
        shard = self._shards[terminal_key.scope.session_id]
        gate_id = derive_key_id(terminal_key.scope, TurnCancelGate())
        gate = shard.entries.get(gate_id)
        if gate is None or gate.terminal is not None:
            return
        del shard.entries[gate_id]
        if gate.waiters is not None:
            abandoned = LashError(
                codes.TURN_CONTROL_WAIT_ABANDONED,
                "the turn's terminal was published before its cancel gate was settled",
            )
            _wake_all(gate, abandoned)

    # -- peek --------------------------------------------------------------------------------

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None`` if it has none yet. Never creates state.

        Raises ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session,
        ``await_event_key_type`` for something that is not a key, and ``await_event_retired``
        if the key's terminal was retired.
        """
        entry = self._find(key, False)
        return None if entry is None else entry.terminal

    # -- waits -------------------------------------------------------------------------------

    def park(self, key: AwaitEventKey, new_event: Callable[[], E]) -> Resolution | Waiter[E]:
        """Start waiting on ``key``: its terminal now, or a parked :class:`Waiter` holding a
        fresh ``new_event()``, which the registry sets when it wakes the waiter (so the event
        exists before the caller gives up control, and no wake-up can be lost).

        A first waiter materialises a pending promise (which a session cancel sweeps). Raises
        ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session,
        ``await_event_key_type`` for something that is not a key, and ``await_event_retired``
        if the key's terminal was retired.
        """
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
        entry = waiter.entry if type(waiter) is Waiter else None
        if entry is None:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_UNKNOWN,
                "this wait already ended"
                if type(waiter) is Waiter
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

    # -- sessions ----------------------------------------------------------------------------

    def revoke_session(self, session_id: str) -> bool:
        """Tombstone a session: drop its promises, wake its waiters with
        ``await_event_unknown_or_revoked``, and refuse its keys from now on.

        Returns whether the session was newly revoked (revoking twice is harmless). Costs time
        in proportion to the session's own entries.
        """
        _check_session_id(session_id)
        if not revoke_transition(session_id in self._revoked):
            return False
        self._revoked.add(session_id)
        # One error for all of them (each waiter raises its own copy).
        self._drop_shard(session_id, _revoked_error())
        return True

    def forget_revocation(self, session_id: str) -> bool:
        """Deliberately drop a session's tombstone (its keys will work again). Returns whether
        there was one."""
        if session_id in self._revoked:
            self._revoked.remove(session_id)
            return True
        return False

    def close_session(self, session_id: str) -> bool:
        """Forget a session that is over: free all its state, leaving no tombstone.

        Its promises, recent terminals and retired fingerprints are dropped, and its parked
        waiters are woken with ``await_event_session_closed``. Its keys are not refused
        afterwards: one presented again behaves as a key never used (a resolve is accepted
        and buffered, a peek answers ``None``). Use :meth:`revoke_session` instead when its
        keys may still be presented and must be refused. A revoked session keeps its
        tombstone. Returns whether the session had any state. Costs time in proportion to the
        session's own entries.
        """
        _check_session_id(session_id)
        return self._drop_shard(session_id, _closed_error()) is not None

    def cancel_session(self, session_id: str) -> int:
        """Resolve every pending, non-turn-control wait of a session as ``cancelled``.

        Keys minted but never awaited are untouched (a later resolve is still accepted), turn
        control is untouched, and keys minted afterwards work normally. Returns how many
        promises were cancelled.
        """
        _check_session_id(session_id)
        shard = self._shards.get(session_id)
        if shard is None or session_id in self._revoked:
            return 0
        count = 0
        # Settling may retire entries of this shard: walk a copy.
        for entry in list(shard.entries.values()):
            state: PromiseState = (
                _PENDING if entry.terminal is None else PromiseResolved(entry.terminal)
            )
            transition = cancel_sweep_transition(entry.key.wait, state)
            if isinstance(transition, StoreTransition):
                count += 1
                self._settle(entry, transition.resolution)
        return count


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
