"""A webhook app on asyncio: POST /reports {"to"} starts a turn whose tool hands out its key and
goes pending; POST /webhook {"key", "receipt"} resolves the key; GET /reports/{turn} waits for
the turn's answer. Run: `python docs/examples/webhook_asyncio.py` (serves 127.0.0.1:8000)."""

import asyncio

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lash_asyncio import InlineEffectHost
from lash_core import AwaitEventKey, LashError, Message, ToolAttemptOutcome, ok
from lash_core.handlers import ScriptedModel, Toolbox, ToolContext, call, reply, tool
from lash_core.turn import TurnConfig, TurnHandlers, TurnMachine, TurnResult, run_turn
from lash_core.wire import from_wire, to_wire


class Turn:
    def __init__(self) -> None:
        self.key: AwaitEventKey | None = None  # set once its tool went pending
        self.result: TurnResult | None = None  # set once it ended
        self.changed, self.ended = asyncio.Event(), asyncio.Event()
        self.task: asyncio.Task[None] | None = None


host = InlineEffectHost()
turns: dict[str, Turn] = {}


@tool
async def send_report(to: str, ctx: ToolContext) -> ToolAttemptOutcome:
    """Send the report to `to`; the delivery service confirms it later (POST /webhook)."""
    turn = turns[ctx.session_id]
    turn.key = ctx.key  # in real life: send the key to the delivery service with the work
    turn.changed.set()
    return ctx.pending(deadline_ms=3_600_000)


tools = Toolbox(send_report)
config = TurnConfig(model="scripted", tools=tools.specs)


async def run(turn_id: str, to: str) -> None:
    model = ScriptedModel([reply(tool_calls=[call("send_report", to=to)]), reply(f"Sent to {to}.")])
    ask = (Message.user(f"Send the report to {to}."),)
    machine = TurnMachine(config, session_id=turn_id, turn_id=turn_id, turn_index=0, messages=ask)
    turn = turns[turn_id]
    try:
        turn.result = await run_turn(machine, host, TurnHandlers(model, tools.handler(host)))
    finally:
        turn.ended.set()
        turn.changed.set()


async def start(request: Request) -> JSONResponse:
    turn_id, to = f"report-{len(turns) + 1}", (await request.json())["to"]
    turn = turns[turn_id] = Turn()
    turn.task = asyncio.create_task(run(turn_id, to))
    await turn.changed.wait()  # the key was handed out, or the turn ended without one
    if turn.key is None:
        return JSONResponse({"turn": turn_id, "error": "the turn ended early"}, status_code=500)
    return JSONResponse({"turn": turn_id, "key": to_wire(turn.key)}, status_code=202)


async def webhook(request: Request) -> JSONResponse:
    body = await request.json()
    try:  # a forged or tampered key is answered unknown_or_revoked, and changes nothing
        key = from_wire(body["key"], AwaitEventKey)
    except LashError as error:
        return JSONResponse({"error": error.code}, status_code=400)
    return JSONResponse(to_wire(host.resolve_await_event(key, ok({"receipt": body["receipt"]}))))


async def report(request: Request) -> JSONResponse:
    turn = turns[request.path_params["turn"]]
    await turn.ended.wait()
    assert turn.result is not None
    outcome, messages = turn.result.outcome, turn.result.messages
    tool = to_wire(messages[2].parts[0]) if len(messages) > 2 else None
    return JSONResponse({"status": outcome.status, "answer": messages[-1].text, "tool": tool})


routes = [Route("/reports", start, methods=["POST"]), Route("/webhook", webhook, methods=["POST"])]
app = Starlette(routes=[*routes, Route("/reports/{turn}", report)])

if __name__ == "__main__":
    asyncio.run(serve(app, Config()))  # type: ignore[arg-type]
