"""The ``lash`` command.

This is the one module of ``lash_core`` allowed to do I/O, to draw randomness and to start an
event loop: it creates signing secrets with :mod:`secrets`, prints to stdout and runs trio or
asyncio. Everything it shows is computed by the core.

``lash demo`` runs a real turn on trio or asyncio (``--loop``): a scripted model (no real model
is called) asks for two tools; one answers at once, the other completes later through its
await-event key, resolved by a separate task as a webhook would. It prints the effect trace, the
stream events and the result. ``lash demo keys`` drives an
:class:`~lash_core.promise.AwaitEventRegistry` by hand through the life of one key: mint, park a
waiter, resolve, wake, duplicate resolve, tampered key, session revocation. ``--json`` prints
either trace as JSON lines.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import attrs

from lash_core import __version__
from lash_core.canonical import canonical_text_of
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.promise import AwaitEventRegistry, WaitEnd, Waiter
from lash_core.resolution import ok
from lash_core.scope import ToolCompletion, TurnScope
from lash_core.sim.run import SHAPE_FLAGS
from lash_core.sim.world import DEFAULT_SHAPE, WorldShape
from lash_core.wire import to_json, to_wire

__all__ = ["DemoEvent", "main", "run_demo", "run_sim", "run_turn_demo", "tamper_signature"]


@attrs.frozen
class DemoEvent:
    """One step of the demo trace.

    ``values`` maps a label to a wire value (a key, a resolution, an outcome) or to plain JSON
    data (ids, flags, codes). Wire values are shown in their JSON wire form.
    """

    step: str
    message: str
    values: tuple[tuple[str, Any], ...] = ()


def _wire_data(value: Any) -> Any:
    """Plain JSON data for a value: wire values by their wire form, the rest as they are."""
    if attrs.has(type(value)):
        return to_wire(value)
    return value


def _wire_text(value: Any) -> str:
    if attrs.has(type(value)):
        return to_json(value)
    return canonical_text_of(value)


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


# -- output ----------------------------------------------------------------------------------


def _print_text(events: Sequence[DemoEvent], out: TextIO) -> None:
    out.write("lash demo: one await-event key, driven by hand through the registry\n")
    width = max(len(e.step) for e in events)
    for number, event in enumerate(events, 1):
        out.write(f"{number:2}. {event.step:<{width}}  {event.message}\n")
        indent = " " * (width + 6)
        for label, value in event.values:
            out.write(f"{indent}{label}: {_wire_text(value)}\n")


def _print_json_lines(events: Sequence[DemoEvent], out: TextIO) -> None:
    for event in events:
        line: dict[str, Any] = {"step": event.step, "message": event.message}
        for label, value in event.values:
            line[label] = _wire_data(value)
        out.write(canonical_text_of(line) + "\n")


def run_turn_demo(loop: str, *, json_lines: bool, out: TextIO, virtual_time: bool = False) -> int:
    """Run the scripted turn of :mod:`lash_core.demo_turn` on ``loop`` and print its trace."""
    from lash_core.demo_turn import DemoLine, run_demo_turn

    lines: list[DemoLine] = []

    def emit(line: DemoLine) -> None:
        lines.append(line)
        if json_lines:
            record = {"at": line.at, "kind": line.kind, "text": line.text, "data": line.data}
            out.write(canonical_text_of(record) + "\n")
        elif line.kind == "result":
            out.write(f"{line.at:7.3f}s  result: {line.text}\n")
            data = line.data or {}
            out.write(f"          usage: {canonical_text_of(data.get('usage'))}\n")
            outcome = data.get("outcome", {})
            for part in outcome.get("message", {}).get("parts", []):
                if part.get("type") == "text":
                    out.write(f"          answer: {part['text']}\n")
        elif line.kind == "effect":
            out.write(f"{line.at:7.3f}s  effect  {line.text}\n")
            out.write(f"                  -> {canonical_text_of(line.data)}\n")
        else:
            out.write(f"{line.at:7.3f}s  {line.kind:<7} {line.text}\n")

    if not json_lines:
        out.write(
            f"lash demo: one turn on {loop}, with a SCRIPTED model (no real model is called)\n"
        )
    if loop == "trio":
        try:
            import trio

            from lash_trio import InlineEffectHost as TrioHost
        except ImportError:
            out.write(
                "trio is not installed: pip install 'lash-effects[trio]' or use --loop asyncio\n"
            )
            return 2
        clock = None
        if virtual_time:
            import trio.testing

            clock = trio.testing.MockClock(autojump_threshold=0)
        trio.run(run_demo_turn, TrioHost(), emit, clock=clock)
    else:
        import asyncio

        from lash_asyncio import InlineEffectHost as AsyncioHost
        from lash_asyncio.clock import VirtualClock
        from lash_asyncio.clock import run as run_virtual

        if virtual_time:
            run_virtual(run_demo_turn(AsyncioHost(), emit), clock=VirtualClock())
        else:
            asyncio.run(run_demo_turn(AsyncioHost(), emit))
    return 0


# -- commands --------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.what == "turn":
        return run_turn_demo(
            args.loop, json_lines=args.json, out=sys.stdout, virtual_time=args.virtual_time
        )
    events = run_demo(secrets.token_bytes(32))
    if args.json:
        _print_json_lines(events, sys.stdout)
    else:
        _print_text(events, sys.stdout)
    return 0


def _progress(done: int, total: int, failures: int, out: TextIO) -> None:
    width = 30
    filled = width * done // total if total else width
    bar = "#" * filled + "-" * (width - filled)
    out.write(f"\r[{bar}] {done}/{total} seeds, {failures} failed")
    if done == total:
        out.write("\n")
    out.flush()


def run_sim(
    seeds: Sequence[int],
    shape: WorldShape,
    *,
    out: TextIO,
    err: TextIO,
    trace: bool = False,
    max_shown: int = 5,
) -> int:
    """Simulate each seed, showing progress on ``err`` and a summary table (and any failure,
    with the command that reproduces it) on ``out``. ``trace`` prints each seed's trace as JSON
    lines instead. Returns 1 if any seed failed, else 0."""
    from lash_core.sim.run import SimSummary, simulate_seed

    summary = SimSummary()
    total = len(seeds)
    step = max(total // 100, 1)
    for done, seed in enumerate(seeds, 1):
        report = simulate_seed(seed, shape)
        summary.add(report)
        if trace:
            out.write("".join(line + "\n" for line in report.trace_lines()))
        elif done % step == 0 or done == total:
            _progress(done, total, len(summary.failures), err)
    if trace:
        return 1 if summary.failures else 0
    first = seeds[0] if seeds else 0
    out.write(
        f"lash sim: {total} seeds from {first}; worlds of up to {shape.max_sessions} sessions x "
        f"{shape.max_turns} turns x {shape.max_steps} model calls x {shape.max_tools} tools, "
        f"{shape.fault_percent}% faults\n"
    )
    rows = summary.table()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.write(f"  {label:<{width}}  {value:>10,}\n")
    for report in summary.failures[:max_shown]:
        out.write(f"\nseed {report.seed} FAILED\n{report.describe()}\n")
    hidden = len(summary.failures) - max_shown
    if hidden > 0:
        out.write(f"\n... and {hidden} more failing seeds\n")
    return 1 if summary.failures else 0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        shape = WorldShape(**{field: getattr(args, field) for field, _, _ in SHAPE_FLAGS})
    except LashError as exc:
        sys.stderr.write(f"lash sim: {exc.code}: {exc.message}\n")
        return 2
    if args.seed is not None:
        seeds = [args.seed]
    else:
        seeds = list(range(args.start, args.start + args.seeds))
    return run_sim(seeds, shape, out=sys.stdout, err=sys.stderr, trace=args.trace)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lash", description="lash: a pure, synchronous effect core for LLM agents."
    )
    parser.add_argument("--version", action="version", version=f"lash {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a scripted turn on trio or asyncio (or `demo keys`: the registry by hand)",
        description="`lash demo` runs a real turn with a scripted model that calls two tools, "
        "one completing later through its await-event key resolved by a webhook task, and "
        "prints the effect trace and the result. `lash demo keys` mints a key, parks a waiter, "
        "resolves it, resolves it again, presents a tampered key and revokes the session.",
    )
    demo.add_argument(
        "what", nargs="?", choices=("turn", "keys"), default="turn", help="which demo to run"
    )
    demo.add_argument(
        "--loop", choices=("trio", "asyncio"), default="trio", help="event loop for the turn"
    )
    demo.add_argument("--json", action="store_true", help="print the trace as JSON lines")
    demo.add_argument(
        "--virtual-time",
        action="store_true",
        help="run the turn on a virtual clock (no real waiting; trace times are virtual)",
    )
    demo.set_defaults(handler=_cmd_demo)
    sim = commands.add_parser(
        "sim",
        help="run the deterministic simulator over many seeds and check its oracles",
        description="`lash sim` draws a world of sessions, turns, scripted model answers, tools, "
        "external resolvers, cancels and revocations from each seed, runs it on the simulator "
        "(virtual time, seeded scheduling) and checks every oracle. The same seed always gives "
        "the same trace; a failing seed is printed with the command that reproduces it.",
    )
    sim.add_argument("--seeds", type=_count, default=100, help="how many seeds to run")
    sim.add_argument("--start", type=_count, default=0, help="the first seed")
    sim.add_argument("--seed", type=_count, default=None, help="run this one seed only")
    for field, flag, text in SHAPE_FLAGS:
        default = getattr(DEFAULT_SHAPE, field)
        sim.add_argument(flag, type=type(default), default=default, dest=field, help=text)
    sim.add_argument(
        "--trace", action="store_true", help="print each seed's trace as JSON lines instead"
    )
    sim.set_defaults(handler=_cmd_sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lash`` command; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
