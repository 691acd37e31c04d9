"""Durable worlds: a world's sessions on a :class:`~lash_core.durable_host.DurableHost` over a
:class:`~lash_core.store_memory.MemoryStore`, whose host crashes and restarts.

Only a :class:`~lash_core.store_memory.MemoryStoreState` (what a database file holds) outlives a
host. A **crash** (a :class:`~lash_core.sim.world.CrashPlan`: at a drawn virtual instant, or
right after the n-th effect outcome the hosts recorded) cuts the host off its store (every
later write of the dead host fails, so it releases nothing: its session leases stay held until
they expire), cancels its tasks (its listener, the turns it was running, the handlers they were
running) and drops its memory. ``down_ms`` later a fresh host (a new store object over the same
state, a new owner) starts, and each unfinished turn is resumed on it: its stored start is
replayed through the journal (recorded outcomes are not run again; an effect cut off between its
begin and its complete runs once more, *in doubt*), after the dead owner's lease expired
(:data:`LEASE_TTL_MS`), or at once if no lease was held. The crash instants cover an effect
between its begin and its complete (a handler sleeping its latency), an outcome recorded but not
yet used (a crash right after an outcome), and a turn waiting on an await event.

External resolvers (webhooks) go on while no host runs: they resolve through the store, and
through the live host when one runs (which wakes its waiter at once).

The trace gains ``host_up`` / ``crash`` records, a ``resume`` record when a turn is resumed on
a fresh host, ``replay`` records for outcomes answered from the journal (not run), and each
``handler`` record carries the effect's ``attempt``, ``in_doubt`` and ``idempotency_key``. The
oracles :func:`~lash_core.sim.oracles.no_recorded_effect_reruns` and
:func:`~lash_core.sim.oracles.no_accepted_resolution_lost` judge them.
"""

from __future__ import annotations

import functools
from typing import Any, Final, cast

from lash_core import codes
from lash_core.durable_host import DurableHost, resume_turn
from lash_core.durable_turn import TurnStart
from lash_core.effects import EffectEnvelope, EffectOutcome, Message, Role, TextPart
from lash_core.errors import LashError
from lash_core.host import TaskHandle
from lash_core.keys import AwaitEventKey
from lash_core.loop import WakeEvent
from lash_core.process.service import ProcessService
from lash_core.resolution import Resolution, ResolveOutcome
from lash_core.sim.loop import SimLoop, SimPrimitives
from lash_core.sim.world import (
    CrashPlan,
    Recorder,
    SessionPlan,
    ToolPlan,
    TurnPlan,
    WorldPlan,
    _Turn,
    _TurnObserver,
    world_config,
)
from lash_core.store import DurableStore, Owner, TurnStatus
from lash_core.store_memory import MemoryStore, MemoryStoreState
from lash_core.turn import TurnEvent, TurnHandlers, TurnMachine, TurnResult
from lash_core.wire import from_json, to_wire

__all__ = ["LEASE_TTL_MS", "RENEW_EVERY_MS", "SECRET", "run_durable_world"]

SECRET: Final = b"lash-sim-durable-secret-0123456789"
"""The store's signing secret in every durable world."""
LEASE_TTL_MS: Final = 5_000
"""A host's session lease ttl (virtual ms): a crashed host's turns resume once it expired."""
RENEW_EVERY_MS: Final = 1_000
"""How often a live host renews its leases (its listener checks at least every second)."""
LEASE_RETRY_S: Final = 0.5
"""How long a fresh host waits before trying again a turn whose lease a dead host holds."""
EPOCH_MS: Final = 1_000_000_000
"""The hosts' wall clock at the world's start (any fixed value: time is an input)."""


class _Severable:
    """A host's store object; once :attr:`severed` (its host crashed) every call fails, so a
    dead host writes nothing (not even the release of its leases)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.severed = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.severed:
                raise LashError(codes.STORE_UNAVAILABLE, "the host crashed")
            return attribute(*args, **kwargs)

        return call


class _Epoch:
    """One host's life: the host, its store object, the tasks it runs, and the events of the
    turns waiting for those tasks (set when it crashes)."""

    def __init__(self, number: int, host: DurableHost, store: _Severable) -> None:
        self.number = number
        self.host = host
        self.store = store
        self.tasks: list[TaskHandle] = []
        self.watchers: list[WakeEvent] = []
        self.crashed = False


class _Attempt:
    """One run of a turn on one host."""

    def __init__(self, event: WakeEvent) -> None:
        self.event = event
        self.result: TurnResult | None = None
        self.error: BaseException | None = None
        self.lease_held = False


class _World:
    """The durable world's hosts, crashes and restarts."""

    def __init__(self, plan: WorldPlan, loop: SimLoop, recorder: Recorder) -> None:
        self.plan = plan
        self.loop = loop
        self.primitives = SimPrimitives(loop)
        self.recorder = recorder
        self.state = MemoryStoreState(SECRET)
        self.bare = MemoryStore(self.state)
        """The store as a resolver sees it while no host runs."""
        self.live: _Epoch | None = None
        self.up = self.primitives.new_event()
        self.hosts = 0
        self.outcomes = 0
        self.after: dict[int, CrashPlan] = {
            c.after_outcomes: c for c in plan.crashes if c.after_outcomes is not None
        }
        self.services: list[TaskHandle] = []
        self.group: Any = None

    def now_ms(self) -> int:
        return EPOCH_MS + round(self.loop.now() * 1000)

    # -- hosts -------------------------------------------------------------------------------

    def start_host(self) -> None:
        self.hosts += 1
        store = _Severable(MemoryStore(self.state))
        host = DurableHost(
            SimPrimitives(self.loop),
            cast(DurableStore, store),
            owner=Owner(f"host-{self.hosts}"),
            now_ms=self.now_ms,
            doorbell=None,
            secret_source=lambda: SECRET,
            processes=ProcessService,
            lease_ttl_ms=LEASE_TTL_MS,
            renew_every_ms=RENEW_EVERY_MS,
        )
        epoch = _Epoch(self.hosts, host, store)
        epoch.tasks.append(self.group.start(functools.partial(self._listen, epoch)))
        self.live = epoch
        self.recorder.add("host_up", host=epoch.number)
        up, self.up = self.up, self.primitives.new_event()
        up.set()

    def crash(self, crash: CrashPlan) -> None:
        """Crash the live host (if one runs) and schedule its successor."""
        epoch = self.live
        if epoch is None:
            return
        self.live = None
        epoch.crashed = True
        epoch.store.severed = True
        for task in epoch.tasks:
            task.cancel()
        for event in epoch.watchers:
            event.set()
        self.recorder.add("crash", host=epoch.number)
        self.services.append(self.group.start(functools.partial(self._restart, crash.down_ms)))

    async def _listen(self, epoch: _Epoch) -> None:
        """The host's listener, until the host crashes (a step it takes as the crash lands
        finds its store cut off)."""
        try:
            await epoch.host.listen()
        except LashError:
            if not epoch.crashed:
                raise

    async def _restart(self, down_ms: int) -> None:
        await self.primitives.sleep(down_ms / 1000)
        self.start_host()

    async def crash_at(self, crash: CrashPlan) -> None:
        assert crash.at_ms is not None
        await self.primitives.sleep(crash.at_ms / 1000)
        self.crash(crash)

    def outcome_recorded(self) -> None:
        """A host recorded an effect's outcome: the planned crash after it, if any."""
        self.outcomes += 1
        crash = self.after.get(self.outcomes)
        if crash is not None:
            self.crash(crash)

    async def live_epoch(self) -> _Epoch:
        while self.live is None:
            await self.primitives.wait_event(self.up, None)
        return self.live

    # -- resolvers ---------------------------------------------------------------------------

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        live = self.live
        if live is None:
            return self.bare.resolve(key, resolution)
        return live.host.resolve_await_event(key, resolution)

    def peek(self, key: AwaitEventKey) -> Resolution | None:
        return self.bare.peek(key)

    # -- turns -------------------------------------------------------------------------------

    def _held_elsewhere(self, session_id: str, host: DurableHost) -> bool:
        """Whether another (dead) owner's lease on the session is still live (a resume would
        be refused ``lease_held``: wait for it to expire)."""
        lease = self.state.leases.get(session_id)
        if lease is None or lease.holder is None or lease.holder == host.owner:
            return False
        return lease.expires_ms > self.now_ms()

    async def run_turn(self, turn: _DurableTurn, start: TurnStart) -> TurnResult:
        """Run ``turn`` to its result on whichever host is up, resuming it after each crash."""
        while True:
            epoch = await self.live_epoch()
            attempt = _Attempt(self.primitives.new_event())
            epoch.watchers.append(attempt.event)
            epoch.tasks.append(
                self.group.start(functools.partial(self._attempt, epoch, turn, start, attempt))
            )
            await self.primitives.wait_event(attempt.event, None)
            epoch.watchers.remove(attempt.event)
            if attempt.result is not None:
                return attempt.result
            if attempt.error is not None:
                raise attempt.error
            if attempt.lease_held:
                await self.primitives.sleep(LEASE_RETRY_S)

    async def _attempt(
        self, epoch: _Epoch, turn: _DurableTurn, start: TurnStart, attempt: _Attempt
    ) -> None:
        host = epoch.host
        turn.host = host
        observer = _DurableObserver(self, epoch, turn.recorder, turn._where())
        handlers = TurnHandlers(
            model=turn.model, tools=turn.tool, code=turn.code, checkpoint=turn.checkpoint
        )
        where = turn._where()

        def on_event(event: TurnEvent) -> None:
            if not epoch.crashed:  # a dead host tells nobody anything
                turn.recorder.add("event", event=to_wire(event), **where)

        try:
            row = host.store.turn(start.ref)
            if row is None:
                attempt.result = await host.run_journaled(
                    start.machine(), handlers, hooks=observer, on_event=on_event, cancel=None
                )
            elif row.status is TurnStatus.FINISHED:
                assert row.result_json is not None
                attempt.result = from_json(row.result_json, TurnResult)
            elif self._held_elsewhere(start.ref.session_id, host):
                attempt.lease_held = True
            else:
                turn.recorder.add("resume", host=epoch.number, **where)
                attempt.result = await resume_turn(
                    host,
                    start.ref.session_id,
                    start.ref.turn_id,
                    handlers,
                    on_event=on_event,
                    hooks=observer,
                )
        except LashError as exc:
            if not epoch.crashed:
                if exc.code == codes.LEASE_HELD:
                    attempt.lease_held = True
                else:
                    attempt.error = exc
        except Exception as exc:
            if not epoch.crashed:
                attempt.error = exc
        finally:
            attempt.event.set()


class _DurableObserver(_TurnObserver):
    """Records a turn's run on one host: an outcome answered from the journal (its envelope
    was not handed to this run) is a ``replay``; a live one is an ``effect``, and counts
    towards the world's outcome-triggered crashes. Once its host crashed it records nothing
    (what a dead host's tasks do before their cancellation lands is nobody's business)."""

    __slots__ = ("_emitted", "_epoch", "_world")

    def __init__(
        self, world: _World, epoch: _Epoch, recorder: Recorder, where: dict[str, Any]
    ) -> None:
        super().__init__(recorder, where)
        self._world = world
        self._epoch = epoch
        self._emitted: set[str | None] = set()

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        if self._epoch.crashed:
            return None
        self._emitted.add(envelope.replay_key)
        return super().before_effect(envelope, timeout_ms)

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        if self._epoch.crashed:
            return
        if envelope.replay_key not in self._emitted:
            self._recorder.add(
                "replay",
                key=envelope.replay_key,
                kind=envelope.command.kind.value,
                outcome=to_wire(outcome),
                **self._where,
            )
            return
        super().after_outcome(envelope, outcome)
        self._world.outcome_recorded()


class _DurableTurn(_Turn):
    """A turn's handlers across hosts: the same model step, delivery and resolver for the same
    envelope whichever host runs it, and resolvers that go through the world's store."""

    world: _World
    steps_by_key: dict[str | None, int]
    first_checkpoint: str | None
    resolving: set[str]

    def _ran(self, envelope: EffectEnvelope, kind: str) -> None:
        host = self.host
        assert isinstance(host, DurableHost)
        live = self.world.live
        if live is None or live.host is not host:
            return  # a dead host's handler, about to be cancelled
        attempt = host.effect_attempt(envelope)
        extra: dict[str, Any] = {}
        if attempt is not None:
            extra = {
                "attempt": attempt.attempt,
                "in_doubt": attempt.in_doubt,
                "idempotency_key": attempt.idempotency_key,
            }
        self.recorder.add("handler", key=envelope.replay_key, kind=kind, **extra, **self._where())

    def _next_step(self, envelope: EffectEnvelope) -> int:
        return self.steps_by_key.setdefault(envelope.replay_key, len(self.steps_by_key))

    def _delivers(self, envelope: EffectEnvelope) -> bool:
        if not self.plan.deliver:
            return False
        if self.first_checkpoint is None:
            self.first_checkpoint = envelope.replay_key
        return self.first_checkpoint == envelope.replay_key

    def _start_resolver(self, call_id: str, key: AwaitEventKey, plan: ToolPlan) -> None:
        if call_id not in self.resolving:  # the webhook provider deduplicates a re-run
            self.resolving.add(call_id)
            super()._start_resolver(call_id, key, plan)

    def _resolve_key(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        return self.world.resolve(key, resolution)

    def _peek_key(self, key: AwaitEventKey) -> Resolution | None:
        return self.world.peek(key)


def _new_turn(
    world: _World, session_id: str, turn_id: str, plan: TurnPlan, group: Any
) -> _DurableTurn:
    host = world.live.host if world.live is not None else None
    turn = _DurableTurn(cast(Any, host), world.recorder, group, session_id, turn_id, plan)
    turn.world = world
    turn.steps_by_key = {}
    turn.first_checkpoint = None
    turn.resolving = set()
    return turn


async def _run_session(world: _World, session: SessionPlan) -> None:
    config = world_config()
    await world.primitives.sleep(session.start_ms / 1000)
    history: tuple[Message, ...] = ()
    for index, plan in enumerate(session.turns):
        turn_id = f"{session.session_id}-t{index}"
        turn = _new_turn(world, session.session_id, turn_id, plan, world.group)
        where = turn._where()
        question = Message(Role.USER, (TextPart(f"question from {session.session_id}"),))
        machine = TurnMachine(
            config,
            session_id=session.session_id,
            turn_id=turn_id,
            turn_index=index,
            messages=(*history, question),
        )
        world.recorder.add("turn_start", **where)
        result = await world.run_turn(turn, TurnStart.of(machine))
        world.recorder.add("turn_end", result=to_wire(result), **where)
        history = result.messages


async def run_durable_world(plan: WorldPlan, loop: SimLoop, recorder: Recorder) -> None:
    """Run every session of ``plan`` concurrently on durable hosts over one memory store,
    crashing and restarting the host as ``plan.crashes`` say, recording into ``recorder``.
    The world ends once every session and resolver has finished."""
    world = _World(plan, loop, recorder)
    primitives = world.primitives
    async with primitives.open_task_group() as group:
        world.group = group
        world.start_host()
        for crash in plan.crashes:
            if crash.at_ms is not None:
                world.services.append(group.start(functools.partial(world.crash_at, crash)))
        async with primitives.open_task_group() as sessions:
            for session in plan.sessions:
                sessions.start(functools.partial(_run_session, world, session))
        # Every turn has its result: stop the crashes still planned and the hosts.
        for task in world.services:
            task.cancel()
        if world.live is not None:
            for task in world.live.tasks:
                task.cancel()
