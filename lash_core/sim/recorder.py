"""The trace of a simulated world: plain JSON records stamped with virtual time.

A :class:`Recorder` is what :func:`lash_core.sim.world.run_world` writes everything that happens
to; the oracles (:mod:`lash_core.sim.oracles`) judge its records. Re-exported by
:mod:`lash_core.sim.world`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lash_core.effects import EffectEnvelope

__all__ = ["Recorder"]


class Recorder:
    """The world's trace: plain JSON records, each stamped with the virtual time ``at`` in
    microseconds since the world started. ``envelopes`` keeps every envelope handed out, by
    ``(session, turn)`` (the trace names them by replay key only)."""

    __slots__ = ("_batch", "_now", "_records", "_start", "envelopes")

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._start = now()
        self._records: list[dict[str, Any]] = []
        self._batch: tuple[int, dict[str, Any], list[str | None]] | None = None
        self.envelopes: dict[tuple[str, str], list[EffectEnvelope]] = {}

    @property
    def records(self) -> list[dict[str, Any]]:
        self._flush()
        return self._records

    def at(self) -> int:
        return round((self._now() - self._start) * 1_000_000)

    def add(self, ev: str, **fields: Any) -> None:
        self._flush()
        self._records.append({"at": self.at(), "ev": ev, **fields})

    def emit(self, envelope: EffectEnvelope, where: dict[str, Any]) -> None:
        """One envelope of a batch a turn (``where``) handed out. A turn's runner reports a
        batch's envelopes one after the other, before anything else happens, so they are
        written as one ``emit`` record (at the time of the first) before the next record."""
        batch = self._batch
        if batch is None or batch[1] is not where:
            self._flush()
            batch = self._batch = (self.at(), where, [])
        batch[2].append(envelope.replay_key)
        self.envelopes.setdefault((where["session"], where["turn"]), []).append(envelope)

    def _flush(self) -> None:
        batch = self._batch
        if batch is not None:
            self._batch = None
            at, where, keys = batch
            self._records.append({"at": at, "ev": "emit", "keys": keys, **where})
