"""The effect host of a turn that runs inside a Restate workflow invocation.

:class:`RestateTurnHost` is an :class:`~lash_core.host.InlineHost` on asyncio whose every effect
is an entry of the invocation's Restate journal, so a replayed invocation answers recorded
effects without running them:

* a **journaled kind** (model calls, tool attempts, durable steps, ...: lash's
  :data:`~lash_core.durable_turn.JOURNALED_KINDS`) runs its handler inside ``ctx.run`` named by
  the envelope's replay key; the run records ``[canonical envelope, outcome]``. On replay the
  recorded canonical envelope is checked against the one the code builds now: a difference is
  lash's :class:`~lash_core.errors.ReplayMismatchError` (with the JSON-path diff), which the
  workflow turns into Restate's ``TerminalError`` (never retried);
* an **await event** waits on the workflow's durable promise named by the key id
  (``lash:<key id>``), raced with a durable timer for its deadline and with the turn's cancel
  promise; a **sleep** is a durable timer raced with the cancel promise; a **peek** reads the
  promise. Each is preceded by a ``ctx.run`` that records the canonical envelope (the replay
  check) and followed by one that records which side won (a replay takes the same side);
* a timeout or a cancel is proposed to the key's promise (first writer wins, as in the
  registry): a webhook that resolved it first wins, and the wait returns its terminal.

A replay mismatch cannot end the invocation at once: the SDK refuses a handler that returns
(even with ``TerminalError``) before it has met every entry the journal holds, and retries it.
So the first divergence is kept, the replay goes on answering from the journal (nothing runs
live: a run the journal does not hold fails with the divergence), and the divergence is raised
as soon as the journal is exhausted, where Restate records it as the invocation's terminal
failure. (Code that changes the *kind* of an entry, a wait where a run was, still meets the
SDK's own mismatch, which Restate retries until its retry policy pauses the invocation.)

**Concurrency and order.** Entries are made under an ``asyncio.Lock`` taken in the order the
machine hands the effects out, so the journal's order is the machine's and a replay meets the
same entries. A journaled effect holds the lock only to make its entry: the attempts of a tool
batch then run concurrently (a wait holds it for its whole wait). The SDK lets one task at a
time poll the invocation and starts a run only when a poll names its future, so one task polls
for all (:meth:`RestateTurnHost._wait_any`), after every effect handed out has made its entry.
Outcomes go back to the turn machine in the order the entries were made, whichever finished
first, so a replay feeds the machine the same sequence.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

import restate
from restate.exceptions import TerminalError

from lash_asyncio import AsyncioPrimitives
from lash_core import codes
from lash_core.canonical import sha256_hex
from lash_core.durable_turn import JOURNALED_KINDS, CanonicalCache, EffectAttempt
from lash_core.effects.commands import (
    AwaitEventCommand,
    PeekAwaitEventCommand,
    ProcessEffectCommand,
    SleepCommand,
)
from lash_core.effects.envelope import CanonicalEnvelope, EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.kinds import KINDS, Family
from lash_core.effects.outcomes import (
    AwaitEventOutcome,
    EffectOutcome,
    PeekAwaitEventOutcome,
    ProcessOutcome,
    SleepOutcome,
)
from lash_core.errors import LashError
from lash_core.host import EffectHandler, InlineHost
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.service import ProcessService
from lash_core.resolution import CANCELLED, TIMEOUT, Resolution
from lash_core.routing import UNAVAILABLE, LocalExecutor
from lash_core.store.journal import Diverged
from lash_core.turn.hooks import TurnHooks
from lash_core.wire import canonical_json, from_json
from lash_restate._keys import ProcessesUnsupported, processes_unsupported
from lash_restate.client import RestateProcesses

__all__ = [
    "CANCEL_PROMISE",
    "ProcessesUnsupported",
    "RestateJournal",
    "RestateTurnHost",
    "promise_name",
]

CANCEL_PROMISE: Final = "lash:cancel"
"""The workflow promise a turn cancel request resolves (with ``{"message": ...}``)."""


def promise_name(key: AwaitEventKey) -> str:
    """The workflow promise that holds ``key``'s terminal."""
    return f"lash:{key.key_id}"


def decode_terminal(text: str) -> Resolution:
    terminal: Resolution = from_json(text, Resolution)
    return terminal


class RestateJournal(TurnHooks):
    """The turn runner's hooks on this tier: it notes each envelope's relative deadline as the
    machine hands it out (a durable timer is started from it, the same on every replay);
    ``inner`` (your own hooks) is called after."""

    __slots__ = ("_inner", "handed_out", "timeouts")

    def __init__(self, inner: TurnHooks | None = None) -> None:
        self._inner = inner
        self.timeouts: dict[str, int | None] = {}
        self.handed_out = 0
        """How many effects the machine handed out to run (not answered by ``inner``)."""

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        key = envelope.replay_key
        if key is not None:
            self.timeouts[key] = timeout_ms
        inner = self._inner
        supplied = None if inner is None else inner.before_effect(envelope, timeout_ms)
        if supplied is None:
            self.handed_out += 1
        return supplied

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        if self._inner is not None:
            self._inner.after_outcome(envelope, outcome)

    def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        if self._inner is not None:
            self._inner.on_handler_error(envelope, error)


def _no_secret() -> bytes:  # pragma: no cover - the host is always given its secret
    raise AssertionError("a Restate turn host is given its secret")


class RestateTurnHost(InlineHost):
    """The host of one turn in one workflow invocation (see the module documentation).

    ``ctx`` is the invocation's ``restate.WorkflowContext``; keys are minted and verified with
    ``signer``'s secrets (the service's, so a webhook in another process verifies them);
    ``cancel`` is the turn's cancel promise future, raced with every wait; ``on_cancel`` stops
    the turn (the runner's ``stop``).
    """

    def __init__(
        self,
        ctx: restate.WorkflowContext,
        secret: bytes,
        previous: tuple[bytes, ...],
        journal: RestateJournal,
        process_client: RestateProcesses | None = None,
    ) -> None:
        super().__init__(
            AsyncioPrimitives(),
            secret,
            previous,
            secret_source=_no_secret,
            processes=ProcessService,
        )
        self.ctx = ctx
        self.signer = KeySigner(secret, previous)
        self.journal = journal
        self.process_client = process_client
        """Where this turn's ``process`` effects go (``None``: the service was given no
        ``ingress_url``, and they are ``restate_processes_unsupported``)."""
        self.cancel = ctx.promise(CANCEL_PROMISE, type_hint=str).value()
        self.on_cancel: Callable[[str], None] | None = None
        self._lock = asyncio.Lock()
        """Held while an effect's journal entries are made (a wait's, for its whole wait)."""
        self._poll = asyncio.Lock()
        """Held by the one task that polls the invocation (see :meth:`_wait_any`)."""
        self._waiting: list[Any] = []
        self._created = 0
        self._released = 0
        self._finished: set[int] = set()
        self._turns: dict[int, asyncio.Event] = {}
        self._entry_event: asyncio.Event | None = None
        self._canonical = CanonicalCache()
        self.live_runs = 0
        self._attempts: dict[str, EffectAttempt] = {}
        self.divergence: LashError | None = None
        """The first replay mismatch met (raised once the journal is exhausted)."""
        """Journaled effects whose handler ran in this invocation (not answered from the
        journal)."""

    def effect_attempt(self, envelope: EffectEnvelope) -> EffectAttempt | None:
        """For a handler running ``envelope``: its replay key as an idempotency key, and whether
        it is *in doubt* (an earlier attempt started it and died before its result was
        recorded: check before redoing work). Restate does not say how many attempts died:
        ``attempt`` is 1, or 2 when in doubt. ``None`` outside a journaled effect's handler."""
        key = envelope.replay_key
        return None if key is None else self._attempts.get(key)

    async def execute_effect(
        self, envelope: EffectEnvelope, executor: LocalExecutor = UNAVAILABLE
    ) -> EffectOutcome:
        """:meth:`InlineHost.execute_effect`, except ``process`` effects: each goes to its
        process's registry object through Restate's ingress (:class:`RestateProcesses`), with
        the envelope's replay key as the request's idempotency key, so a handler that runs
        again after a crash gets the answer the first request got. A handler issues them from
        inside its journaled run, where the workflow context cannot be used (the session-wide
        ``list``, ``transfer`` and ``delete_session`` go to the session's grant index, see
        :mod:`lash_restate.sessions`). Without the service's ``ingress_url`` they are
        ``restate_processes_unsupported``."""
        command = envelope.command
        if isinstance(command, ProcessEffectCommand):
            client = self.process_client
            if client is None:
                raise processes_unsupported(
                    "a process effect without the service's ingress_url (TurnService(..., "
                    "ingress_url=...))"
                )
            outcome = await asyncio.to_thread(
                client.execute, command.command, idempotency_key=envelope.replay_key
            )
            return ProcessOutcome(outcome)
        return await super().execute_effect(envelope, executor)

    def _natively_cancelled(self) -> bool:
        task = asyncio.current_task()
        return task is None or task.cancelling() > 0

    async def run_envelope(
        self,
        envelope: EffectEnvelope,
        handlers: Mapping[EffectKind, EffectHandler],
        deadline: float | None = None,
        on_error: Callable[[EffectEnvelope, LashError], None] | None = None,
    ) -> EffectOutcome:
        spec = KINDS[envelope.command.kind]
        seq = 0
        try:
            if spec.kind in JOURNALED_KINDS:
                # Only the entry is made under the lock (in the order the machine handed the
                # effects out); the runs of a batch then go on concurrently.
                async with self._lock:
                    self.guard()
                    seq = self._sequence()
                    pending = self._start_journaled(envelope, handlers, on_error)
                    self._entered()
                outcome = await self._finish_journaled(envelope, pending)
            else:
                async with self._lock:
                    self.guard()
                    seq = self._sequence()
                    self._entered()
                    outcome = await self._wait_kind(envelope, spec)
            await self._in_order(seq)
            return outcome
        finally:
            if seq:
                self._release(seq)

    async def _wait_kind(self, envelope: EffectEnvelope, spec: Any) -> EffectOutcome:
        try:
            if spec.family is Family.AWAIT:
                return await self._await(envelope)
            if spec.family is Family.SLEEP:
                return await self._durable_sleep(envelope)
            if spec.family is Family.PEEK:
                return await self._peek(envelope)
            raise processes_unsupported(f"a {spec.kind} effect handed out by the turn")
        except LashError as error:
            failed: EffectOutcome | None = spec.error_outcome(envelope, error)
            if failed is None:
                raise
            return failed

    # -- order and waiting -------------------------------------------------------------------

    def _entered(self) -> None:
        event = self._entry_event
        if event is not None and self._created >= self.journal.handed_out:
            self._entry_event = None
            event.set()

    async def _batch_entered(self) -> None:
        """Wait until every effect handed out so far has made its journal entry (or, for a
        wait, begun making them). The SDK starts a run only when a poll names its future, and
        a poll's futures are fixed while it waits, so the runs of a batch are polled together:
        they run concurrently."""
        while self._created < self.journal.handed_out:
            if self._entry_event is None:
                self._entry_event = asyncio.Event()
            await self._entry_event.wait()

    def _sequence(self) -> int:
        self._created += 1
        return self._created

    async def _in_order(self, seq: int) -> None:
        """Wait until every effect whose entry was made before ``seq``'s has handed its
        outcome back: outcomes reach the turn machine in the order their entries were made
        (the order it handed the effects out), whichever finished first, so a replay feeds it
        the same sequence."""
        if self._released >= seq - 1:
            return
        event = self._turns[seq] = asyncio.Event()
        try:
            await event.wait()
        finally:
            self._turns.pop(seq, None)

    def _release(self, seq: int) -> None:
        self._finished.add(seq)
        while self._released + 1 in self._finished:
            self._finished.discard(self._released + 1)
            self._released += 1
        event = self._turns.get(self._released + 1)
        if event is not None:
            event.set()

    async def _wait_any(self, *futures: Any) -> None:
        """Until one of ``futures`` (Restate futures) completed. One task at a time polls the
        invocation (the SDK's rule), on every future any task waits for, so the runs of a
        batch all progress whichever task polls."""
        waiting = self._waiting
        waiting.extend(futures)
        try:
            while not any(f.is_completed() for f in futures):
                async with self._poll:
                    if any(f.is_completed() for f in futures):
                        break
                    open_ = {id(f): f for f in waiting if not f.is_completed()}
                    await restate.wait_completed(*open_.values())
        finally:
            for future in futures:
                waiting.remove(future)

    async def _result(self, future: Any) -> Any:
        """``future``'s value, waited for through :meth:`_wait_any`."""
        await self._wait_any(future)
        return await future

    # -- the journal -------------------------------------------------------------------------

    def replaying(self) -> bool:
        """Whether the invocation is still replaying entries its journal holds."""
        vm = getattr(self.ctx, "vm", None)
        return bool(vm is not None and vm.is_replaying())

    def guard(self) -> None:
        """Raise the replay mismatch met earlier once the journal is exhausted (the next entry
        would be a new one)."""
        if self.divergence is not None and not self.replaying():
            raise self.divergence

    def _name(self, envelope: EffectEnvelope) -> str:
        key = envelope.replay_key
        assert key is not None  # the machine builds every envelope with a replay key
        return key

    def _checked(self, envelope: EffectEnvelope, recorded_json: str) -> CanonicalEnvelope:
        """The replay check: ``recorded_json`` (the canonical envelope the journal holds) is
        the one the code builds now; the first that is not is kept in :attr:`divergence`."""
        canonical = self._canonical.envelope(envelope)
        if recorded_json != canonical.json and self.divergence is None:
            recorded = CanonicalEnvelope(recorded_json, sha256_hex(recorded_json.encode()))
            self.divergence = Diverged(recorded, canonical).error()
        return canonical

    def _start_journaled(
        self,
        envelope: EffectEnvelope,
        handlers: Mapping[EffectKind, EffectHandler],
        on_error: Callable[[EffectEnvelope, LashError], None] | None,
    ) -> Any:
        """Make the journal entry of a journaled effect: a ``ctx.run`` named by its replay key
        (its future; the handler runs when the invocation is polled, unless the journal
        answers it)."""
        canonical = self._canonical.envelope(envelope)
        key = self._name(envelope)
        # A run the journal already holds the command of, but not the result: an earlier
        # attempt started it and its process died before the result was recorded.
        in_doubt = self.replaying()

        async def action() -> str:
            if self.divergence is not None:
                raise TerminalError(str(self.divergence), 409, {"lash_code": self.divergence.code})
            self.live_runs += 1
            self._attempts[key] = EffectAttempt(key, 2 if in_doubt else 1, in_doubt)
            try:
                outcome = await InlineHost.run_envelope(self, envelope, handlers, None, on_error)
            finally:
                self._attempts.pop(key, None)
            return json.dumps([canonical.json, canonical_json(outcome)])

        pending = self.ctx.run_typed(key, action, restate.RunOptions(type_hint=str))
        self._waiting.append(pending)  # polled from now on, by whichever task polls
        return pending

    async def _finish_journaled(self, envelope: EffectEnvelope, pending: Any) -> EffectOutcome:
        try:
            await self._batch_entered()
            text = await self._result(pending)
        finally:
            self._waiting.remove(pending)
        recorded_json, outcome_json = json.loads(text)
        self._checked(envelope, recorded_json)
        outcome: EffectOutcome = from_json(outcome_json, EffectOutcome)
        return outcome

    async def _begin(self, envelope: EffectEnvelope) -> None:
        """Record the envelope of a wait (a replay checks it before waiting again)."""
        canonical = self._canonical.envelope(envelope)

        def record() -> str:
            return canonical.json

        recorded = await self._result(
            self.ctx.run_typed(f"{self._name(envelope)}", record, restate.RunOptions(type_hint=str))
        )
        self._checked(envelope, recorded)

    async def _winner(self, envelope: EffectEnvelope, futures: dict[str, Any]) -> str:
        """Wait until one of ``futures`` completed, and record which (a replay takes the same
        side whatever completed since). Preference when several did: the order given."""
        await self._wait_any(*futures.values())
        side = next(name for name, future in futures.items() if future.is_completed())

        def record() -> str:
            return side

        won: str = await self._result(
            self.ctx.run_typed(
                f"{self._name(envelope)}#won", record, restate.RunOptions(type_hint=str)
            )
        )
        return won

    async def _propose(self, key: AwaitEventKey, terminal: Resolution, value: Any) -> Resolution:
        """Propose ``terminal`` to ``key``'s promise: it, or the terminal that won first."""
        promise = self.ctx.promise(promise_name(key), type_hint=str)
        try:
            await self._result(promise.resolve(canonical_json(terminal)))
        except TerminalError:
            return decode_terminal(await self._result(value))
        return terminal

    async def _stop(self, message: str) -> None:
        on_cancel = self.on_cancel
        if on_cancel is not None:
            on_cancel(message)
        await asyncio.sleep(0)  # the runner cancelled this task: CancelledError here
        raise LashError(codes.RUNTIME_EFFECT_SLEEP_CANCELLED, message)  # pragma: no cover

    async def _cancel_message(self) -> str:
        text = await self._result(self.cancel)
        try:
            message = json.loads(text).get("message")
        except (ValueError, AttributeError):
            message = None
        return message if isinstance(message, str) else "the turn was cancelled"

    async def _await(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, AwaitEventCommand)
        key = command.key
        if not self.signer.verify(key):
            raise LashError(
                codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
                "the await event key was not signed with this service's secret",
            )
        await self._begin(envelope)
        value = self.ctx.promise(promise_name(key), type_hint=str).value()
        futures: dict[str, Any] = {"value": value, "cancel": self.cancel}
        timeout_ms = self.journal.timeouts.get(self._name(envelope))
        if timeout_ms is not None:
            futures["timer"] = self.ctx.sleep(timedelta(milliseconds=timeout_ms))
        side = await self._winner(envelope, futures)
        if side == "value":
            return AwaitEventOutcome(decode_terminal(await self._result(value)))
        if side == "timer":
            return AwaitEventOutcome(await self._propose(key, TIMEOUT, value))
        message = await self._cancel_message()
        terminal = await self._propose(key, CANCELLED, value)
        if terminal != CANCELLED:
            return AwaitEventOutcome(terminal)
        await self._stop(message)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _durable_sleep(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, SleepCommand)
        await self._begin(envelope)
        timer = self.ctx.sleep(timedelta(milliseconds=command.duration_ms))
        side = await self._winner(envelope, {"timer": timer, "cancel": self.cancel})
        if side == "timer":
            return SleepOutcome()
        await self._stop(await self._cancel_message())
        raise AssertionError("unreachable")  # pragma: no cover

    async def _peek(self, envelope: EffectEnvelope) -> EffectOutcome:
        command = envelope.command
        assert isinstance(command, PeekAwaitEventCommand)
        await self._begin(envelope)
        text = await self._result(self.ctx.promise(promise_name(command.key), type_hint=str).peek())
        return PeekAwaitEventOutcome(None if text is None else decode_terminal(text))
