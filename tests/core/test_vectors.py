"""Every vector in tests/data/wire.json is reproduced exactly (a copy of the reference's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lash_core import (
    AwaitEventKey,
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    ExecutionScope,
    KeySigner,
    ReplayMismatchError,
    Resolution,
    ResolveOutcome,
    WaitIdentity,
    WireDecodeError,
    wire,
)
from lash_core.effects import (
    CanonicalEnvelope,
    ControllerError,
    DurableStepCommand,
    EffectSubject,
    Invocation,
    InvocationScope,
    Replay,
)
from lash_core.effects.replay_keys import wake_id
from lash_core.keys import derive_key_id, sign_material
from lash_core.replay import validate_replayed_effect_envelope

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "wire.json").read_text("utf-8")
)
SECRET = bytes.fromhex(VECTORS["secrets"]["secret32"].split()[0])
RECORDED = VECTORS["recorded_by_the_reference_runtime"]


def test_the_vector_file_has_what_the_acceptance_names() -> None:
    assert len(RECORDED["envelope_hashes"]) == 29
    assert len(RECORDED["wake_ids"]) == 22
    assert len(VECTORS["keys"]) == 4


@pytest.mark.parametrize("vector", VECTORS["keys"], ids=lambda v: v["wait"]["type"])
def test_keys(vector: dict[str, Any]) -> None:
    scope = wire.from_wire(vector["scope"], ExecutionScope)
    wait = wire.from_wire(vector["wait"], WaitIdentity)
    assert derive_key_id(scope, wait) == vector["key_id"]
    key = KeySigner(SECRET).mint(scope, wait)
    assert key.key_id == vector["key_id"]
    assert key.signature == vector["signature_secret32"]
    if "key_id_preimage" in vector:
        preimage = wire.canonical_json(scope), wire.canonical_json(wait)
        assert f"[{preimage[0]},{preimage[1]}]" == vector["key_id_preimage"]
    if "sign_material" in vector:
        assert sign_material(scope, wait, key.key_id).decode() == vector["sign_material"]
    if "key_json" in vector:
        assert wire.to_json(key) == vector["key_json"]
        assert wire.from_json(vector["key_json"], AwaitEventKey) == key
    if "promise_key" in vector:
        assert key.promise_key == vector["promise_key"]


@pytest.mark.parametrize("text", VECTORS["resolutions"]["encode"])
def test_resolution_encodings(text: str) -> None:
    assert wire.to_json(wire.from_json(text, Resolution)) == text


@pytest.mark.parametrize("text", VECTORS["resolutions"]["decode_ok"])
def test_resolution_lenient_decodings(text: str) -> None:
    value = wire.from_json(text, Resolution)
    assert wire.from_json(wire.to_json(value), Resolution) == value


@pytest.mark.parametrize("text", VECTORS["resolutions"]["decode_error"])
def test_resolution_decode_errors(text: str) -> None:
    with pytest.raises(WireDecodeError):
        wire.from_json(text, Resolution)


@pytest.mark.parametrize("text", VECTORS["resolutions"]["resolve_outcomes"])
def test_resolve_outcome_encodings(text: str) -> None:
    assert wire.to_json(wire.from_json(text, ResolveOutcome)) == text


@pytest.mark.parametrize("vector", VECTORS["envelopes"], ids=lambda v: v["name"])
def test_envelopes(vector: dict[str, Any]) -> None:
    envelope = wire.from_json(vector["json"], EffectEnvelope)
    canonical = envelope.canonical()
    assert canonical.json == vector["json"]
    assert canonical.hash == vector["hash"]
    assert envelope.stable_hash() == vector["hash"]
    if "stored_canonical_pair" in vector:
        assert wire.to_json(canonical) == vector["stored_canonical_pair"]
        assert wire.from_json(vector["stored_canonical_pair"], CanonicalEnvelope) == canonical


def test_sleep_replay_mismatch_summary_and_message() -> None:
    by_name = {v["name"]: v for v in VECTORS["envelopes"]}
    expected = by_name["sleep_1"]["replay_against_sleep_0"]
    recorded = wire.from_json(by_name["sleep_0"]["json"], EffectEnvelope).canonical()
    reconstructed = wire.from_json(by_name["sleep_1"]["json"], EffectEnvelope).canonical()
    with pytest.raises(ReplayMismatchError) as info:
        validate_replayed_effect_envelope(recorded, reconstructed, expected["error_code_example"])
    error = info.value
    assert error.code == expected["error_code_example"]
    assert error.message == expected["message"]
    assert wire.to_wire(error.summary) == expected["summary"]
    controller = error.to_controller_error()
    assert wire.to_json(controller) == VECTORS["controller_errors"][1].replace(
        '"message":"m"', f'"message":{json.dumps(expected["message"])}'
    )


@pytest.mark.parametrize("text", VECTORS["outcomes"])
def test_outcomes(text: str) -> None:
    assert wire.to_json(wire.from_json(text, EffectOutcome)) == text


@pytest.mark.parametrize("text", VECTORS["controller_errors"])
def test_controller_errors(text: str) -> None:
    assert wire.to_json(wire.from_json(text, ControllerError)) == text


def _recorded_envelope(row: dict[str, str]) -> EffectEnvelope:
    return EffectEnvelope.build(
        Invocation(
            scope=InvocationScope.new(row["session"]),
            subject=EffectSubject(row["effect_id"], EffectKind.DURABLE_STEP),
            replay=Replay(row["durable_key"]),
        ),
        DurableStepCommand(
            row["effect_id"], {"session": row["session"], "durable_key": row["durable_key"]}
        ),
    )


@pytest.mark.parametrize("row", RECORDED["envelope_hashes"], ids=lambda r: r["durable_key"])
def test_envelope_hashes_recorded_by_the_reference_runtime(row: dict[str, str]) -> None:
    assert _recorded_envelope(row).stable_hash() == row["envelope_hash"]


@pytest.mark.parametrize("row", RECORDED["wake_ids"], ids=lambda r: r["dedupe_key"])
def test_wake_ids_recorded_by_the_reference_runtime(row: dict[str, str]) -> None:
    assert wake_id(f"session:{row['session']}", row["dedupe_key"]) == row["wake_id"]
