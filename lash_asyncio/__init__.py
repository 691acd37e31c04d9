"""lash for asyncio: an inline effect host whose waits use asyncio's events, clock and task
cancellation, and a virtual clock for tests (:mod:`lash_asyncio.clock`)."""

from __future__ import annotations

from lash_asyncio._durable import open_durable_host as open_durable_host
from lash_asyncio._host import AsyncioPrimitives as AsyncioPrimitives
from lash_asyncio._host import InlineEffectHost as InlineEffectHost
from lash_core.durable import direct_call as direct_call
from lash_core.durable import durable_step as durable_step
from lash_core.durable import run_effect as run_effect
from lash_core.durable_host import DurableHost as DurableHost
from lash_core.durable_host import resume_turn as resume_turn
from lash_core.durable_turn import EffectAttempt as EffectAttempt
from lash_core.host import CancelToken as CancelToken
from lash_core.journal import EffectJournal as EffectJournal
from lash_core.turn import TurnHandlers as TurnHandlers
from lash_core.turn import TurnStream as TurnStream
from lash_core.turn import run_turn as run_turn
from lash_core.turn import stream_turn as stream_turn

__all__ = [
    "AsyncioPrimitives",
    "CancelToken",
    "DurableHost",
    "EffectAttempt",
    "EffectJournal",
    "InlineEffectHost",
    "TurnHandlers",
    "TurnStream",
    "direct_call",
    "durable_step",
    "open_durable_host",
    "resume_turn",
    "run_effect",
    "run_turn",
    "stream_turn",
]
