"""Process lease owners with liveness: an owner string that says which process on which host
holds a lease, so that a holder can be proved dead (and its lease taken over before its ttl)
only by someone on the same host, and a holder on another host never is.

An owner made by :func:`process_owner` reads ``{name}@{host_id}:{pid}:{start_time}:{nonce}``:
``host_id`` names the host and its boot (``lash_sqlite.boot_id()`` on Linux), ``pid`` the
holder's process and ``start_time`` when that pid started (so a reused pid is told apart);
``nonce`` makes every incarnation a new holder. :func:`owner_provably_dead` judges one from an
observation of the host it runs on; finding the observation (``/proc``) is I/O and lives in
``lash_sqlite.process_owner_dead``. Any other owner string (a plain name) is never proved
dead: its lease is reclaimed only once it expires, or by an explicit reclaim.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

__all__ = ["ProcessOwnerId", "owner_provably_dead", "parse_process_owner", "process_owner"]


@attrs.frozen
class ProcessOwnerId:
    """The parts of a liveness-bearing owner string."""

    name: str
    host_id: str
    pid: int
    start_time: str
    nonce: str


def process_owner(name: str, host_id: str, pid: int, start_time: str, nonce: str) -> str:
    """The owner string for ``name`` run by process ``pid`` (started at ``start_time``) on
    ``host_id``; ``nonce`` (random, an input) makes each incarnation a new holder."""
    return f"{name}@{host_id}:{pid}:{start_time}:{nonce}"


def parse_process_owner(owner: str) -> ProcessOwnerId | None:
    """The parts of an owner made by :func:`process_owner`, or ``None`` for any other."""
    name, at, rest = owner.rpartition("@")
    parts = rest.split(":")
    if not at or not name or len(parts) != 4 or not parts[1].isdigit():
        return None
    host_id, pid, start_time, nonce = parts
    return ProcessOwnerId(name, host_id, int(pid), start_time, nonce)


def owner_provably_dead(
    owner: str, here_host_id: str, start_time_of: Callable[[int], str | None]
) -> bool:
    """Whether ``owner`` is provably gone, seen from the host ``here_host_id`` whose
    ``start_time_of(pid)`` says when a pid running here started (``None``: none runs).

    Only an owner of this very host (same host id, not blank) with a recorded start time can
    be proved dead: its pid no longer runs, or runs a process started at another time. An
    owner on another host, or one that says nothing about its process, is never dead."""
    parsed = parse_process_owner(owner)
    if parsed is None or not here_host_id or parsed.host_id != here_host_id:
        return False
    if not parsed.start_time:
        return False
    running = start_time_of(parsed.pid)
    return running is None or running != parsed.start_time
