"""Oracles: properties every simulated world must satisfy, judged from its trace alone.

Each oracle reads the plain JSON records a :class:`~lash_core.sim.world.Recorder` wrote (what the
handlers were asked, what each effect was answered, what each resolver got back, each turn's
events and result) and returns the violations it finds. None of them looks inside the registry,
the host or the turn machine, so a defect anywhere in the core shows up as a broken promise here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, Final

import attrs

from lash_core import codes

__all__ = ["ORACLES", "Oracle", "Trace", "Violation", "check_all"]

Records = list[dict[str, Any]]


@attrs.frozen
class Violation:
    """An oracle's finding: which oracle, and what it saw."""

    oracle: str
    message: str


@attrs.frozen
class Trace:
    """A trace as the oracles read it: every record in order, and each turn's records."""

    records: Records
    turns: dict[tuple[str, str], Records]

    @classmethod
    def of(cls, records: Records) -> Trace:
        return cls(records, _by_turn(records))


@attrs.frozen
class Oracle:
    name: str
    doc: str
    check: Callable[[Trace], Iterator[str]]


ORACLES: list[Oracle] = []


def oracle(fn: Callable[[Trace], Iterator[str]]) -> Callable[[Trace], Iterator[str]]:
    ORACLES.append(Oracle(fn.__name__, (fn.__doc__ or "").strip(), fn))
    return fn


def _turn(record: dict[str, Any]) -> tuple[str, str]:
    return record["session"], record["turn"]


def _by_turn(records: Records) -> dict[tuple[str, str], Records]:
    turns: dict[tuple[str, str], Records] = {}
    for record in records:
        if "turn" in record:
            turns.setdefault(_turn(record), []).append(record)
    return turns


_REVOKED: Final = codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED


def _await_terminal(outcome: dict[str, Any]) -> Any:
    """The terminal an ``await_event`` outcome observed (``None`` if it observed none: the
    session was revoked under it)."""
    resolution = outcome.get("resolution")
    if not isinstance(resolution, dict):
        return None
    payload = resolution.get("payload")
    revoked = isinstance(payload, dict) and payload.get("code") == _REVOKED
    if resolution.get("status") == "err" and revoked:
        return None
    return resolution


@oracle
def one_terminal_per_key(trace: Trace) -> Iterator[str]:
    """A key is written once: at most one resolve is accepted, every later resolve is answered
    ``already_resolved`` with that same terminal, and the turn's wait saw that terminal."""
    seen: dict[tuple[str, str, str], Any] = {}
    accepted: dict[tuple[str, str, str], int] = {}
    for record in trace.records:
        ev = record["ev"]
        if ev == "resolve" and record["how"] not in ("forged", "tampered"):
            key = (record["session"], record["turn"], record["call"])
            outcome = record["outcome"]
            status = outcome["status"]
            terminal: Any = None
            if status == "accepted":
                accepted[key] = accepted.get(key, 0) + 1
                if accepted[key] > 1:
                    yield f"key {key} accepted {accepted[key]} resolutions"
                terminal = record["resolution"]
            elif status == "already_resolved":
                terminal = outcome["terminal"]
            if terminal is not None:
                first = seen.setdefault(key, terminal)
                if first != terminal:
                    yield f"key {key} has two terminals: {first} then {terminal}"
        elif ev == "effect" and record["kind"] == "await_event":
            terminal = _await_terminal(record["outcome"])
            key = (record["session"], record["turn"], record["call"])
            if terminal is not None:
                first = seen.setdefault(key, terminal)
                if first != terminal:
                    yield f"the wait on {key} saw {terminal}, the key holds {first}"


@oracle
def every_effect_answered_once(trace: Trace) -> Iterator[str]:
    """Every envelope a turn hands out is run by its handler at most once and answered exactly
    once (at most once if the turn was cancelled), and nothing is answered that was not handed
    out. In a durable world a crash cuts a turn's run short: each run up to a ``resume`` is
    judged as a cancelled one, and the resumed run hands its envelopes out afresh (an
    effect cut off between running and being answered may run again: see
    :func:`no_recorded_effect_reruns`)."""
    for where, rs in trace.turns.items():
        emitted: dict[str, int] = {}
        answered: dict[str, int] = {}
        ran: set[str] = set()
        cancelled = False
        for record in rs:
            if record["ev"] == "resume":
                yield from _answered_once(where, emitted, answered, True)
                ran -= {key for key in ran if key not in answered}
                emitted, answered = {}, {}
            elif record["ev"] == "emit":
                for key in record["keys"]:
                    emitted[key] = emitted.get(key, 0) + 1
            elif record["ev"] == "handler":
                if record["key"] in ran:
                    yield f"{where}: {record['key']} ran its handler twice"
                ran.add(record["key"])
            elif record["ev"] == "effect":
                answered[record["key"]] = answered.get(record["key"], 0) + 1
            elif record["ev"] == "turn_end":
                outcome = record["result"]["outcome"]
                cancelled = outcome.get("reason") == "cancelled"
            elif record["ev"] == "turn_failed":
                cancelled = True  # its running effects were abandoned
        yield from _answered_once(where, emitted, answered, cancelled)


def _answered_once(
    where: tuple[str, str], emitted: dict[str, int], answered: dict[str, int], cancelled: bool
) -> Iterator[str]:
    for key, times in emitted.items():
        if times > 1:
            yield f"{where}: {key} handed out {times} times"
        got = answered.get(key, 0)
        if got > 1 or (got == 0 and not cancelled):
            yield f"{where}: {key} answered {got} times"
    for key in answered:
        if key not in emitted:
            yield f"{where}: {key} answered but never handed out"


@oracle
def nothing_after_the_terminal(trace: Trace) -> Iterator[str]:
    """Once a turn has its result, no handler runs, no envelope is handed out and no effect is
    answered for it; every turn that started ends."""
    for where, rs in trace.turns.items():
        ended = False
        for record in rs:
            if ended and record["ev"] in ("handler", "emit", "effect", "event"):
                yield f"{where}: {record['ev']} at {record['at']} after the turn's result"
            if record["ev"] in ("turn_end", "turn_failed"):
                if ended:
                    yield f"{where}: two results"
                ended = True
        started = any(r["ev"] == "turn_start" for r in rs)
        if started and not ended:
            yield f"{where}: started and never ended"


def _tool_messages(messages: list[Any]) -> Iterator[tuple[list[str], list[str]]]:
    """(call ids of an assistant message, call ids of the tool message after it)."""
    for before, message in itertools.pairwise(messages):
        if message.get("role") == "tool":
            calls = [p["call_id"] for p in before.get("parts", []) if p.get("type") == "tool_call"]
            results = [p["call_id"] for p in message.get("parts", [])]
            yield calls, results


@oracle
def tool_results_in_call_order(trace: Trace) -> Iterator[str]:
    """Tool results reach the conversation and the event stream in the order the model called
    the tools, whatever order they finished in (a resumed turn's stream starts afresh)."""
    for where, rs in trace.turns.items():
        started: list[str] = []
        finished: list[str] = []
        for record in rs:
            if record["ev"] == "resume":
                if finished != started[: len(finished)]:
                    yield f"{where}: tools started {started} but finished {finished}"
                started, finished = [], []
            elif record["ev"] == "event":
                event = record["event"]
                if event["type"] == "tool_call_started":
                    started.append(event["call_id"])
                elif event["type"] == "tool_call_finished":
                    finished.append(event["call_id"])
            elif record["ev"] == "turn_end":
                for calls, results in _tool_messages(record["result"]["messages"]):
                    if calls != results:
                        yield f"{where}: calls {calls} got results in order {results}"
        if finished != started[: len(finished)]:
            yield f"{where}: tools started {started} but finished {finished}"


def _usage_sum(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}


def _non_zero(usage: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in usage.items() if v}


@oracle
def usage_never_decreases(trace: Trace) -> Iterator[str]:
    """A turn's cumulative usage only grows, is the sum of its model calls' usage, and is the
    usage of its result (a resumed turn's stream starts afresh, replaying its usage)."""
    for where, rs in trace.turns.items():
        total: dict[str, int] = {}
        for record in rs:
            if record["ev"] == "resume":
                total = {}
            elif record["ev"] == "event" and record["event"]["type"] == "usage":
                event = record["event"]
                new_total = _non_zero(_usage_sum(total, event["usage"]))
                reported = _non_zero(event["total"])
                if reported != new_total:
                    yield f"{where}: usage total {reported}, expected {new_total}"
                if any(reported.get(k, 0) < v for k, v in total.items()):
                    yield f"{where}: usage went down from {total} to {reported}"
                total = reported
            elif record["ev"] == "turn_end":
                final = _non_zero(record["result"]["usage"])
                if final != total:
                    yield f"{where}: result usage {final}, the calls add up to {total}"


def _sessions_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            if key == "session" and isinstance(item, str):
                yield item
            elif key == "text" and isinstance(item, str) and " from " in item:
                yield item.split(" from ", 1)[1].split("/", 1)[0]
            else:
                yield from _sessions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _sessions_in(item)


@oracle
def sessions_stay_apart(trace: Trace) -> Iterator[str]:
    """Nothing from one session (tool outputs, completions, answers) appears in another
    session's events or results."""
    for record in trace.records:
        if record["ev"] in ("event", "turn_end", "effect"):
            body = record.get("event", record.get("result", record.get("outcome")))
            for other in _sessions_in(body):
                if other != record["session"]:
                    yield f"{_turn(record)}: {record['ev']} carries output of session {other}"


@oracle
def forged_keys_change_nothing(trace: Trace) -> Iterator[str]:
    """A forged or tampered key is refused (``unknown_or_revoked``) and leaves the real key's
    state as it was."""
    for record in trace.records:
        if record["ev"] == "resolve" and record["how"] in ("forged", "tampered"):
            where = (record["session"], record["turn"], record["call"])
            if record["outcome"] != {"status": "unknown_or_revoked"}:
                yield f"{where}: a {record['how']} key got {record['outcome']}"
            if record["before"] != record["after"]:
                change = f"{record['before']} to {record['after']}"
                yield f"{where}: a {record['how']} key changed {change}"


@oracle
def revocation_is_final(trace: Trace) -> Iterator[str]:
    """Once a session is revoked, every resolve of its keys is refused
    (``unknown_or_revoked``)."""
    revoked: set[str] = set()
    for record in trace.records:
        if record["ev"] == "revoke":
            revoked.add(record["session"])
        elif record["ev"] == "resolve" and record["session"] in revoked:
            outcome = record["outcome"]
            where = (record["session"], record["turn"], record["call"])
            if outcome != {"status": "unknown_or_revoked"}:
                yield f"{where}: resolved after its session was revoked: {outcome}"


@oracle
def wake_ups_are_delivered(trace: Trace) -> Iterator[str]:
    """A turn waiting on a key is woken at the instant the key is resolved (not at its
    deadline, not never)."""
    accepted_at: dict[tuple[str, str, str], int] = {}
    for record in trace.records:
        real = record["ev"] == "resolve" and record["how"] not in ("forged", "tampered")
        if real and record["outcome"]["status"] == "accepted":
            accepted_at.setdefault(
                (record["session"], record["turn"], record["call"]), record["at"]
            )
    for where, rs in trace.turns.items():
        emitted_at: dict[str, int] = {}
        for record in rs:
            if record["ev"] == "emit":
                for key in record["keys"]:
                    emitted_at[key] = record["at"]
            elif record["ev"] == "effect" and record["kind"] == "await_event":
                call = record["call"]
                resolved = accepted_at.get((*where, call))
                start = emitted_at.get(record["key"])
                terminal = _await_terminal(record["outcome"])
                if resolved is None or start is None or terminal is None:
                    continue
                if terminal.get("status") == "ok" and start <= resolved < record["at"]:
                    yield (
                        f"{where}: {call} resolved at {resolved} but its wait ended at "
                        f"{record['at']}"
                    )


@oracle
def cancel_is_prompt(trace: Trace) -> Iterator[str]:
    """A cancel requested before a turn's outcome ends the turn as ``cancelled`` at that very
    instant."""
    for where, rs in trace.turns.items():
        asked_at: int | None = None
        for record in rs:
            if record["ev"] == "cancel" and asked_at is None:
                asked_at = record["at"]
            elif record["ev"] == "event" and record["event"]["type"] == "turn_outcome":
                if asked_at is None:
                    break
                reason = record["event"]["outcome"].get("reason")
                if reason != "cancelled" or record["at"] != asked_at:
                    yield (
                        f"{where}: cancel asked at {asked_at}, the turn ended {reason} at "
                        f"{record['at']}"
                    )
                break


@oracle
def cancelled_only_when_asked(trace: Trace) -> Iterator[str]:
    """A turn stops as ``cancelled`` only if a cancel was requested before its result."""
    for where, rs in trace.turns.items():
        asked = False
        for record in rs:
            if record["ev"] == "cancel":
                asked = True
            elif record["ev"] == "turn_end":
                reason = record["result"]["outcome"].get("reason")
                if reason == "cancelled" and not asked:
                    yield f"{where}: stopped as cancelled with no cancel requested"


@oracle
def outcome_agrees_with_the_cancel_gate(trace: Trace) -> Iterator[str]:
    """A turn's outcome agrees with its cancel gate's winner: ``cancelled`` exactly when the
    gate was settled as cancel requested.

    A turn under turn control records, once it has ended, ``{"ev": "gate", "winner": "cancel" |
    "completion"}`` read from its gate's terminal; every such turn is checked.
    """
    for where, rs in trace.turns.items():
        gate: str | None = None
        reason: str | None = None
        for record in rs:
            if record["ev"] == "gate":
                gate = record["winner"]
            elif record["ev"] == "turn_end":
                reason = record["result"]["outcome"].get("reason")
        if gate is not None and (gate == "cancel") != (reason == "cancelled"):
            yield f"{where}: the cancel gate chose {gate} but the turn ended {reason}"


def check_all(records: Records) -> list[Violation]:
    """Every oracle's violations, oracle by oracle."""
    trace = Trace.of(records)
    found = []
    for each in ORACLES:
        for message in each.check(trace):
            found.append(Violation(each.name, message))
    return found


# -- background processes --------------------------------------------------------------------


def _by_process(trace: Trace) -> dict[str, Records]:
    """Each started process's records, in order."""
    processes: dict[str, Records] = {}
    for record in trace.records:
        if "pid" in record:
            processes.setdefault(record["pid"], []).append(record)
    return processes


@oracle
def one_terminal_per_process(trace: Trace) -> Iterator[str]:
    """Every process a turn starts gets exactly one terminal: one terminal event in its log,
    observed once, and every await of it answers that same terminal."""
    for pid, rs in _by_process(trace).items():
        ends = [r["output"] for r in rs if r["ev"] == "process_end"]
        if len(ends) != 1:
            yield f"process {pid} observed {len(ends)} terminals: {ends}"
        for record in rs:
            if record["ev"] == "process_log" and len(record["terminals"]) != 1:
                yield f"process {pid} logged the terminals {record['terminals']}"
            elif record["ev"] == "process_awaited" and ends and record["output"] != ends[0]:
                yield f"an await of {pid} answered {record['output']}, its terminal is {ends[0]}"


@oracle
def signals_resume_waits_in_order(trace: Trace) -> Iterator[str]:
    """The n-th wait of a process for a signal resumes with the payload of the n-th signal of
    that name sent to it, at the instant both the wait and the signal are there (so a signal
    sent before the wait is found at once), unless the process's cancel came first."""
    for pid, rs in _by_process(trace).items():
        sent: dict[str, list[dict[str, Any]]] = {}
        waits: dict[tuple[str, int], int] = {}
        resumed: dict[tuple[str, int], dict[str, Any]] = {}
        cancel_at: int | None = None
        for record in rs:
            ev = record["ev"]
            if ev == "signal":
                sent.setdefault(record["name"], []).append(record)
            elif ev == "process_wait":
                waits[record["name"], record["ordinal"]] = record["at"]
            elif ev == "process_resumed":
                resumed[record["name"], record["ordinal"]] = record
            elif ev == "process_cancel" and cancel_at is None:
                cancel_at = record["at"]
        for (name, ordinal), waited_at in waits.items():
            signals = sent.get(name, [])
            signal = signals[ordinal - 1] if ordinal <= len(signals) else None
            resume = resumed.get((name, ordinal))
            what = f"process {pid}: wait {ordinal} for {name!r}"
            if signal is None:
                if resume is not None:
                    yield f"{what} resumed with {resume['payload']} but no such signal was sent"
                continue
            due = max(waited_at, signal["at"])
            if resume is None:
                if cancel_at is None or cancel_at > due:
                    yield f"{what} never resumed, though its signal was sent at {signal['at']}"
                continue
            if resume["payload"] != signal["payload"]:
                yield f"{what} resumed with {resume['payload']}, sent {signal['payload']}"
            if resume["at"] != due:
                yield f"{what} resumed at {resume['at']}, its signal was there at {due}"


_CANCEL_ENDS: Final = ("cancelled", "success")


@oracle
def cancelled_processes_end_cancelled(trace: Trace) -> Iterator[str]:
    """A process whose cancel is requested while it runs ends at that instant, ``cancelled``
    (or completed, if its function had just returned); a process ends ``cancelled`` only if its
    cancel was requested, and otherwise completes."""
    for pid, rs in _by_process(trace).items():
        asked_at: int | None = None
        for record in rs:
            if record["ev"] == "process_cancel" and record["state"] == "running":
                asked_at = record["at"] if asked_at is None else asked_at
            elif record["ev"] == "process_end":
                end = record["output"]["type"]
                if asked_at is None and end != "success":
                    yield f"process {pid} ended {end} with no cancel requested"
                elif asked_at is not None and end not in _CANCEL_ENDS:
                    yield f"process {pid} was asked to cancel and ended {end}"
                elif asked_at is not None and record["at"] != asked_at:
                    yield f"process {pid} cancelled at {asked_at} ended {end} at {record['at']}"


@oracle
def processes_stay_in_their_session(trace: Trace) -> Iterator[str]:
    """No process output crosses sessions: a process's signals, what it resumes with, its
    terminal and every await of it belong to the session that started it."""
    owners: dict[str, str] = {}
    for pid, rs in _by_process(trace).items():
        for record in rs:
            if record["ev"] == "process_start":
                owners.setdefault(pid, record["session"])
            owner = owners.get(pid)
            body = {k: v for k, v in record.items() if k not in ("pid", "at", "ev")}
            for other in sorted(set(_sessions_in(body))):
                if owner is not None and other != owner:
                    yield f"process {pid} of session {owner}: {record['ev']} carries {other}"


# -- durable worlds: crashes and restarts ----------------------------------------------------

_JOURNALED: Final = frozenset({"llm_call", "tool_attempt", "exec_code", "checkpoint", "sleep"})
"""The effect kinds of a simulated turn whose outcomes a durable host records (a sleep has
a row with its due time)."""


@oracle
def no_recorded_effect_reruns(trace: Trace) -> Iterator[str]:
    """An effect whose outcome was recorded (answered live on a durable host) never runs again:
    a later host replays it (a ``replay`` record) with exactly the recorded outcome. An effect
    cut off by a crash between running and being recorded runs again at most once per crash,
    and that run is flagged *in doubt* with the effect's replay key as its idempotency key."""
    for where, rs in trace.turns.items():
        recorded: dict[str, Any] = {}
        ran: set[str] = set()
        crashed_since: set[str] = set()
        for record in rs:
            ev = record["ev"]
            if ev == "resume":
                crashed_since |= ran
            elif ev == "effect" and record["kind"] in _JOURNALED:
                recorded.setdefault(record["key"], record["outcome"])
            elif ev == "replay":
                key = record["key"]
                if key not in recorded:
                    yield f"{where}: {key} replayed an outcome that was never recorded"
                elif record["outcome"] != recorded[key]:
                    yield (f"{where}: {key} replayed {record['outcome']}, recorded {recorded[key]}")
            elif ev == "handler":
                key = record["key"]
                if key in recorded:
                    yield f"{where}: {key} ran again after its outcome was recorded"
                elif key in ran and "attempt" in record:
                    if key not in crashed_since:
                        yield f"{where}: {key} ran again with no crash since its last run"
                    elif not record["in_doubt"]:
                        yield f"{where}: {key} ran again after a crash but not in doubt"
                    elif record["idempotency_key"] != key:
                        yield (
                            f"{where}: {key} ran again in doubt with idempotency key "
                            f"{record['idempotency_key']}"
                        )
                ran.add(key)
                crashed_since.discard(key)


@oracle
def no_accepted_resolution_lost(trace: Trace) -> Iterator[str]:
    """Every resolution a resolver was answered ``accepted`` for is the terminal the turn's wait
    on that key ends with (the last time it waits, if a crash made it wait again), whether it
    arrived while a host ran or while none did. (A turn that was cancelled or whose session was
    revoked may never consume it.)"""
    accepted: dict[tuple[str, str, str], Any] = {}
    excused: set[tuple[str, str]] = set()
    seen: dict[tuple[str, str, str], Any] = {}
    ended: set[tuple[str, str]] = set()
    revoked: set[str] = set()
    for record in trace.records:
        ev = record["ev"]
        if ev == "resolve" and record["how"] not in ("forged", "tampered"):
            if record["outcome"]["status"] == "accepted":
                accepted.setdefault(
                    (record["session"], record["turn"], record["call"]), record["resolution"]
                )
        elif ev == "effect" and record["kind"] == "await_event":
            seen[(record["session"], record["turn"], record["call"])] = _await_terminal(
                record["outcome"]
            )
        elif ev in ("cancel", "turn_failed"):
            excused.add(_turn(record))
        elif ev == "revoke":
            revoked.add(record["session"])
        elif ev == "turn_end":
            ended.add(_turn(record))
    for key, resolution in accepted.items():
        turn = key[:2]
        if turn in excused or key[0] in revoked:
            continue
        if key not in seen:
            if turn in ended:
                yield f"{key}: resolution {resolution} accepted, the turn never saw it"
        elif seen[key] != resolution:
            yield f"{key}: resolution {resolution} accepted, the turn saw {seen[key]}"
