"""The state the registry's parts share: each process's record and log, and the base class
that owns the process table (see :mod:`lash_core.process.registry` for how the parts
combine)."""

from __future__ import annotations

from lash_core import codes
from lash_core.effects.replay_keys import PROCESS_CANCEL_REQUESTED, process_event_payload_hash
from lash_core.errors import LashError
from lash_core.process.events import ProcessEvent
from lash_core.process.records import ProcessRecord

__all__ = ["ProcessState", "RegistryBase"]


class ProcessState:
    """One process: its record, its log and the replay keys of its log."""

    __slots__ = ("acked_wakes", "cancel_requested", "events", "record", "replays", "types")

    def __init__(self, record: ProcessRecord) -> None:
        self.record = record
        self.types = {t.name: t for t in record.event_types}
        self.events: list[ProcessEvent] = []
        self.replays: dict[str, tuple[str, int]] = {}
        self.cancel_requested = False
        self.acked_wakes: set[int] = set()

    def log(self, event: ProcessEvent) -> None:
        self.events.append(event)
        replay = event.invocation.replay
        if replay is not None:
            digest = process_event_payload_hash(event.event_type, event.payload)
            self.replays[replay.key] = (digest, len(self.events) - 1)
        if event.event_type == PROCESS_CANCEL_REQUESTED:
            self.cancel_requested = True


class RegistryBase:
    """The process table every part of the registry reads. Each part (mixin) initialises its
    own state in ``__init__`` and calls ``super().__init__()``."""

    def __init__(self) -> None:
        self._processes: dict[str, ProcessState] = {}

    def _get(self, process_id: str) -> ProcessState:
        process = self._processes.get(process_id) if isinstance(process_id, str) else None
        if process is None:
            raise LashError(codes.PROCESS_UNKNOWN, f"unknown process `{process_id}`")
        return process
