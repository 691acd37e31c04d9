"""PostgresStore beyond the shared conformance cases: schema versions and names, secret
rotation, LISTEN/NOTIFY doorbells (delivered on commit, a dropped listener reconnecting), the
data-version safety net, claims of unfinished turns, and real processes over one database.

Each test gets a fresh schema of the session's throwaway server (``postgres_dsn``)."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import psycopg
import pytest

from lash_core import LashError, TurnScope, codes, from_json, ok, to_json
from lash_core.durable import durable_step_envelope
from lash_core.promise import StoreTransition, resolve_transition
from lash_core.resolution import ACCEPTED, UNKNOWN_OR_REVOKED
from lash_core.scope import Custom, TurnCancelGate, TurnTerminal
from lash_core.store import (
    Owner,
    Recorded,
    Started,
    TurnRef,
    promise_state,
    resolution_from_json,
)
from lash_postgres import SCHEMA_VERSION, PostgresDoorbell, PostgresStore
from lash_postgres.doorbell import Delivered
from lash_sqlite import new_owner
from tests.store.conftest import fresh_schema

ROOT = Path(__file__).resolve().parents[2]
V2_RESOLVE_FUNCTION = (ROOT / "tests" / "data" / "postgres_lash_resolve_v2.sql").read_text()
TURN = TurnScope("s1", "t1")
A = Owner("a", "a-1")
B = Owner("b", "b-1")


@pytest.fixture
def schema() -> str:
    return fresh_schema()


@pytest.fixture
def store(postgres_dsn: str, schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn, schema=schema) as opened:
        yield opened


def _raw(dsn: str, schema: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema}")


def test_a_new_schema_has_the_current_version_and_a_secret(
    store: PostgresStore, postgres_dsn: str, schema: str
) -> None:
    with _raw(postgres_dsn, schema) as raw:
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
        secret = raw.execute("SELECT secret FROM secrets").fetchall()
        assert len(secret) == 1 and isinstance(secret[0][0], bytes) and len(secret[0][0]) == 32


def test_a_newer_schema_is_refused_and_left_unchanged(
    store: PostgresStore, postgres_dsn: str, schema: str
) -> None:
    with _raw(postgres_dsn, schema) as raw:
        raw.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(99),))
        before = raw.execute("SELECT count(*) FROM secrets").fetchone()
    with pytest.raises(LashError) as caught:
        PostgresStore(postgres_dsn, schema=schema)
    assert caught.value.code == codes.STORE_SCHEMA_TOO_NEW
    with _raw(postgres_dsn, schema) as raw:
        assert raw.execute("SELECT value FROM meta").fetchall() == [("99",)]
        assert raw.execute("SELECT count(*) FROM secrets").fetchone() == before


def _resolve_functions(raw: psycopg.Connection[tuple[object, ...]], schema: str) -> list[object]:
    """The argument counts of the schema's functions named ``lash_resolve``."""
    return [
        row[0]
        for row in raw.execute(
            "SELECT p.pronargs FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = %s AND p.proname = 'lash_resolve' ORDER BY p.pronargs",
            (schema,),
        ).fetchall()
    ]


def _drop_resolve_functions(raw: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
    for (signature,) in raw.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s AND p.proname = 'lash_resolve'",
        (schema,),
    ).fetchall():
        raw.execute(f"DROP FUNCTION {signature}")
    assert _resolve_functions(raw, schema) == []


def test_a_version_1_schema_gets_the_resolve_function_on_open(
    store: PostgresStore, postgres_dsn: str, schema: str
) -> None:
    key = store.mint(TURN, Custom("approval"))
    store.park(key)
    with _raw(postgres_dsn, schema) as raw:  # what lash with schema version 1 left
        _drop_resolve_functions(raw, schema)
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with PostgresStore(postgres_dsn, schema=schema) as reopened:
        assert reopened.resolve(key, ok("yes")) == ACCEPTED
        assert reopened.peek(key) == ok("yes")
    with _raw(postgres_dsn, schema) as raw:
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),) == ("3",)
        assert _resolve_functions(raw, schema) == [12, 13]


def test_a_version_2_schema_gets_the_cheaper_resolve_function_on_open(
    store: PostgresStore, postgres_dsn: str, schema: str
) -> None:
    pending = store.mint(TURN, Custom("approval"))
    store.park(pending)
    done = store.mint(TURN, Custom("done"))
    with _raw(postgres_dsn, schema) as raw:  # what lash with schema version 2 left
        _drop_resolve_functions(raw, schema)
        raw.execute(V2_RESOLVE_FUNCTION)
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        assert _resolve_functions(raw, schema) == [13]
        old_resolve = raw.execute(  # version 2's function, as a process of that lash calls it
            "SELECT written FROM lash_resolve(%s, 's1', '{}', '{}', false, %s, 1, 0, 'r', "
            "'k', NULL, NULL, NULL)",
            (done.key_id, '{"status":"ok","payload":"v2"}'),
        ).fetchone()
        assert old_resolve == (True,)
        before = raw.execute("SELECT sum(n) FROM changes").fetchone()
    with PostgresStore(postgres_dsn, schema=schema) as reopened:
        assert reopened.resolve(pending, ok("yes")) == ACCEPTED
        assert reopened.peek(pending) == ok("yes")
        assert reopened.peek(done) == ok("v2")
        assert reopened.resolve(done, ok("again")) != ACCEPTED  # first writer wins
        assert before is not None and reopened.data_version() == int(str(before[0])) + 1
        later = reopened.mint(TURN, Custom("later"))
        reopened.park(later, "bell")
    with _raw(postgres_dsn, schema) as raw:
        version = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),) == ("3",)
        assert _resolve_functions(raw, schema) == [12, 13]
        # A process of the previous lash, still running, calls version 2's signature: it
        # resolves by version 3's function (the gate's counter row is not used).
        old_call = raw.execute(
            "SELECT * FROM lash_resolve(%s, 's1', '{}', '{}', false, %s, 1, 0, 'r', 'k', "
            "NULL, NULL, NULL)",
            (later.key_id, '{"status":"ok","payload":"old"}'),
        ).fetchone()
        assert old_call == (False, True, None, True, ["bell"], [])
    with PostgresStore(postgres_dsn, schema=schema) as reopened:
        assert reopened.peek(later) == ok("old")


@pytest.mark.parametrize("state", ["missing", "pending", "resolved", "revoked"])
def test_lash_resolve_writes_exactly_when_the_rule_stores(
    store: PostgresStore, postgres_dsn: str, schema: str, state: str
) -> None:
    key = store.mint(TURN, Custom("approval"))
    if state == "pending":
        store.park(key)
    elif state == "resolved":
        store.resolve(key, ok("first"))
    elif state == "revoked":
        store.revoke_session("s1")
    with _raw(postgres_dsn, schema) as raw:
        row = raw.execute(
            "SELECT * FROM lash_resolve(%s, %s, '{}', '{}', false, %s, 1, 0, 'r', 'k', NULL, NULL)",
            (key.key_id, "s1", '{"status":"ok","payload":"second"}'),
        ).fetchone()
        assert row is not None
        revoked, exists, stored_json, written, _, _ = row
        assert isinstance(revoked, bool) and isinstance(exists, bool)
        stored = None if stored_json is None else resolution_from_json(str(stored_json))
        rule = resolve_transition(promise_state(revoked, exists, stored), ok("second"))
        assert written == isinstance(rule, StoreTransition) == (state in ("missing", "pending"))
        assert revoked == (state == "revoked")
        terminal = raw.execute(
            "SELECT terminal_json FROM await_events WHERE key_id = %s", (key.key_id,)
        ).fetchall()
    expected = {
        "missing": [('{"status":"ok","payload":"second"}',)],
        "pending": [('{"status":"ok","payload":"second"}',)],
        "resolved": [('{"status":"ok","payload":"first"}',)],
        "revoked": [],
    }
    assert terminal == expected[state]


@pytest.mark.parametrize("gate_pending", [True, False])
def test_lash_resolve_rings_and_counts_a_pending_cancel_gate(
    postgres_dsn: str, schema: str, gate_pending: bool
) -> None:
    rings: list[tuple[str, str]] = []
    ring = lambda address, key_id: rings.append((address, key_id))  # noqa: E731
    with PostgresStore(postgres_dsn, schema=schema, ring=ring) as store:
        _resolve_the_terminal(store, rings, gate_pending)


def _resolve_the_terminal(
    store: PostgresStore, rings: list[tuple[str, str]], gate_pending: bool
) -> None:
    gate, terminal = store.mint(TURN, TurnCancelGate()), store.mint(TURN, TurnTerminal())
    store.park(gate, "bell-gate")
    store.park(terminal, "bell-terminal")
    if not gate_pending:
        store.resolve(gate, ok("cancelled"))
        rings.clear()
    version = store.data_version()
    assert store.resolve(terminal, ok({"committed": True})) == ACCEPTED
    expected = [("bell-terminal", terminal.key_id)]
    if gate_pending:
        expected.append(("bell-gate", gate.key_id))
    assert rings == expected
    # A settled promise counts one, a pending gate's waiters woken one more.
    assert store.data_version() == version + (2 if gate_pending else 1)
    assert store.peek(gate) == (None if gate_pending else ok("cancelled"))


@pytest.mark.parametrize("name", ["Lash", "a-b", "", "x; DROP TABLE meta", "9lives", "a" * 64])
def test_a_bad_schema_name_is_refused_before_connecting(name: str) -> None:
    with pytest.raises(LashError) as caught:
        PostgresStore("host=/nonexistent port=1", schema=name)
    assert caught.value.code == codes.STORE_CONFIG_INVALID


def test_an_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(LashError) as caught:
        PostgresStore("host=127.0.0.1 port=1 connect_timeout=2")
    assert caught.value.code == codes.STORE_UNAVAILABLE


def test_a_store_whose_connection_dropped_connects_again(
    store: PostgresStore, postgres_dsn: str
) -> None:
    key = store.mint(TURN, Custom("approval"))
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        pid = store._db.info.backend_pid
        ended = admin.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,)).fetchone()
        assert ended == (True,)  # the backend is gone
    with pytest.raises(LashError) as caught:
        store.peek(key)  # the first call finds the connection gone: nothing was done
    assert caught.value.code == codes.STORE_UNAVAILABLE
    assert store.resolve(key, ok("back")) == ACCEPTED  # the next one connects again
    assert store.peek(key) == ok("back")


def test_reopening_keeps_the_secret(postgres_dsn: str, schema: str) -> None:
    with (
        PostgresStore(postgres_dsn, schema=schema) as first,
        PostgresStore(postgres_dsn, schema=schema) as second,
    ):
        assert first.mint(TURN, Custom("x")) == second.mint(TURN, Custom("x"))
    with PostgresStore(postgres_dsn, schema=fresh_schema()) as other:
        assert other.mint(TURN, Custom("x")) != first.mint(TURN, Custom("x"))


def test_secret_rotation_keeps_outstanding_keys_working(postgres_dsn: str, schema: str) -> None:
    stale = PostgresStore(postgres_dsn, schema=schema)  # never told about the rotations
    store = PostgresStore(postgres_dsn, schema=schema, keep_previous_secrets=2)
    old = store.mint(TURN, Custom("old"))
    store.park(old)
    store.rotate_secret()
    second = store.mint(TURN, Custom("second"))
    assert stale.peek(second) is None, "a store opened before a rotation reloads the secrets"
    with PostgresStore(postgres_dsn, schema=schema, keep_previous_secrets=2) as fresh:
        assert fresh.resolve(old, ok("still valid")) == ACCEPTED
    store.rotate_secret()
    store.rotate_secret()
    with PostgresStore(postgres_dsn, schema=schema, keep_previous_secrets=2) as later:
        assert later.peek(second) is None, "two rotations back still verifies"
        assert later.resolve(old, ok(1)) == UNKNOWN_OR_REVOKED  # three back: retired
    stale.close()
    store.close()


# -- doorbells -------------------------------------------------------------------------------


def test_a_resolve_notifies_the_parked_doorbell_when_it_commits(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    with (
        PostgresDoorbell(postgres_dsn) as bell,
        PostgresStore(postgres_dsn, schema=schema) as other,
    ):
        key = store.mint(TURN, Custom("approval"))
        assert store.park(key, bell.address) is None
        version = store.data_version()
        assert bell.drain() == []
        assert other.resolve(key, ok("yes")) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        assert bell.drain() == []
        assert store.data_version() != version, "the safety net sees the commit too"
        assert store.peek(key) == ok("yes")
        # A losing resolve notifies nobody.
        assert other.resolve(key, ok("again")).status == "already_resolved"
        assert bell.wait(0) == []


def _no_reads(*_: object) -> None:
    raise AssertionError("the store read the table")


def test_a_terminal_delivered_with_its_notification_is_peeked_without_a_read(
    postgres_dsn: str, store: PostgresStore, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        assert store.park(key, bell.address) is None
        assert other.resolve(key, ok({"city": "Oslo"})) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        with monkeypatch.context() as patched:
            patched.setattr(store, "_read", _no_reads)
            assert store.peek(key) == ok({"city": "Oslo"})
        # Taken once: the next peek reads the table (the same terminal: first writer wins).
        assert store.peek(key) == ok({"city": "Oslo"})


def _no_hmac(*_: object) -> bool:
    raise AssertionError("the key was verified again")


def test_a_delivered_terminal_skips_a_second_hmac_for_the_key_object_parked(
    postgres_dsn: str, store: PostgresStore, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        assert store.park(key, bell.address) is None  # verified here, and remembered
        assert other.resolve(key, ok("yes")) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        with monkeypatch.context() as patched:
            patched.setattr("lash_postgres.connection.key_is_authentic", _no_hmac)
            assert store.peek(key) == ok("yes")
        # An equal key that is another object, or the same after the secrets were loaded
        # again, is verified: the answer is the signer's, whatever was remembered.
        for peeked in (from_json(to_json(key), type(key)), key):
            store._delivered.put(key.key_id, '{"status":"ok","payload":"yes"}')
            with monkeypatch.context() as patched:
                patched.setattr("lash_postgres.connection.key_is_authentic", _no_hmac)
                with pytest.raises(AssertionError, match="verified again"):
                    store.peek(peeked)
            store._reload_signer()
        # A forged key never passes, delivered terminal or not.
        forged = attrs.evolve(key, signature="0" * 64)
        store._delivered.put(key.key_id, '{"status":"ok","payload":"yes"}')
        with pytest.raises(LashError) as caught:
            store.peek(forged)
        assert caught.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED


def test_a_terminal_too_large_for_a_notification_is_read_from_the_table(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        large = ok("x" * 9000)  # PostgreSQL refuses notifications over 8000 bytes
        assert other.resolve(key, large) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        assert len(store._delivered) == 0
        assert store.peek(key) == large


def test_a_later_notification_without_a_terminal_drops_the_delivered_one(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        assert other.resolve(key, ok("yes")) == ACCEPTED
        # What a revocation sends a waiter still parked on the key: the key id alone.
        with _raw(postgres_dsn, schema) as raw:
            raw.execute("SELECT pg_notify(%s, %s)", (bell.address, key.key_id))
        rung = bell.wait(60)
        while len(rung) < 2:
            rung += bell.wait(60)
        assert rung == [key.key_id, key.key_id]
        assert len(store._delivered) == 0
        assert other.revoke_session("s1") is True
        with pytest.raises(LashError) as caught:
            store.peek(key)
        assert caught.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED


def test_a_delivered_terminal_is_returned_once_even_if_the_session_was_revoked_since(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    """The documented race: the waiter was woken by a resolution committed before the
    revocation; its first peek returns that terminal, every later one is refused."""
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        assert other.resolve(key, ok("yes")) == ACCEPTED
        assert bell.wait(60) == [key.key_id]
        assert other.revoke_session("s1") is True
        assert store.peek(key) == ok("yes")
        with pytest.raises(LashError) as caught:
            store.peek(key)
        assert caught.value.code == codes.AWAIT_EVENT_UNKNOWN_OR_REVOKED


def test_unparking_forgets_a_delivered_terminal(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    with store.open_doorbell() as bell, PostgresStore(postgres_dsn, schema=schema) as other:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        other.resolve(key, ok("yes"))
        assert bell.wait(60) == [key.key_id]
        assert len(store._delivered) == 1
        store.unpark(key, bell.address)
        assert len(store._delivered) == 0


def test_delivered_terminals_are_bounded_oldest_first() -> None:
    delivered = Delivered(keep=2)
    for key_id in ("a", "b", "c"):
        delivered.put(key_id, "{}")
    assert len(delivered) == 2
    assert delivered.take("a") is None and delivered.take("c") == "{}"
    delivered.drop("b")
    assert len(delivered) == 0


def test_nothing_is_notified_before_the_resolver_commits(
    postgres_dsn: str, store: PostgresStore
) -> None:
    with PostgresDoorbell(postgres_dsn) as bell:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        with store._write() as db:  # a resolver's transaction, held open
            db.execute("SELECT pg_notify(%s, %s)", (bell.address, key.key_id)).fetchall()
            assert bell.wait(0.05) == []
        assert bell.wait(60) == [key.key_id]


def test_a_dropped_listener_reconnects_and_the_safety_net_covers_the_gap(
    postgres_dsn: str, store: PostgresStore
) -> None:
    with PostgresDoorbell(postgres_dsn) as bell:
        key = store.mint(TURN, Custom("approval"))
        store.park(key, bell.address)
        seen = store.data_version()
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            # Waits (up to 30 s) until the listener's backend is gone.
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"LISTEN%{bell.address}%",),
            ).fetchall()
            assert ended == [(True,)]
        store.resolve(key, ok("meanwhile"))  # sent while nobody listened: lost
        readable, _, _ = select.select([bell.fileno()], [], [], 30)
        assert readable, "the server's goodbye arrives"
        assert bell.drain() == []  # read: listening again on a new connection
        assert bell.reconnects == 1
        assert store.data_version() != seen, "the safety net catches the lost notification"
        other = store.mint(TURN, Custom("later"))
        store.park(other, bell.address)
        store.resolve(other, ok(1))
        assert bell.wait(60) == [other.key_id], "the new connection listens on the same channel"


UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


def _terminate(dsn: str, pid: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,)).fetchone()
        assert ended == (True,)  # the backend is gone


def test_a_doorbell_waits_for_an_unreachable_server_without_spinning(
    postgres_dsn: str, store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lash_postgres import doorbell

    clock = [1_000.0]
    monkeypatch.setattr(doorbell, "_now", lambda: clock[0])
    with PostgresDoorbell(postgres_dsn) as bell:
        assert bell._conn is not None
        pid = bell._conn.info.backend_pid
        bell._dsn = UNREACHABLE  # the server goes away: its address no longer answers
        _terminate(postgres_dsn, pid)
        readable, _, _ = select.select([bell.fileno()], [], [], 30)
        assert readable, "the server's goodbye arrives"
        assert bell.drain() == []  # end of file read, listening again failed
        assert bell._conn is None and bell.reconnects == 0
        readable, _, _ = select.select([bell.fileno()], [], [], 0)
        assert readable == [], "nothing to do until the next attempt is due: no spinning"
        clock[0] += doorbell.RETRY_S
        readable, _, _ = select.select([bell.fileno()], [], [], 0)
        assert readable == [bell.fileno()], "the next attempt is due"
        assert bell.drain() == [] and bell.reconnects == 0  # still away
        bell._dsn = postgres_dsn  # the server is back
        clock[0] += doorbell.RETRY_S
        assert bell.drain() == [] and bell.reconnects == 1
        key = store.mint(TURN, Custom("after"))
        store.park(key, bell.address)
        store.resolve(key, ok(1))
        assert bell.wait(60) == [key.key_id]


def test_the_data_version_of_an_unreachable_store_stays_put(
    postgres_dsn: str, store: PostgresStore
) -> None:
    store.resolve(store.mint(TURN, Custom("k")), ok(1))
    seen = store.data_version()
    store.dsn = UNREACHABLE
    _terminate(postgres_dsn, store._db.info.backend_pid)
    assert store.data_version() == seen  # a host's listener keeps waiting
    with pytest.raises(LashError) as caught:
        store.peek(store.mint(TURN, Custom("k")))
    assert caught.value.code == codes.STORE_UNAVAILABLE
    store.dsn = postgres_dsn
    assert store.data_version() == seen
    store.resolve(store.mint(TURN, Custom("k2")), ok(2))
    assert store.data_version() == seen + 1


def test_an_idle_store_reads_the_same_data_version(store: PostgresStore) -> None:
    seen = store.data_version()
    lease = store.acquire("s1", A, 10_000, 0)
    store.begin(lease, durable_step_envelope("s1", "x", 1).canonical(), 1)
    assert store.data_version() == seen, "only settled promises count"
    store.resolve(store.mint(TURN, Custom("k")), ok(1))
    assert store.data_version() == seen + 1


# -- claims ----------------------------------------------------------------------------------


def _open_turns(store: PostgresStore, count: int) -> list[TurnRef]:
    refs = []
    for i in range(count):
        lease = store.acquire(f"s{i}", Owner("seeder"), 60_000, 0)
        store.open_turn(lease, "t", "{}", i)
        store.release(lease)
        refs.append(TurnRef(f"s{i}", "t"))
    return refs


def test_claims_give_each_unfinished_turn_one_owner(store: PostgresStore) -> None:
    refs = _open_turns(store, 3)
    first = store.claim_turn(A, 60_000, 100)
    assert first is not None and first[0] == refs[0] and first[1].owner == A
    second = store.claim_turn(B, 60_000, 100)
    assert second is not None and second[0] == refs[1], "a held session is skipped"
    third = store.claim_turn(A, 60_000, 100)
    assert third is not None and third[0] == refs[2], "the claimer's own session is skipped"
    assert store.claim_turn(B, 60_000, 100) is None
    store.finish_turn(first[1], refs[0], "{}", 200)
    assert store.claim_turn(B, 60_000, 200) is None, "a finished turn is not claimed"
    # An expired lease is claimed again, with the next fence.
    again = store.claim_turn(B, 60_000, 60_100)
    assert again is not None and again[0] == refs[1] and again[1].owner == B
    taken = store.claim_turn(B, 60_000, 60_101)
    assert taken is not None and taken[0] == refs[2]
    assert taken[1].fencing_token == third[1].fencing_token + 1


def test_a_claimed_lease_is_the_one_the_host_acquires(store: PostgresStore) -> None:
    _open_turns(store, 1)
    claim = store.claim_turn(A, 60_000, 100)
    assert claim is not None
    assert store.acquire("s0", A, 60_000, 150) == claim[1].__class__(
        "s0", A, claim[1].fencing_token, 60_150
    )
    with pytest.raises(LashError) as caught:
        store.acquire("s0", B, 60_000, 150)
    assert caught.value.code == codes.LEASE_HELD


def test_claims_do_not_wait_on_a_claimer_holding_its_turn_locked(
    store: PostgresStore, postgres_dsn: str, schema: str
) -> None:
    refs = _open_turns(store, 2)
    with PostgresStore(postgres_dsn, schema=schema) as other, other._write() as db:
        # A claimer mid-transaction on the oldest turn (read: a pipelined write sends it).
        db.execute("SELECT 1 FROM turns WHERE session_id = 's0' FOR UPDATE").fetchall()
        claim = store.claim_turn(A, 60_000, 100)
        assert claim is not None and claim[0] == refs[1]


def test_a_bad_claim_time_is_refused(store: PostgresStore) -> None:
    with pytest.raises(LashError) as caught:
        store.claim_turn(A, 60_000, -1)
    assert caught.value.code == codes.LEASE_INVALID


# -- real processes --------------------------------------------------------------------------


def _spec(dsn: str, schema: str) -> str:
    return f"pg:{schema}:{dsn}"


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.store._worker", *args]


def test_a_parked_waiter_is_woken_by_a_resolver_in_another_process(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    with store.open_doorbell() as bell:
        key = store.mint(TURN, Custom("approval"))
        assert store.park(key, bell.address) is None
        resolver = subprocess.run(
            _worker_argv("resolve", _spec(postgres_dsn, schema), to_json(key), to_json(ok("go"))),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert json.loads(resolver.stdout) == {"status": "accepted"}
        assert bell.wait(120) == [key.key_id], "woken by the resolver's NOTIFY"
        assert store.peek(key) == ok("go")


def test_a_lease_of_a_dead_process_is_taken_over_at_once_and_its_turn_claimed(
    postgres_dsn: str, store: PostgresStore, schema: str
) -> None:
    lease = store.acquire("held", Owner("seeder"), 600_000, 0)
    store.open_turn(lease, "t", "{}", 0)
    store.release(lease)
    holder = subprocess.Popen(
        _worker_argv("hold", _spec(postgres_dsn, schema)),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "2"
    successor = new_owner("successor")
    assert store.claim_turn(successor, 600_000, 2_000) is None, "a live holder keeps it"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=120)
    claim = store.claim_turn(successor, 600_000, 3_000)
    assert claim is not None and claim[0] == TurnRef("held", "t")
    assert claim[1].fencing_token == 3
    holder.stdout.close()
    holder.stdin.close()


def test_racing_processes_get_one_winner_per_key(postgres_dsn: str, schema: str) -> None:
    PostgresStore(postgres_dsn, schema=schema).close()
    count, racers = 30, 4
    procs = [
        subprocess.Popen(
            _worker_argv("race", _spec(postgres_dsn, schema), str(count), str(index)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(racers)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err_text) in zip(procs, results, strict=True):
        assert p.returncode == 0, err_text
    accepted: dict[int, int] = {}
    for out, _ in results:
        for line in out.splitlines():
            i, status = line.split()
            accepted[int(i)] = accepted.get(int(i), 0) + (status == "accepted")
    assert accepted == {i: 1 for i in range(count)}, "exactly one first writer per key"
    with PostgresStore(postgres_dsn, schema=schema) as store:
        lease = store.acquire("session-0", Owner("0"), 1_000, 700_000)
        envelope = durable_step_envelope("session-0", "step-7", 7).canonical()
        assert store.begin(lease, envelope, 700_001) == Recorded("7", 1)
        key = store.mint(TurnScope("race", "t3"), Custom("k"))
        terminal = store.peek(key)
        assert terminal is not None and from_json(to_json(terminal), type(terminal)) == terminal


# -- content-addressed envelopes ---------------------------------------------------------------


def test_storage_grows_linearly_with_the_conversation(store: PostgresStore) -> None:
    from tests.store.test_sqlite import _conversation

    calls = 40
    envelopes, distinct = _conversation(calls)
    lease = store.acquire("s1", Owner("a"), 60_000, 0)
    sizes = []
    size_sql = (
        "SELECT (SELECT coalesce(sum(length(envelope)), 0) FROM effects)"
        " + (SELECT coalesce(sum(length(body)), 0) FROM blobs)"
        " + (SELECT coalesce(sum(length(node) + length(prev) + length(blob)), 0) FROM chain)"
    )
    for i, env in enumerate(envelopes):
        assert store.begin(lease, env, i) == Started(1, False)
        store.complete(lease, json.loads(env.json)["invocation"]["replay"]["key"], "{}", i)
        if i + 1 in (calls // 2, calls):
            with store._read() as db:
                row = db.execute(size_sql).fetchone()
            assert row is not None
            sizes.append(int(row[0]))
    for env in (envelopes[0], envelopes[calls // 2], envelopes[-1]):
        key = json.loads(env.json)["invocation"]["replay"]["key"]
        with PostgresStore(store.dsn, schema=store.schema) as cold:  # no memo: joined back
            assert cold.recorded_envelope("s1", key) == env
            assert cold.begin(lease, env, calls) == Recorded("{}", 1)
    first_half, whole = sizes
    naive = sum(len(e.json) for e in envelopes)
    assert whole <= 3 * distinct + 2048 * calls, (whole, distinct)
    assert whole * 5 < naive, (whole, naive)
    assert whole - first_half <= 1.5 * first_half, sizes


def test_a_stored_envelope_that_does_not_hash_back_is_store_corrupt(store: PostgresStore) -> None:
    from tests.store.test_sqlite import _conversation

    envelopes, _ = _conversation(2)
    lease = store.acquire("s1", Owner("a"), 60_000, 0)
    store.begin(lease, envelopes[1], 1)
    key = json.loads(envelopes[1].json)["invocation"]["replay"]["key"]
    with store._write() as db:
        db.execute("UPDATE blobs SET body = body || ' ' WHERE length(body) > 500")
    with pytest.raises(LashError) as caught:
        store.recorded_envelope("s1", key)
    assert caught.value.code == codes.STORE_CORRUPT
    with store._write() as db:
        db.execute("UPDATE effects SET envelope = E'tail\\n{not json'")
    with pytest.raises(LashError) as caught:
        store.recorded_envelope("s1", key)
    assert caught.value.code == codes.STORE_CORRUPT


def test_only_a_begin_commits_without_waiting_for_the_wal_flush(
    postgres_dsn: str, schema: str
) -> None:
    seen: list[str] = []
    with PostgresStore(postgres_dsn, schema=schema) as store:
        lease = store.acquire("s1", A, 60_000, 0)
        db = store._db
        store.begin(lease, durable_step_envelope("s1", "x", 1).canonical(), 1)
        row = db.execute("SHOW synchronous_commit").fetchone()
        assert row == ("on",), "the begin's setting ended with its transaction"
        with store._write() as tx:
            store._lock_on(tx, "session", "s1", relaxed=True)
            seen.append(str(tx.execute("SHOW synchronous_commit").fetchone()))
    assert seen == ["('off',)"]
    with PostgresStore(postgres_dsn, schema=schema, synchronous_commit=False) as relaxed:
        assert relaxed._db.execute("SHOW synchronous_commit").fetchone() == ("off",)


# -- the throwaway server --------------------------------------------------------------------


def test_a_machine_without_postgres_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lash_postgres import throwaway

    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("glob.glob", lambda pattern: [])
    assert throwaway.find_binary("initdb") is None
    why = throwaway.postgres_unavailable()
    assert why == "PostgreSQL's initdb is not installed (apt-get install postgresql)"
    with pytest.raises(RuntimeError, match="initdb is not installed"):
        throwaway.ThrowawayPostgres().start()


def test_debian_binaries_off_the_path_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from lash_postgres import throwaway

    monkeypatch.setattr("shutil.which", lambda name: None)
    found = ["/usr/lib/postgresql/13/bin/pg_ctl", "/usr/lib/postgresql/15/bin/pg_ctl"]
    monkeypatch.setattr("glob.glob", lambda pattern: found)
    assert throwaway.find_binary("pg_ctl") == "/usr/lib/postgresql/15/bin/pg_ctl"
