"""Running one turn with a scripted model and a toolbox on trio, asyncio or the simulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lash_asyncio.testing import AsyncioDriver
from lash_core import Message, ScriptedModel, Toolbox, TurnConfig, TurnHandlers, TurnMachine
from lash_core.effects import EffectEnvelope
from lash_core.errors import LashError
from lash_core.host import InlineHost
from lash_core.sim.testing import SimDriver
from lash_core.testing.conformance import Driver, Harness
from lash_core.turn import TurnConfig as _TurnConfig
from lash_core.turn import TurnResult, run_turn
from lash_trio.testing import TrioDriver

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver(), SimDriver(3)]


def machine(config: _TurnConfig, ask: str = "go", history: Sequence[Message] = ()) -> TurnMachine:
    messages = (*history, Message.user(ask))
    return TurnMachine(config, session_id="s", turn_id="t", turn_index=0, messages=messages)


def run(
    driver: Driver,
    model: ScriptedModel,
    box: Toolbox | None = None,
    *,
    config: TurnConfig | None = None,
    during: Callable[[Harness, InlineHost], Awaitable[None]] | None = None,
    errors: list[tuple[EffectEnvelope, LashError]] | None = None,
) -> TurnResult:
    """Run one turn of ``model`` (and ``box``'s tools) on ``driver``; ``during`` runs beside it
    (a webhook); ``errors`` collects what ``on_handler_error`` was told."""
    out: list[TurnResult] = []
    box = box or Toolbox()
    config = config or TurnConfig(model="scripted", tools=box.specs)

    async def scenario(harness: Harness) -> None:
        host = harness.new_host(bytes(range(32)))
        task: Any = None
        if during is not None:
            task = harness.spawn(lambda: during(harness, host))
        handlers = TurnHandlers(model=model, tools=box.handler(host))
        on_error = None if errors is None else (lambda e, x: errors.append((e, x)))
        out.append(await run_turn(machine(config), host, handlers, on_handler_error=on_error))
        if task is not None:
            result = await task.join()
            assert result.error is None, result.error

    driver.run(scenario)
    return out[0]
