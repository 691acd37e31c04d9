"""Workflow keys of turns, and lash's key verification on this tier (no Restate SDK needed: a
webhook process that only holds a :class:`~lash_restate.client.RestateTurns` uses them)."""

from __future__ import annotations

from lash_core import codes
from lash_core.effects.process import (
    ProcessAwait,
    ProcessCancel,
    ProcessCommand,
    ProcessSignalSend,
    ProcessStart,
)
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.lifecycle import blank
from lash_core.scope import TurnScope

__all__ = [
    "ProcessesUnsupported",
    "command_process_id",
    "key_accepted",
    "lash_error_of",
    "processes_unsupported",
    "start_session",
    "workflow_id",
]


class ProcessesUnsupported(LashError, NotImplementedError):
    """``restate_processes_unsupported``: a ``process`` effect the Restate tier cannot run (one
    of a service given no ``ingress_url``, or a wait kind the tier does not offer; a
    ``NotImplementedError`` too)."""


def processes_unsupported(what: str) -> LashError:
    return ProcessesUnsupported(
        codes.RESTATE_PROCESSES_UNSUPPORTED, f"{what} is not supported on the Restate tier"
    )


def command_process_id(command: ProcessCommand) -> str | None:
    """The process a command addresses (its registry object's key), or ``None`` for the
    session-wide commands (``list``, ``transfer``, ``delete_session``: see
    :mod:`lash_restate.sessions`)."""
    if isinstance(command, ProcessStart):
        return command.registration.id
    if isinstance(command, ProcessAwait | ProcessCancel | ProcessSignalSend):
        return command.process_id
    return None


def start_session(command: ProcessStart) -> str | None:
    """The session whose grant index a ``start`` updates (its grant's session, else its wake
    target's), or ``None`` when it names no session: such a start goes through that session's
    object, which applies it to the process's object and then indexes it."""
    grant = command.grant
    if grant is not None and not blank(grant.session_scope.session_id):
        return grant.session_scope.session_id
    target = command.registration.wake_target
    if target is not None and not blank(target.session_id):
        return target.session_id
    return None


def lash_error_of(message: str) -> LashError:
    """The :class:`LashError` a Restate failure message names (``<code>: <message>``, as the
    service writes lash's failures), else ``restate_request_failed`` with the message."""
    head, _, rest = message.partition(":")
    if head.strip() in codes.CODES:
        return LashError(head.strip(), rest.strip() or message)
    return LashError(codes.RESTATE_REQUEST_FAILED, message)


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
