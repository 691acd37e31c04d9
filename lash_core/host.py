"""The driver-independent effect host.

Everything an inline host decides lives here: where an envelope goes (the await-event
registry, the process registry, a sleep, a user handler), which local executor may run what
(with the reference's exact mismatch and unavailable codes and messages), how a parked wait
is begun, woken, cancelled or timed out, and how its terminal is chosen. The trio and asyncio
drivers only supply :class:`LoopPrimitives`: a level-triggered event, a wait with an optional
deadline, the clock, a checkpoint and a way in from other threads.

The host's async methods await only those primitives, so this module imports no event loop and
does no I/O: a deterministic simulator can drive the same code by running its coroutines
itself.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeVar

import attrs

from lash_core import codes
from lash_core.effects.commands import (
    AwaitEventCommand,
    PeekAwaitEventCommand,
    ProcessEffectCommand,
    SleepCommand,
)
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    EffectOutcome,
    PeekAwaitEventOutcome,
    ProcessOutcome,
    SleepOutcome,
)
from lash_core.effects.process import ProcessCommand
from lash_core.errors import LashError, LocalProtocolError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import UNKNOWN_OR_REVOKED, Resolution, ResolveOutcome
from lash_core.scope import ExecutionScope, WaitIdentity, validate_scope

if TYPE_CHECKING:
    from lash_core.process.service import ProcessService

__all__ = [
    "UNAVAILABLE",
    "AwaitEventOptions",
    "AwaitEventResolver",
    "AwaitRoute",
    "CancelToken",
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
    "check_outcome",
    "handler_failure",
    "route_effect",
]

T = TypeVar("T")


class DurabilityTier(enum.StrEnum):
    """``inline``: waits live in this process. ``durable``: they survive its loss."""

    INLINE = "inline"
    DURABLE = "durable"


# -- cancellation ----------------------------------------------------------------------------


class CancelToken:
    """An explicit, level-triggered cancellation request.

    ``cancel()`` is idempotent and calls every subscriber once, synchronously. Call it from the
    event loop's thread (a driver's ``call_threadsafe`` gets you there from elsewhere).
    """

    __slots__ = ("_cancelled", "_next", "_subscribers")

    def __init__(self) -> None:
        self._cancelled = False
        self._next = 0
        self._subscribers: dict[int, Callable[[], None]] = {}

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        subscribers, self._subscribers = self._subscribers, {}
        for fn in subscribers.values():
            fn()

    def subscribe(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn`` on cancellation (at once if already cancelled); returns an unsubscribe."""
        if self._cancelled:
            fn()
            return _noop
        handle = self._next
        self._next = handle + 1
        subscribers = self._subscribers
        subscribers[handle] = fn

        def unsubscribe() -> None:
            subscribers.pop(handle, None)

        return unsubscribe


def _noop() -> None:
    return None


# -- local executors (the reference's 9.1 variants) -----------------------------------------

EffectHandler: TypeAlias = Callable[[EffectEnvelope], Awaitable[EffectOutcome]]
"""A user handler: runs one envelope and returns its outcome."""


@attrs.frozen
class UnavailableExecutor:
    """Runs nothing (``runtime_effect_local_executor_unavailable``)."""


@attrs.frozen
class SleepExecutor:
    """Runs ``sleep`` effects only; ``cancel`` ends a sleep with
    ``runtime_effect_sleep_cancelled``."""

    cancel: CancelToken | None = None


@attrs.frozen
class AwaitEventOptions:
    """Options for ``await_event`` effects: a cancel token and an absolute deadline on the
    driver's clock. Runs nothing directly."""

    cancel: CancelToken | None = None
    deadline: float | None = None


@attrs.frozen
class ProcessExecutor:
    """Runs ``process`` effects against the host's process registry."""


_RUNNER_KINDS: Final[dict[str, frozenset[EffectKind]]] = {
    "turn": frozenset(
        {
            EffectKind.LLM_CALL,
            EffectKind.TOOL_BATCH,
            EffectKind.EXEC_CODE,
            EffectKind.CHECKPOINT,
            EffectKind.SYNC_EXECUTION_ENVIRONMENT,
            EffectKind.SLEEP,
        }
    ),
    "direct": frozenset({EffectKind.DIRECT, EffectKind.SLEEP}),
    "tool": frozenset({EffectKind.TOOL_BATCH, EffectKind.TOOL_ATTEMPT}),
    "durable_step": frozenset({EffectKind.DURABLE_STEP}),
}


_NEVER_HANDLED: Final = frozenset(
    {EffectKind.SLEEP, EffectKind.AWAIT_EVENT, EffectKind.PEEK_AWAIT_EVENT, EffectKind.PROCESS}
)


@attrs.frozen
class HandlerExecutor:
    """A runner of user handlers.

    ``name`` is ``turn``, ``direct``, ``tool``, ``durable_step`` (each runs the kinds the
    reference lets it run) or ``testing`` (runs whatever it has a handler for). ``sleep``
    effects are slept by the host, honouring ``cancel``.
    """

    name: str
    handlers: Mapping[EffectKind, EffectHandler]
    cancel: CancelToken | None = None
    routes: Mapping[EffectKind, HandlerRoute] = attrs.field(init=False, repr=False, eq=False)
    """The route of each kind it runs through a handler: its allowed kinds it has a handler
    for, not ``sleep`` (the host sleeps) nor the registry's and processes' kinds."""

    def __attrs_post_init__(self) -> None:
        handled = (self.kinds & frozenset(self.handlers)) - _NEVER_HANDLED
        routes = {kind: HandlerRoute(self.handlers[kind]) for kind in handled}
        object.__setattr__(self, "routes", routes)

    @property
    def kinds(self) -> frozenset[EffectKind]:
        allowed = _RUNNER_KINDS.get(self.name)
        return frozenset(self.handlers) if allowed is None else allowed

    @classmethod
    def turn(
        cls, handlers: Mapping[EffectKind, EffectHandler], cancel: CancelToken | None = None
    ) -> HandlerExecutor:
        return cls("turn", dict(handlers), cancel)

    @classmethod
    def testing(cls, handler: EffectHandler, kinds: Iterable[EffectKind] = ()) -> HandlerExecutor:
        """Runs ``handler`` for every kind in ``kinds`` (default: every kind but the
        registry's)."""
        chosen = set(kinds) or set(EffectKind) - {
            EffectKind.AWAIT_EVENT,
            EffectKind.PEEK_AWAIT_EVENT,
            EffectKind.PROCESS,
        }
        return cls("testing", dict.fromkeys(chosen, handler))


LocalExecutor: TypeAlias = (
    UnavailableExecutor | SleepExecutor | AwaitEventOptions | ProcessExecutor | HandlerExecutor
)
UNAVAILABLE: Final = UnavailableExecutor()


# -- routing ---------------------------------------------------------------------------------


@attrs.frozen
class PeekRoute:
    """Read the key's terminal from the registry now."""

    key: AwaitEventKey


@attrs.frozen
class AwaitRoute:
    """Wait on the key, with the executor's cancel token and deadline."""

    key: AwaitEventKey
    cancel: CancelToken | None
    deadline: float | None


@attrs.frozen
class SleepRoute:
    """Sleep ``duration_ms``; ``cancel`` ends it with ``runtime_effect_sleep_cancelled``."""

    duration_ms: int
    cancel: CancelToken | None


@attrs.frozen
class HandlerRoute:
    """Call a user handler."""

    handler: EffectHandler


@attrs.frozen
class ProcessRoute:
    """Apply the command to the host's process registry (an ``await`` parks until the
    terminal)."""

    command: ProcessCommand


Route: TypeAlias = PeekRoute | AwaitRoute | SleepRoute | HandlerRoute | ProcessRoute


def _unavailable(kind: str) -> LashError:
    return LashError(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE,
        f"no local executor is available for {kind} effects",
    )


def _mismatch(message: str) -> LashError:
    return LashError(codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH, message)


def route_effect(envelope: EffectEnvelope, executor: LocalExecutor) -> Route:
    """Decide where one envelope goes. Raises the reference's unavailable/mismatch errors."""
    command = envelope.command
    kind = command.kind
    if type(executor) is HandlerExecutor:
        # The common case, decided as the general rules below would: a handler this executor
        # may run (never a registry, process or sleep effect).
        route = executor.routes.get(kind)
        if route is not None:
            return route
    if isinstance(command, PeekAwaitEventCommand):
        return PeekRoute(command.key)
    if isinstance(command, AwaitEventCommand):
        if isinstance(executor, AwaitEventOptions):
            return AwaitRoute(command.key, executor.cancel, executor.deadline)
        return AwaitRoute(command.key, None, None)
    if isinstance(command, ProcessEffectCommand):
        if isinstance(executor, ProcessExecutor):
            return ProcessRoute(command.command)
        raise LashError(
            codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE,
            "no process executor is available for process command",
        )
    if isinstance(executor, UnavailableExecutor):
        raise _unavailable(kind)
    if isinstance(executor, AwaitEventOptions):
        raise _mismatch(f"local await-event options cannot execute {kind} command directly")
    if isinstance(executor, ProcessExecutor):
        raise _mismatch(f"process executor cannot execute {kind} command directly")
    if isinstance(executor, SleepExecutor):
        if isinstance(command, SleepCommand):
            return SleepRoute(command.duration_ms, executor.cancel)
        raise _mismatch(f"local sleep executor cannot execute {kind} command")
    if kind not in executor.kinds:
        raise _mismatch(f"local {executor.name} executor cannot execute {kind} command")
    if isinstance(command, SleepCommand):
        return SleepRoute(command.duration_ms, executor.cancel)
    handler = executor.handlers.get(kind)
    if handler is None:
        raise _unavailable(kind)
    return HandlerRoute(handler)


def check_outcome(envelope: EffectEnvelope, outcome: object) -> EffectOutcome:
    """The handler's outcome, if it is of the envelope's kind (``runtime_effect_wrong_outcome``
    otherwise)."""
    expected = envelope.command.kind
    actual = getattr(type(outcome), "kind", None)
    if actual is not expected:
        got = actual if isinstance(actual, EffectKind) else type(outcome).__name__
        raise LashError(
            codes.RUNTIME_EFFECT_WRONG_OUTCOME, f"expected {expected} outcome, got {got}"
        )
    return outcome  # type: ignore[return-value]


def handler_failure(kind: str, exc: BaseException) -> LashError:
    """A handler's exception as a library error (its own code if it is one)."""
    if isinstance(exc, LashError):
        return exc
    if not isinstance(exc, Exception):
        return LashError(
            codes.RUNTIME_EFFECT_HANDLER_FAILED,
            f"{kind} handler raised {type(exc).__name__}, but nothing cancelled it",
        )
    return LashError(
        codes.RUNTIME_EFFECT_HANDLER_FAILED,
        f"{kind} handler raised {type(exc).__name__}: {exc}",
    )


def _always_propagates(exc: BaseException) -> bool:
    """``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` (alone or in a group) are
    never a handler's failure."""
    if isinstance(exc, BaseExceptionGroup):
        return any(_always_propagates(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


# -- the loop primitives a driver supplies ---------------------------------------------------


class WakeEvent(Protocol):
    """A level-triggered event: once set it stays set. ``set`` must not call back into the
    host (the registry sets events while it updates its state)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class LoopPrimitives(Protocol):
    """What a driver gives the host: waiting, time and a way in from other threads."""

    def new_event(self) -> WakeEvent:
        """A fresh, unset event."""
        ...

    def wait_event(self, event: WakeEvent, deadline: float | None) -> Awaitable[None]:
        """An awaitable that ends when ``event`` is set or ``deadline`` (on :meth:`now`'s clock)
        passes. (A plain method returning an awaitable, so a driver can hand back its event's
        own ``wait()`` without another coroutine frame. The host awaits it at once, in the task
        that called this, so a driver may register that task here.)

        Native cancellation of the caller propagates as the loop's own exception.
        """
        ...

    def now(self) -> float:
        """The loop's clock, in seconds (virtual under a virtual clock)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """A plain sleep (a checkpoint even for 0)."""
        ...

    async def checkpoint(self) -> None:
        """A cancellation and scheduling point."""
        ...

    def call_threadsafe(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the loop's thread from another thread and return its result."""
        ...

    def open_task_group(self) -> AbstractAsyncContextManager[TaskGroup]:
        """A scope whose tasks all end before it exits (a trio nursery, an asyncio
        ``TaskGroup``). Native cancellation of the scope's owner cancels its tasks."""
        ...


class TaskHandle(Protocol):
    def cancel(self) -> object:
        """Cancel this task natively (it ends with the loop's cancellation)."""
        ...


class TaskGroup(Protocol):
    def start(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> TaskHandle:
        """Run ``fn()`` (an async function's coroutine) as a task of the group."""
        ...


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

    async def await_await_event(
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

    async def await_await_event(
        self,
        key: AwaitEventKey,
        *,
        cancel: CancelToken | None = None,
        deadline: float | None = None,
        timeout: float | None = None,
    ) -> Resolution:
        return await self._host.await_await_event(
            key, cancel=cancel, deadline=deadline, timeout=timeout
        )

    async def execute_effect(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        return await self._host.execute_effect(envelope, executor)


class InlineHost(AwaitEventResolver):
    """An inline effect host: one registry, one secret, waits in this process.

    Drivers subclass it to bind their :class:`LoopPrimitives` (``lash_trio.InlineEffectHost``,
    ``lash_asyncio.InlineEffectHost``). Two hosts never share keys: each signs with its own
    secret (given, or the driver's fresh random one) and ``previous`` secrets are still accepted.

    Registry operations (mint, resolve, peek, revoke, session cancel) never wait, so they are
    plain methods; waits and effects are async. None of them is thread-safe: from another
    thread use :meth:`resolve_threadsafe`.
    """

    def __init__(
        self,
        loop: LoopPrimitives,
        secret: bytes,
        previous: Iterable[bytes] = (),
        *,
        allow_process_lifetime_completion_keys: bool = False,
    ) -> None:
        self._loop = loop
        self._registry = AwaitEventRegistry(KeySigner(secret, previous))
        # Bound once: a parked wait uses both.
        self._new_event = loop.new_event
        self._wait_event = loop.wait_event
        self._process_lifetime_keys = allow_process_lifetime_completion_keys
        # Imported here: the process package builds on this module (its runner uses the host).
        from lash_core.process.service import ProcessService

        self._processes = ProcessService(self)

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

    def scoped(self, scope: ExecutionScope) -> ScopedEffectController:
        """A controller for ``scope`` (``missing_execution_scope_id`` if an id is blank)."""
        return ScopedEffectController(self, scope)

    # -- registry operations -----------------------------------------------------------------

    def await_event_key(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """The signed key for ``(scope, wait)``: stable, and creates no state."""
        return self._registry.mint(scope, wait)

    def resolve_await_event(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Resolve ``key``; the first resolution wins. Wakes its parked waiters."""
        return self._registry.resolve_and_wake(key, resolution)

    def peek_await_event(self, key: AwaitEventKey) -> Resolution | None:
        """The key's terminal, or ``None`` (``await_event_unknown_or_revoked`` if refused)."""
        return self._registry.peek(key)

    def revoke_await_events_for_session(self, session_id: str) -> bool:
        """Revoke a session: its keys are refused and its waiters fail. Returns whether it was
        newly revoked."""
        # Every waiter of this host was parked with its event, which the registry sets.
        return self._registry.revoke_session(session_id).value

    def cancel_await_events_for_session(self, session_id: str) -> int:
        """Cancel a session's pending waits (not turn control). Returns how many."""
        return self._registry.cancel_session(session_id).value

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

    async def await_await_event(
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
        waiter = registry.park(key, self._new_event)
        if not isinstance(waiter, Waiter):
            await self._loop.checkpoint()
            return waiter
        event = waiter.event
        try:
            if cancel is None:
                await self._wait_event(event, deadline)
            else:
                unsubscribe = cancel.subscribe(event.set)
                try:
                    if not cancel.cancelled:
                        await self._wait_event(event, deadline)
                finally:
                    unsubscribe()
        except BaseException:
            # Native cancellation: record `cancelled` (unless a terminal already won) and let
            # the loop's exception propagate.
            with contextlib.suppress(LashError):
                registry.end_parked(waiter, WaitEnd.CANCELLED)
            raise
        return registry.end_parked(waiter, None, cancel is not None and cancel.cancelled)

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
        if not cancel.cancelled:
            event = self._loop.new_event()
            unsubscribe = cancel.subscribe(event.set)
            try:
                await self._loop.wait_event(event, self._loop.now() + duration_ms / 1000)
            finally:
                unsubscribe()
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
            try:
                outcome = await route.handler(envelope)
            except Exception as exc:
                raise handler_failure(envelope.command.kind, exc) from exc
            except BaseException as exc:
                # The loop's cancellation (or another BaseException) that is not a cancel of
                # this task is the handler's failure, not the turn's end.
                if _always_propagates(exc) or self._natively_cancelled():
                    raise
                raise handler_failure(envelope.command.kind, exc) from exc
            return check_outcome(envelope, outcome)
        if isinstance(route, PeekRoute):
            terminal = self.peek_await_event(route.key)
            await self._loop.checkpoint()
            return PeekAwaitEventOutcome(terminal)
        if isinstance(route, ProcessRoute):
            return ProcessOutcome(await self._processes.execute(route.command))
        if isinstance(route, AwaitRoute):
            resolution = await self.await_await_event(
                route.key, cancel=route.cancel, deadline=route.deadline
            )
            return AwaitEventOutcome(resolution)
        assert isinstance(route, SleepRoute)
        await self._sleep(route.duration_ms, route.cancel)
        return SleepOutcome()
