"""Decoding: the reference's leniency (unknown fields) and our strictness (types, paths)."""

from __future__ import annotations

from typing import Any

import pytest

from lash_core import (
    CANCELLED,
    TIMEOUT,
    AlreadyResolved,
    AwaitEventKey,
    ExecutionScope,
    Resolution,
    ResolveOutcome,
    TurnScope,
    WaitIdentity,
    WireDecodeError,
    codes,
    from_json,
    from_wire,
    ok,
    to_json,
    to_wire,
)
from lash_core.resolution import ExternalCompletionError, ResolutionErr
from lash_core.scope import ProcessSignal
from lash_core.wire import converter


def test_unknown_fields_are_ignored() -> None:
    scope = from_json(
        '{"type":"turn","extra":[1,2],"session_id":"s","turn_id":"t"}', ExecutionScope
    )
    assert scope == TurnScope("s", "t")


def test_key_order_on_input_is_free_and_output_is_canonical() -> None:
    res = from_json('{"payload":{"b":1,"a":2},"status":"ok"}', Resolution)
    assert res == ok({"a": 2, "b": 1})
    assert to_json(res) == '{"status":"ok","payload":{"a":2,"b":1}}'


def test_unit_resolutions_accept_missing_or_null_payload_but_not_a_value() -> None:
    assert from_json('{"status":"timeout"}', Resolution) == TIMEOUT
    assert from_json('{"status":"cancelled","payload":null}', Resolution) == CANCELLED
    with pytest.raises(WireDecodeError) as info:
        from_json('{"status":"cancelled","payload":1}', Resolution)
    assert info.value.path == "$.payload"


def test_ok_and_err_need_their_payload() -> None:
    for text in ('{"status":"ok"}', '{"status":"err"}'):
        with pytest.raises(WireDecodeError) as info:
            from_json(text, Resolution)
        assert info.value.code == codes.WIRE_DECODE
        assert "missing field `payload`" in info.value.message
    assert from_json('{"status":"ok","payload":null}', Resolution) == ok(None)


def test_err_payload_raw_is_optional_and_omitted_when_none() -> None:
    res = from_json('{"status":"err","payload":{"code":"c","message":"m","raw":null}}', Resolution)
    assert res == ResolutionErr(ExternalCompletionError("c", "m"))
    assert to_json(res) == '{"status":"err","payload":{"code":"c","message":"m"}}'
    with_raw = ResolutionErr(ExternalCompletionError("c", "m", {"z": 1, "a": [1.5]}))
    assert to_json(with_raw) == (
        '{"status":"err","payload":{"code":"c","message":"m","raw":{"a":[1.5],"z":1}}}'
    )


@pytest.mark.parametrize(
    ("text", "tp", "path", "fragment"),
    [
        ('{"type":"turn","session_id":1,"turn_id":"t"}', ExecutionScope, "$.session_id", "string"),
        ('{"type":"turn","session_id":"s"}', ExecutionScope, "$", "missing field `turn_id`"),
        ('{"type":"nope"}', ExecutionScope, "$.type", "unknown variant"),
        ('{"session_id":"s"}', ExecutionScope, "$", "missing field `type`"),
        ('["turn"]', ExecutionScope, "$", "expected an object"),
        (
            '{"type":"process_signal","process_id":"p","signal_name":"s","ordinal":true}',
            WaitIdentity,
            "$.ordinal",
            "integer",
        ),
        (
            '{"type":"process_signal","process_id":"p","signal_name":"s","ordinal":-1}',
            WaitIdentity,
            "$.ordinal",
            "out of range",
        ),
        (
            '{"type":"process_signal","process_id":"p","signal_name":"s","ordinal":1.0}',
            WaitIdentity,
            "$.ordinal",
            "integer",
        ),
        (
            '{"status":"already_resolved","terminal":{"status":"err","payload":{"code":3}}}',
            ResolveOutcome,
            "$.terminal.payload.code",
            "string",
        ),
        (
            '{"scope":{"type":"turn","session_id":"s","turn_id":"t"},"wait":{"type":"custom"},'
            '"key_id":"k","signature":"s"}',
            AwaitEventKey,
            "$.wait",
            "missing field `key`",
        ),
    ],
)
def test_malformed_input_names_the_path(text: str, tp: Any, path: str, fragment: str) -> None:
    with pytest.raises(WireDecodeError) as info:
        from_json(text, tp)
    assert info.value.code == codes.WIRE_DECODE
    assert info.value.path == path
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "text",
    ["", "{", "NaN", '{"a": Infinity}', b"\xff\xfe", '"\\ud800"', '["\\udfff"]'],
)
def test_text_that_is_not_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(WireDecodeError) as info:
        from_json(text, Resolution)
    assert info.value.code == codes.WIRE_INVALID_JSON


def test_escaped_surrogate_pairs_are_fine() -> None:
    assert from_json('{"status":"ok","payload":"\\ud83d\\ude00"}', Resolution) == ok("😀")


def test_the_cattrs_converter_speaks_the_same_format() -> None:
    outcome = AlreadyResolved(ok({"b": 1, "a": None}))
    data = converter.unstructure(outcome)
    assert data == to_wire(outcome)
    assert list(data) == ["status", "terminal"]
    structure: Any = converter.structure
    assert structure(data, ResolveOutcome) == outcome
    assert structure(to_wire(ProcessSignal("p", "s", 3)), WaitIdentity) == ProcessSignal(
        "p", "s", 3
    )
    with pytest.raises(WireDecodeError):
        structure({"status": "bogus"}, ResolveOutcome)


def test_structuring_python_data_with_non_json_values_is_refused() -> None:
    with pytest.raises(WireDecodeError) as info:
        from_wire({"status": "ok", "payload": {"a": {1, 2}}}, Resolution)
    assert info.value.path == "$.payload.a"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("\ufeff{}", "Unexpected UTF-8 BOM"),
        (b"\xef\xbb\xbf{}", "Unexpected UTF-8 BOM"),
        ('{"a": NaN}', "NaN is not JSON"),
        ("1e999", "number 1e999 is out of range"),
        ("[1,2", "Expecting ',' delimiter"),
    ],
)
def test_text_json_refuses_is_wire_invalid_json_whichever_the_form(
    text: str | bytes, why: str
) -> None:
    with pytest.raises(WireDecodeError) as caught:
        from_json(text, Any)
    assert caught.value.code == codes.WIRE_INVALID_JSON
    assert why in caught.value.message


def test_one_decoder_serves_every_parse() -> None:
    from lash_core.wire import parse_json

    assert parse_json('{"a":1.5,"b":[1,"x",null]}') == {"a": 1.5, "b": [1, "x", None]}
    assert parse_json('{"a":2}') == {"a": 2}, "nothing carried over from the previous parse"
