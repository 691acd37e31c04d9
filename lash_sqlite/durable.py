"""Opening a durable host over a store, on any driver: the driver passes its loop primitives.

``lash_trio.open_durable_host`` and ``lash_asyncio.open_durable_host`` are this function with
their own primitives bound, so the two drivers hold no durable-host code of their own. It
takes any store: one that opens its own doorbell (``store.open_doorbell()``, as
``lash_postgres.PostgresStore`` does with ``LISTEN``) gets that one, any other a unix datagram
:class:`~lash_sqlite.Doorbell`.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from lash_core.durable_host import DoorbellPort, DurableHost
from lash_core.loop import LoopPrimitives
from lash_core.process.service import ProcessService
from lash_core.store import DurableStore, Owner
from lash_sqlite.doorbell import Doorbell
from lash_sqlite.liveness import new_owner

__all__ = ["OwnedDoorbell", "open_doorbell", "open_durable_host_on"]

_fresh_secret = functools.partial(secrets.token_bytes, 32)


class OwnedDoorbell(DoorbellPort, Protocol):
    """A doorbell the opener closes when the host stops."""

    def close(self) -> None: ...


def open_doorbell(store: DurableStore) -> OwnedDoorbell:
    """The doorbell for a host on ``store``: the store's own (``store.open_doorbell()``) when it
    has one, else a unix datagram :class:`~lash_sqlite.Doorbell` (rung by ``SqliteStore``)."""
    opener = getattr(store, "open_doorbell", None)
    if callable(opener):
        bell: OwnedDoorbell = opener()
        return bell
    return Doorbell()


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@contextlib.asynccontextmanager
async def open_durable_host_on(
    primitives: Callable[[], LoopPrimitives],
    store: DurableStore,
    *,
    owner: str | Owner = "lash",
    now_ms: Callable[[], int] | None = None,
    doorbell: bool = True,
    lease_ttl_ms: int = 30_000,
    renew_every_ms: int = 10_000,
) -> AsyncIterator[DurableHost]:
    """A :class:`~lash_core.durable_host.DurableHost` over ``store`` on the loop whose
    primitives ``primitives()`` makes, running while the block runs: its doorbell listener
    started, its leases renewed, then released and the doorbell closed on exit.

    ``owner``: a name (made into :func:`~lash_sqlite.new_owner`, provably dead once this
    process is gone) or an :class:`~lash_core.store.Owner`. ``now_ms``: wall-clock milliseconds
    (default: the system clock). ``doorbell=False``: no doorbell (the safety net alone wakes a
    waiter resolved by another process); else :func:`open_doorbell`'s.
    """
    bell = open_doorbell(store) if doorbell else None
    try:
        host = DurableHost(
            primitives(),
            store,
            owner=new_owner(owner) if isinstance(owner, str) else owner,
            now_ms=_wall_ms if now_ms is None else now_ms,
            doorbell=bell,
            secret_source=_fresh_secret,
            processes=ProcessService,
            lease_ttl_ms=lease_ttl_ms,
            renew_every_ms=renew_every_ms,
        )
        async with host.running():
            yield host
    finally:
        if bell is not None:
            bell.close()
