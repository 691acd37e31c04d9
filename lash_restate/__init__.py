"""lash on Restate: each turn runs as a Restate workflow whose journal records every effect
(see docs/restate.md).

The names below need the ``restate`` extra (``restate-sdk``, ``hypercorn``) and are imported
when first used, so ``import lash_restate`` (and :mod:`lash_restate.server`, standard library
only) works without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lash_restate._host import RestateTurnHost as RestateTurnHost
    from lash_restate._keys import ProcessesUnsupported as ProcessesUnsupported
    from lash_restate._keys import workflow_id as workflow_id
    from lash_restate.client import RestateProcesses as RestateProcesses
    from lash_restate.client import RestateTurns as RestateTurns
    from lash_restate.client import TurnFailed as TurnFailed
    from lash_restate.processes import ProcessCancelledError as ProcessCancelledError
    from lash_restate.processes import RestateProcessContext as RestateProcessContext
    from lash_restate.processes import RestateProcessFunction as RestateProcessFunction
    from lash_restate.service import TurnService as TurnService
    from lash_restate.service import serve as serve

__all__ = [
    "ProcessCancelledError",
    "ProcessesUnsupported",
    "RestateProcessContext",
    "RestateProcessFunction",
    "RestateProcesses",
    "RestateTurnHost",
    "RestateTurns",
    "TurnFailed",
    "TurnService",
    "serve",
    "workflow_id",
]

_HOMES = {
    "ProcessCancelledError": "lash_restate.processes",
    "ProcessesUnsupported": "lash_restate._keys",
    "RestateProcessContext": "lash_restate.processes",
    "RestateProcessFunction": "lash_restate.processes",
    "RestateProcesses": "lash_restate.client",
    "RestateTurnHost": "lash_restate._host",
    "RestateTurns": "lash_restate.client",
    "TurnFailed": "lash_restate.client",
    "TurnService": "lash_restate.service",
    "serve": "lash_restate.service",
    "workflow_id": "lash_restate._keys",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lash_restate' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
