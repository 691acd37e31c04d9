"""The registry's contract for the durable tiers: payload schemas checked on append, and the
completion authority checked against the disposition."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given

from lash_core import JsonValue, LashError, codes, wire
from lash_core.effects.invocation import Replay
from lash_core.process import AwaitParked, ProcessRegistry
from lash_core.process.authority import (
    ExternalOwnerAuthority,
    ReconciledAbandonAuthority,
    WorkflowKeyAuthority,
)
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.grants import HandleDescriptor
from lash_core.process.records import (
    AbandonedOutput,
    AbandonEvidence,
    AbandonWriter,
    CompletedStatus,
    PointerSelector,
    ProcessEventType,
    ProcessWakeSpec,
    RecoveryDisposition,
    SessionScope,
    SuccessOutput,
)
from lash_core.process.results import ProcessPruneReport
from lash_core.process.schemas import schema_problem, violation
from lash_core.store_memory import MemoryStore, MemoryStoreState
from tests.process.support import registration, snapshot

SCHEMA: JsonValue = {
    "type": "object",
    "properties": {
        "percent": {"type": "integer"},
        "stage": {"enum": ["fetch", "parse"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["percent"],
    "additionalProperties": False,
}
PROGRESS = ProcessEventType("progress", payload_schema=SCHEMA)


def refused(registry: ProcessRegistry, code: str, fn: Any, *args: Any) -> LashError:
    before = snapshot(registry)
    with pytest.raises(LashError) as info:
        fn(*args)
    assert info.value.code == code, info.value
    assert snapshot(registry) == before
    return info.value


def progress(payload: JsonValue) -> ProcessEventAppendRequest:
    return ProcessEventAppendRequest("progress", payload)


def schema_registry() -> ProcessRegistry:
    registry = ProcessRegistry()
    registry.register(registration("p", event_types=(PROGRESS,)), 1)
    return registry


# -- payload schemas -------------------------------------------------------------------------


def test_a_payload_matching_its_types_schema_is_appended() -> None:
    registry = schema_registry()
    appended = registry.append_event("p", progress({"percent": 5, "stage": "parse"}), 2)
    assert appended.appended and appended.event.payload == {"percent": 5, "stage": "parse"}
    # 2.0 is an integer in JSON; an array of strings matches `items`.
    registry.append_event("p", progress({"percent": 2.0, "tags": ["a", "b"]}), 3)
    assert registry.event_count("p") == 2


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"stage": "fetch"}, "lacks the required property 'percent'"),
        ({"percent": "5"}, "/percent is string, expected integer"),
        ({"percent": True}, "/percent is boolean, expected integer"),
        ({"percent": 1.5}, "/percent is number, expected integer"),
        ({"percent": 1, "stage": "store"}, '/stage is not one of ["fetch", "parse"]'),
        ({"percent": 1, "tags": ["a", 3]}, "/tags/1 is integer, expected string"),
        ({"percent": 1, "extra": 0}, "has the property 'extra'"),
        ([1], "the payload is array, expected object"),
    ],
)
def test_a_payload_not_matching_its_types_schema_is_refused_and_nothing_is_appended(
    payload: JsonValue, where: str
) -> None:
    registry = schema_registry()
    error = refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH,
        registry.append_event,
        "p",
        progress(payload),
        2,
    )
    assert where in error.message
    assert registry.event_count("p") == 0


@pytest.mark.parametrize(
    "schema",
    [
        [],
        {"type": "text"},
        {"type": []},
        {"minimum": 3},
        {"properties": {"a": {"type": 1}}},
        {"required": "a"},
        {"additionalProperties": {}},
        {"items": {"pattern": "x"}},
        {"enum": "a"},
    ],
)
def test_a_malformed_schema_is_refused_at_registration(schema: JsonValue) -> None:
    registry = ProcessRegistry()
    declared = ProcessEventType("progress", payload_schema=schema)
    with pytest.raises(LashError) as info:
        registry.register(registration("p", event_types=(declared,)), 1)
    assert info.value.code == codes.PROCESS_REGISTRATION_INVALID
    assert len(registry) == 0


def test_a_schema_survives_the_durable_rows_and_is_checked_after_restore() -> None:
    registry = schema_registry()
    restored = ProcessRegistry.from_rows(registry.all_rows())
    refused(
        restored,
        codes.PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH,
        restored.append_event,
        "p",
        progress({}),
        2,
    )


def test_an_event_type_without_a_schema_keeps_its_wire_form() -> None:
    assert wire.to_wire(ProcessEventType("note")) == {
        "name": "note",
        "terminal": False,
        "await_output": False,
    }
    assert wire.to_wire(PROGRESS)["payload_schema"] == SCHEMA


def test_schema_helpers_answer_none_for_a_good_schema_and_a_matching_value() -> None:
    assert schema_problem(SCHEMA) is None
    assert violation({"const": {"a": [1, 2]}}, {"a": [1, 2]}) is None
    assert violation({"const": 1}, True) == "the payload is not 1"
    assert violation({"type": ["string", "null"]}, None) is None
    assert violation({"type": "number"}, 3) is None


# -- completion authority --------------------------------------------------------------------

DONE = SuccessOutput("done")
ABANDONED = AbandonedOutput(evidence=AbandonEvidence(writer=AbandonWriter.SWEEP, epoch_ms=9))


def bound(disposition: RecoveryDisposition = RecoveryDisposition.OWNER_BOUND) -> ProcessRegistry:
    registry = ProcessRegistry()
    registry.register(attrs.evolve(registration("p"), disposition=disposition), 1)
    return registry


def test_unleased_completion_of_an_owner_bound_process_without_authority_is_refused() -> None:
    registry = bound()
    error = refused(
        registry, codes.PROCESS_COMPLETION_UNAUTHORIZED, registry.append_terminal, "p", DONE, 2
    )
    assert "owner_bound" in error.message
    # The same terminal appended as a plain event is an unleased completion too.
    direct = ProcessEventAppendRequest(
        "process.completed", {"await_output": {"type": "success", "value": 1}}, Replay("t")
    )
    refused(registry, codes.PROCESS_COMPLETION_UNAUTHORIZED, registry.append_event, "p", direct, 2)
    assert registry.event_count("p") == 0


def test_leased_completion_of_an_owner_bound_process_needs_no_authority() -> None:
    registry = bound()
    lease = registry.claim_process_lease("p", "worker", 100, 2)
    done = registry.complete_leased(lease.completion(), DONE, 3)
    assert isinstance(done.record.status, CompletedStatus)
    assert "completion_authority" not in done.event.payload  # type: ignore[operator]


def test_owner_bound_completion_with_a_workflow_key_authority_is_written() -> None:
    registry = bound()
    done = registry.append_terminal("p", DONE, 2, WorkflowKeyAuthority("wf-1"))
    assert isinstance(done.record.status, CompletedStatus)
    assert done.event.payload["completion_authority"] == {  # type: ignore[index,call-overload]
        "authority": "workflow_key",
        "workflow_key": "wf-1",
    }
    # The wire form is accepted as well, and the same terminal again is its replay.
    again = registry.append_terminal(
        "p", DONE, 3, {"authority": "workflow_key", "workflow_key": "wf-1"}
    )
    assert not again.appended


def test_reconciled_abandon_authority_only_writes_an_abandonment() -> None:
    registry = bound()
    refused(
        registry,
        codes.PROCESS_COMPLETION_UNAUTHORIZED,
        registry.append_terminal,
        "p",
        DONE,
        2,
        ReconciledAbandonAuthority(),
    )
    abandoned = registry.append_terminal("p", ABANDONED, 2, ReconciledAbandonAuthority())
    assert abandoned.record.status.state == "abandoned"


def test_external_owner_authority_only_for_an_externally_owned_process() -> None:
    registry = bound(RecoveryDisposition.RERUNNABLE)
    refused(
        registry,
        codes.PROCESS_COMPLETION_UNAUTHORIZED,
        registry.append_terminal,
        "p",
        DONE,
        2,
        ExternalOwnerAuthority("billing"),
    )
    external = bound(RecoveryDisposition.EXTERNALLY_OWNED)
    done = external.append_terminal("p", DONE, 2, ExternalOwnerAuthority("billing"))
    assert done.appended


def test_an_unknown_authority_is_a_payload_error_and_logs_nothing() -> None:
    registry = bound()
    refused(
        registry,
        codes.PROCESS_EVENT_PAYLOAD_INVALID,
        registry.append_terminal,
        "p",
        DONE,
        2,
        {"authority": "root"},
    )


def test_a_rerunnable_process_completes_without_authority_as_before() -> None:
    registry = bound(RecoveryDisposition.RERUNNABLE)
    assert registry.append_terminal("p", DONE, 2).appended


# -- abandon requests and pruning ------------------------------------------------------------


def test_an_abandon_request_is_recorded_once_and_a_reconciler_abandons_the_process() -> None:
    registry = bound()
    record = registry.request_abandon("p", "ops", "host gone", 5)
    assert record.abandon_request == {
        "requested_by": "ops",
        "reason": "host gone",
        "requested_at_ms": 5,
    }
    assert registry.request_abandon("p", "someone-else", None, 6) == record  # the first stands
    assert [r.id for r in registry.abandon_requested()] == ["p"]
    evidence = AbandonEvidence(writer=AbandonWriter.RECONCILED_REQUEST, epoch_ms=7)
    done = registry.append_terminal(
        "p", AbandonedOutput(evidence=evidence), 7, ReconciledAbandonAuthority()
    )
    assert done.record.status.state == "abandoned"
    assert registry.abandon_requested() == ()
    refused(registry, codes.PROCESS_ALREADY_TERMINAL, registry.request_abandon, "p", "ops", None, 8)


def test_a_bad_abandon_request_is_refused_and_changes_nothing() -> None:
    registry = bound()
    refused(registry, codes.PROCESS_ARGUMENT_INVALID, registry.request_abandon, "p", " ", None, 2)
    refused(registry, codes.PROCESS_ARGUMENT_INVALID, registry.request_abandon, "p", "o", 3, 2)
    refused(registry, codes.PROCESS_UNKNOWN, registry.request_abandon, "q", "o", None, 2)


def finished_with_everything() -> ProcessRegistry:
    """``p`` finished with a grant, a pending wake, an acknowledged wake event and a wake
    target; ``live`` still running."""
    registry = ProcessRegistry(track_changes=True)
    ping = ProcessEventType("ping", wake=ProcessWakeSpec(PointerSelector("/text")))
    reg = registration("p", event_types=(ping,), wake_target=SessionScope("s1"))
    registry.register(reg, 1)
    registry.register(registration("live"), 1)
    registry.grant_handle(SessionScope("s1"), "p", HandleDescriptor("job"))
    registry.grant_handle(SessionScope("s2", "f"), "p", HandleDescriptor("job"))
    registry.append_event("p", ProcessEventAppendRequest("ping", {"text": "a"}), 2)
    registry.append_event("p", ProcessEventAppendRequest("ping", {"text": "b"}), 3)
    registry.ack_wake("p", 1)
    registry.claim_process_lease("p", "w", 100, 3)
    registry.append_terminal("p", DONE, 4)
    return registry


def test_pruning_a_finished_process_releases_its_grants_wakes_and_target() -> None:
    registry = finished_with_everything()
    assert len(registry.pending_wakes(SessionScope("s1"))) == 2
    report = registry.prune_processes(["p"])
    assert report == ProcessPruneReport(("p",), 0, 2, 2)
    assert registry.get("p") is None and len(registry) == 1
    assert registry.pending_wakes(SessionScope("s1")) == ()
    assert registry.list_handle_grants(SessionScope("s2", "f")) == ()
    assert registry._wake_targets == {}
    # Registered again under the same id, the process starts afresh, and a new lease never
    # reuses a fencing token an old holder had.
    registry.register(registration("p"), 5)
    assert registry.event_count("p") == 0
    assert registry.claim_process_lease("p", "w2", 10, 5).fencing_token == 2


def test_pruning_releases_a_lease_a_restored_terminal_process_still_has() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 1)
    lease = registry.claim_process_lease("p", "w", 100, 1)
    registry.append_terminal("p", DONE, 2)
    rows = registry.all_rows()
    restored = ProcessRegistry.from_rows(attrs.evolve(rows, leases=(lease,)))
    assert restored.prune_processes(["p"]).released_lease_count == 1
    assert restored._leases == {}


def test_pruning_a_running_process_prunes_nothing() -> None:
    registry = finished_with_everything()
    error = refused(registry, codes.PROCESS_NOT_PRUNABLE, registry.prune_processes, ["p", "live"])
    assert "`live` is still running" in error.message
    refused(registry, codes.PROCESS_UNKNOWN, registry.prune_processes, ["p", "nope"])
    refused(registry, codes.PROCESS_ARGUMENT_INVALID, registry.prune_processes, "p")
    refused(registry, codes.PROCESS_ARGUMENT_INVALID, registry.prune_processes, [1])


def test_pruning_waits_for_woken_awaiters_to_end() -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 1)
    parked = registry.begin_await("p")
    assert isinstance(parked, AwaitParked)
    assert registry.append_terminal("p", DONE, 2).wake == {parked.waiter_id}
    refused(registry, codes.PROCESS_NOT_PRUNABLE, registry.prune_processes, ["p"])
    assert registry.end_await(parked.waiter_id) == DONE
    assert registry.prune_processes(["p"]).pruned_process_ids == ("p",)


def test_prune_finished_takes_the_processes_finished_before_a_cutoff() -> None:
    registry = ProcessRegistry()
    for pid, finished_at in (("a", 10), ("b", 20)):
        registry.register(registration(pid), 1)
        registry.append_terminal(pid, DONE, finished_at)
    registry.register(registration("c"), 1)
    assert registry.prune_finished(20).pruned_process_ids == ("a",)
    assert registry.prune_finished(21).pruned_process_ids == ("b",)
    assert [r.id for r in registry.list_processes()] == ["c"]


def test_a_pruned_process_is_deleted_from_the_store_by_the_change_stream() -> None:
    registry = finished_with_everything()
    store = MemoryStore(MemoryStoreState(b"s" * 32))
    store.save_process_rows(registry.drain_changes())
    registry.prune_processes(["p"])
    rows = registry.drain_changes()
    assert rows.pruned_processes == ("p",) and rows.records == () and rows.events == ()
    store.save_process_rows(rows)
    restored = ProcessRegistry.from_rows(store.process_rows())
    assert restored.get("p") is None
    assert store.process_rows().acknowledged_wake_events == ()
    assert snapshot(restored)[0] == snapshot(registry)[0]


# -- the change feed -------------------------------------------------------------------------


def test_the_change_feed_lists_each_changed_process_once_after_a_cursor() -> None:
    registry = ProcessRegistry()
    start = registry.change_cursor
    registry.register(registration("a"), 1)
    registry.register(registration("b"), 1)
    middle = registry.change_cursor
    registry.append_event("a", ProcessEventAppendRequest("note", 1), 2)
    registry.claim_process_lease("b", "w", 10, 2)
    registry.append_event("a", ProcessEventAppendRequest("note", 2), 3)
    everything = registry.changes_after(start)
    assert [c.process_id for c in everything.changes] == ["b", "a"]  # latest change order
    assert everything.changes[1].record == registry.record("a")
    assert everything.cursor == registry.change_cursor
    assert registry.changes_after(everything.cursor).changes == ()
    # A reader that read up to `middle` sees both again; a page stops at its last change.
    page = registry.changes_after(middle, limit=1)
    assert [c.process_id for c in page.changes] == ["b"]
    assert [c.process_id for c in registry.changes_after(page.cursor).changes] == ["a"]


def test_a_refused_operation_does_not_move_the_change_feed() -> None:
    registry = schema_registry()
    cursor = registry.change_cursor
    with pytest.raises(LashError):
        registry.append_event("p", progress({}), 2)
    assert registry.change_cursor == cursor


def test_a_pruned_process_shows_in_the_feed_without_a_record() -> None:
    registry = ProcessRegistry()
    registry.register(registration("a"), 1)
    registry.append_terminal("a", DONE, 2)
    cursor = registry.change_cursor
    registry.prune_processes(["a"])
    (change,) = registry.changes_after(cursor).changes
    assert (change.process_id, change.record) == ("a", None)


def test_a_restored_registry_starts_a_feed_of_every_process() -> None:
    registry = ProcessRegistry()
    for pid in ("a", "b"):
        registry.register(registration(pid), 1)
    restored = ProcessRegistry.from_rows(registry.all_rows())
    assert [c.process_id for c in restored.changes_after(0).changes] == ["a", "b"]


@pytest.mark.parametrize(("cursor", "limit"), [("0", None), (True, None), (0, 0), (0, "2")])
def test_a_bad_feed_read_is_refused(cursor: Any, limit: Any) -> None:
    with pytest.raises(LashError) as info:
        ProcessRegistry().changes_after(cursor, limit)
    assert info.value.code == codes.PROCESS_ARGUMENT_INVALID


# -- counting events through a sequence ------------------------------------------------------


@given(
    kinds=st.lists(st.sampled_from(["note", "signal.go"]), max_size=12),
    through=st.integers(-2, 15),
)
def test_events_of_a_type_are_counted_through_a_sequence(kinds: list[str], through: int) -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 1)
    for kind in kinds:
        registry.append_event("p", ProcessEventAppendRequest(kind, None), 2)
    for kind in ("note", "signal.go", "never"):
        expected = sum(1 for seq, k in enumerate(kinds, start=1) if k == kind and seq <= through)
        assert registry.count_events("p", kind, through) == expected
    # A restored registry counts the same.
    restored = ProcessRegistry.from_rows(registry.all_rows())
    assert restored.count_events("p", "note", through) == registry.count_events(
        "p", "note", through
    )


@pytest.mark.parametrize(
    ("pid", "kind", "through", "code"),
    [
        ("q", "note", 1, codes.PROCESS_UNKNOWN),
        ("p", 1, 1, codes.PROCESS_ARGUMENT_INVALID),
        ("p", "note", "1", codes.PROCESS_ARGUMENT_INVALID),
        ("p", "never", None, codes.PROCESS_ARGUMENT_INVALID),
    ],
)
def test_a_bad_count_is_refused(pid: Any, kind: Any, through: Any, code: str) -> None:
    registry = ProcessRegistry()
    registry.register(registration("p"), 1)
    with pytest.raises(LashError) as info:
        registry.count_events(pid, kind, through)
    assert info.value.code == code
