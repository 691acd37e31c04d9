"""The effect journal against a small model, under any sequence of operations and restarts."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lash_core import EffectEnvelope, EffectOutcome, LashError, ReplayMismatchError, codes
from lash_core.durable import durable_step_envelope
from lash_core.effects import DurableStepOutcome, SleepOutcome
from lash_core.journal import EffectJournal, JournalEntry

KEYS = st.sampled_from(["a", "b", "c"])
INPUTS = st.sampled_from([0, 1])


def envelope(step_id: str, input: int) -> EffectEnvelope:
    return durable_step_envelope("s", step_id, {"n": input})


class JournalMachine(RuleBasedStateMachine):
    """The model: per replay key the step input it was recorded with and its outcome; the keys
    that are running; the lines persisted so far (what a restart loads)."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: dict[str, tuple[int, EffectOutcome]] = {}
        self.running: set[str] = set()
        self.persisted: list[str] = []
        self.journal = self._open()

    def _open(self) -> EffectJournal:
        def persist(entry: JournalEntry) -> None:
            self.persisted.append(entry.to_json() + "\n")

        return EffectJournal.from_json_lines("".join(self.persisted), on_record=persist)

    def _expect_lookup(self, key: str, input: int, answer: EffectOutcome | None) -> None:
        recorded = self.recorded.get(f"s:durable:{key}")
        if recorded is None:
            assert answer is None
        else:
            assert recorded[0] == input, "a different envelope must not be answered"
            assert answer == recorded[1]

    @rule(key=KEYS, input=INPUTS)
    def lookup(self, key: str, input: int) -> None:
        try:
            answer = self.journal.lookup(envelope(key, input))
        except ReplayMismatchError as exc:
            assert self.recorded[f"s:durable:{key}"][0] != input
            assert exc.summary.first_divergent_paths == ("command.input.n",)
            return
        self._expect_lookup(key, input, answer)

    @rule(key=KEYS, input=INPUTS)
    def begin(self, key: str, input: int) -> None:
        replay_key = f"s:durable:{key}"
        try:
            answer = self.journal.begin(envelope(key, input))
        except ReplayMismatchError:
            assert self.recorded[replay_key][0] != input
            return
        except LashError as exc:
            assert exc.code == codes.EFFECT_JOURNAL_ENTRY_IN_FLIGHT
            assert replay_key in self.running and replay_key not in self.recorded
            return
        self._expect_lookup(key, input, answer)
        if answer is None:
            assert replay_key not in self.running
            self.running.add(replay_key)

    @rule(key=KEYS, input=INPUTS)
    def abandon(self, key: str, input: int) -> None:
        self.journal.abandon(envelope(key, input))
        self.running.discard(f"s:durable:{key}")

    @rule(key=KEYS, input=INPUTS, value=st.integers(0, 3), wrong_kind=st.booleans())
    def record(self, key: str, input: int, value: int, wrong_kind: bool) -> None:
        replay_key = f"s:durable:{key}"
        outcome: EffectOutcome = SleepOutcome() if wrong_kind else DurableStepOutcome(value)
        try:
            entry = self.journal.record(envelope(key, input), outcome)
        except LashError as exc:
            if wrong_kind:
                assert exc.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
            else:
                assert exc.code == codes.EFFECT_JOURNAL_ENTRY_EXISTS
                assert replay_key in self.recorded
            return
        assert not wrong_kind and replay_key not in self.recorded
        assert entry.replay_key == replay_key and entry.outcome == outcome
        self.recorded[replay_key] = (input, outcome)
        self.running.discard(replay_key)

    @rule()
    def restart(self) -> None:
        """A new process loads the persisted lines: what was recorded survives, nothing is
        running."""
        self.journal = self._open()
        self.running.clear()

    @rule(bad=st.sampled_from(["{", '{"replay_key":"x"}', "[]", '"line"']))
    def load_a_bad_text(self, bad: str) -> None:
        before = self.journal.to_json_lines()
        fresh = EffectJournal()
        fresh.record(envelope("z", 0), DurableStepOutcome("z"))
        with pytest.raises(LashError) as caught:
            self.journal.load_json_lines(fresh.to_json_lines() + bad + "\n")
        assert caught.value.code == codes.EFFECT_JOURNAL_CORRUPT_ENTRY
        assert caught.value.message.startswith("journal line 2: ")
        assert self.journal.to_json_lines() == before

    @invariant()
    def the_journal_is_the_model(self) -> None:
        assert len(self.journal) == len(self.recorded)
        assert self.journal.to_json_lines() == "".join(self.persisted)
        for replay_key, (input, outcome) in self.recorded.items():
            entry = self.journal.get(replay_key)
            assert entry is not None and entry.outcome == outcome
            step_id = replay_key.removeprefix("s:durable:")
            assert entry.envelope == envelope(step_id, input).canonical()


JournalMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_journal_machine = JournalMachine.TestCase
