"""The :class:`DurableStore` protocol (and :class:`ProcessRows`, the process registry's rows,
defined in :mod:`lash_core.process.rows`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.rows import ProcessRows as ProcessRows
from lash_core.resolution import Resolution, ResolveOutcome
from lash_core.scope import ExecutionScope, WaitIdentity
from lash_core.store.journal import BeginResult
from lash_core.store.leases import Lease, Owner
from lash_core.store.turns import TurnRef, TurnRow

__all__ = ["DurableStore", "ProcessRows"]


class DurableStore(Protocol):
    """What a durable host needs from storage (synchronous; a driver calls it from one thread).

    Await-event operations need no lease and work from any process (a webhook needs no host).
    Journal and turn writes are fenced by the session lease in the same transaction.
    """

    # keys and await events
    def signer(self) -> KeySigner: ...

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey: ...

    def park(
        self,
        key: AwaitEventKey,
        doorbell: str | None = None,
        deadline_ms: int | None = None,
    ) -> Resolution | None: ...

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None: ...

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome: ...

    def peek(self, key: AwaitEventKey) -> Resolution | None: ...

    def deadline_ms(self, key: AwaitEventKey) -> int | None: ...

    def expire(self, key: AwaitEventKey, now_ms: int) -> Resolution | None: ...

    def cancel_wait(self, key: AwaitEventKey) -> Resolution: ...

    def cancel_session(self, session_id: str) -> int: ...

    def revoke_session(self, session_id: str) -> bool: ...

    def is_revoked(self, session_id: str) -> bool: ...

    # leases
    def acquire(self, session_id: str, owner: Owner, ttl_ms: int, now_ms: int) -> Lease: ...

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease: ...

    def release(self, lease: Lease) -> bool: ...

    # the journal
    def begin(
        self,
        lease: Lease,
        envelope: CanonicalEnvelope,
        now_ms: int,
        due_at_ms: int | None = None,
    ) -> BeginResult: ...

    def complete(self, lease: Lease, replay_key: str, outcome_json: str, now_ms: int) -> None: ...

    def complete_many(
        self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int
    ) -> None: ...

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool: ...

    def discard(self, lease: Lease, replay_key: str, now_ms: int) -> bool: ...

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None: ...

    # turns
    def open_turn(self, lease: Lease, turn_id: str, start_json: str, now_ms: int) -> TurnRow: ...

    def finish_turn(self, lease: Lease, ref: TurnRef, result_json: str, now_ms: int) -> None: ...

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None: ...

    def turn(self, ref: TurnRef) -> TurnRow | None: ...

    def unfinished_turns(self) -> list[TurnRef]: ...

    # the process registry
    def save_process_rows(self, rows: ProcessRows) -> None: ...

    def process_rows(self) -> ProcessRows: ...

    # change detection
    def data_version(self) -> int: ...
