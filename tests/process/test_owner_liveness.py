"""Process lease owners with liveness: a holder proved dead on its own host is taken over at
once; a holder on another host (or without liveness) is never judged dead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lash_core import LashError, codes
from lash_core.process import ProcessRegistry
from lash_core.process.leases import ProcessLease
from lash_core.process.owners import (
    ProcessOwnerId,
    owner_provably_dead,
    parse_process_owner,
    process_owner,
)
from lash_sqlite import new_process_owner, process_owner_dead
from lash_sqlite.liveness import boot_id, process_start_time
from tests.process.support import registration

HERE = "boot-1"
HOLDER = process_owner("worker", HERE, 42, "1000", "n1")


def test_an_owner_string_carries_its_host_pid_and_start_time() -> None:
    assert HOLDER == "worker@boot-1:42:1000:n1"
    assert parse_process_owner(HOLDER) == ProcessOwnerId("worker", HERE, 42, "1000", "n1")
    assert parse_process_owner("a@b@boot:7:9:n") == ProcessOwnerId("a@b", "boot", 7, "9", "n")
    for plain in ("worker", "worker@x", "@boot:1:2:3", "w@boot:pid:2:3"):
        assert parse_process_owner(plain) is None


@pytest.mark.parametrize(
    ("owner", "here", "pids", "dead"),
    [
        (HOLDER, HERE, {42: "1000"}, False),  # running, same start: alive
        (HOLDER, HERE, {}, True),  # the pid is gone
        (HOLDER, HERE, {42: "2000"}, True),  # the pid was reused by another process
        (HOLDER, "boot-2", {}, False),  # another host (or boot): never judged dead
        (HOLDER, "", {}, False),  # this host cannot say who it is
        (process_owner("w", HERE, 42, "", "n"), HERE, {}, False),  # no start time recorded
        ("worker-a", HERE, {}, False),  # a plain name carries no liveness
    ],
)
def test_only_an_owner_on_this_host_can_be_proved_dead(
    owner: str, here: str, pids: dict[int, str], dead: bool
) -> None:
    assert owner_provably_dead(owner, here, lambda pid: pids.get(pid)) is dead


def leased(owner: str) -> tuple[ProcessRegistry, ProcessLease]:
    registry = ProcessRegistry()
    registry.register(registration("p"), 0)
    return registry, registry.claim_process_lease("p", owner, 10_000, 0)


def test_a_dead_holder_on_this_host_is_reclaimed_before_its_ttl() -> None:
    registry, lease = leased(HOLDER)
    taken = registry.reclaim_dead_process_lease(
        lease,
        "worker-b",
        10_000,
        5,
        dead=lambda owner: owner_provably_dead(owner, HERE, lambda pid: None),
    )
    assert (taken.owner, taken.fencing_token) == ("worker-b", 2)


def test_a_holder_on_another_host_is_never_reclaimed_while_its_lease_lives() -> None:
    registry, lease = leased(HOLDER)
    with pytest.raises(LashError) as info:
        registry.reclaim_dead_process_lease(
            lease,
            "worker-b",
            10_000,
            5,
            dead=lambda owner: owner_provably_dead(owner, "boot-2", lambda pid: None),
        )
    assert info.value.code == codes.PROCESS_LEASE_HELD
    assert registry.lease("p") == lease
    # Once its lease expired, anyone may take it over.
    taken = registry.reclaim_dead_process_lease(
        lease,
        "worker-b",
        10_000,
        10_000,
        dead=lambda owner: False,
    )
    assert taken.fencing_token == 2


def test_this_process_is_alive_and_a_gone_pid_on_this_machine_is_dead() -> None:
    if not boot_id() or process_start_time(os.getpid()) is None:
        pytest.skip("no /proc here: nothing is ever proved dead")
    me = new_process_owner("api")
    assert parse_process_owner(me) is not None
    assert not process_owner_dead(me)
    assert new_process_owner("api") != me  # a new holder per call
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    gone = process_owner("api", boot_id(), pid_max, "1", "n")  # pid_max is never a pid
    assert process_owner_dead(gone)
    elsewhere = process_owner("api", "another-boot", pid_max, "1", "n")
    assert not process_owner_dead(elsewhere)
