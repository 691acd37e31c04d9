"""SqliteStore beyond the shared conformance cases: schema versions, secret rotation, storage
that grows linearly with a conversation, doorbells, and real processes over one file."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from lash_core import (
    LashError,
    Message,
    Role,
    TextPart,
    ToolSpec,
    TurnScope,
    codes,
    from_json,
    ok,
    to_json,
)
from lash_core.durable import direct_call_envelope, durable_step_envelope
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.effects.llm import LlmRequest
from lash_core.resolution import ACCEPTED, UNKNOWN_OR_REVOKED
from lash_core.scope import Custom
from lash_core.store import Owner, Recorded, Started, join_envelope, split_envelope
from lash_sqlite import SCHEMA_VERSION, Doorbell, SqliteStore, new_owner, provably_dead, ring

ROOT = Path(__file__).resolve().parents[2]
TURN = TurnScope("s1", "t1")


def test_a_new_file_is_wal_with_full_sync_and_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    with SqliteStore(path) as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with SqliteStore(path, synchronous="NORMAL") as store:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert len(raw.execute("SELECT secret FROM secrets").fetchone()[0]) == 32
    raw.close()


def test_a_newer_schema_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(LashError) as caught:
        SqliteStore(path)
    assert caught.value.code == codes.STORE_SCHEMA_TOO_NEW
    assert path.read_bytes() == before


def test_reopening_keeps_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    with SqliteStore(path) as first, SqliteStore(path) as second:
        assert first.mint(TURN, Custom("x")) == second.mint(TURN, Custom("x"))


def test_secret_rotation_keeps_outstanding_keys_working(tmp_path: Path) -> None:
    path = tmp_path / "rot.db"
    stale = SqliteStore(path)  # opened before the rotations, never told about them
    store = SqliteStore(path, keep_previous_secrets=2)
    old = store.mint(TURN, Custom("old"))
    store.park(old)
    store.rotate_secret()
    renewed = store.mint(TURN, Custom("old"))
    assert renewed.key_id == old.key_id and renewed.signature != old.signature
    second = store.mint(TURN, Custom("second"))
    assert stale.peek(second) is None, "a store opened before a rotation reloads the secrets"
    with SqliteStore(path, keep_previous_secrets=2) as fresh:
        assert fresh.resolve(old, ok("still valid")) == ACCEPTED
        assert fresh.resolve(renewed, ok("other")).status == "already_resolved"
    store.rotate_secret()
    store.rotate_secret()
    with SqliteStore(path, keep_previous_secrets=2) as later:
        assert later.peek(second) is None, "two rotations back still verifies"
        with pytest.raises(LashError) as caught:
            later.peek(old)  # three rotations back: retired
        assert caught.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
        assert later.resolve(old, ok(1)) == UNKNOWN_OR_REVOKED
    stale.close()
    store.close()


def test_a_verified_key_is_remembered_by_identity_and_a_tampered_copy_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqliteStore(tmp_path / "memo.db", ring=None) as store:
        key = store.mint(TURN, Custom("memo"))
        assert store.park(key) is None
        calls: list[object] = []
        signer = store._signer
        original = type(signer).verify

        def counting(self: object, k: object) -> bool:
            calls.append(k)
            return bool(original(self, k))  # type: ignore[arg-type]

        monkeypatch.setattr(type(signer), "verify", counting)
        assert store.peek(key) is None and store.deadline_ms(key) is None
        assert calls == [], "the key minted here is not verified again"
        forged = attrs.evolve(key, signature="0" * 64)
        with pytest.raises(LashError) as caught:
            store.peek(forged)
        assert caught.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED
        assert store.resolve(forged, ok("forged")) == UNKNOWN_OR_REVOKED
        copy = from_json(to_json(key), type(key))
        assert store.peek(copy) is None and calls[-1] is copy, "an equal copy is verified"


# -- content-addressed envelopes --------------------------------------------------------------


def _text(i: int, size: int = 400) -> str:
    seed = hashlib.sha256(str(i).encode()).hexdigest()
    return (seed * (size // 64 + 1))[:size]


def _conversation(calls: int) -> tuple[list[CanonicalEnvelope], int]:
    """Envelopes of ``calls`` model calls over a growing history; distinct message bytes."""
    tools = (ToolSpec("search", "Search the web " * 20, {"type": "object"}),)
    history: list[Message] = []
    envelopes = []
    distinct = 0
    for i in range(calls):
        history.append(Message(Role.USER, (TextPart(_text(2 * i)),)))
        request = LlmRequest("model", tuple(history), tools, system="Be brief. " * 100)
        envelopes.append(
            direct_call_envelope(
                request, session_id="s1", usage_source="chat", replay_id=f"call-{i}"
            ).canonical()
        )
        history.append(Message(Role.ASSISTANT, (TextPart(_text(2 * i + 1)),)))
        distinct += 800
    return envelopes, distinct


def test_split_and_join_give_the_envelope_back_byte_for_byte() -> None:
    envelopes, _ = _conversation(5)
    for env in envelopes:
        parts = split_envelope(env.json)
        assert len(parts.messages) >= 1 and len(parts.blobs) == 2
        joined = join_envelope(parts.skeleton, dict(parts.blobs), parts.messages)
        assert joined == env.json
    odd = '{"command":{"request":"not an object"},"x":"a\\\\\\"]"}'
    parts = split_envelope(odd)
    assert join_envelope(parts.skeleton, dict(parts.blobs), parts.messages) == odd


def test_storage_grows_linearly_with_the_conversation(tmp_path: Path) -> None:
    calls = 60
    envelopes, distinct = _conversation(calls)
    path = tmp_path / "conv.db"
    store = SqliteStore(path)
    lease = store.acquire("s1", Owner("a"), 60_000, 0)
    sizes = []
    for i, env in enumerate(envelopes):
        assert isinstance(store.begin(lease, env, i), Started)
        store.complete(lease, json.loads(env.json)["invocation"]["replay"]["key"], "{}", i)
        if i + 1 in (calls // 2, calls):
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            sizes.append(path.stat().st_size)
    # Every envelope comes back byte for byte (and so hashes the same).
    for env in (envelopes[0], envelopes[calls // 2], envelopes[-1]):
        key = json.loads(env.json)["invocation"]["replay"]["key"]
        assert store.recorded_envelope("s1", key) == env
        assert store.begin(lease, env, calls) == Recorded("{}", 1)
    store.close()
    first_half, whole = sizes
    naive = sum(len(e.json) for e in envelopes)
    assert naive > 1_000_000, "the envelopes repeat the whole history"
    # Linear: a small constant times the distinct message bytes, plus per-call overhead ...
    assert whole <= 3 * distinct + 2048 * calls, (whole, distinct)
    assert whole * 5 < naive, (whole, naive)
    # ... and the second half of the conversation costs about what the first did (storing
    # every request whole, it would cost three times as much).
    assert whole - first_half <= 1.5 * first_half, sizes


# -- doorbells -------------------------------------------------------------------------------


def test_a_doorbell_receives_a_ring_and_a_dead_one_is_ignored(tmp_path: Path) -> None:
    with Doorbell(str(tmp_path)) as bell:
        assert ring(bell.address, "k1") is True
        assert bell.wait(60) == ["k1"]
        assert bell.drain() == []
        address = bell.address
    assert not os.path.exists(address)
    assert ring(address, "k2") is False  # ENOENT: ignored
    assert ring(str(tmp_path / "never"), "k3") is False


def test_resolve_rings_the_parked_doorbell_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "ring.db"
    with Doorbell(str(tmp_path)) as bell, SqliteStore(path) as waiter, SqliteStore(path) as other:
        key = waiter.mint(TURN, Custom("approval"))
        assert waiter.park(key, bell.address) is None
        version = waiter.data_version()
        assert other.resolve(key, ok("yes")) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        assert waiter.data_version() != version, "the safety net sees the commit too"
        assert waiter.peek(key) == ok("yes")


def test_new_owner_is_a_new_holder_per_call() -> None:
    first, second = new_owner("api"), new_owner("api")
    assert first.name == second.name == "api" and first != second


# -- real processes --------------------------------------------------------------------------


def _worker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.store._worker", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_a_resolution_reaches_a_dead_owner_and_a_fresh_process_sees_it(tmp_path: Path) -> None:
    db = str(tmp_path / "dead.db")
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.store._worker", "park", db, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    key_json = owner.stdout.readline().strip()
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=120)
    assert owner.returncode == -signal.SIGKILL
    resolution = to_json(ok({"approved": True}))
    resolved = _worker("resolve", db, key_json, resolution)
    assert json.loads(resolved.stdout) == {"status": "accepted"}
    seen = _worker("peek", db, key_json)
    assert json.loads(seen.stdout) == {"status": "ok", "payload": {"approved": True}}
    with SqliteStore(db) as store:
        from lash_core import AwaitEventKey

        key = from_json(key_json, AwaitEventKey)
        assert store.deadline_ms(key) == 30_000
        assert store.resolve(key, ok("late")).status == "already_resolved"


def test_a_parked_waiter_is_woken_by_a_resolver_in_another_process(tmp_path: Path) -> None:
    db = tmp_path / "wake.db"
    with Doorbell(str(tmp_path)) as bell, SqliteStore(db) as store:
        key = store.mint(TURN, Custom("approval"))
        assert store.park(key, bell.address) is None
        resolver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store._worker",
                "resolve",
                str(db),
                to_json(key),
                to_json(ok("go")),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            # Blocks until the datagram arrives (the generous timeout only bounds a failure).
            woken_by = bell.wait(120)
        finally:
            out, _ = resolver.communicate(timeout=120)
        assert woken_by == [key.key_id], "woken by the resolver's doorbell datagram"
        assert json.loads(out) == {"status": "accepted"}
        assert store.peek(key) == ok("go")


def test_racing_processes_get_one_winner_per_key_and_no_lock_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "race.db")
    SqliteStore(db).close()
    count, racers = 40, 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store._worker", "race", db, str(count), str(index)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(racers)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err_text) in zip(procs, results, strict=True):
        assert p.returncode == 0, err_text  # no "database is locked" reached a caller
    accepted: dict[int, int] = {}
    for out, _ in results:
        for line in out.splitlines():
            i, status = line.split()
            assert status in ("accepted", "already_resolved")
            accepted[int(i)] = accepted.get(int(i), 0) + (status == "accepted")
    assert accepted == {i: 1 for i in range(count)}, "exactly one first writer per key"
    with SqliteStore(db) as store:
        for index in range(racers):
            lease = store.acquire(f"session-{index}", Owner(str(index)), 1_000, 700_000)
            envelope = durable_step_envelope(f"session-{index}", "step-7", 7).canonical()
            assert store.begin(lease, envelope, 700_001) == Recorded("7", 1)


def test_a_lease_of_a_dead_process_is_taken_over_at_once(tmp_path: Path) -> None:
    db = str(tmp_path / "held.db")
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.store._worker", "hold", db],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "1"
    with SqliteStore(db) as store:
        with pytest.raises(LashError) as caught:
            store.acquire("held", new_owner("successor"), 600_000, 2_000)
        assert caught.value.code == codes.LEASE_HELD, "a live holder keeps its lease"
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=120)
        # Long before the holder's ttl runs out, its lease is taken over with the next fence.
        lease = store.acquire("held", new_owner("successor"), 600_000, 3_000)
        assert lease.fencing_token == 2


def test_a_killed_holder_not_yet_reaped_is_proved_dead(tmp_path: Path) -> None:
    """A holder killed and not reaped by its parent (a zombie: a shell's background job
    whose parent does not wait, a container whose init reaps nothing) kept its lease until
    the ttl ran out."""
    db = str(tmp_path / "held.db")
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.store._worker", "hold", db],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "1"
    holder.send_signal(signal.SIGKILL)
    # Not reaped yet: wait until the kernel shows it as a zombie, without reaping it.
    os.waitid(os.P_PID, holder.pid, os.WEXITED | os.WNOWAIT)
    with open(f"/proc/{holder.pid}/stat", encoding="ascii") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] == "Z"
    with SqliteStore(db) as store:
        lease = store.acquire("held", new_owner("successor"), 600_000, 2_000)
        assert lease.fencing_token == 2
    holder.wait(timeout=120)
    holder.stdout.close()
    assert holder.stdin is not None
    holder.stdin.close()


def test_owners_elsewhere_are_never_proved_dead() -> None:
    assert not provably_dead(Owner("a"))
    assert not provably_dead(Owner("a", "another-boot:1:2:x"))
    me = new_owner("me")
    assert not provably_dead(me)


def test_a_lost_datagram_is_caught_by_the_data_version_safety_net(tmp_path: Path) -> None:
    path = tmp_path / "net.db"
    with SqliteStore(path) as waiter, SqliteStore(path, ring=None) as silent:
        key = waiter.mint(TURN, Custom("approval"))
        assert waiter.park(key, "/nonexistent/doorbell") is None
        seen = waiter.data_version()
        assert waiter.data_version() == seen, "an idle store reads the same version"
        assert silent.resolve(key, ok("quiet")) == ACCEPTED  # no datagram is sent
        assert waiter.data_version() != seen
        assert waiter.peek(key) == ok("quiet")


def test_a_file_that_is_not_a_store_is_refused_with_a_code(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(LashError) as caught:
        SqliteStore(path)
    assert caught.value.code == codes.STORE_UNAVAILABLE


def test_a_write_lock_held_past_the_busy_timeout_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SqliteStore(path, busy_timeout_ms=0) as store:
        key = store.mint(TURN, Custom("x"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(LashError) as caught:
            store.resolve(key, ok(1))
        assert caught.value.code == codes.STORE_UNAVAILABLE
        other.execute("ROLLBACK")
        other.close()
        assert store.peek(key) is None, "nothing was written"
        assert store.resolve(key, ok(2)) == ACCEPTED, "the store works again"
