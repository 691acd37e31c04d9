"""Envelope construction: the validation rules in their order, and canonical hashing."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lash_core import EffectEnvelope, EffectKind, LashError, LocalProtocolError, codes, wire
from lash_core.effects import (
    CanonicalEnvelope,
    DurableStepCommand,
    EffectCommand,
    EffectSubject,
    Invocation,
    InvocationScope,
    PreparedToolBatch,
    PreparedToolBatchCall,
    PreparedToolCall,
    ProcessSubject,
    Replay,
    SleepCommand,
    ToolAttemptCommand,
    ToolBatchCommand,
)

SCOPE = InvocationScope.for_turn("session", "turn", 0, 0)
CALL = PreparedToolCall("c1", "t", "read", {})


def invocation(kind: EffectKind, effect_id: str = "e1", replay: str | None = "k1") -> Invocation:
    return Invocation(
        SCOPE, EffectSubject(effect_id, kind), None, None if replay is None else Replay(replay)
    )


def rejected(invocation: Invocation, command: EffectCommand) -> LocalProtocolError:
    with pytest.raises(LocalProtocolError) as info:
        EffectEnvelope.build(invocation, command)
    envelope = EffectEnvelope(invocation, command)
    with pytest.raises(LocalProtocolError) as again:
        envelope.validate()
    assert (again.value.code, again.value.message) == (info.value.code, info.value.message)
    return info.value


# -- the reference vectors -------------------------------------------------------------------

DURABLE_JSON = (
    '{"invocation":{"scope":{"session_id":"session","turn_id":"turn","turn_index":0,'
    '"protocol_iteration":0},"subject":{"type":"effect","effect_id":"durable:test",'
    '"kind":"durable_step"},"replay":{"key":"durable:test"}},'
    '"command":{"type":"durable_step","step_id":"test","input":{"tool_results":[]}}}'
)
DURABLE_HASH = "51bf04b415c77d92d50c79611d7c0949cfb196bb498318b82d16056ad4aa5947"


def sleep_json(duration_ms: int) -> str:
    return (
        '{"invocation":{"scope":{"session_id":"replay-mismatch-session",'
        '"turn_id":"replay-mismatch-turn","turn_index":0,"protocol_iteration":0},'
        '"subject":{"type":"effect","effect_id":"replay-mismatch-sleep","kind":"sleep"},'
        '"replay":{"key":"replay-mismatch-sleep"}},'
        f'"command":{{"type":"sleep","duration_ms":{duration_ms}}}}}'
    )


SLEEP_HASHES = {
    0: "48cefd9b4f51553b8d1d509ad7166a17e44aea27c756f407358704ef92311a5d",
    1: "9a3f83482657107e2c6b2c3f031f0a3fa363a6d1c71d39b2f3e8d72769f473c1",
}


def test_reference_durable_step_envelope_hash() -> None:
    built = EffectEnvelope.build(
        Invocation.effect(SCOPE, "durable:test", EffectKind.DURABLE_STEP, "durable:test"),
        DurableStepCommand("test", {"tool_results": []}),
    )
    assert built.canonical() == CanonicalEnvelope(DURABLE_JSON, DURABLE_HASH)
    assert built.stable_hash() == DURABLE_HASH
    decoded: EffectEnvelope = wire.from_json(DURABLE_JSON, EffectEnvelope)
    assert decoded == built
    assert decoded.stable_hash() == DURABLE_HASH
    assert hashlib.sha256(DURABLE_JSON.encode()).hexdigest() == DURABLE_HASH


@pytest.mark.parametrize("duration_ms", [0, 1])
def test_reference_sleep_envelope_hashes(duration_ms: int) -> None:
    built = EffectEnvelope.build(
        Invocation.effect(
            InvocationScope.for_turn("replay-mismatch-session", "replay-mismatch-turn", 0, 0),
            "replay-mismatch-sleep",
            EffectKind.SLEEP,
            "replay-mismatch-sleep",
        ),
        SleepCommand(duration_ms),
    )
    canonical = built.canonical()
    assert canonical.json == sleep_json(duration_ms)
    assert canonical.hash == SLEEP_HASHES[duration_ms]
    assert wire.from_json(sleep_json(duration_ms), EffectEnvelope) == built


def test_canonical_pair_wire_form_and_properties() -> None:
    envelope: EffectEnvelope = wire.from_json(DURABLE_JSON, EffectEnvelope)
    pair = envelope.canonical()
    assert wire.to_json(pair) == (
        '{"json":' + wire.canonical_json(DURABLE_JSON) + ',"hash":"' + DURABLE_HASH + '"}'
    )
    assert wire.from_json(wire.to_json(pair), CanonicalEnvelope) == pair
    assert envelope.kind is EffectKind.DURABLE_STEP
    assert envelope.replay_key == "durable:test"
    assert list(wire.to_wire(envelope)) == ["invocation", "command"]


def test_canonical_failure_has_the_envelope_hash_code() -> None:
    envelope = EffectEnvelope(
        invocation(EffectKind.DURABLE_STEP), DurableStepCommand("s", {"bad": "\ud800"})
    )
    with pytest.raises(LashError) as info:
        envelope.canonical()
    assert info.value.code == codes.RUNTIME_EFFECT_ENVELOPE_HASH
    not_json: Any = {1, 2}
    with pytest.raises(LashError) as info:
        EffectEnvelope(
            invocation(EffectKind.DURABLE_STEP), DurableStepCommand("s", not_json)
        ).canonical()
    assert info.value.code == codes.RUNTIME_EFFECT_ENVELOPE_HASH


# -- construction rules ----------------------------------------------------------------------


def test_plain_construction_and_decoding_do_not_validate() -> None:
    bad = EffectEnvelope(invocation(EffectKind.SLEEP, effect_id=" ", replay=None), SleepCommand(1))
    text = wire.to_json(bad)
    assert text == (
        '{"invocation":{"scope":{"session_id":"session","turn_id":"turn","turn_index":0,'
        '"protocol_iteration":0},"subject":{"type":"effect","effect_id":" ","kind":"sleep"}},'
        '"command":{"type":"sleep","duration_ms":1}}'
    )
    assert wire.from_json(text, EffectEnvelope) == bad
    with pytest.raises(LocalProtocolError):
        bad.validate()


def test_valid_envelopes_build() -> None:
    EffectEnvelope.build(invocation(EffectKind.SLEEP), SleepCommand(0))
    EffectEnvelope.build(
        invocation(EffectKind.TOOL_ATTEMPT),
        ToolAttemptCommand(call=CALL, attempt=3, max_attempts=3),
    )
    EffectEnvelope.build(
        invocation(EffectKind.TOOL_BATCH), ToolBatchCommand(PreparedToolBatch.build("b", [CALL]))
    )


def test_subject_must_be_an_effect() -> None:
    err = rejected(Invocation(SCOPE, ProcessSubject("p1"), None, Replay("k")), SleepCommand(1))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_SUBJECT
    assert err.message == "runtime effect envelope subject must be an effect"


@pytest.mark.parametrize("effect_id", ["", " ", "\t\n"])
def test_effect_id_must_not_be_blank(effect_id: str) -> None:
    err = rejected(invocation(EffectKind.SLEEP, effect_id=effect_id), SleepCommand(1))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_SUBJECT
    assert err.message == "runtime effect envelope effect id must be non-empty"


def test_kind_mismatch_names_both_kinds() -> None:
    err = rejected(invocation(EffectKind.DURABLE_STEP), SleepCommand(1))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_KIND
    assert err.message == (
        "runtime effect invocation kind durable_step does not match command kind sleep"
    )


def test_replay_key_is_required_and_not_trimmed() -> None:
    for replay in (None, ""):
        err = rejected(invocation(EffectKind.SLEEP, replay=replay), SleepCommand(1))
        assert err.code == codes.RUNTIME_EFFECT_REPLAY_REQUIRED
        assert err.message == "runtime effect envelope requires replay.key"
    # A whitespace-only key is not empty: it passes.
    EffectEnvelope.build(invocation(EffectKind.SLEEP, replay=" "), SleepCommand(1))


def test_durable_step_id_must_not_be_blank() -> None:
    err = rejected(invocation(EffectKind.DURABLE_STEP), DurableStepCommand("  ", None))
    assert err.code == codes.RUNTIME_EFFECT_DURABLE_STEP_ID


def test_tool_attempt_call_id_must_not_be_blank() -> None:
    blank = PreparedToolCall(" ", "t", "read", {})
    err = rejected(
        invocation(EffectKind.TOOL_ATTEMPT),
        ToolAttemptCommand(call=blank, attempt=1, max_attempts=1),
    )
    assert err.code == codes.RUNTIME_EFFECT_TOOL_ATTEMPT_CALL_ID


@pytest.mark.parametrize(("attempt", "max_attempts"), [(0, 1), (1, 0), (0, 0), (3, 2)])
def test_tool_attempt_index_bounds(attempt: int, max_attempts: int) -> None:
    err = rejected(
        invocation(EffectKind.TOOL_ATTEMPT),
        ToolAttemptCommand(call=CALL, attempt=attempt, max_attempts=max_attempts),
    )
    assert err.code == codes.RUNTIME_EFFECT_TOOL_ATTEMPT_INDEX
    assert err.message.endswith(f"got {attempt}/{max_attempts}")


def test_tool_batch_rules() -> None:
    inv = invocation(EffectKind.TOOL_BATCH)
    err = rejected(inv, ToolBatchCommand(PreparedToolBatch(" ", ())))
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_ID
    err = rejected(inv, ToolBatchCommand(PreparedToolBatch("b", ())))
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_EMPTY
    blank_call = PreparedToolBatchCall(PreparedToolCall("", "t", "n", None), "child:0:")
    err = rejected(inv, ToolBatchCommand(PreparedToolBatch("b", (blank_call,))))
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_ID
    assert err.message == "runtime effect tool batch call 0 has an empty call id"
    blank_suffix = PreparedToolBatchCall(CALL, " ")
    err = rejected(inv, ToolBatchCommand(PreparedToolBatch("b", (blank_suffix,))))
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_REPLAY
    assert err.message == "runtime effect tool batch call 0 has an empty replay suffix"


# -- order: a value breaking two rules reports the earlier one -------------------------------


def test_non_effect_subject_beats_everything() -> None:
    err = rejected(Invocation(SCOPE, ProcessSubject("p1")), DurableStepCommand("", None))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_SUBJECT


def test_blank_effect_id_beats_kind_mismatch() -> None:
    err = rejected(invocation(EffectKind.SLEEP, effect_id=" "), DurableStepCommand("s", None))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_SUBJECT


def test_kind_mismatch_beats_missing_replay() -> None:
    err = rejected(invocation(EffectKind.SLEEP, replay=None), DurableStepCommand("s", None))
    assert err.code == codes.RUNTIME_EFFECT_INVOCATION_KIND


def test_missing_replay_beats_command_rules() -> None:
    err = rejected(invocation(EffectKind.DURABLE_STEP, replay=""), DurableStepCommand(" ", None))
    assert err.code == codes.RUNTIME_EFFECT_REPLAY_REQUIRED
    err = rejected(
        invocation(EffectKind.TOOL_BATCH, replay=None), ToolBatchCommand(PreparedToolBatch("", ()))
    )
    assert err.code == codes.RUNTIME_EFFECT_REPLAY_REQUIRED


def test_tool_attempt_call_id_beats_index() -> None:
    err = rejected(
        invocation(EffectKind.TOOL_ATTEMPT),
        ToolAttemptCommand(call=PreparedToolCall("", "t", "n", None), attempt=0, max_attempts=0),
    )
    assert err.code == codes.RUNTIME_EFFECT_TOOL_ATTEMPT_CALL_ID


def test_tool_batch_id_beats_empty() -> None:
    err = rejected(invocation(EffectKind.TOOL_BATCH), ToolBatchCommand(PreparedToolBatch("", ())))
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_ID


def test_tool_batch_calls_are_checked_one_by_one() -> None:
    # Call 0 has a blank suffix, call 1 a blank call id: call 0 is reported first.
    first = PreparedToolBatchCall(CALL, "")
    second = PreparedToolBatchCall(PreparedToolCall(" ", "t", "n", None), "child:1: ")
    err = rejected(
        invocation(EffectKind.TOOL_BATCH), ToolBatchCommand(PreparedToolBatch("b", (first, second)))
    )
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_REPLAY
    assert err.message == "runtime effect tool batch call 0 has an empty replay suffix"
    # Within one call the call id comes before the suffix.
    both = PreparedToolBatchCall(PreparedToolCall("", "t", "n", None), "")
    err = rejected(
        invocation(EffectKind.TOOL_BATCH), ToolBatchCommand(PreparedToolBatch("b", (CALL_OK, both)))
    )
    assert err.code == codes.RUNTIME_EFFECT_TOOL_BATCH_CALL_ID
    assert err.message == "runtime effect tool batch call 1 has an empty call id"


CALL_OK = PreparedToolBatchCall(CALL, "child:0:c1")
