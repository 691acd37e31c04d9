"""Process leases: the reference's lease fencing cases, as pure state with times as inputs."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lash_core import codes
from lash_core.process import ProcessRegistry
from lash_core.process.leases import ProcessLease
from lash_core.process.records import (
    CancelledOutput,
    SuccessOutput,
)
from tests.process.support import registration, snapshot
from tests.process.test_registry import refused

MINUTE = 60_000


def registry_with(*pids: str) -> ProcessRegistry:
    registry = ProcessRegistry()
    for pid in pids:
        registry.register(registration(pid), 0)
    return registry


# -- the reference's cases -------------------------------------------------------------------


def test_active_process_lease_fences_competing_owner() -> None:
    registry = registry_with("p")
    first = registry.claim_process_lease("p", "owner-a", MINUTE, 1_000)
    assert (first.owner, first.fencing_token, first.lease_token) == ("owner-a", 1, "owner-a:1")
    assert (first.claimed_at_ms, first.expires_at_ms) == (1_000, 61_000)
    error = refused(
        registry,
        codes.PROCESS_LEASE_HELD,
        registry.claim_process_lease,
        "p",
        "owner-b",
        MINUTE,
        2_000,
    )
    assert "already leased" in error.message
    # The owner may claim its own live lease again: same tokens, a later expiry.
    again = registry.claim_process_lease("p", "owner-a", MINUTE, 3_000)
    assert (again.lease_token, again.fencing_token) == (first.lease_token, 1)
    assert again.expires_at_ms == 63_000
    assert registry.lease("p") == again


def test_superseded_process_lease_cannot_renew() -> None:
    registry = registry_with("p")
    old = registry.claim_process_lease("p", "owner-a", 0, 1_000)  # expires at once
    new = registry.claim_process_lease("p", "owner-b", MINUTE, 1_000)
    assert new.fencing_token == old.fencing_token + 1
    error = refused(
        registry, codes.PROCESS_LEASE_LOST, registry.renew_process_lease, old, MINUTE, 1_001
    )
    assert "missing or expired" in error.message
    assert registry.lease("p") == new


def test_renewed_process_lease_survives_original_expiry() -> None:
    registry = registry_with("p")
    lease = registry.claim_process_lease("p", "owner-a", 20, 1_000)
    renewed = registry.renew_process_lease(lease, MINUTE, 1_010)
    assert renewed.fencing_token == lease.fencing_token
    assert renewed.expires_at_ms == 61_010
    # Past the original expiry, the renewed lease renews again and still fences others.
    again = registry.renew_process_lease(renewed, MINUTE, 1_030)
    assert again.expires_at_ms == 61_030
    refused(registry, codes.PROCESS_LEASE_HELD, registry.claim_process_lease, "p", "b", 5, 1_040)
    # Renewing an expired lease is refused even though nobody took over.
    refused(registry, codes.PROCESS_LEASE_LOST, registry.renew_process_lease, again, MINUTE, 61_030)


def test_completed_lease_releases_and_reclaim_bumps_fencing() -> None:
    registry = registry_with("p")
    first = registry.claim_process_lease("p", "owner-a", MINUTE, 1)
    assert registry.complete_process_lease(first.completion())
    assert registry.lease("p") is None
    second = registry.claim_process_lease("p", "owner-b", MINUTE, 2)
    assert second.fencing_token > first.fencing_token
    # A reclaim of the observed holder bumps the fence again, live or not.
    third = registry.reclaim_process_lease(second, "owner-c", MINUTE, 3)
    assert third.fencing_token == second.fencing_token + 1
    assert (third.owner, third.lease_token) == ("owner-c", "owner-c:3")
    # Only one reclaim of one observation wins.
    refused(
        registry,
        codes.PROCESS_LEASE_LOST,
        registry.reclaim_process_lease,
        second,
        "owner-d",
        MINUTE,
        4,
    )


def test_stale_lease_completion_cannot_release_live_lease() -> None:
    registry = registry_with("p")
    old = registry.claim_process_lease("p", "owner-a", 0, 10)
    current = registry.claim_process_lease("p", "owner-b", MINUTE, 10)
    before = snapshot(registry)
    assert not registry.complete_process_lease(old.completion())  # ignored
    assert snapshot(registry) == before
    refused(
        registry, codes.PROCESS_LEASE_HELD, registry.claim_process_lease, "p", "owner-c", MINUTE, 11
    )
    assert registry.renew_process_lease(current, MINUTE, 12).fencing_token == current.fencing_token


def test_stale_process_lease_cannot_complete_or_disturb_current_owner() -> None:
    registry = registry_with("p")
    old = registry.claim_process_lease("p", "owner-a", 100, 0)
    current = registry.claim_process_lease("p", "owner-b", MINUTE, 200)
    refused(
        registry,
        codes.PROCESS_LEASE_LOST,
        registry.complete_leased,
        old.completion(),
        SuccessOutput("stale"),
        201,
    )
    assert registry.record("p").status.state == "running"
    assert registry.lease("p") == current
    done = registry.complete_leased(current.completion(), SuccessOutput("fresh"), 202)
    assert done.appended and done.record.status.state == "completed"
    assert registry.record("p").status.await_output == SuccessOutput("fresh")  # type: ignore[union-attr]
    assert registry.lease("p") is None


def test_expired_process_lease_cannot_complete() -> None:
    registry = registry_with("p")
    lease = registry.claim_process_lease("p", "owner-a", 50, 0)
    refused(
        registry,
        codes.PROCESS_LEASE_EXPIRED,
        registry.complete_leased,
        lease.completion(),
        SuccessOutput(1),
        50,
    )
    assert registry.event_count("p") == 0
    # Claimed again (a new fence), the process completes under the new lease.
    again = registry.claim_process_lease("p", "owner-a", 50, 60)
    assert again.fencing_token == 2
    assert registry.complete_leased(again.completion(), SuccessOutput(1), 70).appended


def test_leased_terminal_completion_replay_returns_existing_record() -> None:
    registry = registry_with("p")
    lease = registry.claim_process_lease("p", "owner-a", MINUTE, 0)
    first = registry.complete_leased(lease.completion(), SuccessOutput({"ok": True}), 5)
    # The lease is released by the terminal; the same completion again returns the record.
    again = registry.complete_leased(lease.completion(), SuccessOutput({"ok": True}), 6)
    assert not again.appended
    assert again.event == first.event and again.record == first.record
    assert registry.event_count("p") == 1
    # Another output under the same terminal key is a replay conflict, not a second terminal.
    refused(
        registry,
        codes.PROCESS_EVENT_REPLAY_CONFLICT,
        registry.complete_leased,
        lease.completion(),
        SuccessOutput({"ok": False}),
        7,
    )


# -- more rules ------------------------------------------------------------------------------


def test_any_terminal_releases_the_lease_and_terminal_processes_cannot_be_leased() -> None:
    registry = registry_with("p")
    registry.claim_process_lease("p", "owner-a", MINUTE, 0)
    registry.append_terminal("p", CancelledOutput("stop"), 1)
    assert registry.lease("p") is None
    refused(
        registry, codes.PROCESS_ALREADY_TERMINAL, registry.claim_process_lease, "p", "b", MINUTE, 2
    )


@pytest.mark.parametrize(
    ("owner", "ttl", "now", "code"),
    [
        (" ", 10, 0, codes.PROCESS_LEASE_INVALID),
        ("a", -1, 0, codes.PROCESS_LEASE_INVALID),
        ("a", 1.5, 0, codes.PROCESS_LEASE_INVALID),
        ("a", 10, -1, codes.PROCESS_TIMESTAMP_INVALID),
    ],
)
def test_malformed_claims_are_refused(owner: Any, ttl: Any, now: Any, code: str) -> None:
    registry = registry_with("p")
    refused(registry, code, registry.claim_process_lease, "p", owner, ttl, now)


def test_unknown_processes_and_foreign_objects_are_refused() -> None:
    registry = registry_with("p")
    refused(registry, codes.PROCESS_UNKNOWN, registry.claim_process_lease, "nope", "a", 1, 0)
    forged = ProcessLease("nope", "a", "a:1", 1, 0, 10)
    refused(registry, codes.PROCESS_UNKNOWN, registry.renew_process_lease, forged, 1, 0)
    refused(registry, codes.PROCESS_LEASE_INVALID, registry.renew_process_lease, "a:1", 1, 0)
    refused(
        registry, codes.PROCESS_LEASE_INVALID, registry.complete_leased, forged, SuccessOutput(1), 0
    )
    # A forged lease for a real process is not its current lease.
    forged = ProcessLease("p", "a", "a:7", 7, 0, 10**9)
    refused(registry, codes.PROCESS_LEASE_LOST, registry.renew_process_lease, forged, 1, 0)


def test_restore_keeps_leases_and_fences() -> None:
    registry = registry_with("p")
    lease = registry.claim_process_lease("p", "a", 10, 0)
    restored = ProcessRegistry.restore(registry.list_processes(), leases=[lease])
    assert restored.lease("p") == lease
    refused(restored, codes.PROCESS_LEASE_HELD, restored.claim_process_lease, "p", "b", 10, 5)
    assert restored.claim_process_lease("p", "b", 10, 10).fencing_token == 2


# -- against a model -------------------------------------------------------------------------

OWNERS = st.sampled_from(["a", "b", "c"])


class LeaseMachine(RuleBasedStateMachine):
    """One process's lease against a model: the holder, its fence and expiry, the last fence
    issued, and every lease ever handed out (so stale ones are presented too)."""

    def __init__(self) -> None:
        super().__init__()
        self.registry = registry_with("p")
        self.now = 0
        self.holder: tuple[str, int, int] | None = None  # owner, fence, expiry
        self.fence = 0
        self.issued: list[ProcessLease] = []
        self.done = False

    def current(self, lease: ProcessLease) -> bool:
        return self.holder is not None and self.holder[:2] == (lease.owner, lease.fencing_token)

    def expect(self, code: str, fn: Any, *args: Any) -> None:
        refused(self.registry, code, fn, *args)

    @rule(step=st.integers(0, 30))
    def advance(self, step: int) -> None:
        self.now += step

    @rule(owner=OWNERS, ttl=st.integers(0, 40))
    def claim(self, owner: str, ttl: int) -> None:
        holder = self.holder
        held = holder is not None and self.now < holder[2] and holder[0] != owner
        if self.done or held:
            code = codes.PROCESS_ALREADY_TERMINAL if self.done else codes.PROCESS_LEASE_HELD
            self.expect(code, self.registry.claim_process_lease, "p", owner, ttl, self.now)
            return
        lease = self.registry.claim_process_lease("p", owner, ttl, self.now)
        if holder is not None and self.now < holder[2]:
            assert lease.fencing_token == holder[1]
            self.holder = (owner, holder[1], max(holder[2], self.now + ttl))
        else:
            self.fence += 1
            assert lease.fencing_token == self.fence
            self.holder = (owner, self.fence, self.now + ttl)
        assert lease.expires_at_ms == self.holder[2]
        self.issued.append(lease)

    @rule(data=st.data(), ttl=st.integers(0, 40))
    def renew(self, data: st.DataObject, ttl: int) -> None:
        if not self.issued:
            return
        lease = data.draw(st.sampled_from(self.issued))
        if self.done or not self.current(lease) or self.now >= self.holder[2]:  # type: ignore[index]
            self.expect(
                codes.PROCESS_LEASE_LOST, self.registry.renew_process_lease, lease, ttl, self.now
            )
            return
        renewed = self.registry.renew_process_lease(lease, ttl, self.now)
        self.holder = (lease.owner, lease.fencing_token, self.now + ttl)
        assert renewed.expires_at_ms == self.now + ttl
        self.issued.append(renewed)

    @rule(data=st.data(), owner=OWNERS)
    def reclaim(self, data: st.DataObject, owner: str) -> None:
        if not self.issued:
            return
        lease = data.draw(st.sampled_from(self.issued))
        if self.done or not self.current(lease):
            self.expect(
                codes.PROCESS_LEASE_LOST,
                self.registry.reclaim_process_lease,
                lease,
                owner,
                10,
                self.now,
            )
            return
        new = self.registry.reclaim_process_lease(lease, owner, 10, self.now)
        self.fence += 1
        assert new.fencing_token == self.fence
        self.holder = (owner, self.fence, self.now + 10)
        self.issued.append(new)

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if not self.issued:
            return
        lease = data.draw(st.sampled_from(self.issued))
        expected = not self.done and self.current(lease)
        assert self.registry.complete_process_lease(lease.completion()) == expected
        if expected:
            self.holder = None

    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        if not self.issued:
            return
        lease = data.draw(st.sampled_from(self.issued))
        output = SuccessOutput(1)
        if not self.done:
            if not self.current(lease):
                self.expect(
                    codes.PROCESS_LEASE_LOST,
                    self.registry.complete_leased,
                    lease.completion(),
                    output,
                    self.now,
                )
                return
            if self.now >= self.holder[2]:  # type: ignore[index]
                self.expect(
                    codes.PROCESS_LEASE_EXPIRED,
                    self.registry.complete_leased,
                    lease.completion(),
                    output,
                    self.now,
                )
                return
        appended = self.registry.complete_leased(lease.completion(), output, self.now)
        assert appended.appended == (not self.done)
        self.done = True
        self.holder = None

    @invariant()
    def lease_matches(self) -> None:
        lease = self.registry.lease("p")
        if self.holder is None:
            assert lease is None
        else:
            assert lease is not None
            assert (lease.owner, lease.fencing_token, lease.expires_at_ms) == self.holder
            assert lease.lease_token == f"{self.holder[0]}:{self.holder[1]}"
        assert self.registry.record("p").is_terminal == self.done


TestLeaseMachine = LeaseMachine.TestCase
TestLeaseMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
