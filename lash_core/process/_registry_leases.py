"""The process registry's leases part: :class:`LeasesMixin`, mixed into
:class:`~lash_core.process.registry.ProcessRegistry` over its shared state."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from lash_core import codes
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process._state import RegistryBase
from lash_core.process.leases import ProcessLease, ProcessLeaseCompletion
from lash_core.process.lifecycle import blank, check_now, checked_value

__all__ = ["LeasesMixin"]


class LeasesMixin(RegistryBase):
    """The leases of :class:`~lash_core.process.registry.ProcessRegistry`: which owner may run
    a process, until when, under which fencing token."""

    def __init__(self) -> None:
        super().__init__()
        # process id -> its current lease; process id -> the last fencing token issued.
        self._leases: dict[str, ProcessLease] = {}
        self._fences: dict[str, int] = {}

    def _restore_lease(self, lease: ProcessLease) -> None:
        self._leases[lease.process_id] = lease
        self._restore_fence(lease.process_id, lease.fencing_token)

    def _restore_fence(self, process_id: str, fencing_token: int) -> None:
        self._fences[process_id] = max(self._fences.get(process_id, 0), fencing_token)

    def _drop_lease(self, process_id: str) -> None:
        if self._leases.pop(process_id, None) is not None:
            self._changes.lease(process_id)

    def lease(self, process_id: str) -> ProcessLease | None:
        """The process's current lease (expired or not), or ``None`` when it has none."""
        self._get(process_id)
        return self._leases.get(process_id)

    def _new_lease(self, process_id: str, owner: str, ttl_ms: int, now_ms: int) -> ProcessLease:
        fence = self._fences.get(process_id, 0) + 1
        self._fences[process_id] = fence
        lease = ProcessLease(process_id, owner, f"{owner}:{fence}", fence, now_ms, now_ms + ttl_ms)
        self._leases[process_id] = lease
        self._changes.lease(process_id)
        return lease

    def _check_lease_request(self, process_id: str, owner: object, ttl_ms: object) -> None:
        process = self._get(process_id)
        if blank(owner):
            raise LocalProtocolError(codes.PROCESS_LEASE_INVALID, "a lease owner must not be blank")
        if type(ttl_ms) is not int or ttl_ms < 0:
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"a lease ttl is a non-negative whole number of milliseconds (got {ttl_ms!r})",
            )
        if process.record.is_terminal:
            raise LashError(
                codes.PROCESS_ALREADY_TERMINAL,
                f"process `{process_id}` is terminal and cannot be leased",
            )

    def _current_lease(
        self, presented: ProcessLease | ProcessLeaseCompletion, what: str
    ) -> ProcessLease:
        """The process's current lease, if ``presented`` is it (``process_lease_lost``)."""
        if type(presented) not in (ProcessLease, ProcessLeaseCompletion):
            raise LocalProtocolError(
                codes.PROCESS_LEASE_INVALID,
                f"expected a ProcessLease, got {type(presented).__name__}",
            )
        checked_value(presented, type(presented), codes.PROCESS_LEASE_INVALID, "a lease")
        pid = presented.process_id
        self._get(pid)
        current = self._leases.get(pid)
        if current is None or (current.lease_token, current.fencing_token) != (
            presented.lease_token,
            presented.fencing_token,
        ):
            raise LashError(
                codes.PROCESS_LEASE_LOST,
                f"cannot {what}: the lease {presented.lease_token!r} on process `{pid}` is "
                "missing or expired and superseded",
            )
        return current

    def _check_completion(self, completion: ProcessLeaseCompletion, now_ms: int) -> None:
        """Raise unless ``completion`` is the current lease, unexpired at ``now_ms``."""
        current = self._current_lease(completion, "complete")
        if now_ms >= current.expires_at_ms:
            raise LashError(
                codes.PROCESS_LEASE_EXPIRED,
                f"cannot complete process `{completion.process_id}`: its lease "
                f"{current.lease_token!r} expired at {current.expires_at_ms}",
            )

    def claim_process_lease(
        self, process_id: str, owner: str, ttl_ms: int, now_ms: int
    ) -> ProcessLease:
        """Lease a live process to ``owner`` until ``now_ms + ttl_ms``.

        Without a live lease (none, released, or expired at ``now_ms``) the owner gets a new
        lease with the next fencing token. The holder of a live lease claiming again keeps its
        lease (same tokens), its expiry pushed to ``now_ms + ttl_ms`` if later. Another owner
        is refused with ``process_lease_held``.
        """
        check_now(now_ms)
        self._check_lease_request(process_id, owner, ttl_ms)
        current = self._leases.get(process_id)
        if current is None or now_ms >= current.expires_at_ms:
            return self._new_lease(process_id, owner, ttl_ms, now_ms)
        if current.owner != owner:
            raise LashError(
                codes.PROCESS_LEASE_HELD,
                f"process `{process_id}` is already leased to {current.owner!r} until "
                f"{current.expires_at_ms}",
            )
        expires = max(current.expires_at_ms, now_ms + ttl_ms)
        current = attrs.evolve(current, expires_at_ms=expires)
        self._leases[process_id] = current
        self._changes.lease(process_id)
        return current

    def renew_process_lease(self, lease: ProcessLease, ttl_ms: int, now_ms: int) -> ProcessLease:
        """Extend the current, unexpired lease to ``now_ms + ttl_ms`` (same fencing token).
        ``process_lease_lost`` for a lease that is not current or expired at ``now_ms``."""
        check_now(now_ms)
        current = self._current_lease(lease, "renew")
        self._check_lease_request(current.process_id, current.owner, ttl_ms)
        if now_ms >= current.expires_at_ms:
            raise LashError(
                codes.PROCESS_LEASE_LOST,
                f"cannot renew: the lease {lease.lease_token!r} on process "
                f"`{lease.process_id}` is missing or expired",
            )
        renewed = attrs.evolve(current, expires_at_ms=now_ms + ttl_ms)
        self._leases[current.process_id] = renewed
        self._changes.lease(current.process_id)
        return renewed

    def reclaim_process_lease(
        self, observed: ProcessLease, owner: str, ttl_ms: int, now_ms: int
    ) -> ProcessLease:
        """Take over exactly the lease ``observed`` (whose holder the caller judged dead): a new
        lease for ``owner`` with the next fencing token, live or not. A stale observation (the
        lease was renewed away from, released or reclaimed since) is ``process_lease_lost``,
        so of two reclaims of one observation one wins."""
        check_now(now_ms)
        current = self._current_lease(observed, "reclaim")
        self._check_lease_request(current.process_id, owner, ttl_ms)
        return self._new_lease(current.process_id, owner, ttl_ms, now_ms)

    def reclaim_dead_process_lease(
        self,
        observed: ProcessLease,
        owner: str,
        ttl_ms: int,
        now_ms: int,
        *,
        dead: Callable[[str], bool],
    ) -> ProcessLease:
        """Take over the lease ``observed`` for ``owner`` if its holder is gone: the lease
        expired at ``now_ms``, or ``dead(holder)`` proves the holder dead (e.g.
        ``lash_sqlite.process_owner_dead``, which never proves a holder on another host dead).
        A live lease whose holder is not proved dead is ``process_lease_held``; a stale
        observation is ``process_lease_lost``, as for :meth:`reclaim_process_lease`."""
        check_now(now_ms)
        current = self._current_lease(observed, "reclaim")
        self._check_lease_request(current.process_id, owner, ttl_ms)
        if now_ms < current.expires_at_ms and not dead(current.owner):
            raise LashError(
                codes.PROCESS_LEASE_HELD,
                f"process `{current.process_id}` is leased to {current.owner!r} until "
                f"{current.expires_at_ms}, and that holder is not provably dead",
            )
        return self._new_lease(current.process_id, owner, ttl_ms, now_ms)

    def complete_process_lease(self, completion: ProcessLeaseCompletion) -> bool:
        """Release the lease if it is the current one and say so; a stale completion (an older
        or already released lease) is ignored and leaves the current holder alone."""
        try:
            self._current_lease(completion, "release")
        except LashError as exc:
            if exc.code == codes.PROCESS_LEASE_LOST:
                return False
            raise
        del self._leases[completion.process_id]
        self._changes.lease(completion.process_id)
        return True
