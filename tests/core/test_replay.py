"""Replay-mismatch validation: structural diff, summary, message and invariant errors."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import EffectEnvelope, EffectKind, LashError, ReplayMismatchError, codes, wire
from lash_core.canonical import sha256_hex
from lash_core.effects import (
    CanonicalEnvelope,
    DurableStepCommand,
    EffectSubject,
    Invocation,
    InvocationScope,
    Replay,
)
from lash_core.replay import (
    DiffMissing,
    DiffPresent,
    divergent_paths,
    envelope_diff,
    validate_replayed_effect_envelope,
)


def step(value: Any, *, step_id: str = "step") -> CanonicalEnvelope:
    return EffectEnvelope.build(
        Invocation(
            scope=InvocationScope.for_turn("s", "t", 0, 0),
            subject=EffectSubject("e1", EffectKind.DURABLE_STEP),
            replay=Replay("s:t:0:0:durable_step:e1"),
        ),
        DurableStepCommand(step_id, value),
    ).canonical()


def mismatch(recorded: CanonicalEnvelope, reconstructed: CanonicalEnvelope) -> ReplayMismatchError:
    with pytest.raises(ReplayMismatchError) as info:
        validate_replayed_effect_envelope(recorded, reconstructed, "test_mismatch")
    assert info.value.code == "test_mismatch"
    return info.value


def test_equal_envelopes_pass() -> None:
    validate_replayed_effect_envelope(step({"a": 1}), step({"a": 1}))


def test_reports_deep_tool_result_scalar_path() -> None:
    a = step({"tool_results": [{"call_id": "c1", "output": {"rows": [1, 2, 3]}}]})
    b = step({"tool_results": [{"call_id": "c1", "output": {"rows": [1, 2, 4]}}]})
    error = mismatch(a, b)
    assert error.summary.first_divergent_paths == ("command.input.tool_results[0].output.rows[2]",)


def test_reports_added_and_removed_field_paths() -> None:
    error = mismatch(step({"kept": 1, "gone": 2}), step({"kept": 1, "new": 3}))
    assert error.summary.first_divergent_paths == ("command.input.gone", "command.input.new")


def test_reports_reordered_array_element_paths() -> None:
    error = mismatch(step(["a", "b", "c"]), step(["b", "a", "c"]))
    assert error.summary.first_divergent_paths == ("command.input[0]", "command.input[1]")


def test_command_paths_come_before_invocation_paths() -> None:
    a = step(1, step_id="x")
    other = EffectEnvelope.build(
        Invocation(
            scope=InvocationScope.for_turn("s", "t", 0, 1),
            subject=EffectSubject("e1", EffectKind.DURABLE_STEP),
            replay=Replay("s:t:0:0:durable_step:e1"),
        ),
        DurableStepCommand("y", 1),
    ).canonical()
    assert mismatch(a, other).summary.first_divergent_paths == (
        "command.step_id",
        "invocation.scope.protocol_iteration",
    )


def test_error_summary_counts_all_paths_and_keeps_first_eight() -> None:
    error = mismatch(
        step({f"k{i:02}": i for i in range(12)}), step({f"k{i:02}": -i - 1 for i in range(12)})
    )
    assert error.summary.divergent_path_count == 12
    assert error.summary.first_divergent_paths == tuple(f"command.input.k{i:02}" for i in range(8))
    assert "divergent_path_count=12" in error.message
    assert error.message.endswith(
        "divergent_paths=[" + ", ".join(f"command.input.k{i:02}" for i in range(8)) + "]"
    )


def test_json_types_are_compared_strictly() -> None:
    assert divergent_paths([1, 1, True], [1.0, True, 1]) == ["[0]", "[1]", "[2]"]
    assert divergent_paths({"a": None}, {}) == ["a"]
    assert divergent_paths({"a": [1]}, {"a": {"0": 1}}) == ["a"]


def test_large_divergent_value_is_whole_value_elided() -> None:
    a, b = step({"blob": "x" * 5000, "small": 1}), step({"blob": "y" * 5000, "small": 2})
    diff = envelope_diff(a, b)
    assert [d.path for d in diff.divergent_paths] == ["command.input.blob", "command.input.small"]
    blob = diff.divergent_paths[0].recorded
    assert isinstance(blob, DiffPresent)
    assert blob.value_json is None and blob.value_json_omitted_reason == "size_limit"
    assert blob.json_len == 5002
    small = diff.divergent_paths[1].reconstructed
    assert small == DiffPresent(1, sha256_hex(b"2"), "2", None)
    missing = envelope_diff(step({}), step({"x": 1})).divergent_paths[0].recorded
    assert missing == DiffMissing()
    assert wire.to_json(small) == (
        '{"state":"present","json_len":1,"json_sha256":"' + sha256_hex(b"2") + '","value_json":"2"}'
    )
    assert wire.from_json(wire.to_json(diff), type(diff)) == diff


def test_forced_hash_mismatch_with_identical_canonical_forms_fails_loudly() -> None:
    a = step(1)
    forged = CanonicalEnvelope(a.json, "0" * 64)
    with pytest.raises(LashError) as info:
        validate_replayed_effect_envelope(a, forged)
    assert info.value.code == codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT
    assert "reconstructed" in info.value.message
    assert not isinstance(info.value, ReplayMismatchError)


def test_identical_json_with_different_valid_hashes_is_impossible_and_reported() -> None:
    text = '{"a":1}'
    with pytest.raises(LashError) as info:
        validate_replayed_effect_envelope(
            CanonicalEnvelope(text, sha256_hex(text.encode())),
            CanonicalEnvelope('{"a":1.0}', sha256_hex(b'{"a":1.0}')),
        )
    assert isinstance(info.value, ReplayMismatchError)
    same_structure = CanonicalEnvelope('{"a": 1}', sha256_hex(b'{"a": 1}'))
    with pytest.raises(LashError) as info:
        validate_replayed_effect_envelope(
            CanonicalEnvelope(text, sha256_hex(text.encode())), same_structure
        )
    assert info.value.code == codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT


def test_unparseable_json_is_a_decode_error() -> None:
    bad = CanonicalEnvelope("{not json", sha256_hex(b"{not json"))
    with pytest.raises(LashError) as info:
        validate_replayed_effect_envelope(step(1), bad)
    assert info.value.code == codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE


def test_default_mismatch_code() -> None:
    with pytest.raises(ReplayMismatchError) as info:
        validate_replayed_effect_envelope(step(1), step(2))
    assert info.value.code == codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH
