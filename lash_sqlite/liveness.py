"""Lease owners that a process on the same machine can prove dead.

An owner made by :func:`new_owner` carries, in its incarnation, the machine's boot id, its pid
and the pid's start time (from ``/proc``). Another process on the same machine (same boot id)
knows that owner is dead when the pid no longer runs, or now runs another program started at
another time (the pid was reused). A store then takes the dead owner's lease over at once,
instead of waiting out its ttl. Where ``/proc`` is missing, or the owner is on another machine,
nothing is ever proved dead: the lease expires as usual.
"""

from __future__ import annotations

import os
import secrets

from lash_core.process.owners import owner_provably_dead, process_owner
from lash_core.store import Owner

__all__ = [
    "boot_id",
    "new_owner",
    "new_process_owner",
    "process_owner_dead",
    "process_start_time",
    "provably_dead",
]

_PROC = "/proc"


def boot_id() -> str:
    """This boot of this machine (``""`` where the system does not say)."""
    try:
        with open(f"{_PROC}/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, as text), or ``None`` if no such
    process runs (a zombie, killed and not yet reaped by its parent, does not run)."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    # Field 22 of stat (starttime); fields[0] is field 3 (state).
    if len(fields) <= 19 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def new_owner(name: str) -> Owner:
    """An owner named ``name`` for this process: a new holder per call (a restarted process is
    never mistaken for its predecessor), provably dead once this process is gone."""
    pid = os.getpid()
    start = process_start_time(pid) or ""
    return Owner(name, f"{boot_id()}:{pid}:{start}:{secrets.token_hex(6)}")


def provably_dead(owner: Owner) -> bool:
    """Whether ``owner`` (made by :func:`new_owner` on this machine, this boot) is gone."""
    parts = owner.incarnation.split(":")
    if len(parts) != 4:
        return False
    boot, pid_text, start, _ = parts
    here = boot_id()
    if not here or boot != here or not start or not pid_text.isdigit():
        return False
    running = process_start_time(int(pid_text))
    return running is None or running != start


def new_process_owner(name: str) -> str:
    """A process-lease owner named ``name`` for this process (its host's boot id, its pid and
    the pid's start time): a new holder per call, provably dead once this process is gone, to
    a process on this machine only (see :mod:`lash_core.process.owners`)."""
    pid = os.getpid()
    start = process_start_time(pid) or ""
    return process_owner(name, boot_id(), pid, start, secrets.token_hex(6))


def process_owner_dead(owner: str) -> bool:
    """Whether the process-lease ``owner`` (made by :func:`new_process_owner`) is provably
    gone, judged on this machine: never for an owner on another machine or boot."""
    return owner_provably_dead(owner, boot_id(), process_start_time)
