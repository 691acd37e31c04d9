"""Deliberate defects in the core, applied with ``monkeypatch``, that the simulator must find."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import lash_core.process.commands as process_commands
import lash_core.promise as promise
import lash_core.turn._transitions as transitions
from lash_core import AwaitEventKey, CancelToken
from lash_core.process import ProcessRunner
from lash_core.process.events import ProcessEvent
from lash_core.process.records import ProcessRecord
from lash_core.resolution import Resolution
from lash_core.store import EffectStatus, envelope_replay_key
from lash_core.store_memory import MemoryStore
from lash_core.turn._live import Live, ToolRound
from tests.core.test_registry_machine_bites import DEFECTS as REGISTRY_DEFECTS


def _completion_order(mp: pytest.MonkeyPatch) -> None:
    """The machine applies a round's tool results in the order they completed."""
    original = transitions._maybe_settle
    # Each round's completion order, by the round's id, with the round kept alive: a freed
    # round's id is reused, and a later round (of another example, with the same call ids)
    # must not inherit its order.
    seen: dict[int, tuple[ToolRound, list[str]]] = {}

    def maybe_settle(live: Live, phase: ToolRound) -> None:
        order = seen.setdefault(id(phase), (phase, []))[1]
        for c in phase.calls:
            if c.result is not None and c.call.call_id not in order:
                order.append(c.call.call_id)
        if not live.waiting:
            phase.calls.sort(key=lambda c: order.index(c.call.call_id))
        return original(live, phase)

    mp.setattr(transitions, "_maybe_settle", maybe_settle)


def _unchecked_signatures(mp: pytest.MonkeyPatch) -> None:
    def matches(
        self: promise.AwaitEventRegistry, stored: AwaitEventKey, presented: AwaitEventKey
    ) -> bool:
        return stored.key_id == presented.key_id

    mp.setattr(promise.AwaitEventRegistry, "_matches", matches)


def _ignored_cancel(mp: pytest.MonkeyPatch) -> None:
    def subscribe(self: CancelToken, fn: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    mp.setattr(CancelToken, "subscribe", subscribe)


def _forgotten_revocation(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(promise, "session_allows_access", lambda revoked: True)


def _signal_skips_the_wait(mp: pytest.MonkeyPatch) -> None:
    """A signal sent to a process already waiting resolves the ordinal after the one it waits
    on (so the wait it should answer stays waiting)."""
    original = process_commands.signal_ordinal

    def signal_ordinal(
        record: ProcessRecord, events: tuple[ProcessEvent, ...], event: ProcessEvent
    ) -> int:
        ordinal = original(record, events, event)
        return ordinal + 1 if record.wait is not None else ordinal

    mp.setattr(process_commands, "signal_ordinal", signal_ordinal)


def _ignored_process_cancel(mp: pytest.MonkeyPatch) -> None:
    """The runner is never told of a cancel request: the process runs on."""
    mp.setattr(ProcessRunner, "cancel_requested", lambda self, process_id: None)


DEFECTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "last_writer_wins": (REGISTRY_DEFECTS["last_writer_wins"], "one_terminal_per_key"),
    "dropped_wake_up": (REGISTRY_DEFECTS["dropped_wake_up"], "wake_ups_are_delivered"),
    "results_in_completion_order": (_completion_order, "tool_results_in_call_order"),
    "unchecked_signatures": (_unchecked_signatures, "forged_keys_change_nothing"),
    "ignored_cancel": (_ignored_cancel, "cancel_is_prompt"),
    "forgotten_revocation": (_forgotten_revocation, "revocation_is_final"),
    "signal_skips_the_wait": (_signal_skips_the_wait, "signals_resume_waits_in_order"),
    "ignored_process_cancel": (_ignored_process_cancel, "cancelled_processes_end_cancelled"),
}
"""Each defect, with the oracle expected to catch it."""


# -- durable worlds --------------------------------------------------------------------------


def _journal_forgets_on_restart(mp: pytest.MonkeyPatch) -> None:
    """The journal forgets a recorded outcome when a later owner (a restarted host, with a new
    fencing token) begins the effect again: the effect runs again as if new."""
    original = MemoryStore.begin

    def begin(self: MemoryStore, lease: Any, envelope: Any, now_ms: int, due: Any = None) -> Any:
        slot = (lease.session_id, envelope_replay_key(envelope))
        row = self._s.effects.get(slot)
        completed = row is not None and row.state.status is EffectStatus.COMPLETED
        if completed and row.state.fencing_token != lease.fencing_token:  # type: ignore[union-attr]
            del self._s.effects[slot]
        return original(self, lease, envelope, now_ms, due)

    mp.setattr(MemoryStore, "begin", begin)


def _restart_drops_buffered_resolution(mp: pytest.MonkeyPatch) -> None:
    """Parking on a key drops a resolution that arrived before the wait parked (one buffered
    while the host was down, or before a resumed turn waited again): the wait waits on."""
    original = MemoryStore.park

    def park(
        self: MemoryStore, key: AwaitEventKey, doorbell: str | None = None, deadline: Any = None
    ) -> Resolution | None:
        row = self._s.promises.get(key.key_id)
        if row is not None and row.terminal is not None and row.terminal.status == "ok":
            row.terminal = None
        return original(self, key, doorbell, deadline)

    mp.setattr(MemoryStore, "park", park)


DURABLE_DEFECTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "journal_forgets_on_restart": (_journal_forgets_on_restart, "no_recorded_effect_reruns"),
    "restart_drops_buffered_resolution": (
        _restart_drops_buffered_resolution,
        "no_accepted_resolution_lost",
    ),
}
"""Each defect of the durable tier, with the oracle expected to catch it in a durable world
with crashes."""
