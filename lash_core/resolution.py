"""Resolutions (the terminal of a wait) and resolve outcomes (the answer to a resolve)."""

from __future__ import annotations

from typing import ClassVar, Final, TypeAlias

import attrs

from lash_core import wire
from lash_core.wire import JsonValue, omit_if_none

__all__ = [
    "ACCEPTED",
    "CANCELLED",
    "TIMEOUT",
    "UNKNOWN_OR_REVOKED",
    "Accepted",
    "AlreadyResolved",
    "ExternalCompletionError",
    "Resolution",
    "ResolutionCancelled",
    "ResolutionErr",
    "ResolutionOk",
    "ResolutionTimeout",
    "ResolveOutcome",
    "UnknownOrRevoked",
    "err",
    "ok",
]


@attrs.frozen
class ExternalCompletionError:
    """An error reported by whoever completed a wait from outside."""

    code: str
    message: str
    raw: JsonValue = omit_if_none()


@attrs.frozen
class ResolutionOk:
    """The wait completed with a value: ``{"status":"ok","payload":...}``."""

    status: ClassVar[str] = "ok"
    payload: JsonValue


@attrs.frozen
class ResolutionErr:
    """The wait completed with an error: ``{"status":"err","payload":{code,message}}``."""

    status: ClassVar[str] = "err"
    payload: ExternalCompletionError


@attrs.frozen
class ResolutionTimeout:
    """The wait reached its deadline first: ``{"status":"timeout"}``."""

    status: ClassVar[str] = "timeout"


@attrs.frozen
class ResolutionCancelled:
    """The wait was cancelled first: ``{"status":"cancelled"}``."""

    status: ClassVar[str] = "cancelled"


Resolution: TypeAlias = ResolutionOk | ResolutionErr | ResolutionTimeout | ResolutionCancelled
"""The terminal of an await-event key. The first one written wins forever."""

wire.tagged_union(
    Resolution,
    "status",
    {
        "ok": ResolutionOk,
        "err": ResolutionErr,
        "timeout": ResolutionTimeout,
        "cancelled": ResolutionCancelled,
    },
    content="payload",
)

TIMEOUT: Final = ResolutionTimeout()
CANCELLED: Final = ResolutionCancelled()


def ok(payload: JsonValue = None) -> ResolutionOk:
    """A successful resolution carrying ``payload``."""
    return ResolutionOk(payload)


def err(code: str, message: str, raw: JsonValue = None) -> ResolutionErr:
    """A failed resolution."""
    return ResolutionErr(ExternalCompletionError(code, message, raw))


@attrs.frozen
class Accepted:
    """This resolution was stored: it is the key's terminal."""

    status: ClassVar[str] = "accepted"


@attrs.frozen
class AlreadyResolved:
    """Another terminal won first; it is returned, and the proposal was discarded."""

    status: ClassVar[str] = "already_resolved"
    terminal: Resolution


@attrs.frozen
class UnknownOrRevoked:
    """The key is forged, tampered, from another host, or its session was revoked."""

    status: ClassVar[str] = "unknown_or_revoked"


ResolveOutcome: TypeAlias = Accepted | AlreadyResolved | UnknownOrRevoked
"""The answer to a resolve. ``unknown_or_revoked`` is an answer, not a failure."""

wire.tagged_union(
    ResolveOutcome,
    "status",
    {
        "accepted": Accepted,
        "already_resolved": AlreadyResolved,
        "unknown_or_revoked": UnknownOrRevoked,
    },
)

ACCEPTED: Final = Accepted()
UNKNOWN_OR_REVOKED: Final = UnknownOrRevoked()
