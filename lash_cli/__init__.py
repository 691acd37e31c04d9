"""The ``lash`` command.

This is the one module of ``lash_core`` allowed to do I/O, to draw randomness and to start an
event loop: it creates signing secrets with :mod:`secrets`, prints to stdout and runs trio or
asyncio. Everything it shows is computed by the core.

``lash demo`` runs a real turn on trio or asyncio (``--loop``): a scripted model (no real model
is called) asks for two tools; one answers at once, the other completes later through its
await-event key, resolved by a separate task as a webhook would. It prints the effect trace, the
stream events and the result. ``--model openai:NAME`` runs it with a real model on the
OpenAI-compatible server at ``OPENAI_BASE_URL`` instead (:mod:`lash_providers`, imported only
then). ``lash demo keys`` drives an
:class:`~lash_core.promise.AwaitEventRegistry` by hand through the life of one key: mint, park a
waiter, resolve, wake, duplicate resolve, tampered key, session revocation
(:mod:`lash_core.demo_keys`). ``--json`` prints either trace as JSON lines.

``lash store inspect PATH`` and ``lash store resolve PATH KEY_JSON RESOLUTION_JSON`` work on a
SQLite store file; they live in :mod:`lash_sqlite.cli`, imported only when they run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NoReturn

from lash_cli.durable_demo import _add_durable_demo_options, run_durable_demo
from lash_cli.output import (
    Output,
    _Degrading,
    _is_terminal,
    _print_json_lines,
    _print_text,
)
from lash_core import __version__
from lash_core.canonical import canonical_text_of
from lash_core.demo_keys import DemoEvent as DemoEvent
from lash_core.demo_keys import run_demo as run_demo
from lash_core.demo_keys import tamper_signature as tamper_signature
from lash_core.errors import LashError
from lash_core.sim.run import SHAPE_FLAGS
from lash_core.sim.world import DEFAULT_SHAPE, MAX_LATENCY_MS, WorldShape

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "DemoEvent",
    "Output",
    "main",
    "run_demo",
    "run_durable_demo",
    "run_sim",
    "run_turn_demo",
    "tamper_signature",
]

EXIT_USAGE: Final = 2
"""The exit status of a bad command line (an unknown flag, a value out of its range)."""
EXIT_BROKEN_PIPE: Final = 141
"""The exit status once the reader of stdout has gone (``lash sim --trace | head``): what a
shell reports for a command stopped by ``SIGPIPE``, the command printing nothing more."""
EXIT_INTERRUPTED: Final = 130
"""The exit status after Ctrl-C: what a shell reports for a command stopped by ``SIGINT``."""


def _demo_model(spec: str) -> tuple[Any, str]:
    """The model handler ``--model openai:NAME`` names, on the OpenAI-compatible server at
    ``OPENAI_BASE_URL`` (key ``OPENAI_API_KEY``, else a placeholder a local server ignores),
    and what to say about it; ``None`` when no server is set, so the scripted model runs."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        return None, f"--model {spec}: OPENAI_BASE_URL is not set, so the SCRIPTED model runs"
    from lash_providers import LOCAL_API_KEY, model_from_spec

    api_key = os.environ.get("OPENAI_API_KEY") or LOCAL_API_KEY
    handler = model_from_spec(spec, base_url=base_url, api_key=api_key)
    return handler, f"the model {spec} at {base_url}"


def run_turn_demo(
    loop: str,
    *,
    json_lines: bool,
    out: Output,
    virtual_time: bool = False,
    model: str | None = None,
) -> int:
    """Run the turn of :mod:`lash_core.demo_turn` on ``loop`` and print its trace: with the
    scripted model, or with the real model ``model`` names (``openai:NAME``) when
    ``OPENAI_BASE_URL`` is set."""
    from lash_core.demo_turn import DemoLine, run_demo_turn

    lines: list[DemoLine] = []
    handler, about = (None, "") if model is None else _demo_model(model)
    if handler is not None and virtual_time:
        return _usage_error("lash demo", "argument --virtual-time: does not apply to a real model")

    async def demo(host: Any) -> None:
        try:
            await run_demo_turn(host, emit, model=handler)
        finally:
            if handler is not None:
                await handler.aclose()

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

    if handler is not None:
        if not json_lines:
            out.write(f"lash demo: one turn on {loop}, with {about}\n")
    elif json_lines:
        if about:
            sys.stderr.write(f"lash demo: {about}\n")
    else:
        if about:
            out.write(f"lash demo: {about}\n")
        out.write(
            f"lash demo: one turn on {loop}, with a SCRIPTED model (no real model is called)\n"
        )
    if loop == "trio":
        try:
            import trio

            from lash_trio import InlineEffectHost as TrioHost
        except ImportError:
            sys.stderr.write(
                "lash demo: error: trio is not installed: pip install 'lash-effects[trio]' or "
                "use --loop asyncio\n"
            )
            return 2
        clock = None
        if virtual_time:
            import trio.testing

            clock = trio.testing.MockClock(autojump_threshold=0)
        trio.run(demo, TrioHost(), clock=clock)
    else:
        import asyncio

        from lash_asyncio import InlineEffectHost as AsyncioHost
        from lash_asyncio.clock import VirtualClock
        from lash_asyncio.clock import run as run_virtual

        if virtual_time:
            run_virtual(demo(AsyncioHost()), clock=VirtualClock())
        else:
            asyncio.run(demo(AsyncioHost()))
    return 0


def _cmd_durable_demo(args: argparse.Namespace, out: Output) -> int:
    if args.store is None:
        return _usage_error("lash demo", "argument --resume: needs --store PATH")
    if args.what != "turn" or args.virtual_time:
        flag = "--virtual-time" if args.virtual_time else "keys"
        return _usage_error("lash demo", f"argument --store: does not apply with {flag}")
    return run_durable_demo(
        args.store, args.loop or "trio", resume=args.resume, json_lines=args.json, out=out
    )


# -- commands --------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    out = _Degrading(sys.stdout, json_escapes=args.json)
    if args.store is not None or args.resume:
        if args.model is not None:
            return _usage_error("lash demo", "argument --model: does not apply with --store")
        return _cmd_durable_demo(args, out)
    if args.what == "turn":
        loop = args.loop or "trio"
        return run_turn_demo(
            loop,
            json_lines=args.json,
            out=out,
            virtual_time=args.virtual_time,
            model=args.model,
        )
    turn_only = [
        flag
        for flag, given in (
            ("--loop", args.loop),
            ("--virtual-time", args.virtual_time),
            ("--model", args.model),
        )
        if given
    ]
    if turn_only:
        return _usage_error(
            "lash demo", f"argument {turn_only[0]}: applies to the turn demo, not to `demo keys`"
        )
    events = run_demo(secrets.token_bytes(32))
    if args.json:
        _print_json_lines(events, out)
    else:
        _print_text(events, out)
    return 0


def _progress(done: int, total: int | None, failures: int, out: Output) -> None:
    if total is None:
        out.write(f"\r{done} seeds, {failures} failed")
        out.flush()
        return
    width = 30
    filled = width * done // total if total else width
    bar = "#" * filled + "-" * (width - filled)
    out.write(f"\r[{bar}] {done}/{total} seeds, {failures} failed")
    if done == total:
        out.write("\n")
    out.flush()


def _length(seeds: Iterable[int]) -> int | None:
    """How many seeds there are, if that is known without going through them (``len`` of a
    ``range`` fails beyond ``sys.maxsize``: it is computed here)."""
    if isinstance(seeds, range):
        return max(seeds.stop - seeds.start, 0) if seeds.step == 1 else None
    if isinstance(seeds, Sequence):
        return len(seeds)
    return None


def run_sim(
    seeds: Iterable[int],
    shape: WorldShape,
    *,
    out: Output,
    err: Output,
    trace: bool = False,
    max_shown: int = 5,
) -> int:
    """Simulate each seed, showing progress on ``err`` (only if it is a terminal) and a summary
    table (and the first ``max_shown`` failures, each with the command that reproduces it) on
    ``out``. ``trace`` prints each seed's trace as JSON lines instead. Seeds are taken one at a
    time (a ``range`` of any size is fine) and only the failures shown are kept. Characters a
    stream's encoding cannot carry are degraded, never an error. Returns 1 if any seed failed,
    else 0."""
    from lash_core.sim.run import SimSummary, simulate_seed

    out = _Degrading(out, json_escapes=trace)
    show_progress = not trace and _is_terminal(err)
    summary = SimSummary(keep=max_shown)
    total = _length(seeds)
    step = max((total or 0) // 100, 1) if total is not None else 100
    first: int | None = None
    done = 0
    for done, seed in enumerate(seeds, 1):
        if first is None:
            first = seed
        report = simulate_seed(seed, shape)
        summary.add(report)
        if trace:
            out.write("".join(line + "\n" for line in report.trace_lines()))
        elif show_progress and (done % step == 0 or done == total):
            _progress(done, total, summary.failed, err)
    if show_progress and total is None:
        _progress(done, None, summary.failed, err)
        err.write("\n")
    if trace:
        return 1 if summary.failed else 0
    out.write(
        f"lash sim: {done} seeds from {first or 0}; worlds of up to {shape.max_sessions} "
        f"sessions x {shape.max_turns} turns x {shape.max_steps} model calls x "
        f"{shape.max_tools} tools, {shape.fault_percent}% faults"
        + (f"; durable, {shape.crash_percent}% host crashes\n" if shape.durable else "\n")
    )
    rows = summary.table()
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        out.write(f"  {label:<{width}}  {value:>10,}\n")
    for report in summary.failures[:max_shown]:
        out.write(f"\nseed {report.seed} FAILED\n{report.describe()}\n")
    hidden = summary.failed - min(max_shown, len(summary.failures))
    if hidden > 0:
        out.write(f"\n... and {hidden} more failing seeds\n")
    return 1 if summary.failed else 0


# -- the command line ------------------------------------------------------------------------

SEED_LIMIT: Final = 2**64
"""Seeds are ``0`` to ``2**64 - 1`` (the seeded generator's state is 64 bits)."""
WORLD_SIZE_LIMIT: Final = 1000
"""The largest ``--sessions``, ``--turns``, ``--steps`` and ``--tools``."""

SHAPE_RANGES: Final = {
    "max_sessions": (1, WORLD_SIZE_LIMIT),
    "max_turns": (1, WORLD_SIZE_LIMIT),
    "max_steps": (1, WORLD_SIZE_LIMIT),
    "max_tools": (1, WORLD_SIZE_LIMIT),
    "max_latency_ms": (0, MAX_LATENCY_MS),
    "fault_percent": (0, 100),
    "crash_percent": (0, 100),
}
"""The range of each whole-number ``lash sim`` world flag (``--offset`` is a number in
``[0, 1)``)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (with where to find help) and exit
    with status :data:`EXIT_USAGE`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _WholeNumber:
    """An argparse type: a whole number in ``[low, high]``, or an error naming the range."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not self.low <= value <= self.high:
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {self.low} to {self.high}, got {text!r}"
            )
        return value


def _offset(text: str) -> float:
    """An argparse type: a number of ms at least 0 and below 1."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 1:  # NaN fails too
        raise argparse.ArgumentTypeError(
            f"expected a number of ms at least 0 and below 1, got {text!r}"
        )
    return value


def _model_spec(text: str) -> str:
    """An argparse type: ``openai:NAME``."""
    provider, _, name = text.partition(":")
    if provider != "openai" or not name.strip():
        raise argparse.ArgumentTypeError(f"expected openai:NAME (openai:llama3.2), got {text!r}")
    return text


def _usage_error(command: str, message: str) -> int:
    sys.stderr.write(f"{command}: error: {message} (see {command} --help)\n")
    return EXIT_USAGE


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        shape = WorldShape(**{field: getattr(args, field) for field, _, _ in SHAPE_FLAGS})
    except LashError as exc:
        return _usage_error("lash sim", f"{exc.code}: {exc.message}")
    seeds: Iterable[int]
    if args.seed is not None:
        if args.seeds is not None or args.start is not None:
            flag = "--seeds" if args.seeds is not None else "--start"
            return _usage_error(
                "lash sim", f"argument --seed: runs one seed, so {flag} cannot be given too"
            )
        seeds = [args.seed]
    else:
        count = 100 if args.seeds is None else args.seeds
        start = 0 if args.start is None else args.start
        if start + count > SEED_LIMIT:
            return _usage_error(
                "lash sim",
                f"argument --seeds: the last seed is {SEED_LIMIT - 1}, so at most "
                f"{SEED_LIMIT - start} seeds run from --start {start}, not {count}",
            )
        seeds = range(start, start + count)
    return run_sim(seeds, shape, out=sys.stdout, err=sys.stderr, trace=args.trace)


def _cmd_store(args: argparse.Namespace) -> int:
    # lash_sqlite is imported only when a store command runs (lash_core never needs it).
    from lash_sqlite.cli import inspect_command, resolve_command

    if args.store_command == "inspect":
        return inspect_command(args.path, json_output=args.json, out=sys.stdout, err=sys.stderr)
    return resolve_command(
        args.path, args.key_json, args.resolution_json, out=sys.stdout, err=sys.stderr
    )


def _add_store_parser(commands: Any) -> None:
    store = commands.add_parser(
        "store",
        help="inspect a store file, or resolve a key in it while no process runs",
        description="`lash store inspect PATH` prints a store's sessions, turns, pending waits "
        "(with their keys) and leases; `lash store resolve PATH KEY_JSON RESOLUTION_JSON` "
        "resolves a key in it and prints the outcome JSON. Neither creates a missing store.",
    )
    actions = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    inspect = actions.add_parser(
        "inspect", help="print sessions, turns, pending waits and leases (writes nothing)"
    )
    inspect.add_argument("path", metavar="PATH", help="the store file")
    inspect.add_argument("--json", action="store_true", help="print one JSON object instead")
    resolve = actions.add_parser(
        "resolve", help="resolve a key (first writer wins) and print the outcome JSON"
    )
    resolve.add_argument("path", metavar="PATH", help="the store file")
    resolve.add_argument("key_json", metavar="KEY_JSON", help="the await-event key, as JSON")
    resolve.add_argument(
        "resolution_json", metavar="RESOLUTION_JSON", help='e.g. {"status":"ok","payload":1}'
    )
    store.set_defaults(handler=_cmd_store)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        "--loop",
        choices=("trio", "asyncio"),
        default=None,
        help="event loop for the turn (default: trio)",
    )
    demo.add_argument("--json", action="store_true", help="print the trace as JSON lines")
    demo.add_argument(
        "--virtual-time",
        action="store_true",
        help="run the turn on a virtual clock (no real waiting; trace times are virtual)",
    )
    demo.add_argument(
        "--model",
        type=_model_spec,
        default=None,
        metavar="openai:NAME",
        help="run the turn with a real model on the OpenAI-compatible server at "
        "OPENAI_BASE_URL (key: OPENAI_API_KEY, else a placeholder for local servers); "
        "without OPENAI_BASE_URL the scripted model runs",
    )
    _add_durable_demo_options(demo)
    demo.set_defaults(handler=_cmd_demo)
    sim = commands.add_parser(
        "sim",
        help="run the deterministic simulator over many seeds and check its oracles",
        description="`lash sim` draws a world of sessions, turns, scripted model answers, tools, "
        "external resolvers, cancels and revocations from each seed, runs it on the simulator "
        "(virtual time, seeded scheduling) and checks every oracle. The same seed always gives "
        "the same trace; a failing seed is printed with the command that reproduces it.",
    )
    seed = _WholeNumber(0, SEED_LIMIT - 1)
    sim.add_argument(
        "--seeds", type=_WholeNumber(1, SEED_LIMIT), help="how many seeds to run (default: 100)"
    )
    sim.add_argument("--start", type=seed, help="the first seed (default: 0)")
    sim.add_argument("--seed", type=seed, default=None, help="run this one seed only")
    for field, flag, text in SHAPE_FLAGS:
        default = getattr(DEFAULT_SHAPE, field)
        if isinstance(default, bool):
            sim.add_argument(flag, action="store_true", dest=field, help=text)
            continue
        bounds = SHAPE_RANGES.get(field)
        kind: Callable[[str], Any] = _offset if bounds is None else _WholeNumber(*bounds)
        sim.add_argument(flag, type=kind, default=default, dest=field, help=text)
    sim.add_argument(
        "--trace", action="store_true", help="print each seed's trace as JSON lines instead"
    )
    sim.set_defaults(handler=_cmd_sim)
    _add_store_parser(commands)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at the null device, so nothing more (not even the final flush as Python
    exits) writes into a pipe whose reader has gone."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (an in-process capture)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lash`` command; returns the exit status.

    A bad command line prints one line on stderr and exits with :data:`EXIT_USAGE` (as
    ``SystemExit``, like ``--help`` and ``--version``). A reader of stdout that goes away
    (``lash sim --trace | head``) ends the command quietly with :data:`EXIT_BROKEN_PIPE`, and
    Ctrl-C with :data:`EXIT_INTERRUPTED`."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    status = 0
    try:
        status = handler(args)
        sys.stdout.flush()
    except* BrokenPipeError:
        _quiet_stdout()
        status = EXIT_BROKEN_PIPE
    except* KeyboardInterrupt:
        sys.stderr.write("\nlash: interrupted\n")
        status = EXIT_INTERRUPTED
    return status
