"""The documented lifecycle is the machine's: every observed change of phase is declared."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, given, settings

from lash_core import EffectOutcome, TurnConfig, TurnMachine
from lash_core.turn import TurnStep
from lash_core.turn.lifecycle import START, TRANSITIONS, mermaid
from tests.turn import world as w
from tests.turn.test_turn_properties import scenarios

DECLARED = {(source, target) for source, target, _ in TRANSITIONS}


class Observed(TurnMachine):
    """A machine that records each change of its phase."""

    edges: ClassVar[set[tuple[str, str]]] = set()

    def _phase(self) -> str:
        return type(self.checkpoint().phase).__name__

    def _record(self, before: str) -> None:
        after = self._phase()
        if before != after:
            Observed.edges.add((before, after))

    def next(self) -> TurnStep:
        before = self._phase()
        step = super().next()
        self._record(before)
        return step

    def send(self, replay_key: str, outcome: EffectOutcome) -> None:
        before = self._phase()
        super().send(replay_key, outcome)
        self._record(before)

    def cancel(self, message: str = "the turn was cancelled") -> None:
        before = self._phase()
        super().cancel(message)
        self._record(before)


def _observe(config: TurnConfig, world: w.World) -> None:
    machine = Observed(
        config,
        session_id=w.SESSION,
        turn_id=w.TURN,
        turn_index=0,
        messages=(w.user("hi"),),
        cancel_gate=w.GATE_KEY if world.controlled else None,
    )
    Observed.edges.add((START, machine._phase()))
    w.drive(machine, world)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_observed_change_of_phase_is_declared(scenario: tuple[TurnConfig, w.World]) -> None:
    Observed.edges = set()
    _observe(*scenario)
    assert Observed.edges <= DECLARED, Observed.edges - DECLARED


def test_cancelling_in_any_phase_ends_the_turn_along_a_declared_edge() -> None:
    config = TurnConfig(model="m", sync_execution_environment=True)
    for steps in range(4):
        machine = Observed(
            config,
            session_id=w.SESSION,
            turn_id=w.TURN,
            turn_index=0,
            messages=(w.user("x"),),
            cancel_gate=w.GATE_KEY,
        )
        Observed.edges = set()
        world = w.World([w.calls(("c1", "a")), w.answer("done")])
        for _ in range(steps):
            step = machine.next()
            for envelope in getattr(step, "envelopes", ()):
                machine.send(w.key_of(envelope), world.respond(envelope))
        machine.cancel()
        assert machine.finished
        assert Observed.edges <= DECLARED, Observed.edges - DECLARED


def test_the_docs_show_the_generated_diagram() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "turns.md").read_text("utf-8")
    assert f"```mermaid\n{mermaid()}\n```" in page
