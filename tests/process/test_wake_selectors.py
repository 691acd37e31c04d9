"""Wakes: the value selectors that pick a wake's input, condition and dedupe key."""

from __future__ import annotations

import pytest

from lash_core import JsonValue, wire
from lash_core.process import (
    ProcessRegistry,
    select_value,
)
from lash_core.process.records import (
    ConstSelector,
    PayloadSelector,
    PointerSelector,
    PresentSelector,
    ProcessEventType,
    ProcessValueSelector,
    ProcessWakeSpec,
    TemplateField,
    TemplateSelector,
)
from tests.process.support import scope
from tests.process.test_wakes import register, request, wake_type

# -- selectors -------------------------------------------------------------------------------

DOC: JsonValue = {"a": {"b/c": [10, {"~k": "deep"}]}, "s": "str", "n": None, "e": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (PayloadSelector(), DOC),
        (PointerSelector(""), DOC),
        (PointerSelector("/s"), "str"),
        (PointerSelector("/n"), None),
        (PointerSelector("/a/b~1c/0"), 10),
        (PointerSelector("/a/b~1c/1/~0k"), "deep"),
        (ConstSelector({"x": 1}), {"x": 1}),
        (PresentSelector("/n"), True),
        (PresentSelector("/missing"), False),
        (PresentSelector("/a/b~1c/2"), False),
        (PresentSelector("/a/b~1c/01"), False),
        (PresentSelector("/s/0"), False),
        (
            TemplateSelector(
                "{s}-{n}-{x}-{s}",
                (
                    TemplateField("s", PointerSelector("/s")),
                    TemplateField("n", PointerSelector("/n")),
                    TemplateField("x", ConstSelector([1, "a"])),
                ),
            ),
            'str-null-[1,"a"]-str',
        ),
    ],
)
def test_selectors_pick_values(selector: ProcessValueSelector, expected: JsonValue) -> None:
    assert select_value(DOC, selector) == expected


@pytest.mark.parametrize(
    ("payload", "wakes"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (0, True),
        (True, True),
        ("x", True),
        ([0], True),
        ({"k": None}, True),
    ],
)
def test_when_wakes_only_on_truthy_values(payload: JsonValue, wakes: bool) -> None:
    registry = ProcessRegistry()
    spec = ProcessWakeSpec(ConstSelector("woke"), when=PointerSelector("/w"))
    register(registry, "p", wake_type("w", spec), target=scope("s"))
    appended = registry.append_event("p", request("w", {"w": payload}), 1)
    assert (appended.wake_delivery is not None) == wakes


def test_wake_declarations_have_a_wire_shape_and_keep_old_hashes() -> None:
    spec = ProcessWakeSpec(
        TemplateSelector("{a}", (TemplateField("a", PointerSelector("/a")),)),
        when=PresentSelector("/a"),
        dedupe_key=ConstSelector("k"),
    )
    declared = ProcessEventType("w", wake=spec)
    data = wire.to_wire(declared)
    assert data == {
        "name": "w",
        "terminal": False,
        "await_output": False,
        "wake": {
            "input": {
                "select": "template",
                "template": "{a}",
                "fields": [{"name": "a", "selector": {"select": "pointer", "pointer": "/a"}}],
            },
            "when": {"select": "present", "pointer": "/a"},
            "dedupe_key": {"select": "const", "value": "k"},
        },
    }
    assert wire.from_wire(data, ProcessEventType) == declared
    # A type without a wake is written as before, so existing registration hashes hold.
    assert wire.to_wire(ProcessEventType("note")) == {
        "name": "note",
        "terminal": False,
        "await_output": False,
    }
