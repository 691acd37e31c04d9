"""A host's process side: its process registry, the events of parked awaits, signal delivery
and the runner that runs started processes.

:class:`ProcessService` applies :func:`~lash_core.process.commands.apply_process_command` and
does what it says: sets the events of the awaiters a terminal woke, resolves the signal key a
``signal`` names (through the host's await-event registry), tells the attached runner about
started and cancelled processes, and parks an ``await`` on one of the host's level-triggered
wake events until the terminal. It awaits only the host's loop primitives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from lash_core import codes
from lash_core.effects.process import (
    ProcessAwaited,
    ProcessCommand,
    ProcessEffectOutcome,
)
from lash_core.errors import LocalProtocolError
from lash_core.keys import AwaitEventKey
from lash_core.loop import LoopPrimitives, WakeEvent
from lash_core.process.commands import (
    CommandDone,
    SignalDelivery,
    apply_process_command,
    resumed_request,
    signal_wait_identity,
    signal_wait_state,
    waiting_request,
)
from lash_core.process.events import (
    ProcessEvent,
    ProcessEventAppendRequest,
)
from lash_core.process.records import (
    ProcessAwaitOutput,
    ProcessRecord,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.process.results import AwaitReady, EventReady
from lash_core.process.rows import ProcessRows
from lash_core.resolution import AlreadyResolved, Resolution, ResolveOutcome, ok
from lash_core.scope import ExecutionScope, WaitIdentity

__all__ = ["ProcessHost", "ProcessLauncher", "ProcessService", "ProcessStore"]


class ProcessHost(Protocol):
    """What the service needs of its host (an :class:`~lash_core.host.InlineHost`): its loop
    primitives and its await-event registry, where signals are delivered."""

    @property
    def primitives(self) -> LoopPrimitives: ...

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey: ...

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome: ...


class ProcessLauncher(Protocol):
    """What runs started processes (a :class:`~lash_core.process.runner.ProcessRunner`)."""

    def launch(self, record: ProcessRecord) -> None:
        """Start running a newly registered process."""
        ...

    def cancel_requested(self, process_id: str) -> None:
        """The process's log now holds a cancel request."""
        ...


class ProcessStore(Protocol):
    """Where a registry is kept (a :class:`~lash_core.store.DurableStore` is one)."""

    def process_rows(self) -> ProcessRows: ...

    def save_process_rows(self, rows: ProcessRows) -> None: ...


class ProcessService:
    """The process registry of one host and what waits on it."""

    __slots__ = ("_clock_ms", "_events", "_host", "_launcher", "_store", "_unsaved", "registry")

    def __init__(self, host: ProcessHost) -> None:
        self._host = host
        self.registry = ProcessRegistry()
        self._events: dict[int, WakeEvent] = {}
        self._launcher: ProcessLauncher | None = None
        self._clock_ms: Callable[[], int] | None = None
        self._store: ProcessStore | None = None
        self._unsaved: list[ProcessRows] = []

    def keep_in(self, store: ProcessStore, clock_ms: Callable[[], int]) -> None:
        """Keep the registry in ``store`` (a durable host does): restore it from
        ``store.process_rows()`` now, stamp it with ``clock_ms`` (wall-clock milliseconds, so
        its timestamps and leases survive a restart), and :meth:`save` what each operation of
        the service changes, before its effects are followed."""
        self.registry = ProcessRegistry.from_rows(store.process_rows(), track_changes=True)
        self._store = store
        self._clock_ms = clock_ms

    def save(self) -> None:
        """Save what changed in the registry since the last save to the store it is kept in,
        in one transaction (call it after changing the registry directly, e.g. claiming a
        process lease). Rows a failed save did not write are saved first the next time."""
        store = self._store
        if store is None:
            return
        rows = self.registry.drain_changes()
        if rows.row_count:
            self._unsaved.append(rows)
        while self._unsaved:
            store.save_process_rows(self._unsaved[0])
            del self._unsaved[0]

    _changed = save

    def now_ms(self) -> int:
        """The host clock in whole milliseconds (the registry's timestamps)."""
        clock = self._clock_ms
        return int(self._host.primitives.now() * 1000) if clock is None else clock()

    def attach(self, launcher: ProcessLauncher) -> Callable[[], None]:
        """Let ``launcher`` run the processes started from now on; returns a detach."""
        if self._launcher is not None:
            raise LocalProtocolError(
                codes.PROCESS_RUNNER_ATTACHED, "this host already has a process runner attached"
            )
        self._launcher = launcher

        def detach() -> None:
            if self._launcher is launcher:
                self._launcher = None

        return detach

    def _wake(self, waiter_ids: frozenset[int]) -> None:
        for waiter_id in waiter_ids:
            event = self._events.get(waiter_id)
            if event is not None:
                event.set()

    def _follow(self, step: CommandDone) -> ProcessEffectOutcome:
        self._wake(step.wake)
        if step.signal is not None:
            self._deliver(step.signal)
        launcher = self._launcher
        if launcher is not None:
            if step.started is not None:
                launcher.launch(step.started)
            if step.cancelled is not None:
                launcher.cancel_requested(step.cancelled)
        return step.outcome

    def _deliver(self, signal: SignalDelivery) -> None:
        """Resolve the key of the wait a signal answers. For a new signal, a key already
        resolved means its wait got an earlier signal and has not resumed yet (its record still
        names it), so the signal answers the next ordinal instead of being lost."""
        wait = signal.wait
        while True:
            key = self._host.await_event_key(signal.scope, wait)
            outcome = self._host.resolve_await_event(key, ok(signal.payload))
            if not signal.appended or not isinstance(outcome, AlreadyResolved):
                return
            wait = signal_wait_identity(wait.process_id, wait.signal_name, wait.ordinal + 1)

    async def execute(self, command: ProcessCommand) -> ProcessEffectOutcome:
        """Run one ``process`` command; an ``await`` parks until the process is terminal."""
        step = apply_process_command(self.registry, command, self.now_ms())
        self._changed()
        if isinstance(step, CommandDone):
            outcome = self._follow(step)
            await self._host.primitives.checkpoint()
            return outcome
        return ProcessAwaited(await self._park(step.waiter_id))

    async def await_terminal(self, process_id: str) -> ProcessAwaitOutput:
        """The process's await output, waiting for its terminal."""
        start = self.registry.begin_await(process_id)
        if isinstance(start, AwaitReady):
            await self._host.primitives.checkpoint()
            return start.output
        return await self._park(start.waiter_id)

    async def await_next_event(
        self, process_id: str, after: int = 0, event_types: Iterable[str] | None = None
    ) -> ProcessEvent | None:
        """The first event above the cursor ``after`` whose type is in ``event_types`` (any
        when ``None``), waiting for it; ``None`` when the process ends without one."""
        start = self.registry.begin_event_await(process_id, after, event_types)
        loop = self._host.primitives
        if isinstance(start, EventReady):
            await loop.checkpoint()
            return start.event
        event = self._events[start.waiter_id] = loop.new_event()
        try:
            await loop.wait_event(event, None)
        finally:
            del self._events[start.waiter_id]
            found = self.registry.end_event_await(start.waiter_id)
        return found

    async def _park(self, waiter_id: int) -> ProcessAwaitOutput:
        loop = self._host.primitives
        # Registered before control is released, so the terminal's wake cannot be lost.
        event = self._events[waiter_id] = loop.new_event()
        try:
            await loop.wait_event(event, None)
        except BaseException:
            del self._events[waiter_id]
            self.registry.end_await(waiter_id)
            raise
        del self._events[waiter_id]
        output = self.registry.end_await(waiter_id)
        self._changed()
        assert output is not None, "only a terminal wakes a process awaiter"
        return output

    # -- what a running process does ---------------------------------------------------------

    def append_event(self, process_id: str, request: ProcessEventAppendRequest) -> ProcessEvent:
        """Append an event to the process's log (waking its awaiters if it is a terminal)."""
        appended = self.registry.append_event(process_id, request, self.now_ms())
        self._changed()
        self._wake(appended.wake)
        return appended.event

    def finish(self, process_id: str, output: ProcessAwaitOutput) -> ProcessRecord:
        """Write the process's terminal for ``output`` and wake its awaiters."""
        appended = self.registry.append_terminal(process_id, output, self.now_ms())
        self._changed()
        self._wake(appended.wake)
        return appended.record

    def begin_signal_wait(
        self, process_id: str, name: str, ordinal: int, key: AwaitEventKey
    ) -> None:
        """Record the wait facet and the ``process.waiting`` event of a signal wait."""
        now = self.now_ms()
        self.registry.set_wait(process_id, signal_wait_state(name, ordinal, key, now), now)
        self.append_event(process_id, waiting_request(process_id, name, ordinal))

    def end_signal_wait(self, process_id: str, name: str, ordinal: int) -> None:
        """Clear the wait facet and append ``process.resumed`` (a live process only)."""
        if self.registry.record(process_id).is_terminal:
            return
        self.registry.set_wait(process_id, None, self.now_ms())
        self.append_event(process_id, resumed_request(process_id, name, ordinal))
