"""The pure rules of an await-event promise: its states, the transitions a resolve or a session
cancel sweep makes, and what a resolve answers with.

A promise's first terminal wins forever; a resolution that lands before anyone waits is buffered;
a revoked session refuses everything. :class:`~lash_core.promise.AwaitEventRegistry` and the
durable stores (:mod:`lash_core.store.waits`) apply these rules; :mod:`lash_core.promise`
re-exports them.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import attrs

from lash_core.resolution import (
    ACCEPTED,
    CANCELLED,
    UNKNOWN_OR_REVOKED,
    AlreadyResolved,
    Resolution,
    ResolveOutcome,
)
from lash_core.scope import (
    WaitIdentity,
)

__all__ = [
    "AlreadyResolvedTransition",
    "PromiseMissing",
    "PromisePending",
    "PromiseResolved",
    "PromiseRevoked",
    "PromiseState",
    "PromiseTransition",
    "StoreTransition",
    "UnchangedTransition",
    "UnknownOrRevokedTransition",
    "cancel_sweep_transition",
    "proposal_wins",
    "resolve_transition",
    "revoke_transition",
    "session_allows_access",
    "transition_outcome",
]


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
