"""The await-event rules a store applies around :mod:`lash_core.promise`: key authenticity,
revocation errors, what a cancelled or timed-out wait proposes, and how terminals are stored."""

from __future__ import annotations

from lash_core import codes
from lash_core.canonical import normalize_json_value
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner, derive_key_id
from lash_core.promise import (
    PromiseMissing,
    PromisePending,
    PromiseResolved,
    PromiseRevoked,
    PromiseState,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
)
from lash_core.scope import TurnCancelGate, TurnTerminal
from lash_core.wire import canonical_json, from_json

__all__ = [
    "abandoned_gate_id",
    "authentic_key_texts",
    "check_resolution",
    "check_session_id",
    "ended_wait_proposal",
    "key_is_authentic",
    "promise_state",
    "resolution_from_json",
    "resolution_to_json",
    "revoked_error",
    "revoked_mint_error",
]


def abandoned_gate_id(key: AwaitEventKey) -> str | None:
    """When ``key`` is a turn's terminal: the key id of that turn's cancel gate, whose parked
    waiters a store wakes when the terminal is published while the gate is still pending (the
    in-memory registry wakes them with ``turn_control_wait_abandoned``). Otherwise ``None``."""
    if type(key.wait) is not TurnTerminal:
        return None
    return derive_key_id(key.scope, TurnCancelGate())


def key_is_authentic(signer: KeySigner, key: object) -> bool:
    """Whether ``key`` is a well-formed key one of ``signer``'s secrets signed (HMAC, compared
    in constant time). Never raises."""
    if type(key) is not AwaitEventKey or type(key.key_id) is not str:
        return False
    try:
        return signer.verify(key)
    except Exception:
        return False


def authentic_key_texts(signer: KeySigner, key: object) -> tuple[str, str] | None:
    """``(scope, wait)`` of ``key`` as canonical JSON when :func:`key_is_authentic` holds for
    it, else ``None`` (a store writing the promise's row needs not write them again). Never
    raises."""
    if type(key) is not AwaitEventKey or type(key.key_id) is not str:
        return None
    try:
        return signer.verified_texts(key)
    except Exception:
        return None


def revoked_error() -> LashError:
    return LashError(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        "await-event key is unknown, does not match its promise, or its session was revoked",
    )


def promise_state(revoked: bool, exists: bool, terminal: Resolution | None) -> PromiseState:
    """The :mod:`lash_core.promise` state of a stored promise row."""
    if revoked:
        return PromiseRevoked()
    if not exists:
        return PromiseMissing()
    if terminal is None:
        return PromisePending()
    return PromiseResolved(terminal)


def ended_wait_proposal(key: AwaitEventKey, cancelled: bool) -> Resolution:
    """What a wait ended by cancellation or its deadline proposes: ``cancelled``/``timeout``.
    A turn-control wait writes nothing and raises ``turn_control_wait_cancelled``/
    ``turn_control_wait_timeout`` instead (as the in-memory registry does)."""
    if key.wait.is_turn_control:
        if cancelled:
            raise LashError(
                codes.TURN_CONTROL_WAIT_CANCELLED,
                "turn-control wait was cancelled; the key was not written",
            )
        raise LashError(
            codes.TURN_CONTROL_WAIT_TIMEOUT,
            "turn-control wait reached its deadline; the key was not written",
        )
    return CANCELLED if cancelled else TIMEOUT


def resolution_to_json(resolution: Resolution) -> str:
    return canonical_json(resolution)


def resolution_from_json(text: str) -> Resolution:
    try:
        decoded: Resolution = from_json(text, Resolution)
        return decoded
    except LashError as exc:
        raise LashError(codes.STORE_CORRUPT, f"a stored terminal does not decode: {exc}") from None


def check_resolution(resolution: object) -> Resolution:
    """``resolution`` if it is one (an ok payload normalised to JSON values), else
    ``await_event_invalid_resolution`` (as the in-memory registry checks it)."""
    if isinstance(resolution, ResolutionTimeout | ResolutionCancelled | ResolutionErr):
        return resolution
    if isinstance(resolution, ResolutionOk):
        try:
            payload = normalize_json_value(resolution.payload)
        except ValueError as exc:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_INVALID_RESOLUTION, f"ok payload is not JSON: {exc}"
            ) from None
        return resolution if payload is resolution.payload else ResolutionOk(payload)
    raise LocalProtocolError(
        codes.AWAIT_EVENT_INVALID_RESOLUTION,
        f"expected a Resolution (ok, err, timeout or cancelled), got {type(resolution).__name__}",
    )


def check_session_id(session_id: object) -> str:
    """``session_id`` if it is a non-blank string, else ``invalid_await_event_session_id``."""
    if not isinstance(session_id, str) or not session_id.strip():
        raise LocalProtocolError(
            codes.INVALID_AWAIT_EVENT_SESSION_ID, "session ids must be non-empty strings"
        )
    return session_id


def revoked_mint_error(session_id: str | None) -> LashError:
    return LashError(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        f"session {session_id!r} was revoked: no keys are minted for it",
    )
