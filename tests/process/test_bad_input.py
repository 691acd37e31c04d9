"""Every public entry point of the process registry that takes user data answers a wrong
Python type or a non-JSON value with a coded :class:`LashError` and changes nothing.

A Hypothesis property: a populated registry (a running process with events, a wake, a grant, a
lease and a parked awaiter; a finished one) gets one call with a bad argument drawn from
arbitrary Python values; only a ``LashError`` may escape, and the full snapshot (records, logs,
replay keys, per-type counts, grants, wakes, leases, awaiters) is identical afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from lash_core import KeySigner, LashError, codes
from lash_core.effects.invocation import Replay
from lash_core.effects.process import (
    ProcessAwait,
    ProcessCancel,
    ProcessDeleteSession,
    ProcessList,
    ProcessStart,
    ProcessTransfer,
)
from lash_core.process import ProcessRegistry, apply_process_command, signal_request
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.grants import HandleDescriptor, ProcessListMode, ProcessStartGrant
from lash_core.process.leases import ProcessLease, ProcessLeaseCompletion
from lash_core.process.records import (
    CancelledOutput,
    FailureOutput,
    PointerSelector,
    ProcessEventType,
    ProcessWakeSpec,
    SessionScope,
    SignalWait,
    SuccessOutput,
    WaitState,
)
from lash_core.scope import ProcessScope, ProcessSignal
from tests.process.support import SIGNAL_TYPES, note, registration, snapshot

SCOPE = SessionScope("s1")
WAKE_TYPE = ProcessEventType("ping", wake=ProcessWakeSpec(PointerSelector("/text")))
SIGNER = KeySigner(b"bad-input-tests-secret-0123456789ab")


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class _Deep:
    """Stands for a list nested 5,000 deep in drawn values (so Hypothesis can print them);
    :func:`_nj` puts the real list in."""

    def __repr__(self) -> str:
        return "Deep(5000)"


DEEP: Final = _deep(5_000)


def _real(value: Any) -> Any:
    if isinstance(value, _Deep):
        return DEEP
    if type(value) is list:
        return [_real(v) for v in value]
    if type(value) is dict:
        return {k: _real(v) for k, v in value.items()}
    return value


class _Weird:
    """An object no entry point knows."""

    def __repr__(self) -> str:
        return "Weird()"


# Never valid where a string, an enum, an int timestamp, a value type or a tuple is expected.
ALIEN: st.SearchStrategy[Any] = st.one_of(
    st.builds(_Weird),
    st.builds(object),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(min_size=1, max_size=3),
    st.frozensets(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.integers() | st.none(), st.integers(), min_size=1, max_size=2),
    st.lists(st.builds(_Weird), min_size=1, max_size=2),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
)
# Not an int (or bool): for timestamps, ttls, cursors and sequences.
NOT_INT: st.SearchStrategy[Any] = st.one_of(ALIEN, st.text(max_size=3), st.none(), st.booleans())
# Wrong where a value may be a JSON value: the leaf is never JSON.
NON_JSON_LEAF: st.SearchStrategy[Any] = st.one_of(
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.just("\ud800"),
    st.builds(_Deep),
    st.builds(_Weird),
    st.binary(min_size=1, max_size=2),
    st.frozensets(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
)
NON_JSON: st.SearchStrategy[Any] = st.one_of(
    NON_JSON_LEAF,
    st.lists(NON_JSON_LEAF, min_size=1, max_size=2).map(lambda xs: [1, "a", *xs]),
    st.dictionaries(st.text(max_size=3), NON_JSON_LEAF, min_size=1, max_size=2),
)


def populated() -> ProcessRegistry:
    """A running ``p`` (events, a pending wake, a grant, a lease, a parked awaiter) and a
    finished ``q``."""
    registry = ProcessRegistry()
    types = (*SIGNAL_TYPES, WAKE_TYPE)
    registry.register(registration("p", event_types=types, wake_target=SCOPE), 0)
    registry.register(registration("q"), 0)
    registry.append_event("p", note({"n": 1}, "k1"), 1)
    registry.append_event("p", ProcessEventAppendRequest("ping", {"text": "hi"}), 2)
    apply_process_command(registry, signal_request("p", "go", "s1", "one"), 3)
    registry.grant_handle(SCOPE, "p", HandleDescriptor("job"))
    registry.claim_process_lease("p", "owner", 1_000, 3)
    registry.begin_await("p")
    registry.append_terminal("q", SuccessOutput("done"), 4)
    return registry


def _evolve(value: Any, **changes: Any) -> Any:
    return attrs.evolve(value, **changes)


def _nj(d: st.DataObject) -> Any:
    """A non-JSON value (a deep list stand-in made real)."""
    return _real(d.draw(NON_JSON))


def _registration(d: st.DataObject) -> Any:
    good = registration("new")
    fields = ["id", "input", "disposition", "identity", "provenance", "env_ref", "wake_target"]
    field = d.draw(st.sampled_from(["whole", "payload", "event_types", *fields]))
    if field == "whole":
        return d.draw(ALIEN)
    if field == "payload":
        return attrs.evolve(good, input=attrs.evolve(good.input, payload=_nj(d)))
    if field == "event_types":
        return attrs.evolve(good, event_types=(*good.event_types, d.draw(ALIEN)))
    return attrs.evolve(good, **{field: d.draw(ALIEN)})


def _scope(d: st.DataObject) -> Any:
    variant = d.draw(st.sampled_from(["alien", "text", "session", "frame", "surrogate"]))
    if variant == "text":
        return d.draw(st.text(max_size=3))
    if variant == "session":
        return SessionScope(d.draw(ALIEN))
    if variant == "frame":
        return SessionScope("s1", d.draw(ALIEN))
    if variant == "surrogate":
        return SessionScope("\ud800")
    return d.draw(ALIEN)


def _request(d: st.DataObject) -> Any:
    good = note({"n": 2}, "k9")
    variant = d.draw(
        st.sampled_from(
            ["alien", "type", "payload", "replay", "replay_key", "surrogate", "target", "scope"]
        )
    )
    if variant == "type":
        return attrs.evolve(good, event_type=d.draw(ALIEN))
    if variant == "payload":
        return attrs.evolve(good, payload=_nj(d))
    if variant == "replay":
        return attrs.evolve(good, replay=d.draw(ALIEN))
    if variant == "replay_key":
        return attrs.evolve(good, replay=Replay(d.draw(ALIEN)))
    if variant == "surrogate":
        return attrs.evolve(good, replay=Replay("\ud800"))
    if variant == "target":
        return attrs.evolve(good, wake_target_scope=d.draw(ALIEN))
    if variant == "scope":
        return attrs.evolve(good, wake_target_scope=_scope(d))
    return d.draw(ALIEN)


def _output(d: st.DataObject) -> Any:
    variant = d.draw(st.sampled_from(["alien", "success", "failure", "cancelled"]))
    if variant == "success":
        return SuccessOutput(_nj(d))
    if variant == "failure":
        return FailureOutput(class_=d.draw(ALIEN), code="c", message="m")
    if variant == "cancelled":
        return CancelledOutput(message=d.draw(ALIEN))
    return d.draw(ALIEN)


def _lease(r: ProcessRegistry, d: st.DataObject, kind: type[Any]) -> Any:
    current = r.lease("p")
    assert current is not None
    good = current if kind is ProcessLease else current.completion()
    field = d.draw(st.sampled_from(["whole", "process_id", "owner", "lease_token"]))
    if field == "whole":
        return d.draw(ALIEN)
    return attrs.evolve(good, **{field: d.draw(ALIEN)})


def _wait(d: st.DataObject) -> Any:
    key = SIGNER.mint(ProcessScope("p"), ProcessSignal("p", "go", 2))
    good = WaitState(SignalWait("go", "signal.go", key, 2), 5)
    variant = d.draw(st.sampled_from(["alien", "kind", "since", "name", "key"]))
    if variant == "kind":
        return WaitState(d.draw(ALIEN), 5)
    if variant == "since":
        return WaitState(good.kind, d.draw(NOT_INT))
    if variant == "name":
        return WaitState(attrs.evolve(good.kind, name=d.draw(ALIEN)), 5)
    if variant == "key":
        return WaitState(attrs.evolve(good.kind, key=d.draw(ALIEN)), 5)
    return d.draw(ALIEN)


def _command(d: st.DataObject) -> Any:
    descriptor = HandleDescriptor("job")
    grant = ProcessStartGrant(SCOPE, descriptor)
    new = registration("new")
    sig = signal_request("p", "go", "s7", "x")
    other = SessionScope("s2")
    variants: dict[str, Callable[[], Any]] = {
        "alien": lambda: d.draw(ALIEN),
        "start": lambda: ProcessStart(_registration(d), grant),
        "start_grant": lambda: ProcessStart(new, d.draw(ALIEN)),
        "start_scope": lambda: ProcessStart(new, ProcessStartGrant(_scope(d), descriptor)),
        "start_descriptor": lambda: ProcessStart(new, ProcessStartGrant(SCOPE, d.draw(ALIEN))),
        "start_kind": lambda: ProcessStart(
            new, ProcessStartGrant(SCOPE, HandleDescriptor(d.draw(ALIEN)))
        ),
        "list_scope": lambda: ProcessList(_scope(d)),
        "list_mode": lambda: ProcessList(SCOPE, d.draw(st.one_of(ALIEN, st.just("live")))),  # type: ignore[arg-type]
        "transfer_scope": lambda: ProcessTransfer(_scope(d), SCOPE, ("p",)),
        "transfer_ids": lambda: ProcessTransfer(SCOPE, other, d.draw(ALIEN)),
        "transfer_id": lambda: ProcessTransfer(SCOPE, other, ("p", d.draw(ALIEN))),
        "delete": lambda: ProcessDeleteSession(d.draw(ALIEN)),
        "await": lambda: ProcessAwait(d.draw(ALIEN)),
        "cancel_pid": lambda: ProcessCancel(d.draw(ALIEN), "why"),
        "cancel_reason": lambda: ProcessCancel("p", d.draw(ALIEN)),
        "signal_pid": lambda: attrs.evolve(sig, process_id=d.draw(ALIEN)),
        "signal_name": lambda: attrs.evolve(sig, signal_name=d.draw(ALIEN)),
        "signal_id": lambda: attrs.evolve(sig, signal_id=d.draw(st.one_of(ALIEN, st.just("")))),
        "signal_request": lambda: attrs.evolve(sig, request=d.draw(ALIEN)),
        "signal_payload": lambda: attrs.evolve(
            sig, request=attrs.evolve(sig.request, payload=_nj(d))
        ),
        "signal_replay": lambda: attrs.evolve(
            sig, request=attrs.evolve(sig.request, replay=d.draw(ALIEN))
        ),
    }
    return variants[d.draw(st.sampled_from(sorted(variants)))]()


def _bad_now(d: st.DataObject) -> Any:
    return d.draw(st.one_of(NOT_INT, st.integers(max_value=-1)))


Call = Callable[[], object]


def _one_bad(
    d: st.DataObject, good: dict[str, Any], bad: dict[str, Callable[[], Any]]
) -> dict[str, Any]:
    """``good`` with one of its arguments replaced by a draw from ``bad``."""
    name = d.draw(st.sampled_from(sorted(bad)))
    return {**good, name: bad[name]()}


def _alien(d: st.DataObject) -> Callable[[], Any]:
    return lambda: d.draw(ALIEN)


def _not_int(d: st.DataObject) -> Callable[[], Any]:
    return lambda: d.draw(NOT_INT)


def e_register(r: ProcessRegistry, d: st.DataObject) -> Call:
    reg = _registration(d)
    return lambda: r.register(reg, 1)


def e_register_now(r: ProcessRegistry, d: st.DataObject) -> Call:
    now = _bad_now(d)
    return lambda: r.register(registration("new"), now)


def e_append_event(r: ProcessRegistry, d: st.DataObject) -> Call:
    req = _request(d)
    return lambda: r.append_event("p", req, 6)


def e_append_event_args(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(d, {"pid": "p", "now": 6}, {"pid": _alien(d), "now": lambda: _bad_now(d)})
    return lambda: r.append_event(a["pid"], note(1), a["now"])


def e_request_cancel(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"pid": "p", "reason": "x", "now": 6},
        {"pid": _alien(d), "reason": _alien(d), "now": lambda: _bad_now(d)},
    )
    return lambda: r.request_cancel(a["pid"], a["reason"], a["now"])


def e_append_terminal(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"output": SuccessOutput(1), "authority": None},
        {"output": lambda: _output(d), "authority": lambda: _nj(d)},
    )
    return lambda: r.append_terminal("p", a["output"], 6, a["authority"])


def e_request_abandon(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"pid": "p", "by": "ops", "reason": None, "now": 6},
        {
            "pid": _alien(d),
            "by": lambda: d.draw(st.one_of(ALIEN, st.just(" "))),
            "reason": _alien(d),
            "now": lambda: _bad_now(d),
        },
    )
    return lambda: r.request_abandon(a["pid"], a["by"], a["reason"], a["now"])


def e_prune(r: ProcessRegistry, d: st.DataObject) -> Call:
    ids = d.draw(st.one_of(ALIEN, st.just(["p"]), ALIEN.map(lambda v: ["p", v])))
    if d.draw(st.booleans()):
        return lambda: r.prune_processes(ids)
    return lambda: r.prune_finished(_bad_now(d))


def e_event_awaits(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"pid": "p", "after": 0, "types": None},
        {
            "pid": _alien(d),
            "after": _not_int(d),
            "types": lambda: d.draw(st.one_of(ALIEN, st.just("note"), st.just([]))),
        },
    )
    if d.draw(st.booleans()):
        return lambda: r.begin_event_await(a["pid"], a["after"], a["types"])
    waiter = d.draw(st.one_of(ALIEN, st.integers(100, 200)))
    return lambda: r.end_event_await(waiter)


def e_set_wait(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"pid": "p", "wait": None, "now": 6},
        {"pid": _alien(d), "wait": lambda: _wait(d), "now": lambda: _bad_now(d)},
    )
    return lambda: r.set_wait(a["pid"], a["wait"], a["now"])


def e_awaits(r: ProcessRegistry, d: st.DataObject) -> Call:
    if d.draw(st.booleans()):
        pid = d.draw(ALIEN)
        return lambda: r.begin_await(pid)
    waiter = d.draw(NOT_INT)
    return lambda: r.end_await(waiter)


def e_claim(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"pid": "p", "owner": "owner", "ttl": 5, "now": 6},
        {"pid": _alien(d), "owner": _alien(d), "ttl": _not_int(d), "now": lambda: _bad_now(d)},
    )
    return lambda: r.claim_process_lease(a["pid"], a["owner"], a["ttl"], a["now"])


def e_renew(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"lease": r.lease("p"), "ttl": 5, "now": 6},
        {
            "lease": lambda: _lease(r, d, ProcessLease),
            "ttl": _not_int(d),
            "now": lambda: _bad_now(d),
        },
    )
    return lambda: r.renew_process_lease(a["lease"], a["ttl"], a["now"])


def e_reclaim(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"lease": r.lease("p"), "owner": "o2", "ttl": 5, "now": 6},
        {
            "lease": lambda: _lease(r, d, ProcessLease),
            "owner": _alien(d),
            "ttl": _not_int(d),
            "now": lambda: _bad_now(d),
        },
    )
    if d.draw(st.booleans()):
        return lambda: r.reclaim_dead_process_lease(
            a["lease"], a["owner"], a["ttl"], a["now"], dead=lambda owner: True
        )
    return lambda: r.reclaim_process_lease(a["lease"], a["owner"], a["ttl"], a["now"])


def e_complete_process_lease(r: ProcessRegistry, d: st.DataObject) -> Call:
    completion = _lease(r, d, ProcessLeaseCompletion)
    return lambda: r.complete_process_lease(completion)


def e_complete_leased(r: ProcessRegistry, d: st.DataObject) -> Call:
    lease = r.lease("p")
    assert lease is not None
    a = _one_bad(
        d,
        {"completion": lease.completion(), "output": SuccessOutput(1), "now": 6},
        {
            "completion": lambda: _lease(r, d, ProcessLeaseCompletion),
            "output": lambda: _output(d),
            "now": lambda: _bad_now(d),
        },
    )
    return lambda: r.complete_leased(a["completion"], a["output"], a["now"])


def e_grant_handle(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"scope": SessionScope("s3"), "pid": "p", "descriptor": HandleDescriptor("k")},
        {
            "scope": lambda: _scope(d),
            "pid": _alien(d),
            "descriptor": lambda: d.draw(
                st.one_of(
                    ALIEN,
                    ALIEN.map(HandleDescriptor),
                    ALIEN.map(lambda v: HandleDescriptor("k", v)),
                )
            ),
        },
    )
    return lambda: r.grant_handle(a["scope"], a["pid"], a["descriptor"])


def e_list_handle_grants(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"scope": SCOPE, "mode": ProcessListMode.LIVE},
        {"scope": lambda: _scope(d), "mode": lambda: d.draw(st.one_of(ALIEN, st.just("live")))},
    )
    return lambda: r.list_handle_grants(a["scope"], a["mode"])


def e_transfer(r: ProcessRegistry, d: st.DataObject) -> Call:
    a = _one_bad(
        d,
        {"source": SCOPE, "dest": SessionScope("s2"), "ids": ["p"]},
        {
            "source": lambda: _scope(d),
            "dest": lambda: _scope(d),
            "ids": lambda: d.draw(st.one_of(ALIEN, st.just("p"), ALIEN.map(lambda v: ["p", v]))),
        },
    )
    return lambda: r.transfer_handle_grants(a["source"], a["dest"], a["ids"])


def e_sessions_and_wakes(r: ProcessRegistry, d: st.DataObject) -> Call:
    which = d.draw(
        st.sampled_from(["delete", "pending", "acknowledge", "acknowledged", "after", "ack"])
    )
    value = d.draw(ALIEN)
    calls: dict[str, Call] = {
        "delete": lambda: r.delete_session_process_state(value),
        "pending": lambda: r.pending_wakes(value),
        "acknowledge": lambda: r.acknowledge_wake(value),
        "acknowledged": lambda: r.is_wake_acknowledged(value),
        "after": lambda: r.wake_events_after("p", d.draw(NOT_INT)),
        "ack": lambda: r.ack_wake("p", d.draw(NOT_INT)),
    }
    return calls[which]


def e_reads(r: ProcessRegistry, d: st.DataObject) -> Call:
    value = d.draw(ALIEN)
    number = d.draw(NOT_INT)
    calls: dict[str, Call] = {
        "get": lambda: r.get(value),
        "record": lambda: r.record(value),
        "events": lambda: r.events(value),
        "events_after": lambda: r.events("p", number),
        "event_count": lambda: r.event_count(value),
        "event_log": lambda: r.event_log(value),
        "recent_events": lambda: r.recent_events("p", number),
        "event_type_count": lambda: r.event_type_count("p", value),
        "count_events_type": lambda: r.count_events("p", value, 1),
        "count_events_through": lambda: r.count_events("p", "note", number),
        "event_type_ordinal": lambda: r.event_type_ordinal("p", number),
        "is_cancel_requested": lambda: r.is_cancel_requested(value),
        "list_terminal": lambda: r.list_processes(terminal=value),
        "list_waiting": lambda: r.list_processes(waiting=value),
        "lease": lambda: r.lease(value),
        "wake_events_after": lambda: r.wake_events_after(value),
    }
    return calls[d.draw(st.sampled_from(sorted(calls)))]


def e_apply_process_command(r: ProcessRegistry, d: st.DataObject) -> Call:
    if d.draw(st.booleans()):
        now = _bad_now(d)
        return lambda: apply_process_command(r, ProcessList(SCOPE), now)
    command = _command(d)
    return lambda: apply_process_command(r, command, 6)


ENTRIES: dict[str, Callable[[ProcessRegistry, st.DataObject], Call]] = {
    fn.__name__.removeprefix("e_"): fn
    for fn in (
        e_register,
        e_register_now,
        e_append_event,
        e_append_event_args,
        e_request_cancel,
        e_append_terminal,
        e_request_abandon,
        e_prune,
        e_event_awaits,
        e_set_wait,
        e_awaits,
        e_claim,
        e_renew,
        e_reclaim,
        e_complete_process_lease,
        e_complete_leased,
        e_grant_handle,
        e_list_handle_grants,
        e_transfer,
        e_sessions_and_wakes,
        e_reads,
        e_apply_process_command,
    )
}


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(ENTRIES)))
def test_bad_input_to_any_registry_entry_point_is_a_lash_error_and_changes_nothing(
    data: st.DataObject, name: str
) -> None:
    registry = populated()
    before = snapshot(registry)
    call = ENTRIES[name](registry, data)
    with pytest.raises(LashError) as info:
        call()
    assert info.value.code in codes.CODES
    assert snapshot(registry) == before
