"""The durable store protocol, its data types and the pure rules every store applies.

A :class:`DurableStore` keeps what must survive a crash: the effect journal of each session
(fenced by a session :class:`Lease`), the turns, and the await-event promises with their
revocation tombstones. Stores only do compare-and-swap: they read a row, hand it to a rule of
this module (or of :mod:`lash_core.promise`), and write what the rule says, in one transaction.
So an in-memory store (:mod:`lash_core.store_memory`), the SQLite store (``lash_sqlite``) and a
future Postgres store decide everything the same way.

Times are inputs (``now_ms``, wall-clock milliseconds chosen by the caller); this module reads
no clock and does no I/O.

Leases and fencing:

* one owner per session: :func:`acquire_transition` gives a new holder the next fencing token
  (``fence + 1``) when the session has no live lease, refuses another owner while one is live
  (``lease_held``), and lets the holder acquire again (same token, later expiry);
* every journal and turn write presents its lease; :func:`check_fence` refuses (``lease_lost``)
  a lease that is not the current one or has expired, and the store checks it in the same
  transaction as the write, so a paused owner that lost its lease writes nothing.

The journal (:func:`begin_transition`):

* a replay key recorded with the same envelope hash answers :class:`Recorded` (a recorded
  failure too: the outcome JSON is whatever the host stored);
* one recorded (or running) with another hash answers :class:`Diverged`, with the JSON-path diff;
* a new key answers :class:`Started` (attempt 1);
* a ``running`` row left by an older fencing token is *in doubt* (its owner died between running
  and recording): it answers ``Started(attempt + 1, in_doubt=True)``, and the effect runs again
  under the same replay key, which a handler can offer as an idempotency key.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Final, Protocol, TypeAlias

import attrs

from lash_core import codes
from lash_core.canonical import normalize_json_value
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.errors import LashError, LocalProtocolError, ReplayMismatchError
from lash_core.keys import AwaitEventKey, KeySigner, derive_key_id
from lash_core.process.events import ProcessEvent, ProcessWakeDelivery
from lash_core.process.grants import ProcessHandleGrant
from lash_core.process.leases import ProcessLease
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.process.registry import ProcessRegistry
from lash_core.promise import (
    PromiseMissing,
    PromisePending,
    PromiseResolved,
    PromiseRevoked,
    PromiseState,
)
from lash_core.replay import EnvelopeDiff, envelope_diff, validate_replayed_effect_envelope
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Resolution,
    ResolutionCancelled,
    ResolutionErr,
    ResolutionOk,
    ResolutionTimeout,
    ResolveOutcome,
)
from lash_core.scope import ExecutionScope, TurnCancelGate, TurnTerminal, WaitIdentity
from lash_core.wire import canonical_json, from_json

__all__ = [
    "BeginResult",
    "Diverged",
    "DurableStore",
    "EffectState",
    "EffectStatus",
    "EnvelopeParts",
    "Lease",
    "LeaseState",
    "Owner",
    "ProcessRows",
    "Recorded",
    "Started",
    "TurnRef",
    "TurnRow",
    "TurnStatus",
    "abandon_allowed",
    "abandoned_gate_id",
    "acquire_transition",
    "begin_transition",
    "check_fence",
    "check_lease_covers",
    "check_now",
    "check_resolution",
    "check_session_id",
    "complete_transition",
    "diverge_turn_transition",
    "ended_wait_proposal",
    "envelope_replay_key",
    "envelope_session_id",
    "finish_turn_transition",
    "join_envelope",
    "key_is_authentic",
    "message_chain",
    "open_turn_transition",
    "promise_state",
    "release_transition",
    "renew_transition",
    "resolution_from_json",
    "resolution_to_json",
    "revoked_error",
    "revoked_mint_error",
    "split_envelope",
    "text_hash",
]


def _blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


def check_now(now_ms: object, name: str = "now_ms") -> int:
    """``now_ms`` if it is a non-negative whole number of milliseconds, else ``lease_invalid``."""
    if type(now_ms) is not int or now_ms < 0:
        raise LocalProtocolError(
            codes.LEASE_INVALID,
            f"{name} is a non-negative whole number of milliseconds (got {now_ms!r})",
        )
    return now_ms


# -- leases ----------------------------------------------------------------------------------


@attrs.frozen
class Owner:
    """Who holds a lease: a stable ``name`` (``api-1``) and the ``incarnation`` of the process
    (a fresh id per process start, so a restarted process is a new holder)."""

    name: str
    incarnation: str = ""


@attrs.frozen
class Lease:
    """The right of ``owner`` to write a session's journal and turns until ``expires_ms``.

    ``fencing_token`` grows by one with every new holder, never on renewal; a write presenting
    an older token is refused (``lease_lost``).
    """

    session_id: str
    owner: Owner
    fencing_token: int
    expires_ms: int


@attrs.frozen
class LeaseState:
    """What a store keeps per session: the current holder (``None`` once released or never
    held), the last fencing token issued (0: none yet) and the current lease's expiry."""

    holder: Owner | None
    fencing_token: int
    expires_ms: int


_NO_LEASE: Final = LeaseState(None, 0, 0)


def _check_lease_request(session_id: object, owner: object, ttl_ms: object, now_ms: object) -> None:
    if _blank(session_id):
        raise LocalProtocolError(codes.LEASE_INVALID, "a session id must not be blank")
    if type(owner) is not Owner or _blank(owner.name) or not isinstance(owner.incarnation, str):
        raise LocalProtocolError(
            codes.LEASE_INVALID, f"a lease owner is an Owner with a non-blank name (got {owner!r})"
        )
    check_now(ttl_ms, "ttl_ms")
    check_now(now_ms)


def acquire_transition(
    session_id: str,
    state: LeaseState | None,
    owner: Owner,
    ttl_ms: int,
    now_ms: int,
    *,
    holder_dead: bool = False,
) -> Lease:
    """The lease ``owner`` gets on ``session_id`` (the store then writes it).

    No live lease (none, released, or expired at ``now_ms``): a new lease with the next fencing
    token. The live holder acquiring again: the same token, its expiry pushed to
    ``now_ms + ttl_ms`` if later. Another owner while the lease is live: ``lease_held``, unless
    the store proved the holder dead (``holder_dead``: its process is gone), when the lease is
    taken over at once with the next token.
    """
    _check_lease_request(session_id, owner, ttl_ms, now_ms)
    current = _NO_LEASE if state is None else state
    if (
        current.holder is None
        or now_ms >= current.expires_ms
        or (holder_dead and current.holder != owner)
    ):
        return Lease(session_id, owner, current.fencing_token + 1, now_ms + ttl_ms)
    if current.holder != owner:
        raise LashError(
            codes.LEASE_HELD,
            f"session {session_id!r} is leased to {current.holder.name!r} until "
            f"{current.expires_ms} (now {now_ms}); acquire it after that",
        )
    return Lease(session_id, owner, current.fencing_token, max(current.expires_ms, now_ms + ttl_ms))


def check_fence(state: LeaseState | None, lease: Lease, now_ms: int, what: str) -> None:
    """Refuse (``lease_lost``) a write under ``lease`` unless it is the session's current,
    unexpired lease at ``now_ms``."""
    if type(lease) is not Lease:
        raise LocalProtocolError(
            codes.LEASE_INVALID, f"expected a Lease, got {type(lease).__name__}"
        )
    check_now(now_ms)
    current = _NO_LEASE if state is None else state
    if current.holder != lease.owner or current.fencing_token != lease.fencing_token:
        raise LashError(
            codes.LEASE_LOST,
            f"cannot {what}: the lease of {lease.owner.name!r} (fence {lease.fencing_token}) on "
            f"session {lease.session_id!r} is no longer current (fence now "
            f"{current.fencing_token})",
        )
    if now_ms >= current.expires_ms:
        raise LashError(
            codes.LEASE_LOST,
            f"cannot {what}: the lease of {lease.owner.name!r} on session "
            f"{lease.session_id!r} expired at {current.expires_ms} (now {now_ms})",
        )


def renew_transition(state: LeaseState | None, lease: Lease, ttl_ms: int, now_ms: int) -> Lease:
    """The renewed lease (same token, expiry ``now_ms + ttl_ms``); ``lease_lost`` if ``lease``
    is not current or has expired."""
    check_now(ttl_ms, "ttl_ms")
    check_fence(state, lease, now_ms, "renew")
    return attrs.evolve(lease, expires_ms=now_ms + ttl_ms)


def release_transition(state: LeaseState | None, lease: Lease) -> bool:
    """Whether releasing ``lease`` changes anything (only the current holder's lease does)."""
    if state is None or type(lease) is not Lease:
        return False
    return state.holder == lease.owner and state.fencing_token == lease.fencing_token


# -- the journal -----------------------------------------------------------------------------


class EffectStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


@attrs.frozen
class EffectState:
    """A stored effect row, as the rules see it."""

    status: EffectStatus
    envelope_hash: str
    attempt: int
    fencing_token: int
    outcome_json: str | None = None
    due_at_ms: int | None = None


@attrs.frozen
class Recorded:
    """The effect is recorded: use ``outcome_json`` (whatever the host stored, a failure
    included) and run nothing."""

    outcome_json: str
    attempt: int


@attrs.frozen
class Diverged:
    """The replay key was recorded with another envelope: the code changed between the run and
    its replay. Terminal: never run or retry it. ``diff`` names the divergent JSON paths."""

    recorded: CanonicalEnvelope
    reconstructed: CanonicalEnvelope

    @property
    def diff(self) -> EnvelopeDiff:
        return envelope_diff(self.recorded, self.reconstructed)

    def error(self) -> ReplayMismatchError:
        """The :class:`~lash_core.errors.ReplayMismatchError` a host raises for this."""
        try:
            validate_replayed_effect_envelope(self.recorded, self.reconstructed)
        except ReplayMismatchError as exc:
            return exc
        raise LashError(  # pragma: no cover - a Diverged always holds two different envelopes
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT,
            "a divergence between two identical envelopes",
        )


@attrs.frozen
class Started:
    """Run the effect now (``attempt`` from 1). ``in_doubt``: an earlier attempt may have run
    its side effect without being recorded (its owner died); the replay key is the same on every
    attempt, so offer it as an idempotency key. ``due_at_ms`` is the first attempt's (a sleep
    resumes to its original due time)."""

    attempt: int
    in_doubt: bool
    due_at_ms: int | None = None


BeginResult: TypeAlias = Recorded | Diverged | Started


@attrs.frozen
class _Diverge:
    """The rule's verdict before the store loads the recorded envelope."""


DIVERGE: Final = _Diverge()


def begin_transition(
    row: EffectState | None, envelope_hash: str, fencing_token: int, due_at_ms: int | None
) -> Recorded | Started | _Diverge:
    """What :meth:`DurableStore.begin` answers, given the stored row (fence already checked).

    ``Started`` means the store writes (or rewrites) the row as running under
    ``fencing_token`` with that attempt; the other answers write nothing.
    """
    if row is None:
        return Started(1, False, due_at_ms)
    if row.envelope_hash != envelope_hash:
        return DIVERGE
    if row.status is EffectStatus.COMPLETED:
        assert row.outcome_json is not None
        return Recorded(row.outcome_json, row.attempt)
    if row.status is EffectStatus.RUNNING:
        if row.fencing_token >= fencing_token:
            raise LocalProtocolError(
                codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT,
                "an effect with this replay key is already running under this lease",
            )
        return Started(row.attempt + 1, True, row.due_at_ms)
    return Started(row.attempt + 1, False, row.due_at_ms)


def complete_transition(row: EffectState | None, outcome_json: str, fencing_token: int) -> bool:
    """Whether :meth:`DurableStore.complete` writes (``False``: the same outcome is already
    recorded). Refuses a key with no running row (``store_effect_not_started``), another
    outcome for a recorded key (``effect_journal_entry_exists``), and a row another holder
    began again since (``lease_lost``)."""
    if row is None or row.status is EffectStatus.ABANDONED:
        raise LocalProtocolError(
            codes.STORE_EFFECT_NOT_STARTED,
            "no running effect under this replay key: call begin first",
        )
    if row.status is EffectStatus.COMPLETED:
        if row.outcome_json == outcome_json:
            return False
        raise LocalProtocolError(
            codes.EFFECT_JOURNAL_ENTRY_EXISTS,
            "this replay key is already recorded with another outcome",
        )
    if row.fencing_token != fencing_token:
        raise LashError(
            codes.LEASE_LOST,
            f"the effect was begun again under fence {row.fencing_token}; this lease "
            f"(fence {fencing_token}) may not complete it",
        )
    return True


def abandon_allowed(row: EffectState | None, fencing_token: int) -> bool:
    """Whether :meth:`DurableStore.abandon` marks the row abandoned (only a running row of
    this fence is)."""
    return (
        row is not None
        and row.status is EffectStatus.RUNNING
        and row.fencing_token == fencing_token
    )


def _envelope_field(json_text: str, *path: str) -> object:
    try:
        value: object = json.loads(json_text)
    except ValueError:
        raise LocalProtocolError(
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE, "the canonical envelope is not JSON"
        ) from None
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def envelope_replay_key(envelope: CanonicalEnvelope) -> str:
    """The replay key of a canonical envelope (``runtime_effect_replay_required`` if none)."""
    key = _envelope_field(envelope.json, "invocation", "replay", "key")
    if not isinstance(key, str) or not key:
        raise LocalProtocolError(
            codes.RUNTIME_EFFECT_REPLAY_REQUIRED, "a journaled effect requires replay.key"
        )
    return key


def envelope_session_id(envelope: CanonicalEnvelope) -> str | None:
    """The session id in a canonical envelope's scope, if it has one."""
    value = _envelope_field(envelope.json, "invocation", "scope", "session_id")
    return value if isinstance(value, str) else None


# -- turns -----------------------------------------------------------------------------------


@attrs.frozen
class TurnRef:
    """Names a turn in a store."""

    session_id: str
    turn_id: str


class TurnStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    DIVERGED = "diverged"


@attrs.frozen
class TurnRow:
    """A stored turn: how it started, and its result or divergence once known."""

    ref: TurnRef
    status: TurnStatus
    start_json: str
    result_json: str | None = None
    divergence_json: str | None = None


def text_hash(text: str) -> str:
    """Lowercase hex SHA-256 of ``text``'s UTF-8 bytes (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# -- content-addressed envelopes ---------------------------------------------------------------

_STRUCTURAL: Final = re.compile(r'["{}\[\]]')


def _string_end(text: str, i: int) -> int:
    """The index after the JSON string starting at ``text[i] == '"'``."""
    i += 1
    while True:
        j = text.index('"', i)
        k = j - 1
        while text[k] == "\\":
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        i = j + 1


def _value_end(text: str, i: int) -> int:
    """The index after the compact JSON value starting at ``i``."""
    c = text[i]
    if c == '"':
        return _string_end(text, i)
    if c in "{[":
        depth = 0
        search = _STRUCTURAL.search
        while True:
            match = search(text, i)
            if match is None:
                raise ValueError("unbalanced JSON")
            i = match.start()
            c = text[i]
            if c == '"':
                i = _string_end(text, i)
                continue
            depth += 1 if c in "{[" else -1
            i += 1
            if depth == 0:
                return i
    j = i
    while j < len(text) and text[j] not in ",]}":
        j += 1
    return j


def _members(text: str, i: int) -> dict[str, tuple[int, int]]:
    """The members of the compact JSON object at ``i``: key -> (value start, value end)."""
    if text[i] != "{":
        raise ValueError("not an object")
    out: dict[str, tuple[int, int]] = {}
    i += 1
    if text[i] == "}":
        return out
    while True:
        key_end = _string_end(text, i)
        key = json.loads(text[i:key_end])
        if text[key_end] != ":":
            raise ValueError("not compact JSON")
        start = key_end + 1
        end = _value_end(text, start)
        out[key] = (start, end)
        if text[end] == "}":
            return out
        if text[end] != ",":
            raise ValueError("not compact JSON")
        i = end + 1


def _elements(text: str, i: int, end: int) -> list[str]:
    """The element texts of the compact JSON array spanning ``text[i:end]``."""
    if text[i] != "[":
        raise ValueError("not an array")
    out: list[str] = []
    i += 1
    if text[i] == "]":
        return out
    while True:
        e = _value_end(text, i)
        out.append(text[i:e])
        if e >= end - 1:
            return out
        if text[e] != ",":
            raise ValueError("not compact JSON")
        i = e + 1


@attrs.frozen
class EnvelopeParts:
    """A canonical envelope cut into a small ``skeleton`` and its big, repeated parts.

    ``blobs`` are the cut-out values stored once each by hash (a model request's ``system``
    and ``tools``); ``messages`` are the request's messages (stored as a hash chain, so a
    request repeating the whole history adds only its new messages). ``skeleton`` is canonical
    JSON ``{"holes": [[offset, "blob", hash] | [offset, "messages", count]], "text": ...}``.
    """

    skeleton: str
    blobs: tuple[tuple[str, str], ...]
    messages: tuple[str, ...]


def message_chain(messages: Sequence[str]) -> list[tuple[str, str, str]]:
    """The hash chain of a message list: ``(node, previous node, message hash)`` for each
    message in order (the first's previous node is ``""``). A list extending another shares
    its nodes."""
    out: list[tuple[str, str, str]] = []
    previous = ""
    for message in messages:
        digest = text_hash(message)
        node = text_hash(f"{previous}:{digest}")
        out.append((node, previous, digest))
        previous = node
    return out


_REQUEST_HOLES: Final = ("system", "tools", "messages")


def split_envelope(json_text: str) -> EnvelopeParts:
    """Cut a canonical envelope into :class:`EnvelopeParts` (an envelope without a model
    request is all skeleton). :func:`join_envelope` puts it back byte for byte."""
    holes: list[tuple[int, int, str]] = []
    try:
        top = _members(json_text, 0)
        command = top.get("command")
        if command is not None:
            request = _members(json_text, command[0]).get("request")
            if request is not None and json_text[request[0]] == "{":
                members = _members(json_text, request[0])
                for name in _REQUEST_HOLES:
                    if name in members:
                        start, end = members[name]
                        holes.append((start, end, name))
    except (ValueError, IndexError):
        holes = []
    holes.sort()
    cut: list[str] = []
    refs: list[list[object]] = []
    blobs: list[tuple[str, str]] = []
    messages: tuple[str, ...] = ()
    position = 0
    offset = 0
    for start, end, name in holes:
        cut.append(json_text[position:start])
        offset += start - position
        value = json_text[start:end]
        if name == "messages" and value.startswith("["):
            messages = tuple(_elements(json_text, start, end))
            refs.append([offset, "messages", len(messages)])
        else:
            digest = text_hash(value)
            blobs.append((digest, value))
            refs.append([offset, "blob", digest])
        position = end
    cut.append(json_text[position:])
    skeleton = json.dumps(
        {"holes": refs, "text": "".join(cut)}, ensure_ascii=False, separators=(",", ":")
    )
    return EnvelopeParts(skeleton, tuple(blobs), messages)


def join_envelope(skeleton: str, blobs: dict[str, str], messages: Sequence[str]) -> str:
    """The envelope JSON a skeleton was cut from, given its blobs by hash and its messages
    (``store_corrupt`` if a part is missing)."""
    try:
        data = json.loads(skeleton)
        text: str = data["text"]
        out: list[str] = []
        position = 0
        for hole in data["holes"]:
            offset = hole[0]
            out.append(text[position:offset])
            if hole[1] == "messages":
                if len(messages) != hole[2]:
                    raise KeyError("messages")
                out.append("[" + ",".join(messages) + "]")
            else:
                out.append(blobs[hole[2]])
            position = offset
        out.append(text[position:])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LashError(
            codes.STORE_CORRUPT, f"a stored envelope skeleton does not join: {exc!r}"
        ) from None
    return "".join(out)


# -- the protocol ----------------------------------------------------------------------------


class DurableStore(Protocol):
    """What a durable host needs from storage (synchronous; a driver calls it from one thread).

    Await-event operations need no lease and work from any process (a webhook needs no host).
    Journal and turn writes are fenced by the session lease in the same transaction.
    """

    # keys and await events
    def signer(self) -> KeySigner: ...

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey: ...

    def park(
        self,
        key: AwaitEventKey,
        doorbell: str | None = None,
        deadline_ms: int | None = None,
    ) -> Resolution | None: ...

    def unpark(self, key: AwaitEventKey, doorbell: str) -> None: ...

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome: ...

    def peek(self, key: AwaitEventKey) -> Resolution | None: ...

    def deadline_ms(self, key: AwaitEventKey) -> int | None: ...

    def expire(self, key: AwaitEventKey, now_ms: int) -> Resolution | None: ...

    def cancel_wait(self, key: AwaitEventKey) -> Resolution: ...

    def cancel_session(self, session_id: str) -> int: ...

    def revoke_session(self, session_id: str) -> bool: ...

    def is_revoked(self, session_id: str) -> bool: ...

    # leases
    def acquire(self, session_id: str, owner: Owner, ttl_ms: int, now_ms: int) -> Lease: ...

    def renew(self, lease: Lease, ttl_ms: int, now_ms: int) -> Lease: ...

    def release(self, lease: Lease) -> bool: ...

    # the journal
    def begin(
        self,
        lease: Lease,
        envelope: CanonicalEnvelope,
        now_ms: int,
        due_at_ms: int | None = None,
    ) -> BeginResult: ...

    def complete(self, lease: Lease, replay_key: str, outcome_json: str, now_ms: int) -> None: ...

    def complete_many(
        self, lease: Lease, outcomes: Sequence[tuple[str, str]], now_ms: int
    ) -> None: ...

    def abandon(self, lease: Lease, replay_key: str, now_ms: int) -> bool: ...

    def recorded_envelope(self, session_id: str, replay_key: str) -> CanonicalEnvelope | None: ...

    # turns
    def open_turn(self, lease: Lease, turn_id: str, start_json: str, now_ms: int) -> TurnRow: ...

    def finish_turn(self, lease: Lease, ref: TurnRef, result_json: str, now_ms: int) -> None: ...

    def mark_diverged(self, lease: Lease, ref: TurnRef, diff_json: str, now_ms: int) -> None: ...

    def turn(self, ref: TurnRef) -> TurnRow | None: ...

    def unfinished_turns(self) -> list[TurnRef]: ...

    # the process registry
    def save_process_rows(self, rows: ProcessRows) -> None: ...

    def process_rows(self) -> ProcessRows: ...

    # change detection
    def data_version(self) -> int: ...


# -- turn rules ------------------------------------------------------------------------------


def open_turn_transition(existing: TurnRow | None, ref: TurnRef, start_json: str) -> TurnRow:
    """The turn row :meth:`DurableStore.open_turn` answers (write it if ``existing`` is
    ``None``). Opening again with the same start is harmless; another start is
    ``store_turn_conflict``."""
    if _blank(ref.turn_id) or not isinstance(start_json, str):
        raise LocalProtocolError(
            codes.STORE_TURN_UNKNOWN, "a turn needs a non-blank turn id and a start JSON string"
        )
    if existing is None:
        return TurnRow(ref, TurnStatus.RUNNING, start_json)
    if existing.start_json != start_json:
        raise LashError(
            codes.STORE_TURN_CONFLICT,
            f"turn {ref.turn_id!r} of session {ref.session_id!r} was opened with another start",
        )
    return existing


def _unknown_turn(ref: TurnRef) -> LocalProtocolError:
    return LocalProtocolError(
        codes.STORE_TURN_UNKNOWN,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} was never opened",
    )


def finish_turn_transition(existing: TurnRow | None, ref: TurnRef, result_json: str) -> bool:
    """Whether :meth:`DurableStore.finish_turn` writes: finishing again with the same result
    (compared by hash) is harmless; another result, or a diverged turn, is
    ``store_turn_conflict``."""
    if existing is None:
        raise _unknown_turn(ref)
    if existing.status is TurnStatus.RUNNING:
        return True
    if (
        existing.status is TurnStatus.FINISHED
        and existing.result_json is not None
        and text_hash(existing.result_json) == text_hash(result_json)
    ):
        return False
    raise LashError(
        codes.STORE_TURN_CONFLICT,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} is already {existing.status.value}"
        " with another result",
    )


def diverge_turn_transition(existing: TurnRow | None, ref: TurnRef) -> bool:
    """Whether :meth:`DurableStore.mark_diverged` writes (the first divergence is kept; a
    finished turn cannot diverge: ``store_turn_conflict``)."""
    if existing is None:
        raise _unknown_turn(ref)
    if existing.status is TurnStatus.RUNNING:
        return True
    if existing.status is TurnStatus.DIVERGED:
        return False
    raise LashError(
        codes.STORE_TURN_CONFLICT,
        f"turn {ref.turn_id!r} of session {ref.session_id!r} is finished; it cannot diverge",
    )


# -- await-event rules for stores ------------------------------------------------------------


def abandoned_gate_id(key: AwaitEventKey) -> str | None:
    """When ``key`` is a turn's terminal: the key id of that turn's cancel gate, whose parked
    waiters a store wakes when the terminal is published while the gate is still pending (the
    in-memory registry wakes them with ``turn_control_wait_abandoned``). Otherwise ``None``."""
    if type(key.wait) is not TurnTerminal:
        return None
    return derive_key_id(key.scope, TurnCancelGate())


def key_is_authentic(signer: KeySigner, key: object) -> bool:
    """Whether ``key`` is a well-formed key one of ``signer``'s secrets signed (HMAC, compared
    in constant time). Never raises."""
    if type(key) is not AwaitEventKey or type(key.key_id) is not str:
        return False
    try:
        return signer.verify(key)
    except Exception:
        return False


def revoked_error() -> LashError:
    return LashError(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        "await-event key is unknown, does not match its promise, or its session was revoked",
    )


def promise_state(revoked: bool, exists: bool, terminal: Resolution | None) -> PromiseState:
    """The :mod:`lash_core.promise` state of a stored promise row."""
    if revoked:
        return PromiseRevoked()
    if not exists:
        return PromiseMissing()
    if terminal is None:
        return PromisePending()
    return PromiseResolved(terminal)


def ended_wait_proposal(key: AwaitEventKey, cancelled: bool) -> Resolution:
    """What a wait ended by cancellation or its deadline proposes: ``cancelled``/``timeout``.
    A turn-control wait writes nothing and raises ``turn_control_wait_cancelled``/
    ``turn_control_wait_timeout`` instead (as the in-memory registry does)."""
    if key.wait.is_turn_control:
        if cancelled:
            raise LashError(
                codes.TURN_CONTROL_WAIT_CANCELLED,
                "turn-control wait was cancelled; the key was not written",
            )
        raise LashError(
            codes.TURN_CONTROL_WAIT_TIMEOUT,
            "turn-control wait reached its deadline; the key was not written",
        )
    return CANCELLED if cancelled else TIMEOUT


def resolution_to_json(resolution: Resolution) -> str:
    return canonical_json(resolution)


def resolution_from_json(text: str) -> Resolution:
    try:
        decoded: Resolution = from_json(text, Resolution)
        return decoded
    except LashError as exc:
        raise LashError(codes.STORE_CORRUPT, f"a stored terminal does not decode: {exc}") from None


def check_resolution(resolution: object) -> Resolution:
    """``resolution`` if it is one (an ok payload normalised to JSON values), else
    ``await_event_invalid_resolution`` (as the in-memory registry checks it)."""
    if isinstance(resolution, ResolutionTimeout | ResolutionCancelled | ResolutionErr):
        return resolution
    if isinstance(resolution, ResolutionOk):
        try:
            payload = normalize_json_value(resolution.payload)
        except ValueError as exc:
            raise LocalProtocolError(
                codes.AWAIT_EVENT_INVALID_RESOLUTION, f"ok payload is not JSON: {exc}"
            ) from None
        return resolution if payload is resolution.payload else ResolutionOk(payload)
    raise LocalProtocolError(
        codes.AWAIT_EVENT_INVALID_RESOLUTION,
        f"expected a Resolution (ok, err, timeout or cancelled), got {type(resolution).__name__}",
    )


def check_session_id(session_id: object) -> str:
    """``session_id`` if it is a non-blank string, else ``invalid_await_event_session_id``."""
    if not isinstance(session_id, str) or not session_id.strip():
        raise LocalProtocolError(
            codes.INVALID_AWAIT_EVENT_SESSION_ID, "session ids must be non-empty strings"
        )
    return session_id


def revoked_mint_error(session_id: str | None) -> LashError:
    return LashError(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        f"session {session_id!r} was revoked: no keys are minted for it",
    )


def check_lease_covers(lease: Lease, session_id: str | None) -> None:
    """Refuse (``lease_invalid``, nothing written) a write under ``lease`` that names another
    session (a turn of another session, an envelope scoped to another session)."""
    if session_id is not None and session_id != lease.session_id:
        raise LocalProtocolError(
            codes.LEASE_INVALID,
            f"a lease on session {lease.session_id!r} cannot write for session {session_id!r}",
        )


# -- the process registry --------------------------------------------------------------------


@attrs.frozen
class ProcessRows:
    """The durable rows of a :class:`~lash_core.process.ProcessRegistry`, in the shape
    :meth:`~lash_core.process.ProcessRegistry.restore` takes them: records, events in log order,
    ``(scope, grant)`` pairs, pending wake deliveries in delivery order, acknowledged wake ids,
    current leases, and ``(process id, sequence)`` of acknowledged wake events.

    :meth:`DurableStore.save_process_rows` upserts them (a record, grant or lease replaces the
    stored one with its key; an event, a wake or an acknowledgement is written once);
    :meth:`DurableStore.process_rows` reads them all back.
    """

    records: tuple[ProcessRecord, ...] = ()
    events: tuple[ProcessEvent, ...] = ()
    grants: tuple[tuple[SessionScope, ProcessHandleGrant], ...] = ()
    pending_wakes: tuple[ProcessWakeDelivery, ...] = ()
    acknowledged_wakes: tuple[str, ...] = ()
    leases: tuple[ProcessLease, ...] = ()
    acknowledged_wake_events: tuple[tuple[str, int], ...] = ()

    def restore(self) -> ProcessRegistry:
        """The registry these rows describe."""
        return ProcessRegistry.restore(
            self.records,
            self.events,
            self.grants,
            self.pending_wakes,
            self.acknowledged_wakes,
            self.leases,
            self.acknowledged_wake_events,
        )
