"""The outcome check's fast path (the common well-formed shapes, recognised without the walk)
accepts only what the full walk accepts: with any field of a model or tool outcome replaced
(at any depth, past the classes' validators, as a handler could), ``check_outcome_contents``
refuses exactly what the walk refuses, with the same code and message."""

from __future__ import annotations

import math
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from lash_core.effects import (
    DirectOutcome,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Role,
    StopReason,
    TextPart,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from lash_core.effects._checks_base import _Bad
from lash_core.effects.checks import _CHECKS, _QUICK, check_outcome_contents
from lash_core.effects.outcomes import EffectOutcome
from lash_core.effects.tools import ToolAttemptLaunchDone, ToolCallRecord
from lash_core.errors import LashError
from lash_core.wire import Err, Ok


class _Str(str):
    pass


class _Int(int):
    pass


_RESPONSE = LlmResponse(
    Message(
        Role.ASSISTANT,
        (
            TextPart("thinking"),
            ToolCallPart("c1", "lookup", {"query": "x", "n": 3, "deep": False, "none": None}),
            ToolResultPart("c0", "lookup", "done", False),
        ),
    ),
    Usage(10, 2, 0, 0),
    StopReason.TOOL_USE,
)
_RECORD = ToolCallRecord("c1", "lookup", {"query": "x"}, {"found": 1}, "found", 3, 1, True)
_SAMPLES: list[EffectOutcome] = [
    LlmCallOutcome(Ok(_RESPONSE), False),
    DirectOutcome(Ok(_RESPONSE)),
    ToolAttemptOutcome(ToolAttemptLaunchDone(_RECORD)),
]

_ODD = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**32,
        2**63,
        2**64,
        -(2**63) - 1,
        1.5,
        math.nan,
        math.inf,
        "",
        "é",
        "\ud800",
        _Str("x"),
        _Int(1),
        b"x",
        [1],
        (),
        ("x",),
        {"a": 1},
        {"a": {"b": 1}},
        {"a": [1]},
        {"é": 1},
        {1: "a"},
        {"a": 1.5},
        {"a": math.nan},
        {"a": "\ud800"},
        {"a": 2**64},
        {str(i): i for i in range(9)},
        Role.USER,
        StopReason.STOP,
        TextPart("x"),
        Ok(None),
        Err("x"),
        Usage(1, 1, 1, 1),
    ]
)


def _forced(original: Any, changes: dict[str, Any]) -> Any:
    new = object.__new__(type(original))
    for field in attrs.fields(type(original)):
        object.__setattr__(new, field.name, changes.get(field.name, getattr(original, field.name)))
    return new


def _mutated(value: Any, data: st.DataObject) -> Any:
    """``value`` with one field somewhere inside replaced by an odd value."""
    if isinstance(value, (Ok, Err)) or attrs.has(type(value)):
        fields = [f.name for f in attrs.fields(type(value))]
        name = data.draw(st.sampled_from(fields))
        inner = getattr(value, name)
        deeper = data.draw(st.booleans())
        if isinstance(inner, tuple) and inner and deeper:
            i = data.draw(st.integers(0, len(inner) - 1))
            items = list(inner)
            items[i] = _mutated(items[i], data)
            replacement: Any = tuple(items)
        elif (isinstance(inner, (Ok, Err)) or attrs.has(type(inner))) and deeper:
            replacement = _mutated(inner, data)
        else:
            replacement = data.draw(_ODD)
        return _forced(value, {name: replacement})
    return data.draw(_ODD)


def _walk(outcome: EffectOutcome) -> str | None:
    """What the full walk says of ``outcome``: None if it passes, else its problem."""
    try:
        _CHECKS[type(outcome)](outcome)
    except _Bad as bad:
        return bad.message
    return None


def _checked(outcome: EffectOutcome) -> str | None:
    try:
        check_outcome_contents(outcome)
    except LashError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("outcome", _SAMPLES, ids=lambda o: type(o).__name__)
def test_the_common_shapes_take_the_fast_path(outcome: EffectOutcome) -> None:
    assert _QUICK[type(outcome)](outcome) is True
    assert _walk(outcome) is None
    check_outcome_contents(outcome)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_the_fast_path_accepts_only_what_the_walk_accepts(data: st.DataObject) -> None:
    outcome = _mutated(data.draw(st.sampled_from(_SAMPLES)), data)
    walked = _walk(outcome)
    if _QUICK[type(outcome)](outcome):
        assert walked is None
    checked = _checked(outcome)
    if walked is None:
        assert checked is None
    else:
        assert checked is not None and checked.endswith(walked)


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (
            ToolAttemptOutcome(ToolAttemptLaunchDone(_forced(_RECORD, {"attempt": 2**32}))),
            "launch.record.attempt: 4294967296 is out of range (0 to 4294967295)",
        ),
        (
            LlmCallOutcome(
                Ok(_forced(_RESPONSE, {"usage": _forced(_RESPONSE.usage, {"input_tokens": True})})),
                False,
            ),
            "result.Ok.usage.input_tokens: expected an int, got bool",
        ),
        (
            DirectOutcome(
                Ok(
                    _forced(
                        _RESPONSE,
                        {
                            "message": _forced(
                                _RESPONSE.message,
                                {"parts": (ToolCallPart("c1", "lookup", {"a": math.nan}),)},
                            )
                        },
                    )
                )
            ),
            "result.Ok.message.parts[0].args:",
        ),
    ],
)
def test_a_bad_field_of_a_common_shape_is_still_refused(
    outcome: EffectOutcome, message: str
) -> None:
    with pytest.raises(LashError) as info:
        check_outcome_contents(outcome)
    assert info.value.message.startswith(message)
