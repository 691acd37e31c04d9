"""The core's unchecked constructors build the same values as the public ones."""

from __future__ import annotations

import attrs
import pytest

from lash_core import LashError
from lash_core._unchecked import unchecked
from lash_core.effects.invocation import (
    EffectKind,
    EffectSubject,
    Invocation,
    InvocationScope,
    Replay,
)
from lash_core.effects.llm import ToolResultPart


def test_unchecked_builds_an_equal_value() -> None:
    build = unchecked(ToolResultPart)
    part = build("call_1", "search", {"hits": 3}, False)
    assert type(part) is ToolResultPart
    assert part == ToolResultPart("call_1", "search", {"hits": 3})


def test_unchecked_values_stay_frozen() -> None:
    replay = unchecked(Replay)("k")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        replay.key = "other"  # type: ignore[misc]


def test_unchecked_nests_like_the_public_constructors() -> None:
    scope = InvocationScope.new("sess_1")
    subject = unchecked(EffectSubject)("7", EffectKind.LLM_CALL)
    invocation = unchecked(Invocation)(scope, subject, None, unchecked(Replay)("r"))
    assert invocation == Invocation(
        scope, EffectSubject("7", EffectKind.LLM_CALL), None, Replay("r")
    )


def test_the_public_constructor_still_refuses_bad_input() -> None:
    # The unchecked one is for the core's own values only; users' values are still checked.
    with pytest.raises(LashError):
        ToolResultPart(7, "search", None)  # type: ignore[arg-type]
