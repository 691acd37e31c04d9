"""Workflow keys of turns, and lash's key verification on this tier (no Restate SDK needed: a
webhook process that only holds a :class:`~lash_restate.client.RestateTurns` uses them)."""

from __future__ import annotations

from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.scope import TurnScope

__all__ = ["key_accepted", "workflow_id"]


def workflow_id(session_id: str, turn_id: str) -> str:
    """The workflow key of a turn."""
    return f"{session_id}/{turn_id}"


def key_accepted(signer: KeySigner, key: AwaitEventKey, workflow: str | None = None) -> bool:
    """Whether ``key`` is signed by ``signer`` and belongs to a turn (of ``workflow``, if
    given): lash's key verification, done before any promise is touched."""
    if type(key) is not AwaitEventKey or not signer.verify(key):
        return False
    scope = key.scope
    if not isinstance(scope, TurnScope):
        return False
    return workflow is None or workflow == workflow_id(scope.session_id, scope.turn_id)
