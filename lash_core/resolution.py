"""Resolutions (the terminal of a wait) and resolve outcomes (the answer to a resolve).

A resolution checks the values it holds when it is made, so nothing that cannot travel the
wire ever reaches a registry: an ``ok`` payload or an ``err``'s ``raw`` that is not JSON, or an
``err`` code or message that is not a string, is ``await_event_invalid_resolution``; a payload
nesting deeper than :data:`~lash_core.wire.MAX_JSON_DEPTH` is ``wire_too_deep``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core.canonical import _LONE_SURROGATE
from lash_core.errors import LocalProtocolError
from lash_core.wire import JsonValue, json_field

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


def _text(instance: object, attribute: Any, value: str) -> None:
    if type(value) is not str:
        raise LocalProtocolError(
            codes.AWAIT_EVENT_INVALID_RESOLUTION,
            f"an err's {attribute.name} must be a str, got {type(value).__name__}",
        )
    if not value.isascii() and _LONE_SURROGATE.search(value):
        raise LocalProtocolError(
            codes.AWAIT_EVENT_INVALID_RESOLUTION,
            f"an err's {attribute.name} holds a lone surrogate, which UTF-8 cannot carry",
        )


@attrs.frozen
class ExternalCompletionError:
    """An error reported by whoever completed a wait from outside.

    ``code`` and ``message`` must be strings and ``raw`` JSON (checked when it is made).
    """

    code: str = attrs.field(validator=_text)
    message: str = attrs.field(validator=_text)
    raw: JsonValue = json_field(
        what="an err's raw", code=codes.AWAIT_EVENT_INVALID_RESOLUTION, omit_none=True
    )


@attrs.frozen
class ResolutionOk:
    """The wait completed with a value: ``{"status":"ok","payload":...}``.

    ``payload`` is checked when the resolution is made: it must be JSON nesting at most
    :data:`~lash_core.wire.MAX_JSON_DEPTH` deep (tuples become lists).
    """

    status: ClassVar[str] = "ok"
    payload: JsonValue = json_field(what="an ok payload", code=codes.AWAIT_EVENT_INVALID_RESOLUTION)


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
    """A successful resolution carrying ``payload`` (any JSON value, checked now)."""
    return ResolutionOk(payload)


def err(code: str, message: str, raw: JsonValue = None) -> ResolutionErr:
    """A failed resolution (``code`` and ``message`` strings, ``raw`` JSON; checked now)."""
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
