"""``lash store inspect`` and ``lash store resolve``: a store file from the command line.

The ``lash`` command (:mod:`lash_cli`) imports this module only when a ``store``
subcommand runs. Exit statuses:

* ``0``: the report was printed, or the store answered the resolve (``accepted``,
  ``already_resolved`` or ``unknown_or_revoked``: a forged, tampered or revoked key is an
  answer, not a failure, and nothing was written);
* ``2``: the command line is wrong: a key or resolution that is not JSON
  (``wire_invalid_json``) or not of its shape (``wire_decode``, or the code of the part that
  does not validate), or a path with no store (``store_not_found``); nothing was created or
  written;
* ``1``: the store could not be used (``store_unavailable``, ``store_corrupt``,
  ``store_schema_too_new``).

Errors are one line on stderr: ``lash store resolve: error: CODE: message``.
"""

from __future__ import annotations

import json
from typing import Any, Final, Protocol

from lash_core import AwaitEventKey, LashError, Resolution, codes, from_json, to_json, to_wire
from lash_core.wire import canonical_json
from lash_sqlite.report import StoreReport, check_store_file, read_report
from lash_sqlite.store import SqliteStore

__all__ = [
    "EXIT_STORE_FAILED",
    "EXIT_USAGE",
    "inspect_command",
    "report_data",
    "report_text",
    "resolve_command",
]

EXIT_USAGE: Final = 2
"""Bad input on the command line (the same status as ``lash``'s other usage errors)."""
EXIT_STORE_FAILED: Final = 1
"""The store could not be read or written."""

_USAGE_CODES: Final = frozenset({codes.AWAIT_EVENT_INVALID_RESOLUTION, codes.STORE_NOT_FOUND})


class Output(Protocol):
    def write(self, text: str, /) -> int: ...


def _fail(command: str, exc: LashError, err: Output, *, usage: bool = False) -> int:
    message = " ".join(exc.message.split())
    err.write(f"lash store {command}: error: {exc.code}: {message}\n")
    return EXIT_USAGE if usage or exc.code in _USAGE_CODES else EXIT_STORE_FAILED


def report_data(report: StoreReport) -> dict[str, Any]:
    """The report as plain JSON data (what ``--json`` prints)."""
    leases: list[dict[str, Any]] = [
        {
            "kind": "session",
            "id": s.session_id,
            "owner": s.holder.name,
            "incarnation": s.holder.incarnation,
            "fencing_token": s.fencing_token,
            "expires_ms": s.expires_ms,
            "live": s.live,
        }
        for s in report.sessions
        if s.holder is not None
    ]
    leases.extend(
        {
            "kind": "process",
            "id": lease.process_id,
            "owner": lease.owner,
            "fencing_token": lease.fencing_token,
            "expires_ms": lease.expires_at_ms,
            "live": report.now_ms < lease.expires_at_ms,
        }
        for lease in report.process_leases
    )
    return {
        "path": report.path,
        "schema_version": report.schema_version,
        "now_ms": report.now_ms,
        "sessions": [
            {
                "session_id": s.session_id,
                "owner": None if s.holder is None else s.holder.name,
                "fencing_token": s.fencing_token,
                "expires_ms": s.expires_ms,
                "live": s.live,
                "revoked": s.revoked,
            }
            for s in report.sessions
        ],
        "turns": [
            {"session_id": t.session_id, "turn_id": t.turn_id, "status": t.status.value}
            for t in report.turns
        ],
        "pending_waits": [
            {
                "key": to_wire(w.key),
                "deadline_ms": w.deadline_ms,
                "turn_control": w.turn_control,
                "parked": w.parked,
            }
            for w in report.pending_waits
        ],
        "leases": leases,
    }


def _lease_text(owner: str, fence: int, expires_ms: int, live: bool) -> str:
    state = "live" if live else "expired"
    return f"{owner} fence {fence} until {expires_ms} ms ({state})"


def report_text(report: StoreReport) -> str:
    """The report as text: one section each for sessions, turns, pending waits (each key on
    its own line, as JSON to copy into ``lash store resolve``) and leases."""
    data = report_data(report)
    lines = [f"store {report.path} (schema {report.schema_version}) at {report.now_ms} ms", ""]
    lines.append(f"sessions ({len(report.sessions)})")
    for s in report.sessions:
        lease = (
            f"no lease (fence {s.fencing_token})"
            if s.holder is None
            else "lease " + _lease_text(s.holder.name, s.fencing_token, s.expires_ms, s.live)
        )
        lines.append(f"  {s.session_id}: {lease}{'; revoked' if s.revoked else ''}")
    lines += ["", f"turns ({len(report.turns)})"]
    lines += [f"  {t.session_id} {t.turn_id}: {t.status.value}" for t in report.turns]
    lines += ["", f"pending waits ({len(report.pending_waits)})"]
    for w in report.pending_waits:
        deadline = "no deadline" if w.deadline_ms is None else f"deadline {w.deadline_ms} ms"
        control = ", turn control" if w.turn_control else ""
        lines.append(
            f"  {w.key.scope.session_id or '-'} {canonical_json(w.key.wait)}: {deadline}, "
            f"{w.parked} parked{control}"
        )
        lines.append(f"    {to_json(w.key)}")
    lines += ["", f"leases ({len(data['leases'])})"]
    lines += [
        f"  {lease['kind']} {lease['id']}: "
        + _lease_text(lease["owner"], lease["fencing_token"], lease["expires_ms"], lease["live"])
        for lease in data["leases"]
    ]
    return "\n".join(lines) + "\n"


def inspect_command(
    path: str, *, json_output: bool, out: Output, err: Output, now_ms: int | None = None
) -> int:
    """``lash store inspect PATH [--json]``: print the report; never writes or creates."""
    try:
        report = read_report(path, now_ms)
    except LashError as exc:
        return _fail("inspect", exc, err)
    if json_output:
        out.write(json.dumps(report_data(report), ensure_ascii=False, sort_keys=True) + "\n")
    else:
        out.write(report_text(report))
    return 0


def resolve_command(
    path: str, key_json: str, resolution_json: str, *, out: Output, err: Output
) -> int:
    """``lash store resolve PATH KEY_JSON RESOLUTION_JSON``: resolve the key in the store
    (first writer wins; the parked waiters' doorbells ring after the commit) and print the
    outcome JSON. Bad input, or a path with no store, writes nothing."""
    try:
        key: AwaitEventKey = from_json(key_json, AwaitEventKey)
        resolution: Resolution = from_json(resolution_json, Resolution)
    except LashError as exc:  # the command line, whatever the code: nothing was opened
        return _fail("resolve", exc, err, usage=True)
    try:
        check_store_file(path)
        with SqliteStore(path) as store:
            outcome = store.resolve(key, resolution)
    except LashError as exc:
        return _fail("resolve", exc, err)
    out.write(to_json(outcome) + "\n")
    return 0
