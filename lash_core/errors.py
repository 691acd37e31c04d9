"""The library's errors: every failure carries a stable snake_case ``code``.

``LashError`` is the root. Any other exception escaping ``lash_core`` is a bug.

* ``LocalProtocolError``: the caller misused the API (a blank id, an invalid
  envelope, an operation in the wrong state). Nothing changed.
* ``WireDecodeError``: JSON input did not match the wire format; ``path`` names
  the place (``$.invocation.scope.session_id``).
* ``ReplayMismatchError``: a recorded envelope and a reconstructed one differ;
  ``summary`` counts the divergent paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lash_core.effects.errors import ControllerError, ReplayMismatchSummary

__all__ = ["LashError", "LocalProtocolError", "ReplayMismatchError", "WireDecodeError"]


class LashError(Exception):
    """An error with a stable ``code`` and a message a user can act on."""

    code: str
    message: str

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_controller_error(self) -> ControllerError:
        """This error as the wire value ``{code, message, summary?}``."""
        return _controller_error(self.code, self.message, None)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message))


class LocalProtocolError(LashError):
    """The API was used wrongly; the object it was called on is unchanged."""


class WireDecodeError(LashError):
    """Input does not decode into the requested wire type.

    ``path`` is a JSON path into the input (``$`` is the root).
    """

    path: str

    def __init__(self, code: str, message: str, path: str = "$") -> None:
        super().__init__(code, f"{message} (at {path})")
        self.path = path
        self.detail = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.detail, self.path))


class ReplayMismatchError(LashError):
    """A replayed envelope does not match the recorded one."""

    def __init__(self, code: str, message: str, summary: ReplayMismatchSummary) -> None:
        super().__init__(code, message)
        self.summary = summary

    def to_controller_error(self) -> ControllerError:
        return _controller_error(self.code, self.message, self.summary)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message, self.summary))


_CONTROLLER_ERROR: list[Callable[[str, str, ReplayMismatchSummary | None], ControllerError]] = []
"""The constructor of :class:`~lash_core.effects.errors.ControllerError`, registered by that
module as it is imported (it builds on this one, so this one does not import it)."""


def register_controller_error(
    build: Callable[[str, str, ReplayMismatchSummary | None], ControllerError],
) -> None:
    """Called once by :mod:`lash_core.effects.errors`: how an error becomes its wire value."""
    _CONTROLLER_ERROR[:] = [build]


def _controller_error(
    code: str, message: str, summary: ReplayMismatchSummary | None
) -> ControllerError:
    # lash_core/__init__ imports lash_core.effects.errors, so the constructor is registered
    # before any error can be converted.
    return _CONTROLLER_ERROR[0](code, message, summary)
