"""Waiters that are their own events (``park_waiter``), and the window of recent terminals
when sessions are closed or revoked while their terminals are in it."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import (
    TIMEOUT,
    Accepted,
    AlreadyResolved,
    AwaitEventRegistry,
    KeySigner,
    LashError,
    ToolCompletion,
    TurnScope,
    codes,
    ok,
)
from lash_core.promise import WaitEnd, Waiter

SECRET = bytes(range(32))
TURN = TurnScope("session", "turn")


class Own(Waiter[Any]):
    """A waiter that is its own event and counts how often it was set."""

    __slots__ = ("sets",)

    def __init__(self) -> None:
        self.sets = 0

    def set(self) -> None:
        self.sets += 1


class Flag:
    def __init__(self) -> None:
        self.sets = 0

    def set(self) -> None:
        self.sets += 1


def registry(retain_recent: int = 4096) -> AwaitEventRegistry:
    return AwaitEventRegistry(KeySigner(SECRET), retain_recent=retain_recent)


def test_an_own_waiter_is_parked_woken_through_its_set_and_ended() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c1"))
    waiter = reg.park_waiter(key, Own)
    assert isinstance(waiter, Own)
    assert waiter.entry is not None and waiter.index == 0 and waiter.outcome is None
    assert reg.parked_count == 1 and waiter.sets == 0
    assert reg.resolve(key, ok(1)) == Accepted()
    assert waiter.sets == 1 and waiter.woken and waiter.outcome == ok(1)
    assert reg.end_parked(waiter, WaitEnd.WOKEN) == ok(1)
    assert waiter.ended and reg.parked_count == 0
    # A key with a terminal answers it at once: nothing is made, nothing parked.
    made: list[Own] = []

    def new_waiter() -> Own:
        made.append(Own())
        return made[-1]

    assert reg.park_waiter(key, new_waiter) == ok(1)
    assert made == [] and reg.parked_count == 0


def test_own_and_plain_waiters_share_a_key_and_a_deadline_wakes_the_rest() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c1"))
    first = reg.park_waiter(key, Own)
    plain = reg.park(key, Flag)
    second = reg.park_waiter(key, Own)
    assert isinstance(first, Own) and isinstance(second, Own) and isinstance(plain, Waiter)
    assert [first.index, plain.index, second.index] == [0, 1, 2]
    # The first one's deadline passes: it writes `timeout`, which wakes the other two.
    assert reg.end_parked(first, WaitEnd.DEADLINE) == TIMEOUT
    assert first.sets == 0 and second.sets == 1 and plain.event.sets == 1
    assert reg.end_parked(plain, WaitEnd.WOKEN) == TIMEOUT
    assert reg.end_parked(second, WaitEnd.WOKEN) == TIMEOUT
    assert reg.parked_count == 0
    assert reg.resolve(key, ok(2)) == AlreadyResolved(TIMEOUT)


def test_an_own_waiter_of_a_revoked_session_raises_its_error() -> None:
    reg = registry()
    key = reg.mint(TURN, ToolCompletion("c1"))
    waiter = reg.park_waiter(key, Own)
    assert isinstance(waiter, Own)
    assert reg.revoke_session("session") is True
    assert waiter.sets == 1
    with pytest.raises(LashError) as info:
        reg.end_parked(waiter, WaitEnd.CANCELLED)
    assert info.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
    with pytest.raises(LashError) as again:
        reg.end_parked(waiter, WaitEnd.WOKEN)
    assert again.value.code == codes.AWAIT_EVENT_WAITER_UNKNOWN


def _resolve(reg: AwaitEventRegistry, session: str, call: str) -> Any:
    key = reg.mint(TurnScope(session, "turn"), ToolCompletion(call))
    assert reg.resolve(key, ok(call)) == Accepted()
    return key


def test_a_closed_sessions_terminals_leave_the_window_and_the_oldest_live_one_retires() -> None:
    """The window skips the terminals of a session closed since they joined it: the next
    terminal beyond the window retires the oldest terminal still held, not a closed one."""
    reg = registry(retain_recent=2)
    _resolve(reg, "gone", "g1")
    _resolve(reg, "gone", "g2")
    assert reg.recent_count() == 2
    assert reg.close_session("gone") is True
    assert reg.recent_count() == 0
    b1 = _resolve(reg, "kept", "b1")
    b2 = _resolve(reg, "kept", "b2")
    assert reg.recent_count() == 2 and reg.retired_count("kept") == 0
    b3 = _resolve(reg, "kept", "b3")
    assert reg.recent_count() == 2 and reg.retired_count("kept") == 1
    with pytest.raises(LashError) as info:
        reg.peek(b1)
    assert info.value.code == codes.AWAIT_EVENT_RETIRED
    assert reg.peek(b2) == ok("b2") and reg.peek(b3) == ok("b3")
    # The closed session's keys work again as new ones.
    assert reg.peek(reg.mint(TurnScope("gone", "turn"), ToolCompletion("g1"))) is None


def test_closing_many_sessions_keeps_the_window_small() -> None:
    """Regression guard: the terminals of closed sessions are only marked in the window; they
    are swept out once they outnumber the live ones, so a server that closes every session it
    finishes does not grow the window without bound."""
    reg = registry(retain_recent=1000)
    kept = _resolve(reg, "long-lived", "k")
    for i in range(5000):
        _resolve(reg, f"s{i}", "x")
        assert reg.close_session(f"s{i}") is True
    assert reg.recent_count() == 1
    assert len(reg._recent) <= 2 * 65
    assert reg.peek(kept) == ok("k")


def test_a_revoked_sessions_terminals_leave_the_window() -> None:
    reg = registry(retain_recent=3)
    for call in ("r1", "r2"):
        _resolve(reg, "revoked", call)
    other = _resolve(reg, "other", "o1")
    assert reg.revoke_session("revoked") is True
    assert reg.recent_count() == 1
    for call in ("o2", "o3"):
        _resolve(reg, "other", call)
    assert reg.recent_count() == 3 and reg.retired_count("other") == 0
    assert reg.peek(other) == ok("o1")
