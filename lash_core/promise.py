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
before the driver gives up control.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Final, Generic, NamedTuple, TypeAlias, TypeVar

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
    "cancel_sweep_transition",
    "resolve_transition",
    "revoke_transition",
    "session_allows_access",
    "transition_outcome",
]

T = TypeVar("T")

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


def resolve_transition(state: PromiseState, proposed: Resolution) -> PromiseTransition:
    """First writer wins; a resolution before any wait is stored (buffered)."""
    if isinstance(state, PromiseResolved):
        return AlreadyResolvedTransition(state.terminal)
    if isinstance(state, PromiseRevoked):
        return _REFUSED
    return StoreTransition(proposed)


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


# -- registry state --------------------------------------------------------------------------


class _Waiter:
    __slots__ = ("entry", "outcome", "waiter_id")

    def __init__(self, waiter_id: int, entry: _Entry) -> None:
        self.waiter_id = waiter_id
        self.entry = entry
        # Set when woken: the terminal that won, or the error the waiter must raise.
        self.outcome: Resolution | LashError | None = None


class _Entry:
    __slots__ = ("key", "terminal", "waiters")

    def __init__(self, key: AwaitEventKey, terminal: Resolution | None) -> None:
        self.key = key
        self.terminal = terminal
        self.waiters: dict[int, _Waiter] = {}


class _Shard:
    __slots__ = ("archive", "entries")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        # Completed turn-control keys, oldest first: key_id -> (key, terminal).
        self.archive: dict[str, tuple[AwaitEventKey, Resolution]] = {}


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


_SCALAR_PAYLOADS: Final = frozenset((str, bool, type(None)))


def _check_resolution(resolution: object) -> Resolution:
    if type(resolution) is ResolutionOk and type(resolution.payload) in _SCALAR_PAYLOADS:
        return resolution
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
        # key_id -> the key object this registry minted (oldest first). A presented key that IS
        # one of these objects was signed here and cannot have been altered (keys are frozen).
        self._minted: dict[str, AwaitEventKey] = {}
        self._shards: dict[str | None, _Shard] = {}
        self._revoked: set[str] = set()
        self._waiters: dict[int, _Waiter] = {}
        self._next_waiter = 1

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
        return len(self._waiters)

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
        if sid is not None and sid in self._revoked:
            raise LashError(
                codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
                f"session {sid!r} was revoked: no keys are minted for it",
            )
        key = self._signer.mint(scope, wait)
        minted = self._minted
        if self._mint_cache:
            if key.key_id not in minted and len(minted) >= self._mint_cache:
                del minted[next(iter(minted))]
            minted[key.key_id] = key
        return key

    def _trusted(self, key: AwaitEventKey) -> bool:
        """Whether ``key`` is a key object this registry minted (so authentic as it stands)."""
        key_id = key.key_id
        return type(key_id) is str and self._minted.get(key_id) is key

    def _lookup(self, key: AwaitEventKey) -> tuple[str | None, bool, _Shard | None]:
        """(session id, revoked, shard) of a well-formed key."""
        sid = key.scope.session_id
        if sid is None:
            return None, False, self._shards.get(None)
        return sid, sid in self._revoked, self._shards.get(sid)

    # -- resolve -----------------------------------------------------------------------------

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> Step[ResolveOutcome]:
        """Propose ``resolution`` as the key's terminal. The first one wins.

        Answers ``accepted``, ``already_resolved`` (with the terminal that won) or
        ``unknown_or_revoked`` (forged, tampered or foreign key, or a revoked session).
        """
        resolution = _check_resolution(resolution)
        if type(key) is not AwaitEventKey:
            return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
        trusted = self._trusted(key)
        if not trusted and not _well_formed(key):
            return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
        sid, revoked, shard = self._lookup(key)
        if not session_allows_access(revoked):
            return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
        key_id = key.key_id
        entry = None
        if shard is not None:
            archived = shard.archive.get(key_id)
            if archived is not None:
                if not self._matches(archived[0], key):
                    return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
                return Step(AlreadyResolved(archived[1]), _NO_WAKE)
            entry = shard.entries.get(key_id)
        # A live entry holds a key verified when it was stored: comparing against it (in
        # constant time) is as strong as recomputing the HMAC, and much cheaper.
        if entry is None and not trusted and not self._signer.verify(key):
            return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
        if entry is not None and not self._matches(entry.key, key):
            return Step(UNKNOWN_OR_REVOKED, _NO_WAKE)
        state: PromiseState = (
            _MISSING
            if entry is None
            else _PENDING
            if entry.terminal is None
            else PromiseResolved(entry.terminal)
        )
        transition = resolve_transition(state, resolution)
        if isinstance(transition, AlreadyResolvedTransition):
            return Step(AlreadyResolved(transition.terminal), _NO_WAKE)
        wake: frozenset[int] = _NO_WAKE
        if entry is not None:
            wake = self._settle(entry, resolution)
        else:
            if shard is None:
                shard = self._shards[sid] = _Shard()
            shard.entries[key_id] = _Entry(key, resolution)
        assert shard is not None
        if isinstance(key.wait, TurnTerminal):
            wake = self._archive_turn_control(shard, key, wake)
        return Step(ACCEPTED, wake)

    def _settle(self, entry: _Entry, terminal: Resolution) -> frozenset[int]:
        entry.terminal = terminal
        if not entry.waiters:
            return _NO_WAKE
        for w in entry.waiters.values():
            w.outcome = terminal
        woken = frozenset(entry.waiters)
        entry.waiters = {}
        return woken

    def _archive_turn_control(
        self, shard: _Shard, terminal_key: AwaitEventKey, wake: frozenset[int]
    ) -> frozenset[int]:
        gate_id = derive_key_id(terminal_key.scope, TurnCancelGate())
        abandoned: list[int] = []
        for key_id in (gate_id, terminal_key.key_id):
            entry = shard.entries.pop(key_id, None)
            if entry is None:
                continue
            if entry.terminal is not None:
                shard.archive[key_id] = (entry.key, entry.terminal)
            else:
                # A gate still pending when the terminal is published: its waiters would wait
                # forever, so wake them with an error (the reference drops them silently).
                for w in entry.waiters.values():
                    w.outcome = LashError(
                        codes.TURN_CONTROL_WAIT_ABANDONED,
                        "the turn's terminal was published before its cancel gate was settled",
                    )
                    abandoned.append(w.waiter_id)
        archive = shard.archive
        while len(archive) > self._archive_limit:
            del archive[next(iter(archive))]
        return wake | frozenset(abandoned) if abandoned else wake

    # -- peek --------------------------------------------------------------------------------

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None`` if it has none yet. Never creates state.

        Raises ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session.
        """
        if type(key) is not AwaitEventKey:
            raise _revoked_error()
        trusted = self._trusted(key)
        if not trusted and not _well_formed(key):
            raise _revoked_error()
        _sid, revoked, shard = self._lookup(key)
        if revoked:
            raise _revoked_error()
        if shard is not None:
            archived = shard.archive.get(key.key_id)
            if archived is not None:
                if not self._matches(archived[0], key):
                    raise _revoked_error()
                return archived[1]
            entry = shard.entries.get(key.key_id)
            if entry is not None:
                if not self._matches(entry.key, key):
                    raise _revoked_error()
                return entry.terminal
        if not trusted and not self._signer.verify(key):
            raise _revoked_error()
        return None

    # -- waits -------------------------------------------------------------------------------

    def begin_wait(self, key: AwaitEventKey) -> WaitStart:
        """Start waiting on ``key``: its terminal now, or a parked waiter id.

        A first waiter materialises a pending promise (which a session cancel sweeps).
        Raises ``await_event_unknown_or_revoked`` for a forged/tampered key or revoked session.
        """
        if type(key) is not AwaitEventKey:
            raise _revoked_error()
        trusted = self._trusted(key)
        if not trusted and not _well_formed(key):
            raise _revoked_error()
        sid, revoked, shard = self._lookup(key)
        if revoked:
            raise _revoked_error()
        key_id = key.key_id
        entry = None
        if shard is not None:
            archived = shard.archive.get(key_id)
            if archived is not None:
                if not self._matches(archived[0], key):
                    raise _revoked_error()
                return WaitReady(archived[1])
            entry = shard.entries.get(key_id)
        if entry is not None:
            if not self._matches(entry.key, key):
                raise _revoked_error()
            if entry.terminal is not None:
                return WaitReady(entry.terminal)
        else:
            if not trusted and not self._signer.verify(key):
                raise _revoked_error()
            if shard is None:
                shard = self._shards[sid] = _Shard()
            entry = shard.entries[key_id] = _Entry(key, None)
        waiter_id = self._next_waiter
        self._next_waiter = waiter_id + 1
        waiter = _Waiter(waiter_id, entry)
        entry.waiters[waiter_id] = waiter
        self._waiters[waiter_id] = waiter
        return WaitParked(waiter_id)

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
        waiter = self._waiters.get(waiter_id) if type(waiter_id) is int else None
        if waiter is None:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_UNKNOWN, f"waiter {waiter_id!r} is not parked here"
            )
        outcome = waiter.outcome
        if outcome is not None:
            del self._waiters[waiter_id]
            if isinstance(outcome, LashError):
                raise LashError(outcome.code, outcome.message)
            return Step(outcome, _NO_WAKE)
        if reason is WaitEnd.WOKEN or not isinstance(reason, WaitEnd):
            raise LocalProtocolError(
                codes.AWAIT_EVENT_WAITER_NOT_WOKEN,
                f"waiter {waiter_id} has not been woken; end it as cancelled or deadline",
            )
        entry = waiter.entry
        del self._waiters[waiter_id]
        del entry.waiters[waiter_id]
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
        return Step(proposed, self._settle(entry, proposed))

    def finish_wait(self, waiter_id: int, *, cancel_requested: bool) -> Step[Resolution]:
        """End a wait whose event fired or whose deadline passed, choosing why.

        Woken by the registry: its terminal. Otherwise ``cancel_requested`` (an explicit token
        fired) ends it as ``CANCELLED``, else as ``DEADLINE`` (see :meth:`end_wait`).
        """
        waiter = self._waiters.get(waiter_id) if type(waiter_id) is int else None
        if waiter is not None and waiter.outcome is not None:
            reason = WaitEnd.WOKEN
        elif cancel_requested:
            reason = WaitEnd.CANCELLED
        else:
            reason = WaitEnd.DEADLINE
        return self.end_wait(waiter_id, reason)

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
        if shard is None:
            return Step(True, _NO_WAKE)
        woken: list[int] = []
        for entry in shard.entries.values():
            for w in entry.waiters.values():
                w.outcome = _revoked_error()
                woken.append(w.waiter_id)
            entry.waiters = {}
        return Step(True, frozenset(woken))

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
        woken: list[int] = []
        count = 0
        for entry in shard.entries.values():
            state: PromiseState = (
                _PENDING if entry.terminal is None else PromiseResolved(entry.terminal)
            )
            transition = cancel_sweep_transition(entry.key.wait, state)
            if isinstance(transition, StoreTransition):
                count += 1
                woken.extend(self._settle(entry, transition.resolution))
        return Step(count, frozenset(woken) if woken else _NO_WAKE)


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
