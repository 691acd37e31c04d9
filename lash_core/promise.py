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

The pure rules live in :mod:`lash_core._promise_rules`, the registry's state (waiters, entries,
retired fingerprints, shards, input checks) in :mod:`lash_core._promise_state` and its parked
waits (park, end) in :mod:`lash_core._promise_wait`; this module holds the registry and
re-exports their public names.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from lash_core import codes
from lash_core._promise_rules import _PENDING
from lash_core._promise_rules import AlreadyResolvedTransition as AlreadyResolvedTransition
from lash_core._promise_rules import PromiseMissing as PromiseMissing
from lash_core._promise_rules import PromisePending as PromisePending
from lash_core._promise_rules import PromiseResolved as PromiseResolved
from lash_core._promise_rules import PromiseRevoked as PromiseRevoked
from lash_core._promise_rules import PromiseState as PromiseState
from lash_core._promise_rules import PromiseTransition as PromiseTransition
from lash_core._promise_rules import StoreTransition as StoreTransition
from lash_core._promise_rules import UnchangedTransition as UnchangedTransition
from lash_core._promise_rules import UnknownOrRevokedTransition as UnknownOrRevokedTransition
from lash_core._promise_rules import cancel_sweep_transition as cancel_sweep_transition
from lash_core._promise_rules import proposal_wins as proposal_wins
from lash_core._promise_rules import resolve_transition as resolve_transition
from lash_core._promise_rules import revoke_transition as revoke_transition
from lash_core._promise_rules import session_allows_access as session_allows_access
from lash_core._promise_rules import transition_outcome as transition_outcome
from lash_core._promise_state import (
    _FINGERPRINT_MASK,
    _SCALARS,
    _check_resolution,
    _check_session_id,
    _closed_error,
    _key_type_error,
    _retired_error,
    _revoked_error,
    _same_identity,
    _well_formed,
)
from lash_core._promise_state import WaitEnd as WaitEnd
from lash_core._promise_state import Waiter as Waiter
from lash_core._promise_state import Wakeable as Wakeable
from lash_core._promise_state import _Entry as _Entry
from lash_core._promise_state import _Retired as _Retired
from lash_core._promise_state import _Shard as _Shard
from lash_core._promise_state import _wake_all as _wake_all
from lash_core._promise_wait import _RegistryWaits
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner, constant_time_eq, derive_key_id
from lash_core.resolution import (
    ACCEPTED,
    UNKNOWN_OR_REVOKED,
    AlreadyResolved,
    Resolution,
    ResolutionOk,
    ResolveOutcome,
)
from lash_core.scope import (
    ExecutionScope,
    TurnCancelGate,
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


DEFAULT_RETAIN_RECENT: Final = 16_384
"""Terminals the registry keeps in full (registry-wide); older ones are retired."""
DEFAULT_MINT_CACHE: Final = 65_536
"""Recently minted key objects remembered, so presenting one of them back needs no HMAC."""


class AwaitEventRegistry(_RegistryWaits):
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
        if not isinstance(signer, KeySigner):
            raise LocalProtocolError(
                codes.AWAIT_EVENT_REGISTRY_INVALID,
                f"signer must be a KeySigner, got {type(signer).__name__}",
            )
        for name, value in (("retain_recent", retain_recent), ("mint_cache", mint_cache)):
            if type(value) is not int or value < 0:
                raise LocalProtocolError(
                    codes.AWAIT_EVENT_REGISTRY_INVALID,
                    f"{name} must be a whole number >= 0, got {value!r}",
                )
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
        # The window of recent terminals: entries holding one, oldest first. An entry of a
        # session closed or revoked since is marked (its terminal cleared) and skipped when it
        # reaches the front; the marked ones are swept out once they outnumber the rest.
        self._recent: deque[_Entry] = deque()
        self._join_recent = self._recent.append
        self._room = retain_recent
        """Terminals the window takes before its oldest is retired (below 0: retire)."""
        self._marked = 0
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
        revoked = self._revoked
        # The rule, consulted once any session is revoked (until then it allows every one).
        if revoked and not session_allows_access(sid in revoked):  # (None never is revoked)
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
        if retired is not None:
            # `_fingerprint(key_id) in retired`, its first probe inlined: most new keys miss
            # on an empty slot.
            fp = (hash(key_id) & _FINGERPRINT_MASK) or 1
            slots = retired.slots
            held = slots[fp & (len(slots) - 1)]
            if held and (held == fp or fp in retired):
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
        self._join_recent(entry)
        self._room -= 1
        if self._room < 0:
            self._retire_oldest()

    def _retire_oldest(self) -> None:
        """Retire the oldest terminal of the window (it holds one too many)."""
        recent = self._recent
        entry = recent.popleft()
        while entry.terminal is None:  # marked: its session is gone
            self._marked -= 1
            entry = recent.popleft()
        self._room += 1
        key = entry.key
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
        retired.add((hash(key.key_id) & _FINGERPRINT_MASK) or 1)  # _fingerprint(key.key_id)

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
            marked = 0
            for entry in shard.entries.values():
                if entry.terminal is not None:
                    entry.terminal = None  # marked: out of the window (nothing else holds it)
                    marked += 1
                elif entry.waiters is not None:
                    _wake_all(entry, error)
            if marked:
                self._room += marked
                self._marked += marked
                recent = self._recent
                if self._marked > 64 and 2 * self._marked > len(recent):
                    kept = [entry for entry in recent if entry.terminal is not None]
                    recent.clear()
                    recent.extend(kept)
                    self._marked = 0
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
        entry = None
        if type(key) is AwaitEventKey:
            # `_find(key, True)`'s common case, inlined: a key minted here whose promise is
            # stored under that very key object, in a session nobody revoked.
            key_id = key.key_id
            if type(key_id) is str and self._minted.get(key_id) is key:
                sid = key.scope.session_id
                revoked = self._revoked
                shard = None if revoked and sid in revoked else self._shards.get(sid)
                if shard is not None:
                    entry = shard.entries.get(key_id)
                    if entry is not None and entry.key is not key:
                        entry = None
        if entry is None:
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
        # `_settle(entry, resolution)`, inlined on this hot path (with `_keep`'s common case).
        entry.terminal = resolution
        waiters = entry.waiters
        if waiters is not None:
            if not isinstance(waiters, list):
                # `_wake_all(entry, resolution)`, inlined for the common lone waiter.
                entry.waiters = None
                waiters.outcome = resolution
                waiters.set()
            else:
                _wake_all(entry, resolution)
        if stored is None:  # (a terminal replaced, were that allowed, keeps its place)
            self._join_recent(entry)
            self._room -= 1
            if self._room < 0:
                self._retire_oldest()
        return ACCEPTED

    def _settle(self, entry: _Entry, terminal: Resolution) -> None:
        stored = entry.terminal
        entry.terminal = terminal
        if entry.waiters is not None:
            _wake_all(entry, terminal)
        if stored is None:  # (a terminal replaced, were that allowed, keeps its place)
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
