"""Running a turn machine on an effect host, with user handlers.

:class:`TurnRunner` is the whole loop a driver needs (:func:`run_turn` is its one-call form):
it asks the machine what to run, runs every envelope of a batch concurrently on the host (model
and tool calls through your handlers, sleeps on the loop's clock, pending tool completions
through the await-event registry with their deadlines), feeds each outcome back as it arrives,
streams the machine's events to a callback, and returns the turn's result. It awaits only the
host's loop primitives, so the same code runs on trio and asyncio (``lash_trio.run_turn`` and
``lash_asyncio.run_turn`` are :func:`run_turn`). Its hooks (:class:`TurnHooks`) let an
observer, a simulator or a durable host see every envelope before it runs (and supply a
recorded outcome instead), every outcome before the machine gets it, and every change of the
machine's state.

A handler's exception never crashes the loop: it becomes the error outcome of its envelope's
kind (:func:`error_outcome`), with the library error's stable code, and the machine decides what
the turn does with it; so does an outcome whose contents are unusable. ``on_handler_error``
(or :meth:`TurnHooks.on_handler_error`) is told of each such failure, with the handler's own
exception as the error's ``__cause__``.

A callback's exception (``on_event``, ``on_effect``, ``on_handler_error``, a :class:`TurnHooks`
method) is the caller's bug, not the turn's: it stops the turn, the turn's terminal (under turn
control) is published as ``failed`` unless the turn had already committed, and the exception
propagates out of :func:`run_turn` unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from lash_core import codes
from lash_core.effects.envelope import EffectEnvelope
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.loop import CancelToken, TaskGroup, TaskHandle
from lash_core.routing import always_propagates, check_handler_outcome
from lash_core.turn.control import (
    TurnAddress,
    TurnCancellation,
    cancel_message,
    commit_turn,
    fail_turn,
    watch_cancel,
)
from lash_core.turn.events import RunEffects, TurnEvent, TurnFinished, TurnResult
from lash_core.turn.hooks import TurnHandlers as TurnHandlers
from lash_core.turn.hooks import TurnHooks as TurnHooks
from lash_core.turn.hooks import TurnJournaling as TurnJournaling
from lash_core.turn.hooks import _Callbacks as _Callbacks
from lash_core.turn.hooks import callback_hooks as callback_hooks
from lash_core.turn.hooks import error_outcome as error_outcome
from lash_core.turn.machine import TurnMachine

__all__ = [
    "TurnHandlers",
    "TurnHooks",
    "TurnJournaling",
    "TurnRunner",
    "error_outcome",
    "run_turn",
]


class TurnRunner:
    """Runs one :class:`~lash_core.turn.TurnMachine` to its end on an :class:`InlineHost`.

    Each step it asks the machine what to run and runs every envelope of a batch concurrently
    (a lone envelope runs in the runner's own task) through
    :meth:`~lash_core.host.InlineHost.run_envelope`, with the handler of its kind and its
    deadline. Outcomes are fed back as they arrive; stream events go to ``on_event``, in order.
    Under turn control the turn is committed (its gate settled, its terminal published) in the
    same step as it finishes, so no cancel request can come between the two.

    ``hooks`` (:class:`TurnHooks`) sees the turn from outside, through three seams:

    * **before an effect** (``before_effect(envelope, timeout_ms)``): every envelope once, with
      its relative deadline, as its batch is handed out. It may *supply* the outcome instead of
      letting the envelope run: a durable host journals each envelope here and, when replaying
      a journal, returns the recorded outcome, so a recorded effect is never run twice;
    * **after an outcome** (``after_outcome(envelope, outcome)``): every outcome once, as it
      arrives and before the machine is fed it, so a journal holds an outcome before the
      machine acts on it;
    * **on checkpoint** (``on_checkpoint(machine)``): after each outcome is fed (and the turn
      committed if it finished), when ``machine.checkpoint()`` is the state to persist;
    * **on a handler error** (``on_handler_error(envelope, error)``): a handler's failure became
      its envelope's error outcome (``error.__cause__`` is the handler's own exception).

    A hook that raises is a callback failure (see the module docstring): the run stops and the
    exception propagates from :meth:`run` unchanged.

    ``cancel`` stops the turn cleanly: running effects are cancelled natively (a pending tool
    completion's wait records ``cancelled``) and the result is ``stopped``/``cancelled``. Native
    cancellation of the task running :meth:`run` cancels every running effect and propagates.
    """

    __slots__ = (
        "_address",
        "_arrived",
        "_by_kind",
        "_callback",
        "_cancel",
        "_committed",
        "_driver",
        "_failure",
        "_group",
        "_hooks",
        "_host",
        "_interrupted",
        "_loop",
        "_machine",
        "_names",
        "_on_error",
        "_on_event",
        "_quiet",
        "_running",
        "_wake",
    )

    def __init__(
        self,
        machine: TurnMachine,
        host: InlineHost,
        handlers: TurnHandlers,
        *,
        hooks: TurnHooks | None = None,
        on_event: Callable[[TurnEvent], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        self._machine = machine
        self._host = host
        self._loop = host.primitives
        self._by_kind = handlers.by_kind
        self._hooks = hooks
        self._on_event = on_event
        # Nobody reads the stream events (no on_event) nor the machine between steps (no
        # hooks): the machine need not build them, nor this runner drain them.
        self._quiet = on_event is None and hooks is None
        self._cancel = cancel
        self._arrived: list[tuple[str, EffectOutcome]] = []
        self._wake = self._loop.new_event()
        self._running: set[str] = set()
        """Replay keys of the envelopes running in tasks of their own (started with
        ``start_soon``: :meth:`_halt` cancels them all at once)."""
        self._group: TaskGroup | None = None
        self._interrupted: list[tuple[str, EffectEnvelope, BaseException]] = []
        """Envelopes whose task the loop cancelled while nothing cancelled the turn (a handler
        that cancelled its own task), with the cancellation: each becomes its failure."""
        self._address = (
            None
            if machine.cancel_gate is None
            else TurnAddress(machine.session_id, machine.turn_id)
        )
        self._committed: TurnResult | None = None
        self._driver: TaskHandle | None = None
        self._failure: Exception | None = None
        self._callback: str | None = None
        """The callback whose exception is ``_failure``, if one is."""
        self._on_error: Callable[[EffectEnvelope, LashError], None] | None = (
            None if hooks is None else self._report_handler_error
        )
        # How a callback is named in the failed terminal: run_turn's own names for its
        # callbacks, the hook's method otherwise.
        self._names = (
            ("on_effect", "on_handler_error")
            if type(hooks) is _Callbacks
            else ("TurnHooks.after_outcome", "TurnHooks.on_handler_error")
        )

    async def run(self) -> TurnResult:
        """Run the turn to its end and return its (committed) result. Run it once.

        A callback's exception (``on_event``, a hook) propagates from here unchanged, after the
        turn's terminal is published as ``failed`` (``turn_callback_failed``, or the
        exception's own code if it is a library error) unless the turn had already committed.
        """
        machine = self._machine
        address = self._address
        unsubscribe: list[Callable[[], None]] = []
        if address is not None:
            unsubscribe.append(watch_cancel(self._host, address, self._on_gate_cancel))
        cancel = self._cancel
        quiet = self._quiet
        if quiet:
            machine._listen(False)
        try:
            while True:
                async with self._loop.open_task_group() as group:
                    self._group = group
                    self._driver = group.start(functools.partial(self._drive, group))
                    if cancel is not None:
                        unsubscribe.append(cancel.subscribe(self.stop))
                        cancel = None
                if self._failure is not None or machine.finished:
                    break
                # The group ended cleanly with the turn unfinished, and neither stop nor fail
                # ended it: a task of the turn was cancelled (a handler cancelled its own task)
                # while nothing cancelled the turn. Its effect failed; the turn goes on.
                try:
                    self._recover_interrupted()
                except Exception as exc:
                    if self._failure is None:
                        self._failure = exc
                    break
        except BaseException:
            if quiet:
                # The machine is left to its caller: it keeps its events from here.
                machine._listen(True)
            # Native cancellation of the whole turn: a turn under turn control still commits
            # as cancelled, so whoever awaits its terminal learns how it ended.
            if address is not None and not machine.finished:
                machine.cancel()
                self._commit_if_finished()
            raise
        finally:
            if quiet:
                machine._listen(True)
            for undo in unsubscribe:
                undo()
        failure = self._failure
        if failure is None:
            try:
                step = machine.next()
                self._flush_events()
                self._commit_if_finished()
            except Exception as exc:
                failure = self._failure if self._failure is not None else exc
        if failure is not None:
            if address is not None and self._committed is None:
                fail_turn(self._host, address, self._terminal_error(failure))
            raise failure
        assert isinstance(step, TurnFinished), "the turn ran to its end"
        committed = self._committed
        return step.result if committed is None else committed

    def stop(self, message: str = "the turn was cancelled") -> None:
        """Stop the turn now as ``cancelled`` (running effects are cancelled natively)."""
        machine = self._machine
        if not machine.finished:
            machine.cancel(message)
            try:
                self._commit_if_finished()
            except LashError as exc:
                # A commit refused (a revoked session) is the turn's failure, raised by run,
                # not by whoever cancelled; the turn stops now all the same.
                if self._failure is None:
                    self._failure = exc
        self._halt()

    # -- failures ----------------------------------------------------------------------------

    def _halt(self) -> None:
        """Cancel every running effect and the driving task, and wake it."""
        self._running.clear()
        if self._group is not None:
            self._group.cancel_soon()
        if self._driver is not None:
            self._driver.cancel()
        self._wake.set()

    def _callback_raised(self, name: str, exc: Exception) -> None:
        """A callback raised: its exception is the run's failure (the first failure wins)."""
        if self._failure is None:
            self._failure = exc
            self._callback = name

    def _terminal_error(self, failure: Exception) -> Exception:
        """What the failed terminal reports for ``failure``."""
        name = self._callback
        if name is None or isinstance(failure, LashError):
            return failure
        return LashError(
            codes.TURN_CALLBACK_FAILED, f"{name} raised {type(failure).__name__}: {failure}"
        )

    def _report_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        hooks = self._hooks
        assert hooks is not None
        try:
            hooks.on_handler_error(envelope, error)
        except Exception as exc:
            self._callback_raised(self._names[1], exc)
            raise

    def _after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        hooks = self._hooks
        assert hooks is not None
        try:
            hooks.after_outcome(envelope, outcome)
        except Exception as exc:
            self._callback_raised(self._names[0], exc)
            raise

    # -- the loop ----------------------------------------------------------------------------

    def _on_gate_cancel(self, cancellation: TurnCancellation) -> None:
        self.stop(cancel_message(cancellation))

    def _commit_if_finished(self) -> None:
        address = self._address
        if address is not None and self._committed is None:
            result = self._machine.result
            if result is not None:
                self._committed = commit_turn(self._host, address, result)

    def _flush_events(self) -> None:
        if self._quiet:
            return
        events = self._machine.drain_events()
        on_event = self._on_event
        if on_event is not None:
            for event in events:
                try:
                    on_event(event)
                except Exception as exc:
                    self._callback_raised("on_event", exc)
                    raise

    def _feed(self, key: str, outcome: EffectOutcome) -> None:
        machine = self._machine
        if machine.is_awaiting(key):
            machine.send(key, outcome)
            # The step's events are delivered before the turn is committed, so a failing
            # on_event still leaves a failed terminal.
            self._flush_events()
            if self._address is not None:
                self._commit_if_finished()
            hooks = self._hooks
            if hooks is not None:
                try:
                    hooks.on_checkpoint(machine)
                except Exception as exc:
                    self._callback_raised("TurnHooks.on_checkpoint", exc)
                    raise

    def fail(self, error: Exception) -> None:
        """End the turn now with ``error`` (raised by :meth:`run`): nothing further runs and
        every running effect is cancelled natively. A durable host calls it when its lease is
        lost; a hook's exception does the same."""
        if self._failure is None:
            self._failure = error
        self._halt()

    def _interrupt(self, key: str, envelope: EffectEnvelope, exc: BaseException) -> None:
        """``envelope``'s run was cancelled natively by ``exc``: note it, in case nothing
        cancelled the turn (a real cancel of the turn never reads the note)."""
        if not isinstance(exc, Exception) and not always_propagates(exc):
            self._interrupted.append((key, envelope, exc))

    def _recover_interrupted(self) -> None:
        """Each interrupted envelope fails (its kind's error outcome, reported like a handler's
        failure) and its outcome arrives; a kind whose failure is not an outcome fails the
        turn."""
        interrupted = list(self._interrupted)
        self._interrupted.clear()
        for key, envelope, exc in interrupted:
            kind = envelope.command.kind
            error = LashError(
                codes.RUNTIME_EFFECT_HANDLER_FAILED,
                f"the {kind} handler's task was cancelled ({type(exc).__name__}), but nothing "
                "cancelled the turn: a handler must not cancel its own task",
            )
            error.__cause__ = exc
            outcome = error_outcome(envelope, error)
            if outcome is None:
                raise error
            if self._on_error is not None:
                self._on_error(envelope, error)
            if self._hooks is not None:
                self._after_outcome(envelope, outcome)
            self._arrived.append((key, outcome))

    async def _run_one(self, key: str, envelope: EffectEnvelope, deadline: float | None) -> None:
        """Run one envelope of a batch in a task of its own, and report its outcome."""
        try:
            outcome = await self._host.run_envelope(
                envelope, self._by_kind, deadline, self._on_error
            )
            if self._hooks is not None:
                self._after_outcome(envelope, outcome)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                if key in self._running:
                    # Cancelled, but not by this runner: by the turn's own cancellation (which
                    # ends the driver too), or by the handler itself (the driver recovers it).
                    self._running.discard(key)
                    self._interrupt(key, envelope, exc)
                    self._wake.set()
                raise
            # The turn ends with it, raised by run (never from this task, in a group).
            self._running.discard(key)
            self.fail(exc)
            return
        self._running.discard(key)
        self._arrived.append((key, outcome))
        self._wake.set()

    def _supplied(self, envelope: EffectEnvelope, timeout_ms: int | None) -> EffectOutcome | None:
        hooks = self._hooks
        if hooks is None:
            return None
        try:
            outcome = hooks.before_effect(envelope, timeout_ms)
            if outcome is not None:
                # A supplied outcome is checked like a handler's (a refusal is the hook's bug).
                outcome = check_handler_outcome(envelope, outcome, hooks.before_effect)
        except Exception as exc:
            self._callback_raised("TurnHooks.before_effect", exc)
            raise
        if outcome is not None:
            self._after_outcome(envelope, outcome)
        return outcome

    async def _drive(self, group: TaskGroup) -> None:
        try:
            await self._steps(group)
        except Exception as exc:  # raised plainly by run, not in an exception group
            if self._failure is None:
                self._failure = exc
            if self._running:
                group.cancel_soon()

    async def _steps(self, group: TaskGroup) -> None:
        machine = self._machine
        running = self._running
        arrived = self._arrived
        loop = self._loop
        hooks = self._hooks
        run_envelope = self._host.run_envelope
        by_kind = self._by_kind
        on_error = self._on_error
        # Nothing to flush, commit nor checkpoint after an outcome: feed it to the machine only.
        quiet = self._quiet
        plain = quiet and self._address is None
        send = machine.send
        # `machine.is_awaiting(key)`, inlined below as `key in machine._live.inflight` (its
        # dict is replaced as the turn ends: looked up each time).
        if quiet:
            # Events the machine held before the run (a restored checkpoint's) are dropped as
            # the first flush would; it builds none while the run is quiet.
            machine.drain_events()
        while True:
            step = machine.next()
            if isinstance(step, RunEffects):
                effects = step.effects
                supplied = (
                    None
                    if hooks is None
                    else [self._supplied(envelope, ms) for envelope, ms in effects]
                )
                if not quiet:
                    self._flush_events()
                if len(effects) == 1 and not running:
                    # Nothing else runs: run the effect in this task (no task, no wake-up).
                    envelope, timeout_ms = effects[0]
                    outcome = None if supplied is None else supplied[0]
                    if outcome is None:
                        deadline = None if timeout_ms is None else loop.now() + timeout_ms / 1000
                        try:
                            outcome = await run_envelope(envelope, by_kind, deadline, on_error)
                        except BaseException as exc:
                            # Read by run only if nothing cancelled the turn.
                            self._interrupt(_replay_key(envelope), envelope, exc)
                            raise
                        if hooks is not None:
                            self._after_outcome(envelope, outcome)
                    key = _replay_key(envelope)
                    if not plain:
                        self._feed(key, outcome)
                    elif key in machine._live.inflight:  # `_feed`, inlined
                        send(key, outcome)
                    continue
                for i, (envelope, timeout_ms) in enumerate(effects):
                    replay = envelope.invocation.replay  # `_replay_key(envelope)`, inlined
                    assert replay is not None  # the machine builds every envelope with one
                    key = replay.key
                    outcome = None if supplied is None else supplied[i]
                    if outcome is not None:
                        arrived.append((key, outcome))
                        continue
                    deadline = None if timeout_ms is None else loop.now() + timeout_ms / 1000
                    running.add(key)
                    group.start_soon(self._run_one, key, envelope, deadline)
                continue
            if not quiet:
                self._flush_events()
            if isinstance(step, TurnFinished):
                return
            interrupted = self._interrupted
            while not arrived and not interrupted and not machine.finished:
                event = self._wake = loop.new_event()
                if arrived or interrupted or machine.finished:
                    break
                await loop.wait_event(event, None)
            if interrupted:
                if self._host._natively_cancelled():
                    # The turn itself is being cancelled: the loop raises its cancellation here.
                    await loop.checkpoint()
                self._recover_interrupted()
            batch, arrived[:] = list(arrived), []
            for key, outcome in batch:
                if not plain:
                    self._feed(key, outcome)
                elif key in machine._live.inflight:  # `_feed`, inlined
                    send(key, outcome)


async def run_turn(
    machine: TurnMachine,
    host: InlineHost,
    handlers: TurnHandlers,
    *,
    on_event: Callable[[TurnEvent], None] | None = None,
    on_effect: Callable[[EffectEnvelope, EffectOutcome], None] | None = None,
    on_handler_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    cancel: CancelToken | None = None,
) -> TurnResult:
    """Run ``machine`` to its end on ``host`` and return the result (a :class:`TurnRunner`).

    Every envelope of a batch runs concurrently; outcomes are fed back as they arrive (the
    machine applies tool results in call order whatever order they finish in). ``on_event``
    gets every stream event, in order; ``on_effect`` gets each envelope with its outcome as it
    completes (an effect trace); ``on_handler_error`` gets each envelope whose handler failed
    (raised, or returned an unusable outcome) with the library error its error outcome
    reports, whose ``__cause__`` is the handler's exception with its traceback. ``cancel``
    stops the turn cleanly: running effects are cancelled natively (a pending tool
    completion's wait records ``cancelled``) and the result is ``stopped``/``cancelled``.
    Native cancellation of the task running this (a trio cancel scope, ``Task.cancel()``)
    cancels every running effect and propagates. A handler that cancels its own task while
    nothing cancelled the turn (asyncio's ``current_task().cancel()``) fails its effect with
    ``runtime_effect_handler_failed``, and the turn goes on.

    A callback that raises stops the turn, and its exception propagates from here unchanged
    (the same object, never in an exception group); under turn control the turn's terminal is
    first published as ``failed`` (``turn_callback_failed``), unless the turn had already
    committed its result (a cancel commits as it is requested).

    On a durable host (``host.turn_journaling()`` is not ``None``) the turn is opened in the
    host's store and journaled: see :class:`~lash_core.durable_host.DurableHost`.
    """
    hooks = callback_hooks(on_effect, on_handler_error)
    journaling = host.turn_journaling()
    if journaling is not None:
        return await journaling.run_journaled(
            machine, handlers, hooks=hooks, on_event=on_event, cancel=cancel
        )
    runner = TurnRunner(machine, host, handlers, hooks=hooks, on_event=on_event, cancel=cancel)
    return await runner.run()


def _replay_key(envelope: EffectEnvelope) -> str:
    key = envelope.invocation.replay_key
    assert key is not None  # the machine builds every envelope with a replay key
    return key
