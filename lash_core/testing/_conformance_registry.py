"""Conformance cases for await events: the reference's effect_host and
effect_host_await_events suites (keys, resolution, cancellation, deadlines, revocation, rotation).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from lash_core import codes
from lash_core.errors import LashError
from lash_core.host import (
    CancelToken,
)
from lash_core.resolution import (
    CANCELLED,
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    UnknownOrRevoked,
    ok,
)
from lash_core.scope import (
    Custom,
    ProcessScope,
    QueueDrainScope,
    SessionDeleteScope,
    ToolCompletion,
    TurnCancelGate,
    TurnScope,
    TurnTerminal,
)
from lash_core.testing._conformance_base import (
    TURN,
    Case,
    Harness,
    case_into,
    check,
    expect_error,
    expect_error_now,
    settle,
)
from lash_core.wire import to_json, to_wire

CASES: list[Case] = []
"""This area's cases, in order (:mod:`lash_core.testing.conformance` assembles them)."""
case = case_into(CASES)


# -- the reference's effect_host and effect_host_await_events suites -------------------------


@case
async def stable_keys(h: Harness) -> None:
    """The same scope and wait give the same key; minting creates no state."""
    host = h.new_host()
    a = host.await_event_key(TURN, ToolCompletion("call"))
    check(a == host.await_event_key(TURN, ToolCompletion("call")), "keys are not stable")
    check(a != host.await_event_key(TURN, ToolCompletion("other")), "distinct waits share a key")
    check(host.registry.total_entry_count() == 0, "minting created state")
    check(host.peek_await_event(a) is None, "a fresh key has a terminal")


@case
async def early_resolution_then_await(h: Harness) -> None:
    """A resolution before anyone waits is buffered and returned to the later waiter."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    check(host.resolve_await_event(key, ok("early")) == Accepted(), "not accepted")
    check(await host.wait_for_event(key) == ok("early"), "buffered resolution lost")


@case
async def duplicate_resolution_gets_the_first_terminal(h: Harness) -> None:
    """A second resolution is answered already_resolved with the first terminal."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    host.resolve_await_event(key, ok("first"))
    outcome = host.resolve_await_event(key, ok("second"))
    check(outcome == AlreadyResolved(ok("first")), f"got {outcome}")


@case
async def pre_cancelled_waiter_writes_cancelled(h: Harness) -> None:
    """A waiter whose token is already cancelled gets cancelled; a late resolve sees it."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    token.cancel()
    check(await host.wait_for_event(key, cancel=token) == CANCELLED, "not cancelled")
    late = host.resolve_await_event(key, ok("late"))
    check(late == AlreadyResolved(CANCELLED), f"late resolve got {late}")


@case
async def past_deadline_gives_timeout(h: Harness) -> None:
    """A deadline already reached writes timeout."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    check(await host.wait_for_event(key, deadline=h.now()) == TIMEOUT, "no timeout")
    check(host.peek_await_event(key) == TIMEOUT, "timeout not stored")


@case
async def deadline_and_timeout_fire_on_virtual_time(h: Harness) -> None:
    """An hour-long timeout ends after exactly an hour of virtual time."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    start = h.now()
    check(await host.wait_for_event(key, timeout=3600) == TIMEOUT, "no timeout")
    check(abs(h.now() - start - 3600) < 1e-6, f"timed out after {h.now() - start}")
    other = host.await_event_key(TURN, ToolCompletion("other"))
    await expect_error(
        codes.AWAIT_EVENT_DEADLINE_AND_TIMEOUT,
        host.wait_for_event(other, deadline=h.now() + 1, timeout=1),
    )


@case
async def revoke_refuses_resolve_await_and_mint(h: Harness) -> None:
    """Revocation wakes parked waiters with an error and refuses the session from then on."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiter = h.spawn(lambda: host.wait_for_event(key))
    await settle(h)
    check(host.revoke_await_events_for_session("session") is True, "not newly revoked")
    result = await waiter.join()
    check(
        isinstance(result.error, LashError)
        and result.error.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        f"parked waiter got {result}",
    )
    check(host.resolve_await_event(key, ok(1)) == UnknownOrRevoked(), "revoked key resolved")
    await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, host.wait_for_event(key))
    expect_error_now(
        codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED,
        lambda: host.await_event_key(TURN, ToolCompletion("new")),
    )
    check(host.revoke_await_events_for_session("session") is False, "revoke not idempotent")


@case
async def session_cancel_resolves_pending_waits_but_not_turn_control(h: Harness) -> None:
    """A session cancel ends pending waits as cancelled, leaves turn control alone, and new keys
    still work."""
    host = h.new_host()
    tool = host.await_event_key(TURN, ToolCompletion("call"))
    gate = host.await_event_key(TURN, TurnCancelGate())
    tool_waiter = h.spawn(lambda: host.wait_for_event(tool))
    gate_waiter = h.spawn(lambda: host.wait_for_event(gate))
    await settle(h)
    check(host.cancel_await_events_for_session("session") == 1, "wrong cancel count")
    check((await tool_waiter.join()).value == CANCELLED, "tool wait not cancelled")
    late = host.resolve_await_event(tool, ok("late"))
    check(late == AlreadyResolved(CANCELLED), f"late resolve got {late}")
    check(host.peek_await_event(gate) is None, "the gate was swept")
    check(host.resolve_await_event(gate, ok({"state": "completion_sealed"})) == Accepted(), "gate")
    check((await gate_waiter.join()).value == ok({"state": "completion_sealed"}), "gate waiter")
    fresh = host.await_event_key(TURN, ToolCompletion("fresh"))
    check(host.resolve_await_event(fresh, ok(1)) == Accepted(), "new keys do not work")


@case
async def tampered_keys_are_refused(h: Harness) -> None:
    """A key with a changed signature, key id, scope or wait is unknown_or_revoked."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    flipped = ("1" if key.signature[0] == "0" else "0") + key.signature[1:]
    tampered = [
        attrs.evolve(key, signature=flipped),
        attrs.evolve(key, key_id=key.key_id[::-1]),
        attrs.evolve(key, scope=TurnScope("session", "other")),
        attrs.evolve(key, wait=ToolCompletion("other")),
    ]
    for bad in tampered:
        check(host.resolve_await_event(bad, ok("forged")) == UnknownOrRevoked(), f"{bad}")
        await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, host.wait_for_event(bad))
    check(host.registry.total_entry_count() == 0, "a tampered key created state")
    check(host.resolve_await_event(key, ok("real")) == Accepted(), "the real key is affected")


@case
async def undecoded_keys_are_a_type_error(h: Harness) -> None:
    """A key still in its JSON text or dict form is await_event_key_type, not a forgery, and
    changes nothing."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    undecoded_forms: list[Any] = [to_json(key), to_wire(key)]
    for undecoded in undecoded_forms:
        resolve = functools.partial(host.resolve_await_event, undecoded, ok(1))
        expect_error_now(codes.AWAIT_EVENT_KEY_TYPE, resolve)
        expect_error_now(
            codes.AWAIT_EVENT_KEY_TYPE, functools.partial(host.peek_await_event, undecoded)
        )
        await expect_error(codes.AWAIT_EVENT_KEY_TYPE, host.wait_for_event(undecoded))
    check(host.registry.total_entry_count() == 0, "an undecoded key created state")
    check(host.resolve_await_event(key, ok("real")) == Accepted(), "the real key is affected")


@case
async def scope_metadata_is_kept(h: Harness) -> None:
    """Scoped controllers keep their scope's id and turn id."""
    host = h.new_host()
    turn = host.scoped(TurnScope("s", "t"))
    check((turn.scope_id, turn.turn_id) == ("t", "t"), "turn scope metadata")
    drain = host.scoped(QueueDrainScope("s", "drain"))
    check((drain.scope_id, drain.turn_id) == ("drain", None), "drain scope metadata")
    check(host.scoped(ProcessScope("p")).scope_id == "p", "process scope metadata")
    check(drain.rescope(SessionDeleteScope("s")).scope_id == "s", "rescope")
    key = turn.await_event_key(ToolCompletion("call"))
    check(key.scope == TurnScope("s", "t"), "scoped key in the wrong scope")
    check(turn.resolve_await_event(key, ok(1)) == Accepted(), "scoped resolve")
    check(host.peek_await_event(key) == ok(1), "the scoped controller shares the host registry")


@case
async def blank_ids_are_refused(h: Harness) -> None:
    """Blank scope ids and wait fields are refused with the reference's codes."""
    host = h.new_host()
    expect_error_now(codes.MISSING_EXECUTION_SCOPE_ID, lambda: host.scoped(TurnScope(" ", "t")))
    expect_error_now(
        codes.MISSING_EXECUTION_SCOPE_ID,
        lambda: host.await_event_key(QueueDrainScope("s", ""), ToolCompletion("c")),
    )
    expect_error_now(
        codes.INVALID_AWAIT_EVENT_WAIT_IDENTITY,
        lambda: host.await_event_key(TURN, Custom("  ")),
    )


# -- ours ------------------------------------------------------------------------------------


@case
async def two_hosts_never_rendezvous(h: Harness) -> None:
    """A key from one host means nothing to another."""
    a, b = h.new_host(), h.new_host()
    key = a.await_event_key(TURN, ToolCompletion("call"))
    check(b.resolve_await_event(key, ok(1)) == UnknownOrRevoked(), "host B accepted A's key")
    await expect_error(codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED, b.wait_for_event(key))
    check(a.peek_await_event(key) is None, "host B's attempt reached host A")


@case
async def shared_secret_hosts_share_keys_and_rotation_works(h: Harness) -> None:
    """Hosts given one secret accept each other's keys; a rotated host still accepts old ones."""
    secret, newer = bytes(range(32)), bytes(range(1, 33))
    old_host = h.new_host(secret)
    key = old_host.await_event_key(TURN, ToolCompletion("call"))
    rotated = h.new_host(newer, previous=[secret])
    check(rotated.resolve_await_event(key, ok(1)) == Accepted(), "rotated host refused old key")
    check(
        rotated.await_event_key(TURN, ToolCompletion("call")).signature != key.signature,
        "rotated host still signs with the old secret",
    )


@case
async def many_waiters_see_one_terminal(h: Harness) -> None:
    """Every waiter of a key gets the same terminal."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiters = [h.spawn(lambda: host.wait_for_event(key)) for _ in range(20)]
    await settle(h)
    host.resolve_await_event(key, ok({"n": 1}))
    results = [await w.join() for w in waiters]
    check(all(r.value == ok({"n": 1}) for r in results), f"{results}")


@case
async def cancelling_one_waiter_writes_cancelled_for_all(h: Harness) -> None:
    """A cancelled waiter writes cancelled (the terminal is shared); native cancellation records
    it and then propagates."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    first = h.spawn(lambda: host.wait_for_event(key, cancel=token))
    others = [h.spawn(lambda: host.wait_for_event(key)) for _ in range(3)]
    await settle(h)
    token.cancel()
    check((await first.join()).value == CANCELLED, "the token did not cancel")
    results = [await w.join() for w in others]
    check(all(r.value == CANCELLED for r in results), f"others saw another terminal: {results}")
    native_key = host.await_event_key(TURN, ToolCompletion("native"))
    native = h.spawn(lambda: host.wait_for_event(native_key))
    await settle(h)
    native.cancel()
    check((await native.join()).cancelled, "native cancellation did not propagate")
    check(host.peek_await_event(native_key) == CANCELLED, "native cancellation not recorded")


@case
async def a_cancel_that_loses_returns_the_winner(h: Harness) -> None:
    """A resolution that lands before the cancel is what the waiter returns."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    token = CancelToken()
    waiter = h.spawn(lambda: host.wait_for_event(key, cancel=token))
    await settle(h)
    host.resolve_await_event(key, ok("won"))
    token.cancel()
    check((await waiter.join()).value == ok("won"), "the losing cancel changed the result")


@case
async def turn_control_waits_never_write(h: Harness) -> None:
    """Cancelling or timing out a turn-control wait fails it and leaves the key unwritten."""
    host = h.new_host()
    gate = host.await_event_key(TURN, TurnCancelGate())
    token = CancelToken()
    waiter = h.spawn(lambda: host.wait_for_event(gate, cancel=token))
    await settle(h)
    token.cancel()
    result = await waiter.join()
    check(
        isinstance(result.error, LashError)
        and result.error.code == codes.TURN_CONTROL_WAIT_CANCELLED,
        f"{result}",
    )
    await expect_error(codes.TURN_CONTROL_WAIT_TIMEOUT, host.wait_for_event(gate, timeout=5))
    check(host.peek_await_event(gate) is None, "a turn-control waiter wrote the gate")
    terminal = host.await_event_key(TURN, TurnTerminal())
    check(host.resolve_await_event(gate, ok({"state": "completion_sealed"})) == Accepted(), "gate")
    attach = h.spawn(lambda: host.wait_for_event(terminal))
    await settle(h)
    host.resolve_await_event(terminal, ok({"status": "committed"}))
    check((await attach.join()).value == ok({"status": "committed"}), "terminal attach")
    check(await host.wait_for_event(terminal) == ok({"status": "committed"}), "late attach")


@case
async def thread_side_resolution_wakes_the_loop(h: Harness) -> None:
    """resolve_threadsafe from another OS thread wakes a parked waiter."""
    host = h.new_host()
    key = host.await_event_key(TURN, ToolCompletion("call"))
    waiter = h.spawn(lambda: host.wait_for_event(key))
    await settle(h)
    outcome = await h.in_thread(lambda: host.resolve_threadsafe(key, ok("from a thread")))
    check(outcome == Accepted(), f"{outcome}")
    check((await waiter.join()).value == ok("from a thread"), "the waiter was not woken")
