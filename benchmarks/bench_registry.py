"""The await-event registry: resolving fresh keys, and revoking a session as the registry grows."""

from __future__ import annotations

import contextlib
import time

from benchmarks.catalog import benchmark
from benchmarks.fixtures import KeyPool, signer
from benchmarks.harness import Body, Context, Figure, each, paused_gc, require
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, Step, WaitEnd, WaitParked
from lash_core.resolution import ACCEPTED, ok

RESOLUTION = ok({"exit_code": 0, "stdout": "done", "files": ["a.txt", "b.txt"]})
"""An ``ok`` with a small nested payload, as a tool completion might carry."""

SESSION_ENTRIES = 100
"""Entries of the session being revoked."""
SESSION_PARKED = 20
"""Of those, entries materialised by ``begin_wait`` (each with one parked waiter)."""
FILL_PARKED_EVERY = 10
"""In the other sessions, every tenth entry is a parked wait (the rest are resolved)."""
REVOKE_BUDGET = 1.5
REVOKE_REPEATS = 201


@benchmark("registry_resolve")
def registry_resolve(ctx: Context) -> list[Figure]:
    """AwaitEventRegistry.resolve of fresh keys with ok(...) vs verify of the same keys."""
    key_signer = signer()
    pool = KeyPool(key_signer, sessions=16)
    check = AwaitEventRegistry(key_signer)
    for key in pool.take(3):
        require(check.resolve(key, RESOLUTION).value is ACCEPTED, "a fresh key is accepted")

    def subject(n: int) -> Body:
        # A new registry each repeat keeps every key fresh (no terminal stored yet).
        registry = AwaitEventRegistry(key_signer)
        return each(registry.resolve, [(k, RESOLUTION) for k in pool.take(n)])

    def baseline(n: int) -> Body:
        return each(key_signer.verify, [(k,) for k in pool.take(n)])

    # The same loop count on both sides, so both walk exactly the same keys.
    loops = ctx.calibrate(subject)
    sub, base = ctx.compare(subject, baseline, loops=loops)
    return [ctx.figure("registry_resolve", sub, "key_verify (same keys)", base)]


class _RevokeScenario:
    """A registry holding ``total`` entries, one session of which is revoked per repeat."""

    def __init__(self, key_signer: KeySigner, total: int) -> None:
        self.registry = AwaitEventRegistry(key_signer)
        self.keys = KeyPool(key_signer, sessions=1, prefix=0).take(SESSION_ENTRIES)
        sid = self.keys[0].session_id
        require(sid is not None, "turn keys have a session")
        self.session_id = sid or ""
        self.parked: list[int] = []
        self.last: Step[bool] | None = None
        others = total - SESSION_ENTRIES
        fill_sessions = max(1, others // SESSION_ENTRIES)
        with paused_gc():
            fill = KeyPool(key_signer, sessions=fill_sessions, prefix=1).take(others)
            for i, key in enumerate(fill):
                self._materialise(key, parked=i % FILL_PARKED_EVERY == 0)
        require(self.registry.total_entry_count() == others, "the fill is materialised")
        self.total = total

    def _materialise(self, key: AwaitEventKey, *, parked: bool) -> int | None:
        if parked:
            start = self.registry.begin_wait(key)
            require(isinstance(start, WaitParked), "a fresh wait parks")
            return start.waiter_id if isinstance(start, WaitParked) else None
        require(self.registry.resolve(key, RESOLUTION).value is ACCEPTED, "fresh key accepted")
        return None

    def rebuild(self) -> None:
        """Undo the last revocation (if any) and materialise the session's entries (untimed)."""
        registry = self.registry
        if self.last is not None:
            require(
                self.last.value and len(self.last.wake) == SESSION_PARKED,
                "revocation wakes every parked waiter of the session",
            )
        for waiter_id in self.parked:
            with contextlib.suppress(LashError):  # revoked: the expected answer
                registry.end_wait(waiter_id, WaitEnd.WOKEN)
        self.parked.clear()
        registry.forget_revocation(self.session_id)
        first_parked = SESSION_ENTRIES - SESSION_PARKED
        for i, key in enumerate(self.keys):
            parked = self._materialise(key, parked=i >= first_parked)
            if parked is not None:
                self.parked.append(parked)
        require(
            registry.entry_count(self.session_id) == SESSION_ENTRIES
            and registry.total_entry_count() == self.total,
            "the session holds its entries and the registry `total` entries",
        )

    def prepare(self, loops: int) -> Body:
        require(loops == 1, "revocation is destructive: one per repeat")
        self.rebuild()
        registry, session_id = self.registry, self.session_id

        def body() -> None:
            self.last = registry.revoke_session(session_id)

        return body


@benchmark("revoke_scaling")
def revoke_scaling(ctx: Context) -> list[Figure]:
    """revoke_session of one 100-entry session: registry of 100,000 entries vs 1,000."""
    key_signer = signer()
    small_total = ctx.size(1_000, 100)
    big_total = ctx.size(100_000, 1_000)
    started = time.perf_counter()
    small = _RevokeScenario(key_signer, small_total)
    big = _RevokeScenario(key_signer, big_total)
    build_s = time.perf_counter() - started
    repeats = ctx.size(REVOKE_REPEATS, ctx.settings.repeats)
    sub, base = ctx.compare(big.prepare, small.prepare, loops=1, repeats=repeats)
    return [
        ctx.figure(
            "revoke_scaling",
            sub,
            f"revoke @ {small_total:,} entries",
            base,
            budget=REVOKE_BUDGET,
            detail={
                "subject": f"revoke @ {big_total:,} entries",
                "session_entries": SESSION_ENTRIES,
                "session_parked": SESSION_PARKED,
                "small_total": small_total,
                "big_total": big_total,
                "build_s": round(build_s, 3),
            },
        )
    ]
