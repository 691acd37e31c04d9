"""The walkthrough behind ``lash demo keys``: one await-event key through its whole life.

:func:`run_demo` drives an :class:`~lash_core.promise.AwaitEventRegistry` by hand: mint, park a
waiter, resolve, wake, resolve again, a tampered key, session revocation; it returns the trace
as :class:`DemoEvent` steps, a pure function of the secret it is given. ``lash demo keys``
(:mod:`lash_cli`) prints it.
"""

from __future__ import annotations

from typing import Any

import attrs

from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import ok
from lash_core.scope import ToolCompletion, TurnScope

__all__ = ["DemoEvent", "run_demo", "tamper_signature"]


@attrs.frozen
class DemoEvent:
    """One step of the demo trace.

    ``values`` maps a label to a wire value (a key, a resolution, an outcome) or to plain JSON
    data (ids, flags, codes). Wire values are shown in their JSON wire form.
    """

    step: str
    message: str
    values: tuple[tuple[str, Any], ...] = ()


def tamper_signature(key: AwaitEventKey) -> AwaitEventKey:
    """``key`` with the first character of its signature changed to another hex digit."""
    first = key.signature[:1]
    replacement = "1" if first == "0" else "0"
    return attrs.evolve(key, signature=replacement + key.signature[1:])


class _Flag:
    """A level-triggered event the demo's waiter is parked with."""

    def __init__(self) -> None:
        self.is_set = False

    def set(self) -> None:
        self.is_set = True


def run_demo(secret: bytes) -> list[DemoEvent]:
    """Drive a registry through the life of one key and return the trace.

    The secret is an input, so the trace is a pure function of it.
    """
    events: list[DemoEvent] = []

    def emit(step: str, message: str, **values: Any) -> None:
        events.append(DemoEvent(step, message, tuple(values.items())))

    registry = AwaitEventRegistry(KeySigner(secret))
    emit(
        "setup",
        f"a registry signing with a fresh {len(secret)}-byte secret (the secret is not shown)",
    )

    scope = TurnScope(session_id="session-1", turn_id="turn-1")
    wait = ToolCompletion(tool_call_id="call-1")
    key = registry.mint(scope, wait)
    emit("mint", "minted the key for a tool completion in a turn scope", key=key)

    waiter = registry.park(key, _Flag)
    if not isinstance(waiter, Waiter):
        raise AssertionError(f"a fresh key must park its first waiter, got {waiter!r}")
    emit(
        "park",
        "no terminal yet: the waiter is parked with its event (a driver now waits on it)",
        woken=waiter.event.is_set,
    )

    first = ok({"temperature_c": 21.5, "city": "Oslo"})
    outcome = registry.resolve(key, first)
    emit(
        "resolve",
        f"resolved ok: {outcome.status}",
        resolution=first,
        outcome=outcome,
    )
    emit(
        "woken",
        "the registry set the waiter's event",
        woken=waiter.event.is_set,
    )

    ended = registry.end_parked(waiter, WaitEnd.WOKEN)
    emit(
        "end_parked",
        "the waiter ends and receives the terminal that won",
        terminal=ended,
    )

    second = ok({"temperature_c": -40.0, "city": "Oslo"})
    again = registry.resolve(key, second)
    emit(
        "resolve_again",
        f"a second, different resolution: {again.status} (first writer wins)",
        resolution=second,
        outcome=again,
    )

    tampered = tamper_signature(key)
    refused = registry.resolve(tampered, ok("forged"))
    kept = registry.peek(key)
    emit(
        "resolve_tampered",
        f"a key with one signature character changed: {refused.status}; the real key "
        "still holds its first terminal",
        tampered_key=tampered,
        outcome=refused,
        terminal=kept,
    )

    revoked = registry.revoke_session(scope.session_id)
    emit(
        "revoke_session",
        f"revoked session {scope.session_id!r}: its keys are refused from now on",
        session_id=scope.session_id,
        newly_revoked=revoked,
    )

    later = ToolCompletion(tool_call_id="call-2")
    try:
        registry.mint(scope, later)
    except LashError as exc:
        emit(
            "mint_after_revoke",
            f"minting a new key in the revoked session is refused: {exc.code}",
            code=exc.code,
            error=exc.message,
        )
    else:
        raise AssertionError("a revoked session must refuse to mint")
    return events
