"""The two SQL dialects of the stores, and the text of every statement both send.

Statements are written once, with ``?`` placeholders, and built per dialect when a store module
is imported (:class:`Statements`): a call pays nothing for it, and each store sends exactly the
text it always sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol, final

__all__ = ["POSTGRES", "SQLITE", "Cursor", "Db", "Dialect", "Statements"]


class Cursor(Protocol):
    """What a statement's result offers (``sqlite3.Cursor``, ``psycopg.Cursor``)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Batch(Protocol):
    """A cursor that runs one statement for each of many parameter rows."""

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> object: ...


class Db(Protocol):
    """A connection in a transaction or a read (``sqlite3.Connection``,
    ``psycopg.Connection``)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def cursor(self) -> Batch: ...

    def close(self) -> None: ...


@final
class Dialect:
    """What the stores' shared statements differ in."""

    __slots__ = ("_ignore", "_param", "false", "flag", "name", "row_order", "true")

    def __init__(
        self,
        name: str,
        *,
        param: str,
        ignore: tuple[str, str],
        true: str,
        false: str,
        row_order: str,
        flag: Callable[[bool], object],
    ) -> None:
        self.name = name
        self._param = param
        self._ignore = ignore
        self.true = true
        """The literal of a boolean column's true (``1`` on SQLite)."""
        self.false = false
        self.row_order = row_order
        """The column that orders rows as they were inserted."""
        self.flag = flag
        """A boolean parameter as the dialect binds it."""

    def sql(self, text: str) -> str:
        """``text`` with its ``?`` placeholders in this dialect's style."""
        return text.replace("?", self._param)

    def insert_ignore(self, into: str, values: str) -> str:
        """An INSERT of ``values`` into ``into`` (a table and its columns) that does nothing
        when the row exists."""
        prefix, suffix = self._ignore
        return self.sql(f"{prefix}{into} VALUES {values}{suffix}")


SQLITE: Final = Dialect(
    "sqlite",
    param="?",
    ignore=("INSERT OR IGNORE INTO ", ""),
    true="1",
    false="0",
    row_order="rowid",
    flag=int,
)
POSTGRES: Final = Dialect(
    "postgres",
    param="%s",
    ignore=("INSERT INTO ", " ON CONFLICT DO NOTHING"),
    true="true",
    false="false",
    row_order="seq",
    flag=bool,
)

_MESSAGES: Final = """
WITH RECURSIVE walk(node, prev, blob, depth) AS (
    SELECT node, prev, blob, 0 FROM chain WHERE node = ?
    UNION ALL
    SELECT c.node, c.prev, c.blob, w.depth + 1 FROM chain c JOIN walk w ON c.node = w.prev
)
SELECT b.body FROM walk JOIN blobs b ON b.hash = walk.blob ORDER BY walk.depth DESC
"""
"""A message chain's bodies, oldest first, from its last node."""


@final
class Statements:
    """Every statement both stores send, in one dialect."""

    def __init__(self, d: Dialect) -> None:
        q = d.sql
        self.flag = d.flag
        self.insert_secret = q("INSERT INTO secrets(secret, created_ms) VALUES (?, ?)")
        # -- leases and the journal --------------------------------------------------------
        self.lease_state = q(
            "SELECT owner_name, owner_incarnation, fencing_token, expires_ms FROM sessions "
            "WHERE session_id = ?"
        )
        self.write_lease = q(
            "INSERT INTO sessions(session_id, owner_name, owner_incarnation, fencing_token, "
            "expires_ms) VALUES (?,?,?,?,?) ON CONFLICT(session_id) DO UPDATE SET "
            "owner_name = excluded.owner_name, owner_incarnation = excluded.owner_incarnation, "
            "fencing_token = excluded.fencing_token, expires_ms = excluded.expires_ms"
        )
        self.release_lease = q(
            "UPDATE sessions SET owner_name = NULL, owner_incarnation = NULL, "
            "expires_ms = 0 WHERE session_id = ? AND fencing_token = ?"
        )
        self.effect = q(
            "SELECT status, envelope_hash, attempt, fencing_token, outcome_json, due_at_ms "
            "FROM effects WHERE session_id = ? AND replay_key = ?"
        )
        self.insert_blob = d.insert_ignore("blobs(hash, body)", "(?, ?)")
        self.chain_has = q("SELECT 1 FROM chain WHERE node = ?")
        self.insert_chain = d.insert_ignore("chain(node, prev, blob)", "(?, ?, ?)")
        self.insert_effect = q(
            "INSERT INTO effects(session_id, replay_key, envelope_hash, envelope, "
            "split, status, attempt, fencing_token, due_at_ms, started_ms) "
            "VALUES (?,?,?,?,?,'running',?,?,?,?)"
        )
        self.restart_effect = q(
            "UPDATE effects SET status = 'running', attempt = ?, fencing_token = ?, "
            "started_ms = ? WHERE session_id = ? AND replay_key = ?"
        )
        self.complete_effect = q(
            "UPDATE effects SET status = 'completed', outcome_json = ?, "
            "completed_ms = ? WHERE session_id = ? AND replay_key = ? "
            "AND status = 'running' AND fencing_token = ?"
        )
        self.abandon_effect = q(
            "UPDATE effects SET status = 'abandoned' WHERE session_id = ? AND replay_key = ?"
        )
        self.delete_effect = q("DELETE FROM effects WHERE session_id = ? AND replay_key = ?")
        self.stored_envelope = q(
            "SELECT envelope_hash, envelope, split FROM effects "
            "WHERE session_id = ? AND replay_key = ?"
        )
        self.messages = q(_MESSAGES)
        self.blob_body = q("SELECT body FROM blobs WHERE hash = ?")
        # -- turns -------------------------------------------------------------------------
        self.turn = q(
            "SELECT status, start_json, result_json, divergence_json FROM turns "
            "WHERE session_id = ? AND turn_id = ?"
        )
        self.open_turn = q(
            "INSERT INTO turns(session_id, turn_id, status, start_json, fencing_token, "
            "opened_ms, updated_ms) VALUES (?, ?, 'running', ?, ?, ?, ?)"
        )
        self.finish_turn = q(
            "UPDATE turns SET status = 'finished', result_json = ?, updated_ms = ? "
            "WHERE session_id = ? AND turn_id = ?"
        )
        self.diverge_turn = q(
            "UPDATE turns SET status = 'diverged', divergence_json = ?, updated_ms = ? "
            "WHERE session_id = ? AND turn_id = ?"
        )
        self.unfinished_turns = (
            "SELECT session_id, turn_id FROM turns WHERE status = 'running' "
            "ORDER BY session_id, turn_id"
        )
        # -- the process registry ----------------------------------------------------------
        self.delete_grant = q("DELETE FROM process_grants WHERE scope_id = ? AND process_id = ?")
        self.drop_wake = q(
            f"DELETE FROM process_wakes WHERE wake_id = ? AND acknowledged = {d.false}"
        )
        self.delete_process_lease = q("DELETE FROM process_leases WHERE process_id = ?")
        self.prune_process = tuple(
            q(f"DELETE FROM {table} WHERE process_id = ?")
            for table in ("process_records", "process_events", "process_acked_wake_events")
        )
        self.upsert_record = q(
            "INSERT INTO process_records(process_id, record_json) VALUES (?, ?) "
            "ON CONFLICT(process_id) DO UPDATE SET record_json = excluded.record_json"
        )
        self.insert_event = d.insert_ignore(
            "process_events(process_id, sequence, event_json)", "(?, ?, ?)"
        )
        self.upsert_grant = q(
            "INSERT INTO process_grants(scope_id, process_id, scope_json, grant_json) "
            "VALUES (?, ?, ?, ?) ON CONFLICT(scope_id, process_id) DO UPDATE SET "
            "scope_json = excluded.scope_json, grant_json = excluded.grant_json"
        )
        self.acknowledge_wake = q(
            "INSERT INTO process_wakes(wake_id, delivery_json, acknowledged) "
            f"VALUES (?, NULL, {d.true}) ON CONFLICT(wake_id) DO UPDATE SET "
            f"acknowledged = {d.true}"
        )
        self.insert_wake = d.insert_ignore(
            "process_wakes(wake_id, delivery_json, acknowledged)", f"(?, ?, {d.false})"
        )
        self.upsert_process_lease = q(
            "INSERT INTO process_leases(process_id, lease_json) VALUES (?, ?) "
            "ON CONFLICT(process_id) DO UPDATE SET lease_json = excluded.lease_json"
        )
        self.upsert_fence = q(
            "INSERT INTO process_fences(process_id, fencing_token) VALUES (?, ?) "
            "ON CONFLICT(process_id) DO UPDATE SET fencing_token = excluded.fencing_token"
        )
        self.insert_acked_wake_event = d.insert_ignore(
            "process_acked_wake_events(process_id, sequence)", "(?, ?)"
        )
        order = d.row_order
        self.records = f"SELECT record_json FROM process_records ORDER BY {order}"
        self.events = "SELECT event_json FROM process_events ORDER BY process_id, sequence"
        self.grants = (
            "SELECT scope_json, grant_json FROM process_grants ORDER BY scope_id, process_id"
        )
        self.pending_wakes = (
            f"SELECT delivery_json FROM process_wakes WHERE acknowledged = {d.false} "
            f"ORDER BY {order}"
        )
        self.acknowledged_wakes = (
            f"SELECT wake_id FROM process_wakes WHERE acknowledged = {d.true} ORDER BY {order}"
        )
        self.process_leases = "SELECT lease_json FROM process_leases ORDER BY process_id"
        self.acknowledged_wake_events = (
            "SELECT process_id, sequence FROM process_acked_wake_events "
            "ORDER BY process_id, sequence"
        )
        self.fences = "SELECT process_id, fencing_token FROM process_fences ORDER BY process_id"
        # -- await events ------------------------------------------------------------------
        self.revoked = q("SELECT 1 FROM revoked_sessions WHERE session_id = ?")
        self.insert_promise = q(
            "INSERT INTO await_events(key_id, session_id, scope_json, wait_json, turn_control, "
            "terminal_json, deadline_ms, created_ms, resolved_ms) VALUES (?,?,?,?,?,?,?,?,?)"
        )
        self.settle_promise = q(
            "UPDATE await_events SET terminal_json = ?, resolved_ms = ? WHERE key_id = ?"
        )
        self.set_deadline = q("UPDATE await_events SET deadline_ms = ? WHERE key_id = ?")
        self.insert_wait = d.insert_ignore("waits(key_id, address)", "(?, ?)")
        self.delete_wait = q("DELETE FROM waits WHERE key_id = ? AND address = ?")
        self.revoke = q("INSERT INTO revoked_sessions(session_id, revoked_ms) VALUES (?, ?)")
        self.delete_session_promises = q("DELETE FROM await_events WHERE session_id = ?")
