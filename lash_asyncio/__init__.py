"""lash for asyncio: an inline effect host whose waits use asyncio's events, clock and task
cancellation, and a virtual clock for tests (:mod:`lash_asyncio.clock`)."""

from __future__ import annotations

from lash_asyncio._host import AsyncioPrimitives as AsyncioPrimitives
from lash_asyncio._host import InlineEffectHost as InlineEffectHost
from lash_core.host import CancelToken as CancelToken
from lash_core.turn import TurnHandlers as TurnHandlers
from lash_core.turn import TurnStream as TurnStream
from lash_core.turn import run_turn as run_turn
from lash_core.turn import stream_turn as stream_turn

__all__ = [
    "AsyncioPrimitives",
    "CancelToken",
    "InlineEffectHost",
    "TurnHandlers",
    "TurnStream",
    "run_turn",
    "stream_turn",
]
