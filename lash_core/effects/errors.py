"""Controller errors: the wire form of a failed effect (``{code, message, summary?}``)."""

from __future__ import annotations

import attrs

from lash_core.errors import LashError, ReplayMismatchError, register_controller_error
from lash_core.wire import omit_if_none

__all__ = ["ControllerError", "ReplayMismatchSummary"]


@attrs.frozen
class ReplayMismatchSummary:
    """How a replayed envelope differs from the recorded one: the number of divergent JSON
    paths and the first (at most eight) of them, in the order they were found."""

    divergent_path_count: int
    first_divergent_paths: tuple[str, ...]


@attrs.frozen
class ControllerError:
    """An effect failure as a value (the reference's ``RuntimeEffectControllerError``).

    ``summary`` is set only for replay mismatches. ``str()`` is ``"{code}: {message}"``.
    """

    code: str
    message: str
    summary: ReplayMismatchSummary | None = omit_if_none()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_exception(self) -> LashError:
        """This error as an exception: a :class:`ReplayMismatchError` when it has a summary,
        else a :class:`LashError` with the same code and message."""
        if self.summary is not None:
            return ReplayMismatchError(self.code, self.message, self.summary)
        return LashError(self.code, self.message)


register_controller_error(ControllerError)
