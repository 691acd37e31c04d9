"""``lash demo --store PATH [--resume]``: the demo turn on a durable host over a SQLite store."""

from __future__ import annotations

import argparse
import sys

from lash_cli.output import (
    Output,
)
from lash_core.canonical import canonical_text_of
from lash_core.demo_keys import DemoEvent as DemoEvent
from lash_core.demo_keys import run_demo as run_demo
from lash_core.demo_keys import tamper_signature as tamper_signature
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey
from lash_core.wire import to_json, to_wire


def run_durable_demo(path: str, loop: str, *, resume: bool, json_lines: bool, out: Output) -> int:
    """The demo turn on a durable host over the SQLite store at ``path``: it waits for its
    webhook (print its key, resolve it from any process, even after this one was killed);
    with ``resume`` the turn the store holds is finished, printing what ran in this process."""
    from lash_core.demo_turn import DemoLine, DurableDemo, run_durable_demo_turn
    from lash_sqlite import SqliteStore

    def emit(line: DemoLine) -> None:
        if json_lines:
            record = {"at": line.at, "kind": line.kind, "text": line.text, "data": line.data}
            out.write(canonical_text_of(record) + "\n")
        elif line.kind == "effect":
            out.write(f"{line.at:7.3f}s  effect  {line.text}\n")
        else:
            out.write(f"{line.at:7.3f}s  {line.kind:<7} {line.text}\n")
        out.flush()

    def on_pending(key: AwaitEventKey) -> None:
        key_json = to_json(key)
        if json_lines:
            out.write(canonical_text_of({"kind": "pending", "key": to_wire(key)}) + "\n")
        else:
            resolution = '{"status":"ok","payload":{"delivered":true,"receipt":"r-1"}}'
            out.write(
                "pending: send_report waits for its webhook (this process may be killed now).\n"
                f"key: {key_json}\n"
                f"resolve it from any process:  lash store resolve {path} '{key_json}' "
                f"'{resolution}'\n"
                f"then finish the turn:         lash demo --store {path} --resume\n"
            )
        out.flush()

    if not json_lines:
        action = "resuming the stored turn" if resume else "one durable turn"
        out.write(f"lash demo: {action} on {loop} in {path}, with a SCRIPTED model\n")
        out.flush()
    store = SqliteStore(path)
    try:
        if loop == "trio":
            import trio

            from lash_trio import open_durable_host as open_trio

            async def on_trio() -> DurableDemo:
                async with open_trio(store, owner="lash-demo") as host:
                    return await run_durable_demo_turn(host, emit, on_pending, resume=resume)

            demo = trio.run(on_trio)
        else:
            import asyncio

            from lash_asyncio import open_durable_host as open_asyncio

            async def on_asyncio() -> DurableDemo:
                async with open_asyncio(store, owner="lash-demo") as host:
                    return await run_durable_demo_turn(host, emit, on_pending, resume=resume)

            demo = asyncio.run(on_asyncio())
    except LashError as exc:
        sys.stderr.write(f"lash demo: error: {exc.code}: {exc.message}\n")
        return 1
    finally:
        store.close()
    summary = {
        "model_calls": demo.model_calls,
        "tool_calls": demo.tool_calls,
        "replayed": demo.replayed,
    }
    if json_lines:
        out.write(canonical_text_of({"kind": "ran_in_this_process", "data": summary}) + "\n")
    else:
        result = demo.result
        assert result is not None
        for part in to_wire(result.outcome).get("message", {}).get("parts", []):
            if part.get("type") == "text":
                out.write(f"          answer: {part['text']}\n")
        out.write(
            f"ran in this process: {demo.model_calls} model calls, {demo.tool_calls} tool calls "
            f"({demo.replayed} outcomes replayed from the store)\n"
        )
    return 0


def _add_durable_demo_options(demo: argparse.ArgumentParser) -> None:
    """``lash demo --store PATH [--resume]``."""
    demo.add_argument(
        "--store",
        metavar="PATH",
        default=None,
        help="run the turn durably in this SQLite store: it waits for its webhook; kill it, "
        "resolve the key with `lash store resolve`, then finish it with --resume",
    )
    demo.add_argument(
        "--resume",
        action="store_true",
        help="with --store: finish the demo turn the store holds (nothing recorded runs again)",
    )
