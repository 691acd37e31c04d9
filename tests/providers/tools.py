"""The tools of the provider tests' turn: ``weather`` and ``send_report``, both answering at
once, recording the arguments the model sent."""

from __future__ import annotations

from lash_core import EffectEnvelope, ToolAttemptOutcome
from lash_core.effects import ToolAttemptCommand
from lash_core.effects.tools import ToolAttemptLaunchDone, ToolCallRecord
from lash_core.wire import JsonValue

OUTPUTS: dict[str, JsonValue] = {
    "weather": {"city": "Oslo", "temperature_c": 21},
    "send_report": "delivered",
}


class Tools:
    """The tools handler; ``calls`` lists ``(call_id, tool_name, args)`` as they ran (a round's
    calls run concurrently, in any order)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, JsonValue]] = []

    async def __call__(self, envelope: EffectEnvelope) -> ToolAttemptOutcome:
        command = envelope.command
        assert isinstance(command, ToolAttemptCommand)
        call = command.call
        self.calls.append((call.call_id, call.tool_name, call.args))
        output = OUTPUTS[call.tool_name]
        record = ToolCallRecord(
            call.call_id, call.tool_name, call.args, output, output, 1, command.attempt, True
        )
        return ToolAttemptOutcome(ToolAttemptLaunchDone(record))
