"""Session leases and fencing: who may write a session's journal and turns, and until when.

* one owner per session: :func:`acquire_transition` gives a new holder the next fencing token
  (``fence + 1``) when the session has no live lease, refuses another owner while one is live
  (``lease_held``), and lets the holder acquire again (same token, later expiry);
* every journal and turn write presents its lease; :func:`check_fence` refuses (``lease_lost``)
  a lease that is not the current one or has expired, and the store checks it in the same
  transaction as the write, so a paused owner that lost its lease writes nothing.
"""

from __future__ import annotations

from typing import Final

import attrs

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError

__all__ = [
    "Lease",
    "LeaseState",
    "Owner",
    "acquire_transition",
    "check_fence",
    "check_lease_covers",
    "check_now",
    "release_transition",
    "renew_transition",
]


def is_blank(value: object) -> bool:
    """Whether ``value`` is not a string with something other than whitespace in it."""
    return not isinstance(value, str) or not value.strip()


def check_now(now_ms: object, name: str = "now_ms") -> int:
    """``now_ms`` if it is a non-negative whole number of milliseconds, else ``lease_invalid``."""
    if type(now_ms) is not int or now_ms < 0:
        raise LocalProtocolError(
            codes.LEASE_INVALID,
            f"{name} is a non-negative whole number of milliseconds (got {now_ms!r})",
        )
    return now_ms


@attrs.frozen
class Owner:
    """Who holds a lease: a stable ``name`` (``api-1``) and the ``incarnation`` of the process
    (a fresh id per process start, so a restarted process is a new holder)."""

    name: str
    incarnation: str = ""


@attrs.frozen
class Lease:
    """The right of ``owner`` to write a session's journal and turns until ``expires_ms``.

    ``fencing_token`` grows by one with every new holder, never on renewal; a write presenting
    an older token is refused (``lease_lost``).
    """

    session_id: str
    owner: Owner
    fencing_token: int
    expires_ms: int


@attrs.frozen
class LeaseState:
    """What a store keeps per session: the current holder (``None`` once released or never
    held), the last fencing token issued (0: none yet) and the current lease's expiry."""

    holder: Owner | None
    fencing_token: int
    expires_ms: int


_NO_LEASE: Final = LeaseState(None, 0, 0)


def _check_lease_request(session_id: object, owner: object, ttl_ms: object, now_ms: object) -> None:
    if is_blank(session_id):
        raise LocalProtocolError(codes.LEASE_INVALID, "a session id must not be blank")
    if type(owner) is not Owner or is_blank(owner.name) or not isinstance(owner.incarnation, str):
        raise LocalProtocolError(
            codes.LEASE_INVALID, f"a lease owner is an Owner with a non-blank name (got {owner!r})"
        )
    check_now(ttl_ms, "ttl_ms")
    check_now(now_ms)


def acquire_transition(
    session_id: str,
    state: LeaseState | None,
    owner: Owner,
    ttl_ms: int,
    now_ms: int,
    *,
    holder_dead: bool = False,
) -> Lease:
    """The lease ``owner`` gets on ``session_id`` (the store then writes it).

    No live lease (none, released, or expired at ``now_ms``): a new lease with the next fencing
    token. The live holder acquiring again: the same token, its expiry pushed to
    ``now_ms + ttl_ms`` if later. Another owner while the lease is live: ``lease_held``, unless
    the store proved the holder dead (``holder_dead``: its process is gone), when the lease is
    taken over at once with the next token.
    """
    _check_lease_request(session_id, owner, ttl_ms, now_ms)
    current = _NO_LEASE if state is None else state
    if (
        current.holder is None
        or now_ms >= current.expires_ms
        or (holder_dead and current.holder != owner)
    ):
        return Lease(session_id, owner, current.fencing_token + 1, now_ms + ttl_ms)
    if current.holder != owner:
        raise LashError(
            codes.LEASE_HELD,
            f"session {session_id!r} is leased to {current.holder.name!r} until "
            f"{current.expires_ms} (now {now_ms}); acquire it after that",
        )
    return Lease(session_id, owner, current.fencing_token, max(current.expires_ms, now_ms + ttl_ms))


def check_fence(state: LeaseState | None, lease: Lease, now_ms: int, what: str) -> None:
    """Refuse (``lease_lost``) a write under ``lease`` unless it is the session's current,
    unexpired lease at ``now_ms``."""
    if type(lease) is not Lease:
        raise LocalProtocolError(
            codes.LEASE_INVALID, f"expected a Lease, got {type(lease).__name__}"
        )
    check_now(now_ms)
    current = _NO_LEASE if state is None else state
    if current.holder != lease.owner or current.fencing_token != lease.fencing_token:
        raise LashError(
            codes.LEASE_LOST,
            f"cannot {what}: the lease of {lease.owner.name!r} (fence {lease.fencing_token}) on "
            f"session {lease.session_id!r} is no longer current (fence now "
            f"{current.fencing_token})",
        )
    if now_ms >= current.expires_ms:
        raise LashError(
            codes.LEASE_LOST,
            f"cannot {what}: the lease of {lease.owner.name!r} on session "
            f"{lease.session_id!r} expired at {current.expires_ms} (now {now_ms})",
        )


def renew_transition(state: LeaseState | None, lease: Lease, ttl_ms: int, now_ms: int) -> Lease:
    """The renewed lease (same token, expiry ``now_ms + ttl_ms``); ``lease_lost`` if ``lease``
    is not current or has expired."""
    check_now(ttl_ms, "ttl_ms")
    check_fence(state, lease, now_ms, "renew")
    return attrs.evolve(lease, expires_ms=now_ms + ttl_ms)


def release_transition(state: LeaseState | None, lease: Lease) -> bool:
    """Whether releasing ``lease`` changes anything (only the current holder's lease does)."""
    if state is None or type(lease) is not Lease:
        return False
    return state.holder == lease.owner and state.fencing_token == lease.fencing_token


def check_lease_covers(lease: Lease, session_id: str | None) -> None:
    """Refuse (``lease_invalid``, nothing written) a write under ``lease`` that names another
    session (a turn of another session, an envelope scoped to another session)."""
    if session_id is not None and session_id != lease.session_id:
        raise LocalProtocolError(
            codes.LEASE_INVALID,
            f"a lease on session {lease.session_id!r} cannot write for session {session_id!r}",
        )
