"""The registry's contract for the durable tiers: payload schemas checked on append, and the
completion authority checked against the disposition."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from lash_core import JsonValue, LashError, codes, wire
from lash_core.effects.invocation import Replay
from lash_core.process import ProcessRegistry
from lash_core.process.authority import (
    ExternalOwnerAuthority,
    ReconciledAbandonAuthority,
    WorkflowKeyAuthority,
)
from lash_core.process.events import ProcessEventAppendRequest
from lash_core.process.records import (
    AbandonedOutput,
    AbandonEvidence,
    AbandonWriter,
    CompletedStatus,
    ProcessEventType,
    RecoveryDisposition,
    SuccessOutput,
)
from lash_core.process.schemas import schema_problem, violation
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
