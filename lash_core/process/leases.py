"""Leases: the right of one owner to run a process until a deadline, as values and as the
registry's lease part lives in :mod:`lash_core.process._registry_leases`."""

from __future__ import annotations

import attrs

__all__ = ["ProcessLease", "ProcessLeaseCompletion"]


@attrs.frozen
class ProcessLease:
    """The right of one owner to run a process until ``expires_at_ms`` (lash's compact shape).

    ``fencing_token`` grows by one with every new holder (a claim after a release or an expiry,
    or a reclaim), never on renewal; ``lease_token`` is ``{owner}:{fencing_token}``. Writers
    present their lease, and a lease that is not the current one is refused.
    """

    process_id: str
    owner: str
    lease_token: str
    fencing_token: int
    claimed_at_ms: int
    expires_at_ms: int

    def completion(self) -> ProcessLeaseCompletion:
        """What the holder presents to release this lease (or to complete under it)."""
        return ProcessLeaseCompletion(
            self.process_id, self.owner, self.lease_token, self.fencing_token
        )


@attrs.frozen
class ProcessLeaseCompletion:
    """The lease a holder releases, or completes its process under."""

    process_id: str
    owner: str
    lease_token: str
    fencing_token: int


# -- the registry's lease part ---------------------------------------------------------------
