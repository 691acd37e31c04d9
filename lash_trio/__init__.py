"""lash for trio: an inline effect host whose waits use trio's events, clock and cancellation."""

from __future__ import annotations

from lash_core.host import CancelToken as CancelToken
from lash_core.turn import TurnHandlers as TurnHandlers
from lash_core.turn import TurnStream as TurnStream
from lash_core.turn import run_turn as run_turn
from lash_core.turn import stream_turn as stream_turn
from lash_trio._host import InlineEffectHost as InlineEffectHost
from lash_trio._host import TrioPrimitives as TrioPrimitives

__all__ = [
    "CancelToken",
    "InlineEffectHost",
    "TrioPrimitives",
    "TurnHandlers",
    "TurnStream",
    "run_turn",
    "stream_turn",
]
