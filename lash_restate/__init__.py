"""lash on Restate: each turn runs as a Restate workflow whose journal records every effect
(see docs/restate.md). Needs the ``restate`` extra (``restate-sdk``, ``hypercorn``)."""

from __future__ import annotations

from lash_restate._host import ProcessesUnsupported as ProcessesUnsupported
from lash_restate._host import RestateTurnHost as RestateTurnHost
from lash_restate.client import RestateTurns as RestateTurns
from lash_restate.client import TurnFailed as TurnFailed
from lash_restate.service import TurnService as TurnService
from lash_restate.service import serve as serve
from lash_restate.service import workflow_id as workflow_id

__all__ = [
    "ProcessesUnsupported",
    "RestateTurnHost",
    "RestateTurns",
    "TurnFailed",
    "TurnService",
    "serve",
    "workflow_id",
]
