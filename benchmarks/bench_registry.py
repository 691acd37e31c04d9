"""The await-event registry: resolving fresh keys, revoking a session as the registry grows,
minting once the mint cache is full, and the memory a retired key keeps."""

from __future__ import annotations

import contextlib
import gc
import time
import tracemalloc

from benchmarks.catalog import benchmark
from benchmarks.fixtures import KeyPool, identity, signer
from benchmarks.harness import Body, Context, Figure, each, paused_gc, require
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import ACCEPTED, ok
from lash_core.scope import ToolCompletion, TurnScope

RESOLUTION = ok({"exit_code": 0, "stdout": "done", "files": ["a.txt", "b.txt"]})
"""An ``ok`` with a small nested payload, as a tool completion might carry."""

SESSION_ENTRIES = 100
"""Entries of the session being revoked."""
SESSION_PARKED = 20
"""Of those, entries materialised by ``park`` (each with one parked waiter)."""
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
        require(check.resolve(key, RESOLUTION) is ACCEPTED, "a fresh key is accepted")

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


class _Flag:
    """A level-triggered event (the drivers' events are; this one is plain state)."""

    __slots__ = ("is_set",)

    def __init__(self) -> None:
        self.is_set = False

    def set(self) -> None:
        self.is_set = True


class _RevokeScenario:
    """A registry holding ``total`` entries, one session of which is revoked per repeat."""

    def __init__(self, key_signer: KeySigner, total: int) -> None:
        # Every resolved entry stays in full (none is retired): the registry really holds them.
        self.registry = AwaitEventRegistry(key_signer, retain_recent=total)
        self.keys = KeyPool(key_signer, sessions=1, prefix=0).take(SESSION_ENTRIES)
        sid = self.keys[0].session_id
        require(sid is not None, "turn keys have a session")
        self.session_id = sid or ""
        self.parked: list[Waiter[_Flag]] = []
        self.last: bool | None = None
        others = total - SESSION_ENTRIES
        fill_sessions = max(1, others // SESSION_ENTRIES)
        with paused_gc():
            fill = KeyPool(key_signer, sessions=fill_sessions, prefix=1).take(others)
            for i, key in enumerate(fill):
                self._materialise(key, parked=i % FILL_PARKED_EVERY == 0)
        require(self.registry.total_entry_count() == others, "the fill is materialised")
        self.total = total

    def _materialise(self, key: AwaitEventKey, *, parked: bool) -> Waiter[_Flag] | None:
        if parked:
            waiter = self.registry.park(key, _Flag)
            require(isinstance(waiter, Waiter), "a fresh wait parks")
            return waiter if isinstance(waiter, Waiter) else None
        require(self.registry.resolve(key, RESOLUTION) is ACCEPTED, "fresh key accepted")
        return None

    def rebuild(self) -> None:
        """Undo the last revocation (if any) and materialise the session's entries (untimed)."""
        registry = self.registry
        if self.last is not None:
            require(
                self.last and sum(w.event.is_set for w in self.parked) == SESSION_PARKED,
                "revocation wakes every parked waiter of the session",
            )
        for waiter in self.parked:
            with contextlib.suppress(LashError):  # revoked: the expected answer
                registry.end_parked(waiter, WaitEnd.WOKEN)
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


# -- minting once the mint cache is full -----------------------------------------------------

MINT_BUDGET = 1.2
MINT_SMALL = 1_000
"""Keys the baseline registry has minted (its mint cache is far from full)."""


class _Minter:
    """Fresh identities to mint, numbered on from ``start``, constructed outside the timing."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self, n: int) -> list[tuple[object, ...]]:
        first, self.next = self.next, self.next + n
        return [identity(i % 1_000, i) for i in range(first, first + n)]


@benchmark("mint_scaling")
def mint_scaling(ctx: Context) -> list[Figure]:
    """mint of fresh keys once 1,000,000 keys were minted (mint cache full) vs after 1,000."""
    key_signer = signer()
    big_total = ctx.size(1_000_000, 2_000)
    mint_cache = ctx.size(65_536, 500)
    started = time.perf_counter()
    big = AwaitEventRegistry(key_signer, mint_cache=mint_cache)
    big_ids = _Minter(0)
    with paused_gc():
        for chunk in range(0, big_total, 10_000):
            for scope, wait in big_ids.take(min(10_000, big_total - chunk)):
                big.mint(scope, wait)  # type: ignore[arg-type]
    require(len(big._minted) == mint_cache, "the big registry's mint cache is full")
    build_s = time.perf_counter() - started
    small_ids = _Minter(10 * big_total)

    def subject(n: int) -> Body:
        return each(big.mint, big_ids.take(n))

    def baseline(n: int) -> Body:
        # A fresh registry that has minted MINT_SMALL keys (its cache far from full).
        small = AwaitEventRegistry(key_signer, mint_cache=mint_cache)
        for scope, wait in small_ids.take(MINT_SMALL):
            small.mint(scope, wait)  # type: ignore[arg-type]
        return each(small.mint, small_ids.take(n))

    loops = ctx.size(2_000, ctx.settings.smoke_loops)
    sub, base = ctx.compare(subject, baseline, loops=loops)
    return [
        ctx.figure(
            "mint_scaling",
            sub,
            f"mint after {MINT_SMALL:,} keys",
            base,
            budget=MINT_BUDGET,
            detail={
                "subject": f"mint after {big_total:,} keys",
                "mint_cache": mint_cache,
                "build_s": round(build_s, 3),
            },
        )
    ]


# -- memory of retired keys ------------------------------------------------------------------

RETIRED_BYTES_BUDGET = 64
"""Bytes a retired key may keep (its entry, ~1 KB, is dropped; a fingerprint stays)."""


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _waits(registry: AwaitEventRegistry, sessions: int, first: int, n: int) -> None:
    """``n`` complete waits (mint, park, resolve, end), round-robin over ``sessions``."""
    for i in range(first, first + n):
        key = registry.mint(TurnScope(f"session-{i % sessions}", "turn"), ToolCompletion(f"c{i}"))
        waiter = registry.park(key, _Flag)
        resolution = ok({"exit_code": 0, "stdout": f"done {i}"})
        require(registry.resolve(key, resolution) is ACCEPTED, "a fresh key is accepted")
        if isinstance(waiter, Waiter):
            registry.end_parked(waiter, WaitEnd.WOKEN)


@benchmark("registry_retired_memory")
def registry_retired_memory(ctx: Context) -> list[Figure]:
    """Bytes per retired key after 1,000,000 waits across 10,000 sessions (tracemalloc)."""
    key_signer = signer()
    waits = ctx.size(1_000_000, 4_000)
    sessions = ctx.size(10_000, 20)
    retain = ctx.size(16_384, 100)
    mint_cache = ctx.size(65_536, 100)
    # Past the warm-up every session exists and the recent window and the mint cache are full:
    # what grows from there on is what retired keys keep.
    warm = ctx.size(200_000, 1_000)
    sample = ctx.size(20_000, 400)
    own_tracing = not tracemalloc.is_tracing()
    started = time.perf_counter()
    tracemalloc.start()
    try:
        registry = AwaitEventRegistry(key_signer, retain_recent=retain, mint_cache=mint_cache)
        start = _traced()
        with paused_gc():
            _waits(registry, sessions, 0, warm)
        at_warm = _traced()
        retired_warm = sum(registry.retired_count(f"session-{s}") for s in range(sessions))
        with paused_gc():
            _waits(registry, sessions, warm, waits - warm)
        at_end = _traced()
        retired_end = sum(registry.retired_count(f"session-{s}") for s in range(sessions))
        require(retired_end == waits - retain, "every terminal beyond the window is retired")
        require(registry.total_entry_count() == retain, "only the window holds entries")
        # The baseline: keys kept in full (a window larger than the sample, no mint cache).
        full = AwaitEventRegistry(key_signer, retain_recent=sample, mint_cache=0)
        before_full = _traced()
        with paused_gc():
            _waits(full, max(1, sample // 100), 0, sample)
        full_per_key = (_traced() - before_full) / sample
        del full
    finally:
        if own_tracing:
            tracemalloc.stop()
    per_retired = (at_end - at_warm) / (retired_end - retired_warm)
    return [
        Figure(
            name="registry_retired_memory",
            median_us=per_retired,
            baseline_name="key kept in full",
            baseline_us=full_per_key,
            ratio=per_retired / full_per_key,
            budget=None,
            unit="B",
            max_budget=RETIRED_BYTES_BUDGET,
            detail={
                "waits": waits,
                "sessions": sessions,
                "retain_recent": retain,
                "mint_cache": mint_cache,
                "warm_waits": warm,
                "retired_keys": retired_end,
                "bytes_per_retired_key": round(per_retired, 1),
                "bytes_per_full_key": round(full_per_key, 1),
                "total_bytes": at_end - start,
                "total_bytes_per_wait": round((at_end - start) / waits, 1),
                "measure_s": round(time.perf_counter() - started, 3),
            },
        )
    ]
