"""The durable host on asyncio: :func:`open_durable_host` (see
:func:`lash_sqlite.durable.open_durable_host_on` for its arguments)."""

from __future__ import annotations

import functools

from lash_asyncio._host import AsyncioPrimitives
from lash_sqlite.durable import open_durable_host_on

__all__ = ["open_durable_host"]

open_durable_host = functools.partial(open_durable_host_on, AsyncioPrimitives)
"""``open_durable_host(store, *, owner="lash", now_ms=None, doorbell=True, ...)``: a durable
host on asyncio over ``store``, running while the ``async with`` block runs."""
