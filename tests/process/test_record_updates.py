"""``ProcessRecord.touched`` and ``ended`` (the append path's fast copies) build exactly the
record ``attrs.evolve`` would, for a record with every field set."""

from __future__ import annotations

from typing import cast

import attrs

from lash_core.keys import AwaitEventKey
from lash_core.process import ProcessRegistry
from lash_core.process.records import (
    CompletedStatus,
    ProcessExternalRef,
    ProcessRecord,
    SignalWait,
    SuccessOutput,
    WaitState,
)
from tests.process.support import registration, scope


def _full_record() -> ProcessRecord:
    registry = ProcessRegistry()
    record = registry.register(registration("p1", wake_target=scope("s1")), 5).record
    full = attrs.evolve(
        record,
        created_at_ms=3,
        updated_at_ms=7,
        external_ref=ProcessExternalRef("backend", "x1", {"k": 1}),
        first_started={"at": 4},
        abandon_request={"by": "sweep"},
        wait=WaitState(SignalWait("go", "signal.go", cast(AwaitEventKey, "a key"), 2), 6),
        status=CompletedStatus(SuccessOutput(1)),
    )
    # Every field differs from its default: a field added later and left out of the fast
    # copies fails the comparisons below until this record sets it too.
    for field in attrs.fields(ProcessRecord):
        if field.default is not attrs.NOTHING:
            assert getattr(full, field.name) != field.default, field.name
    return full


def test_touched_is_evolve_with_the_new_update_time() -> None:
    record = _full_record()
    assert record.touched(99) == attrs.evolve(record, updated_at_ms=99)


def test_ended_is_evolve_with_the_status_no_wait_and_the_update_time() -> None:
    record = _full_record()
    status = CompletedStatus(SuccessOutput({"done": True}))
    assert record.ended(status, 99) == attrs.evolve(
        record, status=status, wait=None, updated_at_ms=99
    )
