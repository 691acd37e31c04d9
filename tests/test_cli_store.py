"""``lash store inspect`` and ``lash store resolve``: a store file from the command line, in
process through ``main(argv)`` and once in a real subprocess."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from lash_cli import main, tamper_signature
from lash_core import (
    AwaitEventKey,
    KeySigner,
    ToolCompletion,
    TurnScope,
    from_json,
    from_wire,
    ok,
    to_json,
)
from lash_core.scope import TurnCancelGate
from lash_core.store import Owner, TurnRef, TurnStatus
from lash_sqlite import SCHEMA_VERSION, Doorbell, SqliteStore
from lash_sqlite.cli import inspect_command

ROOT = Path(__file__).resolve().parent.parent
FAR: int = 10**15  # a lease expiry no wall clock reaches
OK_JSON = '{"status":"ok","payload":{"approved":true}}'


def run(*argv: str) -> tuple[int, str, str]:
    """``lash *argv`` in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse refusing the command line
            status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def dump(path: Path) -> list[str]:
    """The store's whole content, as SQL (to show a command changed nothing)."""
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


@pytest.fixture
def store_file(tmp_path: Path) -> Iterator[tuple[Path, AwaitEventKey, AwaitEventKey]]:
    """A store with a leased session running a turn, a parked tool wait with a deadline, a
    pending cancel gate, an expired lease on another session and a revoked third session."""
    path = tmp_path / "agent.db"
    with SqliteStore(path, ring=None) as store:
        scope = TurnScope("session-1", "turn-7")
        tool = store.mint(scope, ToolCompletion("call-1"))
        assert store.park(tool, "nowhere", deadline_ms=30_000) is None
        gate = store.mint(scope, TurnCancelGate())
        assert store.park(gate) is None
        lease = store.acquire("session-1", Owner("worker-a", "inc-1"), FAR, 0)
        store.open_turn(lease, "turn-7", "{}", 0)
        store.acquire("session-2", Owner("worker-b"), 1_000, 0)  # expired long ago
        assert store.revoke_session("session-3")
    yield path, tool, gate


# -- inspect -----------------------------------------------------------------------------------


def test_inspect_text_lists_sessions_turns_pending_waits_with_their_keys_and_leases(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, gate = store_file
    before = dump(path)
    status, out, err = run("store", "inspect", str(path))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert "sessions (3)" in lines
    assert "  session-1: lease worker-a fence 1 until 1000000000000000 ms (live)" in lines
    assert "  session-2: lease worker-b fence 1 until 1000 ms (expired)" in lines
    assert "  session-3: no lease (fence 0); revoked" in lines
    assert "  session-1 turn-7: running" in lines
    assert "pending waits (2)" in lines
    # Each pending key is printed whole, on its own line: it decodes to the minted key.
    printed = [from_json(line.strip(), AwaitEventKey) for line in lines if '"key_id"' in line]
    assert sorted(printed, key=lambda k: k.key_id) == sorted([tool, gate], key=lambda k: k.key_id)
    assert any("deadline 30000 ms, 1 parked" in line for line in lines)
    assert any("no deadline, 0 parked, turn control" in line for line in lines)
    assert "leases (2)" in lines
    assert dump(path) == before  # inspect writes nothing


def test_inspect_json_is_one_object_with_every_section(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, gate = store_file
    status, out, err = run("store", "inspect", str(path), "--json")
    assert (status, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    assert data["schema_version"] == SCHEMA_VERSION and data["path"] == str(path)
    sessions = {s["session_id"]: s for s in data["sessions"]}
    assert sessions["session-1"] == {
        "session_id": "session-1",
        "owner": "worker-a",
        "fencing_token": 1,
        "expires_ms": FAR,
        "live": True,
        "revoked": False,
    }
    assert sessions["session-2"]["live"] is False and sessions["session-2"]["owner"] == "worker-b"
    assert sessions["session-3"]["revoked"] is True and sessions["session-3"]["owner"] is None
    assert data["turns"] == [{"session_id": "session-1", "turn_id": "turn-7", "status": "running"}]
    waits = {from_wire(w["key"], AwaitEventKey): w for w in data["pending_waits"]}
    assert set(waits) == {tool, gate}
    assert (waits[tool]["deadline_ms"], waits[tool]["parked"], waits[tool]["turn_control"]) == (
        30_000,
        1,
        False,
    )
    assert waits[gate]["turn_control"] is True and waits[gate]["deadline_ms"] is None
    assert [(lease["kind"], lease["id"], lease["live"]) for lease in data["leases"]] == [
        ("session", "session-1", True),
        ("session", "session-2", False),
    ]


def test_inspect_judges_lease_liveness_at_the_given_time(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, _, _ = store_file
    out, err = io.StringIO(), io.StringIO()
    assert inspect_command(str(path), json_output=True, out=out, err=err, now_ms=999) == 0
    data = json.loads(out.getvalue())
    assert {s["session_id"]: s["live"] for s in data["sessions"]} == {
        "session-1": True,
        "session-2": True,  # expires at 1000
        "session-3": False,
    }


def test_a_resolved_key_is_no_longer_pending(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, _ = store_file
    assert run("store", "resolve", str(path), to_json(tool), OK_JSON)[0] == 0
    data = json.loads(run("store", "inspect", str(path), "--json")[1])
    assert [from_wire(w["key"], AwaitEventKey) for w in data["pending_waits"]] != []
    assert tool not in [from_wire(w["key"], AwaitEventKey) for w in data["pending_waits"]]


# -- resolve -----------------------------------------------------------------------------------


def test_resolve_accepts_first_then_answers_already_resolved_and_the_store_keeps_it(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, _ = store_file
    assert run("store", "resolve", str(path), to_json(tool), OK_JSON) == (
        0,
        '{"status":"accepted"}\n',
        "",
    )
    status, out, err = run("store", "resolve", str(path), to_json(tool), '{"status":"cancelled"}')
    assert (status, err) == (0, "")
    assert json.loads(out) == {"status": "already_resolved", "terminal": json.loads(OK_JSON)}
    with SqliteStore(path, ring=None) as store:
        assert store.peek(tool) == ok({"approved": True})


def test_resolve_rings_the_doorbell_of_a_parked_waiter(tmp_path: Path) -> None:
    path = tmp_path / "wake.db"
    with Doorbell() as bell, SqliteStore(path) as waiter:
        key = waiter.mint(TurnScope("session-1", "turn-1"), ToolCompletion("call-1"))
        assert waiter.park(key, bell.address) is None
        assert run("store", "resolve", str(path), to_json(key), '{"status":"ok","payload":1}')[
            1
        ] == ('{"status":"accepted"}\n')
        assert bell.drain() == [key.key_id]  # rung before the command returned
        assert waiter.peek(key) == ok(1)


def test_resolve_before_anyone_waits_is_buffered_for_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "early.db"
    with SqliteStore(path, ring=None) as store:
        key = store.mint(TurnScope("session-1", "turn-1"), ToolCompletion("call-1"))
    assert run("store", "resolve", str(path), to_json(key), OK_JSON)[:2] == (
        0,
        '{"status":"accepted"}\n',
    )
    with SqliteStore(path, ring=None) as later:
        assert later.park(key, "nowhere") == ok({"approved": True})


def test_a_forged_key_answers_unknown_or_revoked_with_status_0_and_writes_nothing(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, _ = store_file
    before = dump(path)
    forged = tamper_signature(tool)
    assert run("store", "resolve", str(path), to_json(forged), OK_JSON) == (
        0,
        '{"status":"unknown_or_revoked"}\n',
        "",
    )
    assert dump(path) == before


def test_a_key_of_a_revoked_session_answers_unknown_or_revoked(tmp_path: Path) -> None:
    path = tmp_path / "revoked.db"
    with SqliteStore(path, ring=None) as store:
        key = store.mint(TurnScope("session-1", "turn-1"), ToolCompletion("call-1"))
        store.revoke_session("session-1")
    assert run("store", "resolve", str(path), to_json(key), OK_JSON)[1] == (
        '{"status":"unknown_or_revoked"}\n'
    )


@pytest.mark.parametrize(
    ("key_json", "resolution_json", "code"),
    [
        ("{", OK_JSON, "wire_invalid_json"),
        ('{"key_id":"x"}', OK_JSON, "wire_decode"),
        (None, "not json", "wire_invalid_json"),
        (None, '{"status":"bogus"}', "wire_decode"),
        (None, '{"status":"ok"}', "wire_decode"),
    ],
)
def test_bad_json_is_one_coded_line_with_status_2_and_writes_nothing(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
    key_json: str | None,
    resolution_json: str,
    code: str,
) -> None:
    path, tool, _ = store_file
    before = dump(path)
    status, out, err = run(
        "store", "resolve", str(path), key_json or to_json(tool), resolution_json
    )
    assert (status, out) == (2, "")
    assert err.startswith(f"lash store resolve: error: {code}: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert dump(path) == before


@pytest.mark.parametrize("command", ["inspect", "resolve"])
def test_a_missing_file_is_refused_and_not_created(tmp_path: Path, command: str) -> None:
    path = tmp_path / "missing.db"
    signer = KeySigner(b"k" * 32)
    key = to_json(signer.mint(TurnScope("session-1", "turn-1"), ToolCompletion("call-1")))
    argv = ["store", command, str(path)] + ([key, OK_JSON] if command == "resolve" else [])
    status, out, err = run(*argv)
    assert (status, out) == (2, "")
    assert err.startswith(f"lash store {command}: error: store_not_found: ")
    assert err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("missing")) == []


@pytest.mark.parametrize("command", ["inspect", "resolve"])
def test_a_sqlite_file_that_is_not_a_store_is_refused_and_left_unchanged(
    tmp_path: Path, command: str
) -> None:
    path = tmp_path / "other-app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes(body TEXT)")
    db.commit()
    db.close()
    before = dump(path)
    key = '{"scope":{"type":"turn","session_id":"s","turn_id":"t"},"wait":{"type":"turn_terminal"},"key_id":"0","signature":"0"}'  # noqa: E501
    argv = ["store", command, str(path)] + ([key, OK_JSON] if command == "resolve" else [])
    status, _, err = run(*argv)
    assert status == 2
    assert "store_not_found" in err and "schema version 0" in err
    assert dump(path) == before


def test_a_store_of_a_newer_schema_is_refused_with_status_1(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    path, tool, _ = store_file
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = dump(path)
    for argv in (
        ["store", "inspect", str(path)],
        ["store", "resolve", str(path), to_json(tool), OK_JSON],
    ):
        status, out, err = run(*argv)
        assert (status, out) == (1, "")
        assert ": error: store_schema_too_new: " in err
    assert dump(path) == before


def test_store_without_an_action_is_a_usage_error() -> None:
    status, out, err = run("store")
    assert (status, out) == (2, "")
    assert "ACTION" in err


def test_store_commands_in_a_real_process(
    store_file: tuple[Path, AwaitEventKey, AwaitEventKey],
) -> None:
    """The ``lash`` entry point end to end: inspect prints a key, resolve takes it back."""
    path, tool, _ = store_file

    def lash(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from lash_cli import main; sys.exit(main(sys.argv[1:]))",
                *argv,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    inspected = lash("store", "inspect", str(path), "--json")
    assert inspected.returncode == 0, inspected.stderr
    waits = json.loads(inspected.stdout)["pending_waits"]
    key_json = next(json.dumps(w["key"]) for w in waits if not w["turn_control"])
    resolved = lash("store", "resolve", str(path), key_json, OK_JSON)
    assert (resolved.returncode, resolved.stdout, resolved.stderr) == (
        0,
        '{"status":"accepted"}\n',
        "",
    )
    refused = lash("store", "resolve", str(path), "{", OK_JSON)
    assert refused.returncode == 2 and "wire_invalid_json" in refused.stderr
    with SqliteStore(path, ring=None) as store:
        assert store.peek(tool) == ok({"approved": True})
        assert store.turn(TurnRef("session-1", "turn-7")) is not None
        row = store.turn(TurnRef("session-1", "turn-7"))
        assert row is not None and row.status is TurnStatus.RUNNING
