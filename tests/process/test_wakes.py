"""Wakes: the reference's wake conformance cases, targets, refusals and wake shapes."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from lash_core import JsonValue, codes, wire
from lash_core.effects.invocation import (
    CausalRef,
    ProcessCause,
    ProcessEventSubject,
    Replay,
    SessionNodeCause,
)
from lash_core.effects.replay_keys import wake_id
from lash_core.process import (
    CommandDone,
    ProcessRegistry,
    apply_process_command,
    signal_request,
    wake_input_from_payload,
)
from lash_core.process.events import (
    ProcessEventAppendRequest,
    ProcessEventWake,
    ProcessWakeDelivery,
    ProcessWakeOrigin,
)
from lash_core.process.records import (
    ConstSelector,
    PayloadSelector,
    PointerSelector,
    PresentSelector,
    ProcessEventType,
    ProcessProvenance,
    ProcessWakeSpec,
    SessionOriginator,
    SessionScope,
    SuccessOutput,
    TemplateField,
    TemplateSelector,
)
from tests.process.support import registration, scope
from tests.process.test_registry import refused

WIRE_VECTORS = Path(__file__).resolve().parent.parent / "data" / "wire.json"

WAKE_INPUT = PointerSelector("/wake_input")
PRESENT_WAKE = ProcessWakeSpec(WAKE_INPUT, when=PresentSelector("/wake_input"))


def wake_type(name: str, spec: ProcessWakeSpec = PRESENT_WAKE) -> ProcessEventType:
    return ProcessEventType(name, wake=spec)


def register(
    registry: ProcessRegistry,
    pid: str,
    *types: ProcessEventType,
    target: SessionScope | None = None,
    caused_by: CausalRef | None = None,
) -> None:
    reg = registration(pid, event_types=types, wake_target=target)
    if caused_by is not None:
        provenance = ProcessProvenance(SessionOriginator(scope("owner")), caused_by)
        reg = attrs.evolve(reg, provenance=provenance)
    registry.register(reg, 0)


def request(
    event_type: str,
    payload: JsonValue,
    target: SessionScope | None = None,
    key: str | None = None,
) -> ProcessEventAppendRequest:
    replay = None if key is None else Replay(key)
    return ProcessEventAppendRequest(event_type, payload, replay, target)


# -- the reference's cases -------------------------------------------------------------------


def test_validates_custom_events_and_materializes_wakes() -> None:
    registry = ProcessRegistry()
    register(registry, "proc-1", wake_type("producer.line"))
    payload: JsonValue = {"line": "deploy failed", "wake_input": "Process event: deploy failed"}
    appended = registry.append_event(
        "proc-1", request("producer.line", payload, scope("s1")), 1_000
    )
    assert appended.event.sequence == 1
    assert appended.event.semantics.wake == ProcessEventWake(
        "Process event: deploy failed", "proc-1:1"
    )
    delivery = appended.wake_delivery
    assert delivery is not None
    assert registry.pending_wakes(scope("s1")) == (delivery,)
    assert registry.acknowledge_wake(delivery.wake_id) == delivery
    assert registry.pending_wakes(scope("s1")) == ()
    assert registry.is_wake_acknowledged(delivery.wake_id)
    # A second acknowledgement is refused and changes nothing.
    refused(registry, codes.PROCESS_WAKE_UNKNOWN, registry.acknowledge_wake, delivery.wake_id)
    # An event whose ``when`` selects nothing records without a wake.
    quiet = registry.append_event(
        "proc-1", request("producer.line", {"line": "ok"}, scope("s1")), 1_001
    )
    assert quiet.event.semantics.wake is None and quiet.wake_delivery is None
    assert registry.pending_wakes(scope("s1")) == ()
    # The process's own stream of wakes, acknowledged by event sequence.
    assert registry.wake_events_after("proc-1") == (appended.event,)
    registry.ack_wake("proc-1", appended.event.sequence)
    registry.ack_wake("proc-1", appended.event.sequence)  # idempotent
    assert registry.wake_events_after("proc-1") == ()
    refused(registry, codes.PROCESS_WAKE_UNKNOWN, registry.ack_wake, "proc-1", quiet.event.sequence)
    refused(registry, codes.PROCESS_WAKE_UNKNOWN, registry.ack_wake, "proc-1", 9)


def test_event_streams_filter_wakes_after_a_cursor() -> None:
    registry = ProcessRegistry()
    register(registry, "s", ProcessEventType("producer.line"), wake_type("producer.wake"))
    registry.append_event("s", request("producer.line", {"line": "one"}), 1)
    wake = registry.append_event(
        "s", request("producer.wake", {"wake_input": "wake two"}, scope("root")), 2
    )
    registry.append_event("s", request("producer.line", {"line": "three"}), 3)
    untargeted = registry.append_event("s", request("producer.wake", {"wake_input": "four"}), 4)
    assert [e.sequence for e in registry.events("s", after=1)] == [2, 3, 4]
    assert registry.wake_events_after("s", 1) == (wake.event, untargeted.event)
    assert registry.wake_events_after("s", 2) == (untargeted.event,)
    assert registry.wake_events_after("s", 4) == ()


def test_custom_wake_events_preserve_typed_provenance_and_replay() -> None:
    registry = ProcessRegistry()
    target = SessionScope("target-session", "target-frame")
    caused_by = SessionNodeCause("target-session", "host-event:button")
    register(registry, "proc-provenance", wake_type("producer.custom_wake"), caused_by=caused_by)
    payload: JsonValue = {"line": "build failed", "wake_input": "custom wake: build failed"}
    keyed = request("producer.custom_wake", payload, target, "custom-wake:build-failed")
    first = registry.append_event("proc-provenance", keyed, 2_000)
    replay = registry.append_event("proc-provenance", keyed, 2_500)
    assert (first.appended, replay.appended) == (True, False)
    assert replay.event == first.event
    assert registry.event_count("proc-provenance") == 1
    invocation = first.event.invocation
    assert invocation.subject == ProcessEventSubject("proc-provenance", 1, "producer.custom_wake")
    assert invocation.caused_by == ProcessCause("proc-provenance")
    assert invocation.replay == Replay("custom-wake:build-failed")

    wake = first.wake_delivery
    assert wake is not None
    assert wake.event_type == "producer.custom_wake"
    assert wake.event_invocation == invocation
    assert wake.process_caused_by == caused_by
    assert wake.target_session_id == "target-session"
    assert wake.target_scope_id == target.id == "session:target-session/frame:target-frame"
    assert (wake.process_id, wake.sequence) == ("proc-provenance", 1)
    assert wake.dedupe_key == "proc-provenance:1"
    assert wake.input == "custom wake: build failed"
    assert wake.created_at_ms == 2_000
    # The replay materialises the same delivery and does not deliver it twice.
    assert replay.wake_delivery == wake
    assert registry.pending_wakes(target) == (wake,)


def test_wake_semantics_matrix_materializes_declared_wakes() -> None:
    registry = ProcessRegistry()
    register(
        registry,
        "m",
        wake_type("when_false", ProcessWakeSpec(ConstSelector("no"), when=ConstSelector(False))),
        wake_type("payload", ProcessWakeSpec(PayloadSelector())),
        wake_type("const_input", ProcessWakeSpec(ConstSelector("constant wake input"))),
        wake_type(
            "template",
            ProcessWakeSpec(
                TemplateSelector(
                    "line {line} #{n}",
                    (
                        TemplateField("line", PointerSelector("/line")),
                        TemplateField("n", PointerSelector("/n")),
                    ),
                )
            ),
        ),
        wake_type(
            "selector_dedupe", ProcessWakeSpec(WAKE_INPUT, dedupe_key=PointerSelector("/dedupe"))
        ),
        wake_type(
            "const_dedupe", ProcessWakeSpec(WAKE_INPUT, dedupe_key=ConstSelector("constant-dedupe"))
        ),
    )
    root = scope("root")

    def append(event_type: str, payload: JsonValue) -> ProcessWakeDelivery | None:
        return registry.append_event("m", request(event_type, payload, root), 10).wake_delivery

    assert append("when_false", {}) is None
    payload = append("payload", "payload wake")
    assert payload is not None
    assert (payload.input, payload.dedupe_key) == ("payload wake", "m:2")
    const_input = append("const_input", {})
    assert const_input is not None and const_input.input == "constant wake input"
    template = append("template", {"line": "done", "n": 7})
    assert template is not None and template.input == "line done #7"
    one = append("selector_dedupe", {"wake_input": "selector one", "dedupe": "group-a"})
    two = append("selector_dedupe", {"wake_input": "selector two", "dedupe": "group-a"})
    assert one is not None and two is not None
    assert one.dedupe_key == two.dedupe_key == "group-a"
    assert one.wake_id == two.wake_id == wake_id(root.id, "group-a")
    first_const = append("const_dedupe", {"wake_input": "const one"})
    second_const = append("const_dedupe", {"wake_input": "const two"})
    assert first_const is not None and second_const is not None
    assert first_const.dedupe_key == "constant-dedupe"
    assert first_const.wake_id == second_const.wake_id
    # Every event but the first materialised a wake; one delivery per wake id is pending,
    # the first event to use it.
    wakes = [e.sequence for e in registry.events("m") if e.semantics.wake is not None]
    assert wakes == [2, 3, 4, 5, 6, 7, 8]
    pending = registry.pending_wakes(root)
    assert [w.sequence for w in pending] == [2, 3, 4, 5, 7]
    assert pending[3].input == "selector one" and pending[4].input == "const one"


def test_keyed_events_materialize_idempotent_wakes() -> None:
    registry = ProcessRegistry()
    register(registry, "proc-wake", wake_type("process.wake"))
    target = scope("session")
    payload: JsonValue = {"message": "deploy failed", "wake_input": "Process wake: deploy failed"}
    keyed = request("process.wake", payload, target, "wake:deploy failed")
    first = registry.append_event("proc-wake", keyed, 5)
    second = registry.append_event("proc-wake", keyed, 6)
    assert first.event.sequence == second.event.sequence == 1
    assert first.wake_delivery == second.wake_delivery
    wake = first.wake_delivery
    assert wake is not None
    assert wake.input == "Process wake: deploy failed"
    assert wake.target_scope_id == target.id
    assert (wake.process_id, wake.sequence) == ("proc-wake", 1)
    assert registry.pending_wakes(target) == (wake,)
    # The same key with another payload is a conflict, and nothing changes.
    other = request(
        "process.wake",
        {"message": "other", "wake_input": "Process wake: other"},
        None,
        keyed.replay.key,  # type: ignore[union-attr]
    )
    refused(
        registry, codes.PROCESS_EVENT_REPLAY_CONFLICT, registry.append_event, "proc-wake", other, 7
    )
    # Acknowledged, the keyed wake stays acknowledged when the event is replayed.
    registry.acknowledge_wake(wake.wake_id)
    assert registry.append_event("proc-wake", keyed, 8).wake_delivery == wake
    assert registry.pending_wakes(target) == ()


def test_wake_semantic_events_without_target_record_without_delivery() -> None:
    registry = ProcessRegistry()
    register(registry, "proc-missing-wake-target", wake_type("process.wake"))
    payload: JsonValue = {"message": "target missing", "wake_input": "Process wake: target missing"}
    appended = registry.append_event(
        "proc-missing-wake-target",
        request("process.wake", payload, key="wake:missing-target"),
        1,
    )
    assert appended.event.sequence == 1
    assert appended.wake_delivery is None
    assert registry.event_count("proc-missing-wake-target") == 1
    # The event still says what it would wake with; no scope has anything pending.
    assert appended.event.semantics.wake == ProcessEventWake(
        "Process wake: target missing", "proc-missing-wake-target:1"
    )
    assert registry._wakes == {}


# -- targets ---------------------------------------------------------------------------------


def test_the_registered_wake_target_is_used_unless_the_request_names_one() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("w"), target=scope("owner"))
    by_record = registry.append_event("p", request("w", {"wake_input": "a"}), 1).wake_delivery
    assert by_record is not None and by_record.target_scope_id == "session:owner"
    by_request = registry.append_event(
        "p", request("w", {"wake_input": "b"}, scope("other", "f")), 2
    ).wake_delivery
    assert by_request is not None and by_request.target_scope_id == "session:other/frame:f"
    assert [w.input for w in registry.pending_wakes(scope("owner"))] == ["a"]
    assert [w.input for w in registry.pending_wakes(scope("other", "f"))] == ["b"]
    assert registry.pending_wakes(scope("other")) == ()  # exactly the scope, not the session


def test_plain_and_terminal_events_without_a_wake_deliver_nothing() -> None:
    registry = ProcessRegistry()
    register(registry, "p", ProcessEventType("note"), target=scope("owner"))
    assert registry.append_event("p", request("note", {"wake_input": "x"}), 1).wake_delivery is None
    done = registry.append_terminal("p", SuccessOutput(1), 2)
    assert done.wake_delivery is None
    assert registry.pending_wakes(scope("owner")) == ()


def test_a_terminal_event_type_may_also_wake() -> None:
    registry = ProcessRegistry()
    finished = ProcessEventType(
        "job.finished", terminal=True, wake=ProcessWakeSpec(PointerSelector("/summary"))
    )
    register(registry, "p", finished, target=scope("owner"))
    parked = registry.begin_await("p")
    done = registry.append_event(
        "p", request("job.finished", {"summary": "all done"}, key="finished"), 3
    )
    assert done.record.status.state == "completed"
    assert done.wake == {parked.waiter_id}  # type: ignore[union-attr]
    assert done.wake_delivery is not None and done.wake_delivery.input == "all done"


def test_signals_wake_the_scope_their_request_names() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("signal.go", ProcessWakeSpec(PointerSelector("/text"))))
    command = signal_request("p", "go", "sig-1", {"text": "go now"})
    command = attrs.evolve(
        command, request=attrs.evolve(command.request, wake_target_scope=scope("s1"))
    )
    step = apply_process_command(registry, command, 4)
    assert isinstance(step, CommandDone)
    assert registry.pending_wakes(scope("s1")) == (step.wake_delivery,)
    assert step.wake_delivery is not None
    assert (step.wake_delivery.event_type, step.wake_delivery.input) == ("signal.go", "go now")
    # Sent again, the signal is deduplicated and its wake is not delivered twice.
    again = apply_process_command(registry, command, 5)
    assert isinstance(again, CommandDone) and again.wake_delivery == step.wake_delivery
    assert registry.pending_wakes(scope("s1")) == (step.wake_delivery,)


# -- refusals --------------------------------------------------------------------------------


def test_a_payload_without_a_selected_value_is_refused() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("w", ProcessWakeSpec(WAKE_INPUT)), target=scope("s"))
    error = refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        registry.append_event,
        "p",
        request("w", {"other": 1}),
        1,
    )
    assert "/wake_input" in error.message
    assert registry.event_count("p") == 0


def test_a_blank_wake_target_scope_is_refused() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("w"))
    refused(
        registry,
        codes.PROCESS_SESSION_INVALID,
        registry.append_event,
        "p",
        request("w", {"wake_input": "x"}, SessionScope(" ")),
        1,
    )


@pytest.mark.parametrize(
    "spec",
    [
        ProcessWakeSpec(PointerSelector("wake_input")),
        ProcessWakeSpec(WAKE_INPUT, when=PresentSelector("x")),
        ProcessWakeSpec(WAKE_INPUT, dedupe_key=PointerSelector("k")),
        ProcessWakeSpec(TemplateSelector("{a}", (TemplateField("", PayloadSelector()),))),
        ProcessWakeSpec(
            TemplateSelector(
                "{a}",
                (TemplateField("a", PayloadSelector()), TemplateField("a", PayloadSelector())),
            )
        ),
        ProcessWakeSpec(TemplateSelector("{a}", (TemplateField("a", PointerSelector("a")),))),
        ProcessWakeSpec("payload"),  # type: ignore[arg-type]
    ],
)
def test_malformed_wake_declarations_are_refused(spec: ProcessWakeSpec) -> None:
    registry = ProcessRegistry()
    reg = registration("p", event_types=(ProcessEventType("w", wake=spec),))
    refused(registry, codes.PROCESS_REGISTRATION_INVALID, registry.register, reg, 0)
    assert len(registry) == 0


def test_acknowledging_an_unknown_wake_is_refused() -> None:
    registry = ProcessRegistry()
    refused(registry, codes.PROCESS_WAKE_UNKNOWN, registry.acknowledge_wake, "wake:nothing")
    refused(registry, codes.PROCESS_WAKE_UNKNOWN, registry.acknowledge_wake, 3)


# -- deleting a session ----------------------------------------------------------------------


def test_delete_session_drops_its_pending_wakes_and_counts_them() -> None:
    registry = ProcessRegistry()
    register(registry, "sole", wake_type("w"), target=scope("deleted"))
    register(registry, "other", wake_type("w"))
    registry.append_event("sole", request("w", {"wake_input": "one"}), 1)
    registry.append_event("sole", request("w", {"wake_input": "two"}, scope("deleted", "f")), 2)
    kept = registry.append_event("other", request("w", {"wake_input": "x"}, scope("kept")), 3)
    acked = registry.append_event("other", request("w", {"wake_input": "y"}, scope("deleted")), 4)
    assert acked.wake_delivery is not None
    registry.acknowledge_wake(acked.wake_delivery.wake_id)
    report = registry.delete_session_process_state("deleted")
    # One wake target cleared, two pending deliveries dropped; the acknowledged one stays so.
    assert report.deleted_wake_count == 3
    assert registry.pending_wakes(scope("deleted")) == ()
    assert registry.pending_wakes(scope("deleted", "f")) == ()
    assert registry.pending_wakes(scope("kept")) == (kept.wake_delivery,)
    assert registry.is_wake_acknowledged(acked.wake_delivery.wake_id)
    assert registry.record("sole").wake_target is None
    # Acknowledged wake events stay acknowledged: nothing consumed is exposed again.
    registry.ack_wake("other", acked.event.sequence)
    assert registry.wake_events_after("other") == (kept.event,)
    registry.delete_session_process_state("kept")
    assert registry.wake_events_after("other") == (kept.event,)
    # With its target gone, the process's next wake records without a delivery.
    later = registry.append_event("sole", request("w", {"wake_input": "three"}), 5)
    assert later.wake_delivery is None and later.event.semantics.wake is not None
    assert registry.delete_session_process_state("deleted").deleted_wake_count == 0


def test_restore_keeps_pending_and_acknowledged_wakes() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("w"), target=scope("s"))
    first = registry.append_event("p", request("w", {"wake_input": "a"}, key="a"), 1)
    registry.append_event("p", request("w", {"wake_input": "b"}), 2)
    assert first.wake_delivery is not None
    registry.acknowledge_wake(first.wake_delivery.wake_id)
    registry.ack_wake("p", 2)
    restored = ProcessRegistry.restore(
        registry.list_processes(),
        registry.events("p"),
        pending_wakes=registry.pending_wakes(scope("s")),
        acknowledged_wakes=[first.wake_delivery.wake_id],
        acknowledged_wake_events=[("p", 2)],
    )
    assert [e.sequence for e in restored.wake_events_after("p")] == [1]
    assert restored.pending_wakes(scope("s")) == registry.pending_wakes(scope("s"))
    assert restored.is_wake_acknowledged(first.wake_delivery.wake_id)
    # Replaying the keyed event after the restore delivers nothing new.
    replayed = restored.append_event("p", request("w", {"wake_input": "a"}, key="a"), 3)
    assert replayed.wake_delivery == first.wake_delivery
    assert [w.input for w in restored.pending_wakes(scope("s"))] == ["b"]


# -- shapes ----------------------------------------------------------------------------------


def test_wake_ids_match_the_reference_vectors() -> None:
    vectors = json.loads(WIRE_VECTORS.read_text())
    cases = vectors["recorded_by_the_reference_runtime"]["wake_ids"]
    assert len(cases) == 22
    registry = ProcessRegistry()
    register(
        registry, "p", wake_type("w", ProcessWakeSpec(WAKE_INPUT, dedupe_key=PointerSelector("/k")))
    )
    for n, case in enumerate(cases, start=1):
        session = case["session"]
        delivery = registry.append_event(
            "p", request("w", {"wake_input": "x", "k": case["dedupe_key"]}, scope(session)), n
        ).wake_delivery
        assert delivery is not None
        assert delivery.target_scope_id == f"session:{session}"
        assert delivery.wake_id == case["wake_id"]


def test_wake_text_and_cause() -> None:
    registry = ProcessRegistry()
    caused_by = SessionNodeCause("s", "node-1")
    register(registry, "p", wake_type("producer.wake"), caused_by=caused_by)
    registry.append_event("p", request("producer.wake", {}), 1)  # no wake: sequence 1
    delivery = registry.append_event(
        "p", request("producer.wake", {"wake_input": "disk full"}, scope("s")), 2
    ).wake_delivery
    assert delivery is not None
    assert delivery.text == (
        "Background process wake\nProcess: p\nEvent: producer.wake #2\nWake input:\ndisk full"
    )
    cause = delivery.cause
    assert (cause.id, cause.event_type, cause.text) == (
        delivery.wake_id,
        "producer.wake",
        delivery.text,
    )
    assert cause.origin == ProcessWakeOrigin("p", "producer.wake", 2, delivery.wake_id, caused_by)
    assert wire.to_wire(cause.origin) == {
        "type": "process",
        "process_id": "p",
        "event_type": "producer.wake",
        "sequence": 2,
        "wake_id": delivery.wake_id,
        "caused_by": {"type": "session_node", "session_id": "s", "node_id": "node-1"},
    }


def test_delivery_wire_shape_round_trips() -> None:
    registry = ProcessRegistry()
    register(registry, "p", wake_type("w"), target=scope("s", "f"))
    delivery = registry.append_event("p", request("w", {"wake_input": "hi"}), 1_234).wake_delivery
    assert delivery is not None
    data = wire.to_wire(delivery)
    assert list(data) == [
        "wake_id",
        "target_session_id",
        "target_scope_id",
        "process_id",
        "sequence",
        "event_type",
        "event_invocation",
        "dedupe_key",
        "input",
        "created_at_ms",
    ]
    assert (data["target_session_id"], data["target_scope_id"]) == ("s", "session:s/frame:f")
    assert data["created_at_ms"] == 1_234
    assert wire.from_wire(data, ProcessWakeDelivery) == delivery


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": "hello", "value": "ignored"}, "hello"),
        ({"value": "v"}, "v"),
        ({"value": {"b": 1, "a": [1, 2]}}, '{"a":[1,2],"b":1}'),
        ({"text": 5}, "5"),
        ({"other": "x"}, '{"other":"x"}'),
        ("bare", '"bare"'),
        (None, "null"),
    ],
)
def test_wake_input_from_a_generic_payload(payload: JsonValue, expected: str) -> None:
    assert wake_input_from_payload(payload) == expected
