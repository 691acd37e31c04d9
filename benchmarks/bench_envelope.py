"""Canonical JSON of an effect envelope against json.dumps of the equivalent plain dict.

The subject is the whole typed path a durable host pays to journal an envelope: unstructure the
frozen attrs values (sorting the free-form ``input``), then the canonical encoder. The baseline
is one ``json.dumps`` of a dict already in wire order with ``input`` already sorted, so the ratio
is the price of starting from typed values and of the canonical-number check.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.catalog import benchmark
from benchmarks.harness import Body, Context, Figure, require
from lash_core import EffectEnvelope, EffectKind, wire
from lash_core.canonical import canonical_text_of
from lash_core.effects import (
    DurableStepCommand,
    EffectSubject,
    Invocation,
    InvocationScope,
    Replay,
)

SESSION = "sess_OTHYDCZJWC6EKP2KOJRRA6Y5TW"
TURN = "turn_56VIOMPFBQBL7B2CN4FS2MS7YJ"
EFFECT_ID = "7"
REPLAY_KEY = f"{SESSION}:{TURN}:3:1:durable_step:{EFFECT_ID}"
STEP_ID = "fetch-forecast"

INPUT: dict[str, Any] = {
    "city": "Lisbon",
    "days": [1, 2, 3],
    "options": {"hourly": False, "lang": "pt", "threshold": 21.5},
    "units": "metric",
}
"""A small nested ``input`` (keys already sorted, so the plain dict needs no sorting)."""


def envelope() -> EffectEnvelope:
    """A validated ``durable_step`` envelope of a turn effect."""
    invocation = Invocation(
        scope=InvocationScope.for_turn(SESSION, TURN, 3, 1),
        subject=EffectSubject(effect_id=EFFECT_ID, kind=EffectKind.DURABLE_STEP),
        replay=Replay(REPLAY_KEY),
    )
    return EffectEnvelope.build(invocation, DurableStepCommand(step_id=STEP_ID, input=INPUT))


def envelope_dict() -> dict[str, Any]:
    """The same envelope as a plain dict in wire order."""
    return {
        "invocation": {
            "scope": {
                "session_id": SESSION,
                "turn_id": TURN,
                "turn_index": 3,
                "protocol_iteration": 1,
            },
            "subject": {"type": "effect", "effect_id": EFFECT_ID, "kind": "durable_step"},
            "replay": {"key": REPLAY_KEY},
        },
        "command": {"type": "durable_step", "step_id": STEP_ID, "input": INPUT},
    }


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@benchmark("envelope_canonical")
def envelope_canonical(ctx: Context) -> list[Figure]:
    """wire.canonical_json(durable_step envelope) vs json.dumps of the equivalent dict."""
    env = envelope()
    plain = envelope_dict()
    require(wire.canonical_json(env) == _dumps(plain), "the plain dict is the same envelope")

    def subject(n: int) -> Body:
        canonical_json = wire.canonical_json

        def body() -> None:
            for _ in range(n):
                canonical_json(env)

        return body

    def baseline(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                _dumps(plain)

        return body

    sub, base = ctx.compare(subject, baseline)

    # Where the time goes (reported in the detail, not judged): unstructuring alone, and the
    # canonical encoder alone on the already-unstructured data.
    wire_data = wire.to_wire(env)

    def to_wire_only(n: int) -> Body:
        to_wire = wire.to_wire

        def body() -> None:
            for _ in range(n):
                to_wire(env)

        return body

    def encode_only(n: int) -> Body:
        def body() -> None:
            for _ in range(n):
                canonical_text_of(wire_data)

        return body

    unst, enc = ctx.compare(to_wire_only, encode_only)
    return [
        ctx.figure(
            "envelope_canonical",
            sub,
            "json.dumps(plain dict)",
            base,
            detail={"to_wire_us": unst.median_us, "canonical_text_of_us": enc.median_us},
        )
    ]
