"""The effect journal: match, mismatch, new key, JSON lines, and bad input that changes nothing."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lash_core import (
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    JsonValue,
    LashError,
    LocalProtocolError,
    ReplayMismatchError,
    codes,
    from_json,
)
from lash_core.effects import (
    DurableStepCommand,
    DurableStepOutcome,
    Invocation,
    InvocationScope,
    Replay,
    SleepCommand,
    SleepOutcome,
)
from lash_core.journal import EffectJournal, JournalEntry
from lash_core.testing import strategies as lst
from lash_core.wire import canonical_json


def step(step_id: str, input: JsonValue = None, key: str | None = None) -> EffectEnvelope:
    key = key or f"s:durable:{step_id}"
    invocation = Invocation.effect(
        InvocationScope.new("s"), f"durable:{step_id}", EffectKind.DURABLE_STEP, key
    )
    return EffectEnvelope.build(invocation, DurableStepCommand(step_id, input))


def sleep(ms: int, key: str = "s:sleep") -> EffectEnvelope:
    invocation = Invocation.effect(InvocationScope.new("s"), key, EffectKind.SLEEP, key)
    return EffectEnvelope.build(invocation, SleepCommand(ms))


def snapshot(journal: EffectJournal) -> str:
    return journal.to_json_lines()


# -- lookup ----------------------------------------------------------------------------------


def test_a_new_key_is_unknown_and_a_recorded_one_answers() -> None:
    journal = EffectJournal()
    envelope = step("a", {"x": 1})
    assert journal.lookup(envelope) is None
    assert "s:durable:a" not in journal
    entry = journal.record(envelope, DurableStepOutcome({"id": "r-1"}))
    assert entry.replay_key == "s:durable:a"
    assert entry.envelope == envelope.canonical()
    assert journal.lookup(envelope) == DurableStepOutcome({"id": "r-1"})
    # An equal envelope rebuilt from scratch (another process) matches too.
    assert journal.lookup(step("a", {"x": 1})) == DurableStepOutcome({"id": "r-1"})
    assert journal.lookup(step("b")) is None
    assert len(journal) == 1 and journal.get("s:durable:a") == entry
    assert list(journal) == [entry]


def test_the_same_key_with_another_envelope_is_a_mismatch_with_a_diff() -> None:
    journal = EffectJournal()
    journal.record(sleep(0), SleepOutcome())
    before = snapshot(journal)
    with pytest.raises(ReplayMismatchError) as caught:
        journal.lookup(sleep(1))
    error = caught.value
    assert error.code == codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH
    assert error.summary.divergent_path_count == 1
    assert error.summary.first_divergent_paths == ("command.duration_ms",)
    assert "divergent_paths=[command.duration_ms]" in error.message
    diff = journal.diff(sleep(1))
    assert diff is not None
    [path] = diff.divergent_paths
    assert path.path == "command.duration_ms"
    assert getattr(path.recorded, "value_json", None) == "0"
    assert getattr(path.reconstructed, "value_json", None) == "1"
    same = journal.diff(sleep(0))
    assert same is not None and same.divergent_paths == ()
    assert journal.diff(sleep(0, "other")) is None
    assert snapshot(journal) == before


def test_a_mismatch_names_every_divergent_path() -> None:
    journal = EffectJournal()
    journal.record(step("a", {"u": 1, "v": [1, 2]}), DurableStepOutcome(1))
    with pytest.raises(ReplayMismatchError) as caught:
        journal.lookup(step("a", {"u": 2, "v": [1], "w": None}))
    assert caught.value.summary.first_divergent_paths == (
        "command.input.u",
        "command.input.v[1]",
        "command.input.w",
    )


def test_an_envelope_without_a_replay_key_is_refused() -> None:
    journal = EffectJournal()
    envelope = step("a")
    keyless = attrs.evolve(envelope, invocation=attrs.evolve(envelope.invocation, replay=None))
    empty = attrs.evolve(envelope, invocation=attrs.evolve(envelope.invocation, replay=Replay("")))
    for bad in (keyless, empty):
        with pytest.raises(LocalProtocolError) as caught:
            journal.lookup(bad)
        assert caught.value.code == codes.RUNTIME_EFFECT_REPLAY_REQUIRED
        with pytest.raises(LocalProtocolError):
            journal.record(bad, DurableStepOutcome(1))
    assert len(journal) == 0


# -- recording -------------------------------------------------------------------------------


def test_recording_a_wrong_kind_or_a_known_key_changes_nothing() -> None:
    seen: list[JournalEntry] = []
    journal = EffectJournal(on_record=seen.append)
    with pytest.raises(LocalProtocolError) as wrong:
        journal.record(step("a"), SleepOutcome())
    assert wrong.value.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
    assert wrong.value.message == "expected durable_step outcome, got sleep"
    assert len(journal) == 0 and seen == []
    first = journal.record(step("a"), DurableStepOutcome(1))
    assert seen == [first]
    with pytest.raises(LocalProtocolError) as exists:
        journal.record(step("a"), DurableStepOutcome(2))
    assert exists.value.code == codes.EFFECT_JOURNAL_ENTRY_EXISTS
    assert journal.lookup(step("a")) == DurableStepOutcome(1)
    assert seen == [first]


def test_an_outcome_that_is_not_json_is_refused_before_it_is_kept() -> None:
    journal = EffectJournal()
    with pytest.raises(LashError) as caught:
        journal.record(step("a"), DurableStepOutcome({"x": object()}))  # type: ignore[dict-item]
    assert caught.value.code == codes.CANONICAL_JSON_UNENCODABLE
    assert len(journal) == 0


def test_begin_claims_a_new_key_until_recorded_or_abandoned() -> None:
    journal = EffectJournal()
    assert journal.begin(step("a")) is None
    with pytest.raises(LocalProtocolError) as caught:
        journal.begin(step("a"))
    assert caught.value.code == codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT
    journal.abandon(step("a"))
    assert journal.begin(step("a")) is None
    journal.record(step("a"), DurableStepOutcome("v"))
    assert journal.begin(step("a")) == DurableStepOutcome("v")
    assert journal.begin(step("a")) == DurableStepOutcome("v")


# -- JSON lines ------------------------------------------------------------------------------


def test_json_lines_round_trip_and_replay() -> None:
    journal = EffectJournal()
    journal.record(step("clock"), DurableStepOutcome(1767225600.25))
    journal.record(step("id", {"n": 2}), DurableStepOutcome({"id": "b7", "tags": ["x", "é"]}))
    journal.record(sleep(5), SleepOutcome())
    text = journal.to_json_lines()
    lines = text.splitlines()
    assert len(lines) == 3 and text.endswith("\n")
    assert json.loads(lines[0]) == {
        "replay_key": "s:durable:clock",
        "envelope": {
            "json": step("clock").canonical().json,
            "hash": step("clock").canonical().hash,
        },
        "outcome": {"type": "durable_step", "value": 1767225600.25},
    }
    assert list(json.loads(lines[0])) == ["replay_key", "envelope", "outcome"]
    restored = EffectJournal.from_json_lines(text)
    assert list(restored) == list(journal)
    assert restored.to_json_lines() == text
    assert restored.lookup(step("id", {"n": 2})) == DurableStepOutcome(
        {"id": "b7", "tags": ["x", "é"]}
    )
    assert restored.lookup(sleep(5)) == SleepOutcome()
    with pytest.raises(ReplayMismatchError):
        restored.lookup(step("id", {"n": 3}))
    # Blank lines (a trailing newline, an empty file) are nothing.
    assert len(EffectJournal.from_json_lines("")) == 0
    assert len(EffectJournal.from_json_lines("\n" + text + "\n\n")) == 3
    assert list(EffectJournal.from_json_lines(text.replace("\n", "\r\n"))) == list(journal)
    # Appending entry by entry gives the same text.
    appended: list[str] = []
    incremental = EffectJournal(on_record=lambda entry: appended.append(entry.to_json() + "\n"))
    for entry in journal:
        incremental.record(EffectEnvelope_of(entry), entry.outcome)
    assert "".join(appended) == text
    assert JournalEntry.from_json(lines[1]) == list(journal)[1]


def EffectEnvelope_of(entry: JournalEntry) -> EffectEnvelope:
    from lash_core import from_json

    return from_json(entry.envelope.json, EffectEnvelope)


def test_entries_preload_and_load_is_all_or_nothing() -> None:
    source = EffectJournal()
    a = source.record(step("a"), DurableStepOutcome(1))
    b = source.record(step("b"), DurableStepOutcome(2))
    journal = EffectJournal([a])
    before = snapshot(journal)
    with pytest.raises(LashError) as caught:
        journal.load([b, a])
    assert caught.value.code == codes.EFFECT_JOURNAL_ENTRY_EXISTS
    assert snapshot(journal) == before
    with pytest.raises(LashError) as twice:
        EffectJournal([b, b])
    assert twice.value.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY
    assert twice.value.message == "journal entry 2: replay key 's:durable:b' appears twice"
    journal.load([b])
    assert [e.replay_key for e in journal] == ["s:durable:a", "s:durable:b"]
    with pytest.raises(LashError) as again:
        journal.load_json_lines(b.to_json())
    assert again.value.code == codes.EFFECT_JOURNAL_ENTRY_EXISTS


def _good_line() -> dict[str, Any]:
    journal = EffectJournal()
    entry = journal.record(step("a", [1]), DurableStepOutcome("v"))
    data: dict[str, Any] = json.loads(entry.to_json())
    return data


def _forged_pair(envelope_json: str) -> dict[str, str]:
    import hashlib

    return {"json": envelope_json, "hash": hashlib.sha256(envelope_json.encode()).hexdigest()}


def _bad_lines() -> list[tuple[str, str]]:
    good = _good_line()
    other_key = json.loads(good["envelope"]["json"])
    other_key["invocation"]["replay"]["key"] = "s:durable:other"
    return [
        ("not json", "input is not JSON"),
        ("[1, 2]", "expected an object"),
        (json.dumps({**good, "outcome": {"type": "sleep"}}), "expected durable_step outcome"),
        (json.dumps({**good, "outcome": {"type": "nope"}}), "nope"),
        (json.dumps({k: v for k, v in good.items() if k != "outcome"}), "outcome"),
        (
            json.dumps({**good, "envelope": {**good["envelope"], "hash": "0" * 64}}),
            "not the SHA-256",
        ),
        (
            json.dumps({**good, "envelope": _forged_pair('{"invocation": 1}')}),
            "$.invocation",
        ),
        (
            json.dumps({**good, "envelope": _forged_pair(json.dumps(other_key))}),
            "is not its envelope's",
        ),
        (json.dumps({**good, "replay_key": 7}), "$.replay_key"),
        (json.dumps({**good, "envelope": _forged_pair("{")}), "not JSON"),
    ]


@pytest.mark.parametrize(("line", "detail"), _bad_lines())
def test_a_bad_line_is_refused_naming_it_and_nothing_is_loaded(line: str, detail: str) -> None:
    journal = EffectJournal()
    journal.record(step("z"), DurableStepOutcome(0))
    before = snapshot(journal)
    good = json.dumps(_good_line())
    with pytest.raises(LashError) as caught:
        journal.load_json_lines(good + "\n\n" + line + "\n")
    assert caught.value.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY
    assert caught.value.message.startswith("journal line 3: ")
    assert detail in caught.value.message
    assert snapshot(journal) == before
    with pytest.raises(LashError) as alone:
        JournalEntry.from_json(line)
    assert alone.value.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY
    assert alone.value.message.startswith("journal entry: ")


def test_a_key_twice_in_one_text_is_corrupt() -> None:
    good = json.dumps(_good_line())
    with pytest.raises(LashError) as caught:
        EffectJournal.from_json_lines(f"{good}\n{good}\n")
    assert caught.value.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY
    assert "journal line 2: replay key 's:durable:a' appears twice" in caught.value.message


# -- round trip of any entry -----------------------------------------------------------------

_OUTCOME_OF_KIND: dict[EffectKind, Any] = {
    cls.kind: cls for cls in typing.get_args(EffectOutcome) if hasattr(cls, "kind")
}


@st.composite
def entries(draw: st.DrawFn) -> tuple[EffectEnvelope, EffectOutcome]:
    envelope = draw(lst.wire_values(EffectEnvelope))
    key = draw(st.text(min_size=1, max_size=12))
    envelope = attrs.evolve(
        envelope, invocation=attrs.evolve(envelope.invocation, replay=Replay(key))
    )
    outcome = draw(lst.wire_values(_OUTCOME_OF_KIND[envelope.kind]))
    return envelope, outcome


@settings(max_examples=60, deadline=None)
@given(st.lists(entries(), max_size=5, unique_by=lambda pair: pair[0].replay_key))
@example([(step("a", -0.0), DurableStepOutcome([1e-7, 1e16, "\u2028"]))])
def test_any_entries_round_trip_through_json_lines(
    pairs: list[tuple[EffectEnvelope, EffectOutcome]],
) -> None:
    journal = EffectJournal()
    for envelope, outcome in pairs:
        journal.record(envelope, outcome)
    text = journal.to_json_lines()
    restored = EffectJournal.from_json_lines(text)
    assert list(restored) == list(journal)
    assert restored.to_json_lines() == text
    for envelope, outcome in pairs:
        assert restored.lookup(envelope) == outcome
        entry = restored.get(envelope.replay_key or "")
        assert entry is not None and JournalEntry.from_json(entry.to_json()) == entry


# -- the reference's stored canonical pairs --------------------------------------------------

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "wire.json").read_text("utf-8"))


_PAIRS = [v for v in VECTORS["envelopes"] if "stored_canonical_pair" in v]


@pytest.mark.parametrize("vector", _PAIRS, ids=lambda v: v["name"])
def test_an_entry_stores_the_envelope_as_the_reference_stores_it(vector: dict[str, str]) -> None:
    envelope = from_json(vector["json"], EffectEnvelope)
    entry = EffectJournal().record(envelope, DurableStepOutcome(None))
    assert entry.envelope.hash == vector["hash"]
    assert canonical_json(entry.envelope) == vector["stored_canonical_pair"]
    assert json.loads(entry.to_json())["envelope"] == json.loads(vector["stored_canonical_pair"])


def test_the_vectors_hold_a_stored_pair() -> None:
    assert [v["name"] for v in _PAIRS] == ["durable_step_for_turn"]
