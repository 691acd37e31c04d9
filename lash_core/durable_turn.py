"""Journaled turns: the :class:`~lash_core.turn.TurnHooks` a durable host runs a turn with.

:class:`JournalHooks` records every effect of a turn in a :class:`~lash_core.store.DurableStore`
under the session's :class:`~lash_core.store.Lease` before the turn machine uses its outcome:

* **before an effect** of a journaled kind (:data:`JOURNALED_KINDS`) it calls ``store.begin``
  with the canonical envelope. ``Recorded``: the recorded outcome (a recorded failure too) is
  returned, so the envelope is not run. ``Diverged`` (the code changed between the run and its
  replay): the turn is marked diverged in the store and a
  :class:`~lash_core.errors.ReplayMismatchError` (``runtime_effect_replay_hash_mismatch``, with
  the JSON-path diff) ends the run; nothing is retried. ``Started``: the envelope runs; its
  :class:`EffectAttempt` (the attempt number, whether it is *in doubt*, and the replay key as
  an idempotency key) is what a handler reads from ``host.effect_attempt(envelope)``;
* a **sleep** gets a row too, with its absolute due time: a resumed sleep waits only for what is
  left of it (the host reads :attr:`JournalHooks.sleeps`);
* **after an outcome** it calls ``store.complete`` (before the machine is fed it);
* await events, peeks and turn-control waits are not journaled: the store's promise rows are
  their truth (a resumed wait parks again on the same key and finds its terminal).

A model request repeats the conversation so far, whose messages never change: the hooks write
each message's canonical JSON once (:class:`CanonicalCache`) and build a request's canonical
envelope around them, so what a step costs does not grow with the conversation (the envelope's
hash still covers all of it, in C).

A write refused because the lease was lost (``lease_lost``) ends the turn with that error, and
every later call of the hooks raises it again, so nothing further runs. Time is an input
(``now_ms``); this module reads no clock and does no I/O beyond the store it is given.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Collection
from typing import Final

import attrs

from lash_core import codes
from lash_core.canonical import sha256_hex
from lash_core.effects.commands import (
    AwaitEventCommand,
    DirectCommand,
    LlmCallCommand,
    SleepCommand,
)
from lash_core.effects.envelope import CanonicalEnvelope, EffectEnvelope
from lash_core.effects.invocation import EffectKind
from lash_core.effects.llm import Message
from lash_core.effects.outcomes import EffectOutcome
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.resolution import Resolution
from lash_core.store import Diverged, DurableStore, Lease, Recorded, Started, TurnRef
from lash_core.turn.config import TurnConfig
from lash_core.turn.gate import GateCancelRequested, TurnCancellation, decode_gate
from lash_core.turn.machine import TurnMachine
from lash_core.turn.run import TurnHooks
from lash_core.wire import canonical_json, from_json, omit_if_none

__all__ = [
    "JOURNALED_KINDS",
    "CanonicalCache",
    "EffectAttempt",
    "GateWatch",
    "JournalHooks",
    "LeaseCell",
    "TurnStart",
    "record_effect",
]

JOURNALED_KINDS: frozenset[EffectKind] = frozenset(
    {
        EffectKind.LLM_CALL,
        EffectKind.TOOL_ATTEMPT,
        EffectKind.DURABLE_STEP,
        EffectKind.DIRECT,
        EffectKind.EXEC_CODE,
        EffectKind.CHECKPOINT,
        EffectKind.SYNC_EXECUTION_ENVIRONMENT,
    }
)
"""The kinds whose outcome is recorded and replayed. Not journaled: ``tool_batch`` (only its
children are), ``await_event`` and ``peek_await_event`` (the store's promise rows are their
truth), ``process`` (the process registry is), and turn-control waits. A ``sleep`` has a row for
its due time."""


@attrs.frozen
class EffectAttempt:
    """What a handler may want to know about the effect it runs on a durable host.

    ``attempt`` counts from 1. ``in_doubt``: an earlier attempt may have run its side effect
    without its outcome being recorded (its process died between the two), so check before
    redoing work, or pass :attr:`idempotency_key` to a service that deduplicates by it (an
    ``Idempotency-Key`` header): it is the effect's replay key, the same on every attempt.
    """

    replay_key: str
    attempt: int
    in_doubt: bool

    @property
    def idempotency_key(self) -> str:
        return self.replay_key


@attrs.frozen(kw_only=True)
class TurnStart:
    """How a turn started, as stored with it (``open_turn``): enough to build its machine
    again in another process. A wire value (:meth:`to_json`)."""

    config: TurnConfig
    session_id: str
    turn_id: str
    turn_index: int
    messages: tuple[Message, ...] = ()
    cancel_gate: AwaitEventKey | None = omit_if_none()

    @property
    def ref(self) -> TurnRef:
        return TurnRef(self.session_id, self.turn_id)

    def machine(self, config: TurnConfig | None = None) -> TurnMachine:
        """A fresh machine for this start (with ``config`` instead of the stored one: the
        configuration of the code that resumes, which a replay checks against the journal)."""
        return TurnMachine(
            self.config if config is None else config,
            session_id=self.session_id,
            turn_id=self.turn_id,
            turn_index=self.turn_index,
            messages=self.messages,
            cancel_gate=self.cancel_gate,
        )

    def to_json(self) -> str:
        return canonical_json(self)

    @classmethod
    def from_json(cls, text: str) -> TurnStart:
        try:
            start: TurnStart = from_json(text, TurnStart)
        except LashError as exc:
            raise LashError(
                codes.STORE_CORRUPT, f"a stored turn start does not decode: {exc}"
            ) from None
        return start

    @classmethod
    def of(cls, machine: TurnMachine) -> TurnStart:
        """The start of a fresh ``machine`` (``durable_turn_not_fresh`` if it already ran or
        was restored from a later checkpoint: a durable turn is recorded from its start)."""
        state = machine.checkpoint()
        start = cls(
            config=state.config,
            session_id=state.session_id,
            turn_id=state.turn_id,
            turn_index=state.turn_index,
            messages=state.messages,
            cancel_gate=state.cancel_gate,
        )
        if start.machine().checkpoint() != state:
            raise LashError(
                codes.DURABLE_TURN_NOT_FRESH,
                f"turn {state.turn_id!r} of session {state.session_id!r} has already run; a "
                "durable host records a turn from its start (build a new TurnMachine, or "
                "resume the stored turn with resume_turn)",
            )
        return start


class LeaseCell:
    """The current lease of a session, shared by the turns of that session on one host (the
    host renews it in place); ``lost`` once a renewal or a write was refused."""

    __slots__ = ("lease", "lost")

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self.lost: LashError | None = None


def _is_lease_lost(exc: LashError) -> bool:
    return exc.code == codes.LEASE_LOST


def decode_outcome(text: str) -> EffectOutcome:
    """A recorded outcome (``store_corrupt`` if it does not decode)."""
    try:
        outcome: EffectOutcome = from_json(text, EffectOutcome)
    except LashError as exc:
        raise LashError(codes.STORE_CORRUPT, f"a recorded outcome does not decode: {exc}") from None
    return outcome


_NO_MESSAGES: Final = '"messages":[]'


class CanonicalCache:
    """Canonical envelopes of a turn's effects, each model request built around the canonical
    JSON of its messages, written once per message (by identity: the machine hands every
    request the same message objects). :meth:`envelope` equals ``envelope.canonical()``.

    ``written`` counts the characters of message JSON written so far (tests and benchmarks:
    one step adds only its new messages').
    """

    __slots__ = ("_texts", "written")

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Message, str]] = {}
        self.written = 0

    def message(self, message: Message) -> str:
        """The canonical JSON of ``message`` (written the first time it is seen)."""
        hit = self._texts.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        text = canonical_json(message)
        self._texts[id(message)] = (message, text)
        self.written += len(text)
        return text

    def envelope(self, envelope: EffectEnvelope) -> CanonicalEnvelope:
        """``envelope.canonical()``, a model request's messages taken from the cache."""
        command = envelope.command
        if not isinstance(command, LlmCallCommand | DirectCommand) or not command.request.messages:
            return envelope.canonical()
        request = command.request
        try:
            bare = attrs.evolve(
                envelope,
                command=attrs.evolve(command, request=attrs.evolve(request, messages=())),
            ).canonical()
            at = bare.json.find(_NO_MESSAGES)
            if at < 0 or bare.json.find(_NO_MESSAGES, at + 1) >= 0:
                return envelope.canonical()
            cut = at + len(_NO_MESSAGES) - 1
            messages = ",".join([self.message(m) for m in request.messages])
            text = f"{bare.json[:cut]}{messages}{bare.json[cut:]}"
            digest = sha256_hex(text.encode("utf-8"))
        except (LashError, ValueError, TypeError):
            return envelope.canonical()  # raises the error canonical() raises
        return CanonicalEnvelope(text, digest)


class JournalHooks(TurnHooks):
    """Records a turn's effects in ``store`` under ``cell``'s lease (see the module
    documentation). ``inner`` (the caller's own hooks) is called after the journal's.

    Counters for reports and tests: ``replayed`` (outcomes answered from the journal),
    ``started`` (effects begun live), ``in_doubt`` (of those, begun again in doubt).
    """

    __slots__ = (
        "_begun",
        "_canonical",
        "_cell",
        "_continue",
        "_failure",
        "_inner",
        "_now_ms",
        "_ref",
        "_store",
        "attempts",
        "awaited",
        "discarded",
        "divergence",
        "in_doubt",
        "replayed",
        "sleeps",
        "started",
    )

    def __init__(
        self,
        store: DurableStore,
        cell: LeaseCell,
        ref: TurnRef,
        now_ms: Callable[[], int],
        *,
        attempts: dict[str, EffectAttempt] | None = None,
        sleeps: dict[str, int] | None = None,
        inner: TurnHooks | None = None,
        continue_on_divergence: bool = False,
    ) -> None:
        self._store = store
        self._continue = continue_on_divergence
        self._cell = cell
        self._ref = ref
        self._now_ms = now_ms
        self._inner = inner
        self._begun: set[str] = set()
        self._canonical = CanonicalCache()
        self._failure: LashError | None = None
        self.attempts: dict[str, EffectAttempt] = {} if attempts is None else attempts
        """The attempt of each effect running now, by replay key."""
        self.sleeps: dict[str, int] = {} if sleeps is None else sleeps
        """The absolute due time (``now_ms``'s clock) of each sleep about to run."""
        self.awaited: list[AwaitEventKey] = []
        """The keys the turn's await envelopes waited on (a finished turn's pending ones are
        cancelled: nothing will consume them)."""
        self.replayed = 0
        self.started = 0
        self.in_doubt = 0
        self.divergence: Diverged | None = None
        """With ``continue_on_divergence``: the first divergent envelope's verdict (its
        ``recorded`` envelope, whose replay key is where the journal was left, and its diff)."""
        self.discarded = 0
        """Rows discarded to run live past the divergence (the divergent one included)."""

    @property
    def failure(self) -> LashError | None:
        """The error that ended the journal (a lost lease, a divergence), if any."""
        return self._failure

    def _check(self) -> None:
        failure = self._failure or self._cell.lost
        if failure is not None:
            self._failure = failure
            raise failure

    def _refused(self, exc: LashError) -> LashError:
        if _is_lease_lost(exc):
            self._failure = exc
            if self._cell.lost is None:
                self._cell.lost = exc
        return exc

    def before_effect(
        self, envelope: EffectEnvelope, timeout_ms: int | None
    ) -> EffectOutcome | None:
        self._check()
        command = envelope.command
        if isinstance(command, SleepCommand) or command.kind in JOURNALED_KINDS:
            sleep_ms = command.duration_ms if isinstance(command, SleepCommand) else None
            outcome = self._begin(envelope, sleep_ms)
            if outcome is not None:
                return outcome
        elif isinstance(command, AwaitEventCommand):
            self.awaited.append(command.key)
        inner = self._inner
        return None if inner is None else inner.before_effect(envelope, timeout_ms)

    def _begin(self, envelope: EffectEnvelope, sleep_ms: int | None) -> EffectOutcome | None:
        now = self._now_ms()
        due = None if sleep_ms is None else now + sleep_ms
        key = envelope.replay_key
        assert key is not None  # the machine builds every envelope with a replay key
        store, lease = self._store, self._cell.lease
        try:
            canonical = self._canonical.envelope(envelope)
            verdict = store.begin(lease, canonical, now, due)
            if self._continue and not isinstance(verdict, Started):
                if isinstance(verdict, Diverged) and self.divergence is None:
                    self.divergence = verdict
                if self.divergence is not None:
                    # Past the first divergence everything runs live: what was recorded
                    # under this key belongs to the run that diverged.
                    store.discard(lease, key, now)
                    self.discarded += 1
                    verdict = store.begin(lease, canonical, now, due)
        except LashError as exc:
            raise self._refused(exc) from None
        if isinstance(verdict, Recorded):
            self.replayed += 1
            return decode_outcome(verdict.outcome_json)
        if isinstance(verdict, Diverged):
            error = verdict.error()
            try:
                self._store.mark_diverged(
                    self._cell.lease, self._ref, canonical_json(verdict.diff), now
                )
            except LashError as exc:
                raise self._refused(exc) from None
            self._failure = error
            raise error
        self._begun.add(key)
        self.started += 1
        if verdict.in_doubt:
            self.in_doubt += 1
        self.attempts[key] = EffectAttempt(key, verdict.attempt, verdict.in_doubt)
        if sleep_ms is not None:
            self.sleeps[key] = due if verdict.due_at_ms is None else verdict.due_at_ms  # type: ignore[assignment]
        return None

    def after_outcome(self, envelope: EffectEnvelope, outcome: EffectOutcome) -> None:
        key = envelope.replay_key
        if key is not None and key in self._begun:
            self._check()
            try:
                self._store.complete(self._cell.lease, key, canonical_json(outcome), self._now_ms())
            except LashError as exc:
                raise self._refused(exc) from None
            self._begun.discard(key)
            self.attempts.pop(key, None)
        inner = self._inner
        if inner is not None:
            inner.after_outcome(envelope, outcome)

    def forget(self) -> None:
        """Drop what the host's shared maps hold for this turn (its run ended)."""
        for key in self._begun:
            self.attempts.pop(key, None)
            self.sleeps.pop(key, None)
        self._begun.clear()

    def on_checkpoint(self, machine: TurnMachine) -> None:
        inner = self._inner
        if inner is not None:
            inner.on_checkpoint(machine)

    def on_handler_error(self, envelope: EffectEnvelope, error: LashError) -> None:
        inner = self._inner
        if inner is not None:
            inner.on_handler_error(envelope, error)


async def record_effect(
    store: DurableStore,
    cell: LeaseCell,
    envelope: EffectEnvelope,
    now_ms: Callable[[], int],
    run: Callable[[int | None], Awaitable[EffectOutcome]],
    checkpoint: Callable[[], Awaitable[None]],
    attempts: dict[str, EffectAttempt],
) -> EffectOutcome:
    """One envelope of host code (a durable step, a direct call) journaled in ``store`` under
    ``cell``'s lease, as :class:`JournalHooks` journals a turn's: a recorded outcome is returned
    after ``checkpoint()`` without running anything; a divergent one raises the
    :class:`~lash_core.errors.ReplayMismatchError`; otherwise ``run(due_at_ms)`` runs it (with
    a sleep's stored due time), its :class:`EffectAttempt` in ``attempts`` meanwhile, and its
    outcome is recorded. An effect that raises is abandoned (the next call runs it again, not
    in doubt); one cut off by cancellation, like one whose process died, stays running, so the
    next owner runs it again in doubt. A lost lease is kept in ``cell``."""
    key = envelope.replay_key
    assert key is not None
    command = envelope.command
    try:
        if cell.lost is not None:
            raise cell.lost
        now = now_ms()
        due = now + command.duration_ms if isinstance(command, SleepCommand) else None
        verdict = store.begin(cell.lease, envelope.canonical(), now, due)
        if isinstance(verdict, Recorded):
            await checkpoint()
            return decode_outcome(verdict.outcome_json)
        if isinstance(verdict, Diverged):
            raise verdict.error()
        attempts[key] = EffectAttempt(key, verdict.attempt, verdict.in_doubt)
        try:
            outcome = await run(verdict.due_at_ms)
        except Exception:
            with contextlib.suppress(LashError):
                store.abandon(cell.lease, key, now_ms())
            raise
        finally:
            attempts.pop(key, None)
        store.complete(cell.lease, key, canonical_json(outcome), now_ms())
        return outcome
    except LashError as exc:
        if _is_lease_lost(exc) and cell.lost is None:
            cell.lost = exc
        raise


def _cancel_of(gate_terminal: Resolution) -> TurnCancellation | None:
    """The evidence of the cancel request that won a cancel gate (``None``: the turn's own
    completion won it, or the terminal is not a gate's)."""
    try:
        winner = decode_gate(gate_terminal)
    except LashError:
        return None
    return winner.cancellation if isinstance(winner, GateCancelRequested) else None


class GateWatch:
    """The cancel gates of the turns a durable host runs, parked in its store with the host's
    doorbell ``address``, so that a stop request resolving one in another process rings the
    host; :meth:`check` tells ``notify`` (the host's cancel watchers) of a cancel that won one,
    which stops the turn as a local request would."""

    __slots__ = ("_address", "_gates", "_notify", "_store")

    def __init__(
        self,
        store: DurableStore,
        address: str | None,
        notify: Callable[[str, str, TurnCancellation], None],
    ) -> None:
        self._store = store
        self._address = address
        self._notify = notify
        self._gates: dict[str, AwaitEventKey] = {}

    def __len__(self) -> int:
        return len(self._gates)

    def watch(self, gate: AwaitEventKey) -> TurnCancellation | None:
        """Park on ``gate`` (a running turn's); the evidence of a cancel that already won it
        (a stop request made while no process ran the turn)."""
        try:
            terminal = self._store.park(gate, self._address)
        except LashError:
            return None  # a revoked session: the turn's commit reports it
        if terminal is None:
            self._gates[gate.key_id] = gate
            return None
        return _cancel_of(terminal)

    def unwatch(self, gate: AwaitEventKey) -> None:
        if self._gates.pop(gate.key_id, None) is not None and self._address is not None:
            with contextlib.suppress(LashError):
                self._store.unpark(gate, self._address)

    def check(self, key_ids: Collection[str] | None = None) -> int:
        """Re-read the watched gates (those named in ``key_ids``, or all) and notify the cancels
        that won one. How many turns were told to stop."""
        stopped = 0
        for key_id, gate in list(self._gates.items()):
            if key_ids is not None and key_id not in key_ids:
                continue
            try:
                terminal = self._store.peek(gate)
            except LashError:
                continue
            if terminal is None:
                continue
            del self._gates[key_id]
            cancellation = _cancel_of(terminal)
            if cancellation is not None:
                scope = gate.scope
                assert scope.turn_id is not None
                self._notify(scope.session_id, scope.turn_id, cancellation)
                stopped += 1
        return stopped
