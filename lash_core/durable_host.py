"""The durable host: an effect host whose turns and waits live in a :class:`DurableStore`.

:class:`DurableHost` is an :class:`~lash_core.host.InlineHost` (same loop primitives, same
routing) whose durable state is in its store instead of its memory:

* **await events**: minting writes nothing; a wait parks in the store with this process's
  doorbell and an absolute deadline kept from the first park; resolves are first-writer-wins;
  cancellation and deadlines write durably (turn-control waits never write);
* **turns** run journaled (``run_turn`` on this host, or :func:`resume_turn`) under the
  session's lease: every effect is recorded before the machine uses its outcome
  (:class:`~lash_core.durable_turn.JournalHooks`); a resumed turn replays recorded outcomes
  and runs the first unrecorded envelope live; a stop request that wins a running turn's
  cancel gate in any process stops it;
* **durable steps and direct calls** (:meth:`DurableHost.execute_recorded`) are journaled the
  same way, and the **process registry** is restored from the store and saved after each
  process operation;
* a **listener** (:meth:`DurableHost.running`) wakes local waiters whose key a datagram on the
  doorbell names, re-reads parked keys and cancel gates when ``store.data_version()`` changed
  (every 250 ms, backing off to 1 s: the safety net for a lost datagram; a store that fails
  for a while is asked again, and everything re-read once it answers), and renews leases.

A driver adds only the wait on the doorbell's socket
(:meth:`~lash_core.loop.LoopPrimitives.wait_readable`): ``lash_trio.open_durable_host`` and
``lash_asyncio.open_durable_host``. Time is an input (``now_ms``, wall-clock milliseconds).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Literal, Protocol

from lash_core import codes
from lash_core.durable_turn import (
    EffectAttempt,
    GateWatch,
    JournalHooks,
    LeaseCell,
    TurnStart,
    record_effect,
)
from lash_core.effects.commands import SleepCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.outcomes import EffectOutcome, SleepOutcome
from lash_core.errors import LashError, LocalProtocolError
from lash_core.host import CancelToken, DurabilityTier, EffectHandler, InlineHost
from lash_core.keys import AwaitEventKey
from lash_core.loop import LoopPrimitives, WakeEvent, wait_unless_cancelled
from lash_core.resolution import Resolution, ResolveOutcome
from lash_core.routing import UNAVAILABLE, LocalExecutor
from lash_core.scope import ExecutionScope, WaitIdentity
from lash_core.store import DurableStore, Owner, TurnRef, TurnStatus, abandoned_gate_id
from lash_core.turn.config import TurnConfig
from lash_core.turn.events import TurnEvent, TurnResult
from lash_core.turn.gate import cancel_message
from lash_core.turn.machine import TurnMachine
from lash_core.turn.run import TurnHandlers, TurnHooks, TurnRunner, callback_hooks
from lash_core.wire import canonical_json, from_json

if TYPE_CHECKING:
    from lash_core.process.service import ProcessService

__all__ = ["DoorbellPort", "DurableHost", "resume_turn"]

SAFETY_NET_FIRST = 0.25
"""Seconds between the listener's first checks of ``data_version`` after a change."""
SAFETY_NET_LAST = 1.0
"""The longest interval between two checks (the interval doubles while nothing changes)."""
KEEP_JOURNALS = 64
"""How many journals of turns that ended a host keeps for inspection (``host.journals``)."""


class DoorbellPort(Protocol):
    """What the host needs of a doorbell (``lash_sqlite.Doorbell``): the address it parks keys
    with, a file descriptor to wait on, and the key ids of the datagrams received."""

    @property
    def address(self) -> str: ...

    def fileno(self) -> int: ...

    def drain(self) -> list[str]: ...


class _Parked:
    """One local waiter parked on a key: woken by setting ``event``."""

    __slots__ = ("event", "key")

    def __init__(self, key: AwaitEventKey, event: WakeEvent) -> None:
        self.key = key
        self.event = event


class DurableHost(InlineHost):
    """An effect host whose await events and turns live in ``store`` (see the module
    documentation). Build it through a driver's ``open_durable_host``.

    * ``owner``: who holds this host's session leases (``lash_sqlite.new_owner(name)`` makes
      one another process on this machine can prove dead);
    * ``now_ms``: wall-clock milliseconds (lease times, stored deadlines, sleep due times);
    * ``doorbell``: this process's doorbell, or ``None`` (then only the safety net wakes a
      waiter whose key another process resolved);
    * ``lease_ttl_ms`` / ``renew_every_ms``: the session lease's ttl, and how often the
      listener renews it while a turn of the session runs here.
    """

    def __init__(
        self,
        loop: LoopPrimitives,
        store: DurableStore,
        *,
        owner: Owner,
        now_ms: Callable[[], int],
        doorbell: DoorbellPort | None,
        secret_source: Callable[[], bytes],
        processes: Callable[[InlineHost], ProcessService],
        lease_ttl_ms: int = 30_000,
        renew_every_ms: int = 10_000,
    ) -> None:
        super().__init__(loop, secret_source=secret_source, processes=processes)
        self.store = store
        """The store that holds this host's durable state."""
        self.owner = owner
        self._now_ms = now_ms
        self._bell = doorbell
        self._bell_address = None if doorbell is None else doorbell.address
        self._ttl = lease_ttl_ms
        self._renew_every = renew_every_ms
        self._parked: dict[str, list[_Parked]] = {}
        self._cells: dict[str, LeaseCell] = {}
        self._users: dict[str, int] = {}
        self._runners: dict[str, set[TurnRunner]] = {}
        self._attempts: dict[str, EffectAttempt] = {}
        self._sleeps: dict[str, int] = {}
        self.doorbell_wakes = 0
        """Key ids received on the doorbell (a resolver in another process rang)."""
        self.safety_net_wakes = 0
        """Waiters woken by the safety net (a changed ``data_version``, keys re-read)."""
        self.journals: dict[TurnRef, JournalHooks] = {}
        """The journal of each turn this host is running or ran last (the latest
        :data:`KEEP_JOURNALS`): its counters say how many outcomes were replayed and how many
        effects ran live."""
        self.processes.keep_in(store, now_ms)
        self._gates = GateWatch(store, self._bell_address, self.cancel_watchers.notify)

    # -- introspection -----------------------------------------------------------------------

    @property
    def durability_tier(self) -> DurabilityTier:
        return DurabilityTier.DURABLE

    def now_ms(self) -> int:
        """The host's wall clock, in milliseconds (the input it was given)."""
        return self._now_ms()

    def effect_attempt(self, envelope: EffectEnvelope) -> EffectAttempt | None:
        """For a handler running ``envelope`` of a journaled turn: its attempt number, whether
        it is in doubt, and its idempotency key (``None`` outside a journaled turn)."""
        key = envelope.replay_key
        return None if key is None else self._attempts.get(key)

    def unfinished_turns(self) -> list[TurnRef]:
        """The turns the store holds as still running (what a crashed process left)."""
        return self.store.unfinished_turns()

    def turn_journaling(self) -> DurableHost:
        return self

    def save_processes(self) -> None:
        """Save the process registry's changes now (the host does after each process operation;
        call it after changing ``host.processes.registry`` directly, e.g. a lease claimed)."""
        self.processes.save()

    # -- await events in the store -----------------------------------------------------------

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The key for ``(scope, wait)``, signed with the store's secret; writes nothing."""
        return self.store.mint(scope, wait)

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Resolve ``key`` in the store (first writer wins); wakes local and remote waiters."""
        outcome = self.store.resolve(key, resolution)
        key_id = getattr(key, "key_id", None)
        if isinstance(key_id, str):
            self._wake(key_id)
            if type(key) is AwaitEventKey:
                gate = abandoned_gate_id(key)
                if gate is not None:
                    self._wake(gate)
        return outcome

    def peek_await_event(self, key: AwaitEventKey) -> Resolution | None:
        return self.store.peek(key)

    def revoke_await_events_for_session(self, session_id: str) -> bool:
        revoked = self.store.revoke_session(session_id)
        self._wake_session(session_id)
        return revoked

    def cancel_await_events_for_session(self, session_id: str) -> int:
        count = self.store.cancel_session(session_id)
        self._wake_session(session_id)
        return count

    def _wake(self, key_id: str) -> None:
        for parked in self._parked.get(key_id, ()):
            parked.event.set()

    def _wake_session(self, session_id: str) -> None:
        for waiters in self._parked.values():
            for parked in waiters:
                if parked.key.scope.session_id == session_id:
                    parked.event.set()

    def _loop_deadline(self, deadline_ms: int | None) -> float | None:
        if deadline_ms is None:
            return None
        return self._loop.now() + max(0, deadline_ms - self._now_ms()) / 1000

    async def wait_for_event(
        self,
        key: AwaitEventKey,
        *,
        cancel: CancelToken | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> Resolution:
        """Wait for ``key``'s terminal in the store and return the one that won.

        The wait parks in the store with this host's doorbell and an absolute deadline (from
        ``deadline``/``timeout``, on the loop's clock, turned into wall-clock milliseconds); a
        deadline stored by an earlier park (before a crash) wins, so a resumed wait waits only
        for what is left. Reaching it writes ``timeout``; ``cancel`` or native cancellation
        writes ``cancelled`` (first writer wins; turn-control waits write nothing and fail with
        ``turn_control_wait_timeout``/``turn_control_wait_cancelled``).

        Native cancellation (the process shutting down, the host's block exiting) writes
        nothing: this process stopped waiting, the wait itself survives, and a resumed turn
        parks on the same key again. (An inline host writes ``cancelled`` there: its waits
        cannot outlive it.)
        """
        deadline = self._deadline(deadline, timeout)
        loop = self._loop
        store = self.store
        deadline_ms = (
            None
            if deadline is None
            else self._now_ms() + math.ceil(max(0.0, deadline - loop.now()) * 1000)
        )
        address = self._bell_address
        terminal = store.park(key, address, deadline_ms)
        if terminal is not None:
            await loop.checkpoint()
            return terminal
        stored = store.deadline_ms(key)
        parked = _Parked(key, loop.new_event())
        waiters = self._parked.setdefault(key.key_id, [])
        waiters.append(parked)
        try:
            while True:
                event = parked.event
                wait_until = self._loop_deadline(stored)
                if cancel is None:
                    await loop.wait_event(event, wait_until)
                else:
                    await wait_unless_cancelled(loop, event, wait_until, cancel)
                terminal = store.peek(key)
                if terminal is not None:
                    return terminal
                if cancel is not None and cancel.cancelled:
                    return store.cancel_wait(key)
                if stored is not None and self._now_ms() >= stored:
                    terminal = store.expire(key, self._now_ms())
                    if terminal is not None:
                        return terminal
                parked.event = loop.new_event()  # woken early (a safety-net check): wait again
        finally:
            waiters.remove(parked)
            if not waiters:
                self._parked.pop(key.key_id, None)
            if address is not None:
                with contextlib.suppress(LashError):
                    store.unpark(key, address)

    # -- effects -----------------------------------------------------------------------------

    async def run_envelope(
        self,
        envelope: EffectEnvelope,
        handlers: Mapping[EffectKind, EffectHandler],
        deadline: float | None = None,
        on_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    ) -> EffectOutcome:
        """:meth:`InlineHost.run_envelope`, except that a journaled sleep waits until its stored
        due time (a resumed sleep waits only for what is left)."""
        command = envelope.command
        if isinstance(command, SleepCommand):
            key = envelope.replay_key
            due = None if key is None else self._sleeps.pop(key, None)
            if due is not None:
                await self._loop.sleep(max(0, due - self._now_ms()) / 1000)
                return SleepOutcome()
        return await super().run_envelope(envelope, handlers, deadline, on_error)

    async def execute_recorded(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        """Run an envelope of host code (a durable step, a direct call) journaled in the store
        under the session's lease (acquired, or shared with a turn of the session running
        here): :func:`~lash_core.durable_turn.record_effect`."""
        if envelope.replay_key is None:
            return await self.execute_effect(envelope, executor)

        async def run(due_at_ms: int | None) -> EffectOutcome:
            if due_at_ms is not None and isinstance(envelope.command, SleepCommand):
                await self._loop.sleep(max(0, due_at_ms - self._now_ms()) / 1000)
                return SleepOutcome()
            return await self.execute_effect(envelope, executor)

        session_id = envelope.invocation.scope.session_id
        cell = self._hold(session_id)
        try:
            return await record_effect(
                self.store, cell, envelope, self._now_ms, run, self._loop.checkpoint, self._attempts
            )
        finally:
            self._let_go(session_id, cell)

    # -- leases ------------------------------------------------------------------------------

    def _hold(self, session_id: str) -> LeaseCell:
        cell = self._cells.get(session_id)
        if cell is None or cell.lost is not None:
            lease = self.store.acquire(session_id, self.owner, self._ttl, self._now_ms())
            cell = self._cells[session_id] = LeaseCell(lease)
            self._users[session_id] = 0
        self._users[session_id] += 1
        return cell

    def _let_go(self, session_id: str, cell: LeaseCell) -> None:
        if self._cells.get(session_id) is not cell:
            return
        self._users[session_id] -= 1
        if self._users[session_id] == 0:
            del self._cells[session_id], self._users[session_id]
            if cell.lost is None:
                with contextlib.suppress(LashError):
                    self.store.release(cell.lease)

    def renew_leases(self) -> None:
        """Renew every lease this host holds that is due (the listener calls it). A renewal
        refused (``lease_lost``: another owner took the session over) ends that session's
        running turns with the error."""
        now = self._now_ms()
        for session_id, cell in list(self._cells.items()):
            if cell.lost is not None:
                continue
            if now < cell.lease.expires_ms - self._ttl + self._renew_every:
                continue
            try:
                cell.lease = self.store.renew(cell.lease, self._ttl, now)
            except LashError as exc:
                if exc.code != codes.LEASE_LOST:
                    continue  # a store hiccup: try again at the next check
                cell.lost = exc
                for runner in list(self._runners.get(session_id, ())):
                    runner.fail(exc)

    def check_gates(self, key_ids: Collection[str] | None = None) -> int:
        """Re-read the cancel gates of the turns running here (those in ``key_ids``, or all): a
        stop request that won one, from any process, stops its turn. How many were stopped."""
        return self._gates.check(key_ids)

    # -- the listener ------------------------------------------------------------------------

    def check_parked(self) -> int:
        """Re-read every locally parked key and wake the waiters of those that ended (the
        safety net). Returns how many waiters were woken."""
        woken = 0
        for waiters in list(self._parked.values()):
            if not waiters:
                continue
            try:
                ended = self.store.peek(waiters[0].key) is not None
            except LashError:
                ended = True  # revoked: the waiter reads the refusal itself
            if ended:
                for parked in waiters:
                    parked.event.set()
                    woken += 1
        return woken

    async def listen(self) -> None:
        """Run the listener until cancelled: doorbell datagrams wake their keys' waiters; the
        store's ``data_version`` is checked every 250 ms, backing off to 1 s while it does not
        change, and the parked keys are re-read only when it did; due leases are renewed."""
        loop = self._loop
        bell = self._bell
        interval = SAFETY_NET_FIRST
        version = self._data_version()
        while True:
            if bell is not None:
                readable = await loop.wait_readable(bell.fileno(), loop.now() + interval)
            else:
                await loop.sleep(interval)
                readable = False
            if readable:
                assert bell is not None
                rung = bell.drain()
                for key_id in rung:
                    self.doorbell_wakes += 1
                    self._wake(key_id)
                if self._gates:
                    self.check_gates(rung)
            else:
                current = self._data_version()
                if current is None:  # the store did not answer: ask again soon
                    version, interval = None, SAFETY_NET_FIRST
                elif current != version:
                    version = current
                    interval = SAFETY_NET_FIRST
                    self.safety_net_wakes += self.check_parked()
                    self.check_gates()
                else:
                    interval = min(interval * 2, SAFETY_NET_LAST)
            self.renew_leases()

    def _data_version(self) -> int | None:
        """The store's ``data_version``, or ``None`` while it fails (a locked file, a lost
        connection): the listener outlives a store hiccup."""
        try:
            return self.store.data_version()
        except LashError:
            return None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DurableHost]:
        """Run the listener while the block runs; on exit stop it and release the leases this
        host holds. An exception of the block propagates as it is."""
        error: BaseException | None = None
        async with self._loop.open_task_group() as group:
            listener = group.start(self.listen)
            try:
                yield self
            except BaseException as exc:
                error = exc
            finally:
                listener.cancel()
        for session_id, cell in list(self._cells.items()):
            del self._cells[session_id]
            with contextlib.suppress(LashError):
                self.store.release(cell.lease)
        if error is not None:
            raise error

    # -- journaled turns ---------------------------------------------------------------------

    async def run_journaled(
        self,
        machine: TurnMachine,
        handlers: TurnHandlers,
        *,
        hooks: TurnHooks | None,
        on_event: Callable[[TurnEvent], None] | None,
        cancel: CancelToken | None,
    ) -> TurnResult:
        """``run_turn`` on this host: open the turn in the store (under the session's lease)
        with its start, run it journaled, store its result."""
        start = TurnStart.of(machine)
        return await self._run(start, machine, handlers, hooks, on_event, cancel, opening=True)

    async def _run(
        self,
        start: TurnStart,
        machine: TurnMachine,
        handlers: TurnHandlers,
        hooks: TurnHooks | None,
        on_event: Callable[[TurnEvent], None] | None,
        cancel: CancelToken | None,
        *,
        opening: bool,
        continue_on_divergence: bool = False,
    ) -> TurnResult:
        ref = start.ref
        session_id = ref.session_id
        cell = self._hold(session_id)
        try:
            if opening:
                self.store.open_turn(cell.lease, ref.turn_id, start.to_json(), self._now_ms())
            journal = JournalHooks(
                self.store,
                cell,
                ref,
                self._now_ms,
                attempts=self._attempts,
                sleeps=self._sleeps,
                inner=hooks,
                continue_on_divergence=continue_on_divergence,
            )
            self.journals.pop(ref, None)
            self.journals[ref] = journal
            runner = TurnRunner(
                machine, self, handlers, hooks=journal, on_event=on_event, cancel=cancel
            )
            runners = self._runners.setdefault(session_id, set())
            runners.add(runner)
            gate = machine.cancel_gate
            try:
                early = None if gate is None else self._gates.watch(gate)
                if early is not None:  # a stop request came while no process ran the turn
                    runner.stop(cancel_message(early))
                result = await runner.run()
            finally:
                if gate is not None:
                    self._gates.unwatch(gate)
                journal.forget()
                runners.discard(runner)
                if not runners:
                    self._runners.pop(session_id, None)
                journals = self.journals
                while len(journals) > KEEP_JOURNALS:
                    del journals[next(iter(journals))]
            for key in journal.awaited:
                # The turn ended (finished, or stopped by a cancel): a wait it left pending is
                # cancelled, first writer wins. A process stopping (native cancellation
                # propagating out of run) writes nothing, so a resumed turn waits again.
                with contextlib.suppress(LashError):
                    self.store.cancel_wait(key)
            self.store.finish_turn(cell.lease, ref, canonical_json(result), self._now_ms())
            return result
        finally:
            self._let_go(session_id, cell)


async def resume_turn(
    host: DurableHost,
    session_id: str,
    turn_id: str,
    handlers: TurnHandlers,
    *,
    config: TurnConfig | None = None,
    on_event: Callable[[TurnEvent], None] | None = None,
    on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None = None,
    on_handler_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    hooks: TurnHooks | None = None,
    cancel: CancelToken | None = None,
    on_divergence: Literal["fail", "continue"] = "fail",
) -> TurnResult:
    """Finish a turn the store holds (one a crashed process left running, see
    :meth:`DurableHost.unfinished_turns`), in this process.

    The session's lease is acquired (``lease_held`` while another live owner has it), the
    machine is rebuilt from the turn's stored start (with ``config`` instead of the stored
    configuration when given: your code's current one, which the replay checks), recorded
    outcomes are replayed without running anything, and the first unrecorded envelope runs live.
    A finished turn returns its stored result at once; a diverged turn is refused
    (``runtime_effect_replay_hash_mismatch``) without running anything; a turn the store does
    not hold is ``store_turn_unknown``.

    ``on_divergence="fail"`` (the default) ends the replay at an envelope recorded otherwise
    under its replay key: the turn is marked diverged, ``ReplayMismatchError`` is raised.
    ``"continue"`` keeps the outcomes recorded before it (in hand-out order) and runs it and
    every envelope after it live, replacing their rows (``host.journals[ref].divergence``).
    Callbacks are ``run_turn``'s; ``hooks`` run after the journal's and the callbacks'."""
    if on_divergence not in ("fail", "continue"):
        raise LocalProtocolError(
            codes.RESUME_ON_DIVERGENCE_INVALID,
            f'on_divergence is "fail" or "continue", not {on_divergence!r}',
        )
    ref = TurnRef(session_id, turn_id)
    row = host.store.turn(ref)
    if row is None:
        raise LocalProtocolError(
            codes.STORE_TURN_UNKNOWN,
            f"the store holds no turn {turn_id!r} of session {session_id!r}",
        )
    if row.status is TurnStatus.FINISHED:
        assert row.result_json is not None
        stored: TurnResult = from_json(row.result_json, TurnResult)
        return stored
    if row.status is TurnStatus.DIVERGED:
        raise LashError(
            codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH,
            f"turn {turn_id!r} of session {session_id!r} diverged from its journal and is not "
            f"resumed (deploy the code it ran with, or start a new turn): {row.divergence_json}",
        )
    start = TurnStart.from_json(row.start_json)
    return await host._run(
        start,
        start.machine(config),
        handlers,
        callback_hooks(on_effect, on_handler_error, hooks),
        on_event,
        cancel,
        opening=False,
        continue_on_divergence=on_divergence == "continue",
    )
