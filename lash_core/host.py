"""The driver-independent effect host: :class:`InlineHost` and its resolver API.

An inline host owns one await-event registry and one signing secret, and runs envelopes: how a
parked wait is begun, woken, cancelled or timed out and how its terminal is chosen are decided
here; where an envelope goes is decided in :mod:`lash_core.routing`, what kind it is in
:mod:`lash_core.effects.kinds`. The trio and asyncio drivers (and the simulator) only supply
:class:`~lash_core.loop.LoopPrimitives` (see :mod:`lash_core.loop`), a source of fresh secrets
and the host's process service, all passed to the constructor once.

The host's async methods await only those primitives, so this module imports no event loop and
does no I/O: a deterministic simulator can drive the same code by running its coroutines
itself. The names of :mod:`lash_core.loop` and :mod:`lash_core.routing` are re-exported here,
where they were first defined.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lash_core import codes
from lash_core.effects.commands import AwaitEventCommand, PeekAwaitEventCommand, SleepCommand
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.kinds import KINDS, Family
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    EffectOutcome,
    PeekAwaitEventOutcome,
    ProcessOutcome,
    SleepOutcome,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.loop import CancelToken as CancelToken
from lash_core.loop import LoopPrimitives as LoopPrimitives
from lash_core.loop import TaskGroup as TaskGroup
from lash_core.loop import TaskHandle as TaskHandle
from lash_core.loop import WakeEvent as WakeEvent
from lash_core.loop import wait_unless_cancelled
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import (
    UNKNOWN_OR_REVOKED,
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
    ResolveOutcome,
)
from lash_core.routing import UNAVAILABLE as UNAVAILABLE
from lash_core.routing import AwaitEventOptions as AwaitEventOptions
from lash_core.routing import AwaitRoute as AwaitRoute
from lash_core.routing import EffectHandler as EffectHandler
from lash_core.routing import HandlerExecutor as HandlerExecutor
from lash_core.routing import HandlerRoute as HandlerRoute
from lash_core.routing import LocalExecutor as LocalExecutor
from lash_core.routing import PeekRoute as PeekRoute
from lash_core.routing import ProcessExecutor as ProcessExecutor
from lash_core.routing import ProcessRoute as ProcessRoute
from lash_core.routing import Route as Route
from lash_core.routing import SleepExecutor as SleepExecutor
from lash_core.routing import SleepRoute as SleepRoute
from lash_core.routing import UnavailableExecutor as UnavailableExecutor
from lash_core.routing import always_propagates, process_unavailable, unavailable
from lash_core.routing import check_handler_outcome as check_handler_outcome
from lash_core.routing import check_outcome as check_outcome
from lash_core.routing import handler_failure as handler_failure
from lash_core.routing import route_effect as route_effect
from lash_core.scope import ExecutionScope, WaitIdentity, validate_scope

if TYPE_CHECKING:
    from lash_core.process.service import ProcessService
    from lash_core.turn.gate import TurnCancellation
    from lash_core.turn.run import TurnJournaling

__all__ = [
    "UNAVAILABLE",
    "AwaitEventOptions",
    "AwaitEventResolver",
    "AwaitRoute",
    "CancelToken",
    "CancelWatchers",
    "DurabilityTier",
    "EffectHandler",
    "HandlerExecutor",
    "HandlerRoute",
    "InlineHost",
    "LocalExecutor",
    "LoopPrimitives",
    "PeekRoute",
    "ProcessExecutor",
    "ProcessRoute",
    "Route",
    "ScopedEffectController",
    "SleepExecutor",
    "SleepRoute",
    "TaskGroup",
    "TaskHandle",
    "UnavailableExecutor",
    "WakeEvent",
    "check_handler_outcome",
    "check_outcome",
    "handler_failure",
    "route_effect",
]

# Looked up once: an enum member lookup costs as much as a small call, and these are read on
# every effect and every parked wait.
_HANDLER = Family.HANDLER
_AWAIT = Family.AWAIT
_SLEEP = Family.SLEEP
_PEEK = Family.PEEK
_WAIT_CANCELLED = WaitEnd.CANCELLED
_WAIT_DEADLINE = WaitEnd.DEADLINE
_RESOLUTIONS: frozenset[type] = frozenset(
    (ResolutionOk, ResolutionErr, ResolutionTimeout, ResolutionCancelled)
)
"""The terminals a woken waiter can hold (anything else it holds is the error it was woken
with)."""


class DurabilityTier(enum.StrEnum):
    """``inline``: waits live in this process. ``durable``: they survive its loss."""

    INLINE = "inline"
    DURABLE = "durable"


# -- the resolver surface and its defaults ---------------------------------------------------


def _unsupported(code: str = codes.AWAIT_EVENT_UNSUPPORTED) -> LashError:
    return LashError(code, "this effect host does not support await events")


class AwaitEventResolver:
    """The await-event surface with the reference's defaults: a host that does not support
    await events refuses everything (``await_event_unsupported``; a resolve answers
    ``unknown_or_revoked``; a session cancel ``await_event_cancel_unsupported``)."""

    @property
    def durability_tier(self) -> DurabilityTier:
        return DurabilityTier.INLINE

    @property
    def allows_process_lifetime_completion_keys(self) -> bool:
        return self.durability_tier is DurabilityTier.DURABLE

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        raise _unsupported()

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        return UNKNOWN_OR_REVOKED

    def peek_await_event(self, key: AwaitEventKey) -> Resolution | None:
        raise _unsupported()

    async def wait_for_event(
        self,
        key: AwaitEventKey,
        *,
        cancel: CancelToken | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> Resolution:
        raise _unsupported()

    def revoke_await_events_for_session(self, session_id: str) -> bool:
        raise _unsupported()

    def cancel_await_events_for_session(self, session_id: str) -> int:
        raise _unsupported(codes.AWAIT_EVENT_CANCEL_UNSUPPORTED)


class ScopedEffectController:
    """A host seen from one execution scope (validated on creation)."""

    __slots__ = ("_host", "_scope")

    def __init__(self, host: InlineHost, scope: ExecutionScope) -> None:
        validate_scope(scope)
        self._host = host
        self._scope = scope

    @property
    def host(self) -> InlineHost:
        return self._host

    @property
    def execution_scope(self) -> ExecutionScope:
        return self._scope

    @property
    def scope_id(self) -> str:
        return self._scope.id

    @property
    def turn_id(self) -> str | None:
        return self._scope.turn_id

    @property
    def durability_tier(self) -> DurabilityTier:
        return self._host.durability_tier

    def rescope(self, scope: ExecutionScope) -> ScopedEffectController:
        return ScopedEffectController(self._host, scope)

    def await_event_key(self, wait: WaitIdentity) -> AwaitEventKey:
        """A key for ``wait`` in this controller's scope."""
        return self._host.await_event_key(self._scope, wait)

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        return self._host.resolve_await_event(key, resolution)

    def peek_await_event(self, key: AwaitEventKey) -> Resolution | None:
        return self._host.peek_await_event(key)

    async def wait_for_event(
        self,
        key: AwaitEventKey,
        *,
        cancel: CancelToken | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> Resolution:
        return await self._host.wait_for_event(
            key, cancel=cancel, deadline=deadline, timeout=timeout
        )

    async def execute_effect(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        return await self._host.execute_effect(envelope, executor)


class CancelWatchers:
    """Who to tell, synchronously, when a cancel request wins the gate of a running turn.

    One per host: ``run_turn`` watches the turn it runs (``(session_id, turn_id)``) and
    :func:`~lash_core.turn.control.request_cancel` notifies the watcher of the turn whose gate it
    won, so the cancel takes effect in the same step as the request.
    """

    __slots__ = ("_by_turn",)

    def __init__(self) -> None:
        self._by_turn: dict[tuple[str, str], Callable[[TurnCancellation], None]] = {}

    def watch(
        self, session_id: str, turn_id: str, on_cancel: Callable[[TurnCancellation], None]
    ) -> Callable[[], None]:
        """Watch the turn (replacing an earlier watcher); returns the function that stops."""
        by_turn = self._by_turn
        where = (session_id, turn_id)
        by_turn[where] = on_cancel

        def unwatch() -> None:
            if by_turn.get(where) is on_cancel:
                del by_turn[where]

        return unwatch

    def notify(self, session_id: str, turn_id: str, evidence: TurnCancellation) -> None:
        """Tell the turn's watcher, if it has one, that a cancel won its gate."""
        watcher = self._by_turn.get((session_id, turn_id))
        if watcher is not None:
            watcher(evidence)


class InlineHost(AwaitEventResolver):
    """An inline effect host: one registry, one secret, waits in this process.

    Drivers subclass it to bind their :class:`~lash_core.loop.LoopPrimitives`
    (``lash_trio.InlineEffectHost``, ``lash_asyncio.InlineEffectHost``, the simulator's
    ``SimHost``). Two hosts never share keys: each signs with its own secret (given, or one from
    the driver's ``secret_source``) and ``previous`` secrets are still accepted.

    Registry operations (mint, resolve, peek, revoke, session cancel) never wait, so they are
    plain methods; waits and effects are async. None of them is thread-safe: from another
    thread use :meth:`resolve_threadsafe`.
    """

    def __init__(
        self,
        loop: LoopPrimitives,
        secret: bytes | None = None,
        previous: Iterable[bytes] = (),
        *,
        secret_source: Callable[[], bytes],
        processes: Callable[[InlineHost], ProcessService],
        allow_process_lifetime_completion_keys: bool = False,
    ) -> None:
        """Bind to ``loop`` (:meth:`~lash_core.loop.LoopPrimitives.bind`: at once if a loop is
        running, else on first use) and sign with ``secret``, or with ``secret_source()`` (a
        driver's fresh random bytes, the simulator's derived ones) when none is given.
        ``processes`` builds the host's process service from the host."""
        loop.bind()
        self._loop = loop
        self._registry = AwaitEventRegistry(
            KeySigner(secret_source() if secret is None else secret, previous)
        )
        # Bound once: a parked wait uses them. A driver whose waiters are their own events
        # (``new_waiter``, see LoopPrimitives) parks one object per wait instead of two.
        self._new_event = loop.new_event
        self._new_waiter: Callable[[], Waiter[Any]] | None = getattr(loop, "new_waiter", None)
        self._wait_event = loop.wait_event
        self._process_lifetime_keys = allow_process_lifetime_completion_keys
        self.cancel_watchers = CancelWatchers()
        """The running turns that watch for a cancel request winning their gate."""
        self._processes = processes(self)
        if type(self).resolve_await_event is InlineHost.resolve_await_event:
            # Not overridden: a resolve goes straight to the registry (one call, not two).
            self.__dict__["resolve_await_event"] = self._registry.resolve

    # -- introspection -----------------------------------------------------------------------

    @property
    def primitives(self) -> LoopPrimitives:
        """The loop primitives the driver bound this host to."""
        return self._loop

    @property
    def registry(self) -> AwaitEventRegistry:
        """The host's registry (for inspection; drive the host through its methods)."""
        return self._registry

    @property
    def processes(self) -> ProcessService:
        """The host's process registry and what waits on it (``process`` effects run here)."""
        return self._processes

    @property
    def allows_process_lifetime_completion_keys(self) -> bool:
        return self._process_lifetime_keys or super().allows_process_lifetime_completion_keys

    def turn_journaling(self) -> TurnJournaling | None:
        """How ``run_turn`` journals a turn on this host: ``None`` for an inline host (nothing
        is recorded); a durable host records every effect in its store."""
        return None

    async def execute_recorded(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        """Run ``envelope`` as :func:`~lash_core.durable.run_effect` does without a journal of
        its own: on an inline host this is :meth:`execute_effect` (nothing is recorded); a
        durable host answers it from its store's journal, or runs it and records its outcome
        there."""
        return await self.execute_effect(envelope, executor)

    def scoped(self, scope: ExecutionScope) -> ScopedEffectController:
        """A controller for ``scope`` (``missing_execution_scope_id`` if an id is blank)."""
        return ScopedEffectController(self, scope)

    # -- registry operations -----------------------------------------------------------------

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)``: stable, and creates no state."""
        return self._registry.mint(scope, wait)

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Resolve ``key``; the first resolution wins. Wakes its parked waiters."""
        return self._registry.resolve(key, resolution)

    def peek_await_event(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None`` (``await_event_unknown_or_revoked`` if refused)."""
        return self._registry.peek(key)

    def revoke_await_events_for_session(self, session_id: str) -> bool:
        """Revoke a session: its keys are refused and its waiters fail. Returns whether it was
        newly revoked."""
        # Every waiter of this host was parked with its event, which the registry sets.
        return self._registry.revoke_session(session_id)

    def cancel_await_events_for_session(self, session_id: str) -> int:
        """Cancel a session's pending waits (not turn control). Returns how many."""
        return self._registry.cancel_session(session_id)

    def resolve_threadsafe(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """:meth:`resolve_await_event` from another OS thread (blocks until the loop ran it)."""
        return self._loop.call_threadsafe(lambda: self.resolve_await_event(key, resolution))

    # -- waits -------------------------------------------------------------------------------

    def _deadline(self, deadline: float | None, timeout: float | None) -> float | None:
        if timeout is None:
            return deadline
        if deadline is not None:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_DEADLINE_AND_TIMEOUT, "give a deadline or a timeout, not both"
            )
        return self._loop.now() + timeout

    async def wait_for_event(
        self,
        key: AwaitEventKey,
        *,
        cancel: CancelToken | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> Resolution:
        """Wait for ``key``'s terminal and return the one that won.

        ``deadline`` (absolute, on the driver's clock) or ``timeout`` (relative) writes
        ``timeout`` when reached; ``cancel`` or native cancellation writes ``cancelled``; both
        only if no terminal won first. After native cancellation the terminal is recorded and
        the loop's cancellation propagates. Turn-control keys are never written by a waiter:
        their waits fail with ``turn_control_wait_cancelled``/``turn_control_wait_timeout``.
        """
        if timeout is not None:
            deadline = self._deadline(deadline, timeout)
        registry = self._registry
        # The waiter's event is created as it is parked, before control is released: no
        # wake-up can be lost. The registry sets it when it wakes the waiter.
        new_waiter = self._new_waiter
        parked: Resolution | Waiter[Any]
        if new_waiter is not None:
            parked = registry.park_waiter(key, new_waiter)
        else:
            parked = registry.park(key, self._new_event)
        if not isinstance(parked, Waiter):
            await self._loop.checkpoint()
            return parked
        waiter = parked
        # A driver's own waiter is its event.
        event: WakeEvent = waiter if new_waiter is not None else waiter.event  # type: ignore[assignment]
        try:
            if cancel is None:
                await self._wait_event(event, deadline)
            else:
                await wait_unless_cancelled(self._loop, event, deadline, cancel)
        except BaseException:
            # Native cancellation: record `cancelled` (unless a terminal already won) and let
            # the loop's exception propagate.
            with contextlib.suppress(LashError):
                registry.end_parked(waiter, WaitEnd.CANCELLED)
            raise
        outcome = waiter.outcome
        if type(outcome) in _RESOLUTIONS and waiter.entry is not None:
            # `end_parked`'s common case, inlined: woken with a terminal, which is returned.
            waiter.entry = None
            registry._parked -= 1
            return outcome  # type: ignore[return-value]
        cancelled = cancel is not None and cancel.cancelled
        return registry.end_parked(waiter, _WAIT_CANCELLED if cancelled else _WAIT_DEADLINE)

    # -- effects -----------------------------------------------------------------------------

    def _natively_cancelled(self) -> bool:
        """Whether the loop is cancelling the current task (a driver answers; by default every
        ``BaseException`` a handler raises propagates)."""
        return True

    def _sleep(self, duration_ms: int, cancel: CancelToken | None) -> Awaitable[None]:
        if cancel is None:
            return self._loop.sleep(duration_ms / 1000)  # the loop's own sleep, no frame of ours
        return self._cancellable_sleep(duration_ms, cancel)

    async def _cancellable_sleep(self, duration_ms: int, cancel: CancelToken) -> None:
        loop = self._loop
        await wait_unless_cancelled(loop, loop.new_event(), loop.now() + duration_ms / 1000, cancel)
        if cancel.cancelled:
            raise LashError(
                codes.RUNTIME_EFFECT_SLEEP_CANCELLED, "runtime effect sleep was cancelled"
            )

    async def execute_effect(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        """Run one envelope: registry effects here, ``process`` effects (with a
        :class:`ProcessExecutor`) on the host's process registry, ``sleep`` on the loop's
        clock, everything else through ``executor``'s user handler.

        Raises :class:`~lash_core.errors.LashError` (the controller error) on refusal; a
        handler's own exception becomes ``runtime_effect_handler_failed``.
        """
        route = route_effect(envelope, executor)
        if type(route) is HandlerRoute:
            handler = route.handler
            try:
                outcome = await handler(envelope)
            except Exception as exc:
                failure = handler_failure(envelope.command.kind, exc)
                if failure is exc:
                    raise
                raise failure from exc
            except BaseException as exc:
                # The loop's cancellation (or another BaseException) that is not a cancel of
                # this task is the handler's failure, not the turn's end.
                if always_propagates(exc) or self._natively_cancelled():
                    raise
                raise handler_failure(envelope.command.kind, exc) from exc
            return check_handler_outcome(envelope, outcome, handler)
        if isinstance(route, PeekRoute):
            terminal = self.peek_await_event(route.key)
            await self._loop.checkpoint()
            return PeekAwaitEventOutcome(terminal)
        if isinstance(route, ProcessRoute):
            return ProcessOutcome(await self._processes.execute(route.command))
        if isinstance(route, AwaitRoute):
            resolution = await self.wait_for_event(
                route.key, cancel=route.cancel, deadline=route.deadline
            )
            return AwaitEventOutcome(resolution)
        assert isinstance(route, SleepRoute)
        await self._sleep(route.duration_ms, route.cancel)
        return SleepOutcome()

    async def run_envelope(
        self,
        envelope: EffectEnvelope,
        handlers: Mapping[EffectKind, EffectHandler],
        deadline: float | None = None,
        on_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    ) -> EffectOutcome:
        """Run one envelope of a turn and return its outcome, failures included.

        The envelope's kind is looked up once, in :data:`~lash_core.effects.kinds.KINDS`: its
        family says who runs it (the handler ``handlers`` has for the kind, a sleep on the
        loop's clock, the await-event registry with ``deadline``, absolute on the loop's clock,
        the process registry), its outcome class and ``check`` judge what a handler returns
        (:func:`~lash_core.routing.check_handler_outcome`), and its ``error_outcome`` turns a
        failure (no handler: ``runtime_effect_local_executor_unavailable``; a handler's
        exception: ``runtime_effect_handler_failed`` or its own code; a wrong outcome; an
        outcome with unusable contents: ``runtime_effect_invalid_outcome``, ``wire_too_deep``,
        ``tool_completion_key_mismatch``) into the kind's outcome. A failure that is not an
        outcome (a sleep's, a turn-control wait's) is raised as its
        :class:`~lash_core.errors.LashError`.

        ``on_error(envelope, error)`` is told of each handler failure that became an error
        outcome, before it is returned; a handler's own exception is ``error.__cause__``, with
        its traceback.
        """
        command = envelope.command
        spec = KINDS[command.kind]
        try:
            family = spec.family
            if family is _HANDLER:
                handler = handlers.get(spec.kind)
                if handler is None:
                    raise unavailable(spec.kind)
                try:
                    outcome = await handler(envelope)
                except Exception as exc:
                    failure = handler_failure(spec.kind, exc)
                    if failure is exc:
                        raise
                    raise failure from exc
                except BaseException as exc:
                    # The loop's cancellation (or another BaseException) that is not a cancel
                    # of this task is the handler's failure, not the turn's end.
                    if always_propagates(exc) or self._natively_cancelled():
                        raise
                    raise handler_failure(spec.kind, exc) from exc
                quick = spec.quick  # check_handler_outcome's fast path, inlined
                if quick is not None and type(outcome) is spec.outcome and quick(outcome):
                    return outcome
                return check_handler_outcome(envelope, outcome, handler)
            if family is _AWAIT:
                assert isinstance(command, AwaitEventCommand)
                return AwaitEventOutcome(await self.wait_for_event(command.key, deadline=deadline))
            if family is _SLEEP:
                assert isinstance(command, SleepCommand)
                await self._loop.sleep(command.duration_ms / 1000)
                return SleepOutcome()
            if family is _PEEK:
                assert isinstance(command, PeekAwaitEventCommand)
                terminal = self.peek_await_event(command.key)
                await self._loop.checkpoint()
                return PeekAwaitEventOutcome(terminal)
            raise process_unavailable()
        except LashError as error:
            failed = spec.error_outcome(envelope, error)
            if failed is None:
                raise
            if on_error is not None and spec.family is Family.HANDLER:
                on_error(envelope, error)
            return failed
