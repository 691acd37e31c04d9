"""Where an envelope goes: the local executors, the routes, and the checks on what comes back.

A caller of :meth:`~lash_core.host.InlineHost.execute_effect` names a local executor (the
reference's 9.1 variants: unavailable, sleep, await-event options, process, a runner of user
handlers); :func:`route_effect` decides from the envelope and that executor where the envelope
goes (with the reference's exact mismatch and unavailable codes and messages), and
:func:`check_outcome` and :func:`handler_failure` judge what a handler gave back. Pure: the
host awaits the route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final, TypeAlias

import attrs

from lash_core import codes
from lash_core.effects.commands import (
    AwaitEventCommand,
    PeekAwaitEventCommand,
    ProcessEffectCommand,
    SleepCommand,
    ToolAttemptCommand,
)
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.kinds import KINDS, Family, runner_kinds
from lash_core.effects.kinds import check_outcome as check_kind_outcome
from lash_core.effects.outcomes import EffectOutcome
from lash_core.effects.process import ProcessCommand
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.loop import CancelToken

__all__ = [
    "UNAVAILABLE",
    "AwaitEventOptions",
    "AwaitRoute",
    "EffectHandler",
    "HandlerExecutor",
    "HandlerRoute",
    "LocalExecutor",
    "PeekRoute",
    "ProcessExecutor",
    "ProcessRoute",
    "Route",
    "SleepExecutor",
    "SleepRoute",
    "UnavailableExecutor",
    "always_propagates",
    "check_handler_outcome",
    "check_outcome",
    "handler_failure",
    "handler_label",
    "process_unavailable",
    "route_effect",
    "unavailable",
]


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
        handled = self.kinds & frozenset(self.handlers)
        routes = {
            kind: HandlerRoute(self.handlers[kind])
            for kind in handled
            if kind in KINDS and KINDS[kind].family is Family.HANDLER
        }
        object.__setattr__(self, "routes", routes)

    @property
    def kinds(self) -> frozenset[EffectKind]:
        allowed = runner_kinds(self.name)
        return frozenset(self.handlers) if allowed is None else allowed

    @classmethod
    def turn(
        cls, handlers: Mapping[EffectKind, EffectHandler], cancel: CancelToken | None = None
    ) -> HandlerExecutor:
        return cls("turn", dict(handlers), cancel)

    @classmethod
    def testing(cls, handler: EffectHandler, kinds: Iterable[EffectKind] = ()) -> HandlerExecutor:
        """Runs ``handler`` for every kind in ``kinds`` (default: every kind but the
        registry's and the process registry's)."""
        chosen = set(kinds) or set(EffectKind) - {
            spec.kind
            for spec in KINDS.values()
            if spec.family in (Family.AWAIT, Family.PEEK, Family.PROCESS)
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


def unavailable(kind: str) -> LashError:
    """``runtime_effect_local_executor_unavailable``: nothing may run ``kind`` effects here."""
    return LashError(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE,
        f"no local executor is available for {kind} effects",
    )


def process_unavailable() -> LashError:
    """``runtime_effect_local_executor_unavailable`` for a ``process`` effect."""
    return LashError(
        codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE,
        "no process executor is available for process command",
    )


def _mismatch(message: str) -> LashError:
    return LashError(codes.RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH, message)


def route_effect(envelope: EffectEnvelope, executor: LocalExecutor) -> Route:
    """Decide where one envelope goes, by its kind's family (:data:`~lash_core.effects.kinds.KINDS`)
    and the executor. Raises the reference's unavailable/mismatch errors."""
    command = envelope.command
    kind = command.kind
    if type(executor) is HandlerExecutor:
        # The common case, decided as the general rules below would: a handler this executor
        # may run (never a registry, process or sleep effect).
        route = executor.routes.get(kind)
        if route is not None:
            return route
    family = KINDS[kind].family
    if family is Family.PEEK:
        assert isinstance(command, PeekAwaitEventCommand)
        return PeekRoute(command.key)
    if family is Family.AWAIT:
        assert isinstance(command, AwaitEventCommand)
        if isinstance(executor, AwaitEventOptions):
            return AwaitRoute(command.key, executor.cancel, executor.deadline)
        return AwaitRoute(command.key, None, None)
    if family is Family.PROCESS:
        assert isinstance(command, ProcessEffectCommand)
        if isinstance(executor, ProcessExecutor):
            return ProcessRoute(command.command)
        raise process_unavailable()
    if isinstance(executor, UnavailableExecutor):
        raise unavailable(kind)
    if isinstance(executor, AwaitEventOptions):
        raise _mismatch(f"local await-event options cannot execute {kind} command directly")
    if isinstance(executor, ProcessExecutor):
        raise _mismatch(f"process executor cannot execute {kind} command directly")
    if isinstance(executor, SleepExecutor):
        if family is Family.SLEEP:
            assert isinstance(command, SleepCommand)
            return SleepRoute(command.duration_ms, executor.cancel)
        raise _mismatch(f"local sleep executor cannot execute {kind} command")
    if kind not in executor.kinds:
        raise _mismatch(f"local {executor.name} executor cannot execute {kind} command")
    if family is Family.SLEEP:
        assert isinstance(command, SleepCommand)
        return SleepRoute(command.duration_ms, executor.cancel)
    handler = executor.handlers.get(kind)
    if handler is None:
        raise unavailable(kind)
    return HandlerRoute(handler)


def always_propagates(exc: BaseException) -> bool:
    """``KeyboardInterrupt``, ``SystemExit`` and ``GeneratorExit`` (alone or in a group) are
    never a handler's failure."""
    if isinstance(exc, BaseExceptionGroup):
        return any(always_propagates(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


def check_outcome(envelope: EffectEnvelope, outcome: object) -> EffectOutcome:
    """The handler's outcome, if it is of the envelope's kind (``runtime_effect_wrong_outcome``
    otherwise; see :func:`lash_core.effects.kinds.check_outcome`)."""
    return check_kind_outcome(envelope.command.kind, outcome)


def handler_label(envelope: EffectEnvelope, handler: object | None = None) -> str:
    """Who answered ``envelope``, for messages: ``the tool_attempt handler 'tools' (tool
    'lookup', call 'c1')`` (the handler by its qualified name, a tool attempt with its call)."""
    label = f"the {envelope.command.kind} handler"
    if handler is not None:
        name = getattr(handler, "__qualname__", None)
        name = name.replace("<locals>.", "") if isinstance(name, str) else type(handler).__name__
        label += f" {name!r}"
    command = envelope.command
    if isinstance(command, ToolAttemptCommand):
        label += f" (tool {command.call.tool_name!r}, call {command.call.call_id!r})"
    return label


def check_handler_outcome(
    envelope: EffectEnvelope, outcome: object, handler: object | None = None
) -> EffectOutcome:
    """What ``handler`` returned for ``envelope``, if it is an outcome of the envelope's kind
    (``runtime_effect_wrong_outcome`` otherwise) holding usable contents
    (:func:`lash_core.effects.kinds.check_contents`: ``runtime_effect_invalid_outcome``,
    ``wire_too_deep``, ``tool_completion_key_mismatch``, the message naming the handler)."""
    spec = KINDS[envelope.command.kind]
    if type(outcome) is not spec.outcome:
        outcome = check_kind_outcome(spec.kind, outcome)
    else:
        # The kind's check, its fast path first (it accepts only what the check accepts).
        quick = spec.quick
        if quick is not None and quick(outcome):
            return outcome
    try:
        spec.check(envelope, outcome)
    except LashError as exc:
        who = handler_label(envelope, handler)
        raise LashError(exc.code, f"{who} returned an unusable outcome: {exc.message}") from None
    return outcome


def handler_failure(kind: str, exc: BaseException) -> LashError:
    """A handler's exception as a library error (its own code if it is one). The caller
    chains ``exc`` as the error's ``__cause__`` (``raise ... from exc``), so its traceback is
    kept."""
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
