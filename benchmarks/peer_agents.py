"""The scripted 20-step agent of :mod:`benchmarks.bench_peers` on lash and on each peer
(LangGraph with ``SqliteSaver``, DBOS on SQLite): one callable per system that runs one whole
agent and returns the tool calls it made."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Literal

from benchmarks.harness import require
from lash_core.durable_turn import CanonicalCache
from lash_core.effects import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolAttemptCommand,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolCallRecord,
    Usage,
)
from lash_core.effects.tools import ToolAttemptLaunchDone
from lash_core.store import Owner, Started, TurnRef
from lash_core.turn import RunEffects, TurnCompleted, TurnConfig, TurnFinished, TurnMachine
from lash_core.wire import JsonValue, Ok, canonical_json
from lash_sqlite import SqliteStore

STEPS: Final = 20
CONFIG: Final = TurnConfig(
    model="bench-model", system_prompt="You are a benchmark.", max_iterations=10 * STEPS
)
USAGE: Final = Usage(120, 30)
PROMPT: Final = "look things up"
LEASE_TTL_MS: Final = 3_600_000
TOPIC: Final = "bench"

Run = Callable[[], int]
"""Runs one whole agent; returns the tool calls it made (checked against the steps)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the scripted model and tool, lash's side -------------------------------------------------


def _model_outcome(rounds_done: int, steps: int) -> LlmCallOutcome:
    """The scripted model: one tool call while rounds remain, then the answer."""
    if rounds_done < steps:
        part = ToolCallPart(f"call_{rounds_done}", "lookup", {"query": f"item {rounds_done}"})
        message = Message(Role.ASSISTANT, (part,))
        return LlmCallOutcome(Ok(LlmResponse(message, USAGE, StopReason.TOOL_USE)), False)
    message = Message(Role.ASSISTANT, (TextPart("here is what I found"),))
    return LlmCallOutcome(Ok(LlmResponse(message, USAGE, StopReason.STOP)), False)


def lookup(args: JsonValue, call_id: str) -> JsonValue:
    """The trivial tool."""
    return {"found": call_id, "query": args}


def _tool_outcome(command: ToolAttemptCommand) -> ToolAttemptOutcome:
    call = command.call
    output = lookup(call.args, call.call_id)
    record = ToolCallRecord(
        call.call_id, call.tool_name, call.args, output, output, 0, command.attempt, True
    )
    return ToolAttemptOutcome(ToolAttemptLaunchDone(record))


class LashAgent:
    """Runs the scripted agent on a fresh session and turn each time, through ``store`` (every
    effect begun and completed under the session's lease) or, without one, on the bare
    machine."""

    def __init__(self, store: SqliteStore | None, steps: int, label: str) -> None:
        self.store = store
        self.steps = steps
        self.label = label
        self.runs = itertools.count()
        self.owner = Owner("bench", label)

    def __call__(self) -> int:
        n = next(self.runs)
        session_id, turn_id = f"sess_{self.label}_{n}", f"turn_{n}"
        conversation = (Message(Role.USER, (TextPart(PROMPT),)),)
        store = self.store
        machine = TurnMachine(
            CONFIG, session_id=session_id, turn_id=turn_id, turn_index=0, messages=conversation
        )
        rounds = 0
        tools = 0
        lease = None
        # The durable turn's canonical-envelope path: each message's JSON written once a turn.
        canonical = CanonicalCache()
        if store is not None:
            lease = store.acquire(session_id, self.owner, LEASE_TTL_MS, now_ms())
            start = "[" + ",".join(canonical_json(m) for m in conversation) + "]"
            store.open_turn(lease, turn_id, start, now_ms())
        while True:
            step = machine.next()
            machine.drain_events()
            if isinstance(step, TurnFinished):
                require(isinstance(step.result.outcome, TurnCompleted), "the agent completes")
                if store is not None and lease is not None:
                    result = canonical_json(step.result)
                    store.finish_turn(lease, TurnRef(session_id, turn_id), result, now_ms())
                    store.release(lease)
                return tools
            if not isinstance(step, RunEffects):
                raise RuntimeError(f"the scripted agent stalled at {step!r}")
            for envelope in step.envelopes:
                key = envelope.replay_key
                assert key is not None
                if store is not None and lease is not None:
                    begun = store.begin(lease, canonical.envelope(envelope), now_ms())
                    require(isinstance(begun, Started), "every effect of a new turn starts")
                outcome = self._run(envelope, rounds)
                if envelope.kind is EffectKind.LLM_CALL:
                    rounds += 1
                else:
                    tools += 1
                if store is not None and lease is not None:
                    store.complete(lease, key, canonical_json(outcome), now_ms())
                machine.send(key, outcome)

    def _run(self, envelope: EffectEnvelope, rounds: int) -> EffectOutcome:
        if envelope.kind is EffectKind.LLM_CALL:
            return _model_outcome(rounds, self.steps)
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        return _tool_outcome(command)


# -- the peers ---------------------------------------------------------------------------------


def import_optional(module: str) -> Any:
    """The module, or ``None`` when it is not installed (the peer is then skipped)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


class LangGraphAgent:
    """The scripted agent as a LangGraph graph (model node, tool node) on ``SqliteSaver``."""

    def __init__(
        self,
        path: Path,
        steps: int,
        durability: Literal["sync", "async"],
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        graph = importlib.import_module("langgraph.graph")
        saver_module = importlib.import_module("langgraph.checkpoint.sqlite")
        messages = importlib.import_module("langchain_core.messages")
        ai_message, tool_message = messages.AIMessage, messages.ToolMessage

        def model(state: dict[str, Any]) -> dict[str, Any]:
            done = sum(1 for m in state["messages"] if isinstance(m, tool_message))
            if done < steps:
                call = {"name": "lookup", "args": {"query": f"item {done}"}, "id": f"call_{done}"}
                return {"messages": [ai_message("", tool_calls=[call])]}
            return {"messages": [ai_message("here is what I found")]}

        def tools(state: dict[str, Any]) -> dict[str, Any]:
            calls = state["messages"][-1].tool_calls
            return {
                "messages": [
                    tool_message(
                        content=json.dumps(lookup(c["args"], c["id"])), tool_call_id=c["id"]
                    )
                    for c in calls
                ]
            }

        def route(state: dict[str, Any]) -> str:
            return "tools" if state["messages"][-1].tool_calls else str(graph.END)

        builder = graph.StateGraph(graph.MessagesState)
        builder.add_node("model", model)
        builder.add_node("tools", tools)
        builder.add_edge(graph.START, "model")
        builder.add_conditional_edges("model", route, ["tools", graph.END])
        builder.add_edge("tools", "model")
        self.connection = sqlite3.connect(str(path), check_same_thread=False)
        self.connection.execute(f"PRAGMA synchronous = {synchronous}")
        self.app = builder.compile(checkpointer=saver_module.SqliteSaver(self.connection))
        self.human = messages.HumanMessage
        self.tool_message = tool_message
        self.durability = durability
        self.runs = itertools.count()

    def __call__(self) -> int:
        config = {
            "configurable": {"thread_id": f"{self.durability}-{next(self.runs)}"},
            "recursion_limit": 10 * STEPS,
        }
        state = self.app.invoke(
            {"messages": [self.human(PROMPT)]}, config, durability=self.durability
        )
        return sum(1 for m in state["messages"] if isinstance(m, self.tool_message))

    def close(self) -> None:
        self.connection.close()


_DBOS_FUNCTIONS: dict[str, Any] = {}
"""The DBOS workflows, registered once per process (DBOS keeps its registry across launches)."""


def dbos_functions(dbos: Any) -> dict[str, Any]:
    if _DBOS_FUNCTIONS:
        return _DBOS_FUNCTIONS
    api = dbos.DBOS

    def model(rounds_done: int, steps: int) -> dict[str, Any]:
        if rounds_done < steps:
            call = {"name": "lookup", "args": {"query": f"item {rounds_done}"}}
            return {"tool_calls": [{**call, "id": f"call_{rounds_done}"}]}
        return {"text": "here is what I found"}

    def tool(call: dict[str, Any]) -> JsonValue:
        return lookup(call["args"], call["id"])

    model_step = api.step(name="bench_model")(model)
    tool_step = api.step(name="bench_tool")(tool)

    def agent(steps: int) -> int:
        rounds = tools = 0
        while True:
            response = model_step(rounds, steps)
            rounds += 1
            if "tool_calls" not in response:
                return tools
            for call in response["tool_calls"]:
                tool_step(call)
                tools += 1

    def waiter(count: int) -> list[int]:
        """Receive ``count`` messages, each asked of the sender just before its ``recv``;
        returns ns from each message's send to its receipt."""
        latencies = []
        for i in range(count):
            DBOS_SENDER[0](i)
            message = api.recv(TOPIC, timeout_seconds=30)
            latencies.append(time.perf_counter_ns() - int(message["t0"]))
        return latencies

    _DBOS_FUNCTIONS["agent"] = api.workflow(name="bench_agent")(agent)
    _DBOS_FUNCTIONS["waiter"] = api.workflow(name="bench_waiter")(waiter)
    return _DBOS_FUNCTIONS


DBOS_SENDER: list[Callable[[int], None]] = [lambda i: None]
"""What the waiter workflow calls before its ``i``-th ``recv`` (asks the sender to send)."""


class Dbos:
    """DBOS launched on a SQLite system database at ``path``, or on the database ``url``
    names (a Postgres one: ``benchmarks.bench_postgres``); destroyed by :meth:`close`."""

    def __init__(self, dbos: Any, path: Path, url: str | None = None) -> None:
        self.dbos = dbos
        self.url = f"sqlite:///{path}" if url is None else url
        for name in ("dbos", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.functions = dbos_functions(dbos)
        dbos.DBOS(
            config={
                "name": "lash-bench",
                "system_database_url": self.url,
                "log_level": "WARNING",
                "run_admin_server": False,
            }
        )
        dbos.DBOS.launch()

    def agent(self, steps: int) -> Run:
        workflow = self.functions["agent"]

        def run() -> int:
            return int(workflow(steps))

        return run

    def close(self) -> None:
        self.dbos.DBOS.destroy()
