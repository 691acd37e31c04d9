"""The journal's write path: one fsync per durable effect, and work per step that does not
grow with the conversation (counted in characters parsed, hashed and written, not in time)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core import LashError, Message, Role, TextPart, ToolSpec, codes
from lash_core.durable import direct_call_envelope, durable_step_envelope
from lash_core.durable_turn import CanonicalCache, JournalHooks, LeaseCell
from lash_core.effects.envelope import CanonicalEnvelope, EffectEnvelope
from lash_core.effects.llm import LlmRequest
from lash_core.store import (
    Owner,
    SplitMemo,
    Started,
    TurnRef,
    envelope_identity,
    envelope_member,
    envelope_replay_key,
    envelope_session_id,
    join_envelope,
    message_chain,
    split_envelope,
)
from lash_sqlite import SqliteStore
from lash_sqlite.journal import SPLIT_MEMOS

# -- one fsync per effect ---------------------------------------------------------------------


class _Commits:
    """Records the ``PRAGMA synchronous`` level in force at each COMMIT of a connection."""

    def __init__(self, store: SqliteStore, level: str) -> None:
        self.level = level
        self.commits: list[str] = []
        store._db.set_trace_callback(self._statement)

    def _statement(self, sql: str) -> None:
        text = sql.strip().upper()
        if text.startswith("PRAGMA SYNCHRONOUS ="):
            self.level = text.rsplit("=", 1)[1].strip()
        elif text == "COMMIT":
            self.commits.append(self.level)

    def take(self) -> list[str]:
        out, self.commits = self.commits, []
        return out


def _step(i: int) -> tuple[str, CanonicalEnvelope]:
    env = durable_step_envelope("s1", f"step-{i}", {"i": i}, turn_id="t1")
    return f"s1:t1:durable:step-{i}", env.canonical()


def test_begin_commits_at_normal_and_complete_at_full(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db", ring=None) as store:
        commits = _Commits(store, "FULL")
        lease = store.acquire("s1", Owner("o"), 60_000, 0)
        assert commits.take() == ["NORMAL"]  # a lease write: no fsync (LEASE_WRITES_RELAXED)
        store.open_turn(lease, "t1", "[]", 0)
        assert commits.take() == ["FULL"]  # the turn: synced, with the lease before it
        for i in range(3):
            key, env = _step(i)
            assert isinstance(store.begin(lease, env, 1), Started)
            assert commits.take() == ["NORMAL"]  # the running marker: no fsync
            store.complete(lease, key, '{"ok":1}', 2)
            assert commits.take() == ["FULL"]  # the outcome: one fsync, the marker with it
        lease = store.renew(lease, 60_000, 3)
        assert store.release(lease)
        assert commits.take() == ["NORMAL", "NORMAL"]
        # Every other write stays at the store's level.
        store.finish_turn(store.acquire("s1", Owner("o"), 60_000, 4), TurnRef("s1", "t1"), "{}", 5)
        assert commits.take() == ["NORMAL", "FULL"]
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_durable_effect_reads_its_fence_and_row_in_one_statement_per_write(
    tmp_path: Path,
) -> None:
    with SqliteStore(tmp_path / "a.db", ring=None) as store:
        lease = store.acquire("s1", Owner("o"), 60_000, 0)
        statements: list[str] = []
        store._db.set_trace_callback(lambda sql: statements.append(sql.split()[0].upper()))
        key, env = _step(0)
        assert isinstance(store.begin(lease, env, 1), Started)
        store.complete(lease, key, '{"ok":1}', 2)
        reads = [s for s in statements if s == "SELECT"]
        writes = [s for s in statements if s in ("INSERT", "UPDATE")]
        assert (len(reads), len(writes)) == (2, 2), statements
        # The fence still refuses a lease that is no longer current.
        store.acquire("s1", Owner("other"), 60_000, 100_000)
        with pytest.raises(LashError) as refused:
            store.complete(lease, key, '{"ok":1}', 3)
        assert refused.value.code == codes.LEASE_LOST


def test_a_refused_begin_leaves_the_next_write_at_full(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db", ring=None) as store:
        commits = _Commits(store, "FULL")
        lease = store.acquire("s1", Owner("o"), 10, 0)
        _, env = _step(0)
        with pytest.raises(LashError) as refused:
            store.begin(lease, env, 100)  # the lease has expired
        assert refused.value.code == codes.LEASE_LOST
        commits.take()
        lease = store.acquire("s1", Owner("o"), 60_000, 100)
        commits.take()
        store.open_turn(lease, "t1", "[]", 100)
        assert commits.take() == ["FULL"]


def test_a_store_at_normal_never_switches_its_level(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "a.db", ring=None, synchronous="NORMAL") as store:
        commits = _Commits(store, "NORMAL")
        lease = store.acquire("s1", Owner("o"), 60_000, 0)
        key, env = _step(0)
        store.begin(lease, env, 1)
        store.complete(lease, key, '{"ok":1}', 2)
        assert commits.take() == ["NORMAL", "NORMAL", "NORMAL"]


def test_a_begin_committed_at_normal_is_read_by_another_connection(tmp_path: Path) -> None:
    """The marker is a committed transaction (only its fsync is deferred): another process
    taking the session over sees the effect in doubt."""
    path = tmp_path / "a.db"
    with SqliteStore(path, ring=None) as first, SqliteStore(path, ring=None) as second:
        lease = first.acquire("s1", Owner("a"), 10, 0)
        _, env = _step(0)
        assert first.begin(lease, env, 1) == Started(1, False)
        successor = second.acquire("s1", Owner("b"), 60_000, 20)
        assert second.begin(successor, env, 21) == Started(2, True)


# -- splitting costs what is new --------------------------------------------------------------


def _text(i: int, size: int = 300) -> str:
    seed = hashlib.sha256(str(i).encode()).hexdigest()
    return (seed * (size // 64 + 1))[:size]


TOOLS = (ToolSpec("search", "Search the web.", {"type": "object"}),)


def _requests(calls: int) -> list[EffectEnvelope]:
    """The envelopes of ``calls`` model calls over one growing history (same message objects
    in every request, as a turn machine hands them), two new messages of 300 characters per
    call."""
    history: list[Message] = []
    out = []
    for i in range(calls):
        history.append(Message(Role.USER, (TextPart(_text(2 * i)),)))
        request = LlmRequest("model", tuple(history), TOOLS, system="Be brief.")
        out.append(
            direct_call_envelope(
                request, session_id="s1", usage_source="chat", replay_id=f"call-{i}"
            )
        )
        history.append(Message(Role.ASSISTANT, (TextPart(_text(2 * i + 1)),)))
    return out


def test_the_work_of_a_split_does_not_grow_with_the_conversation() -> None:
    memo = SplitMemo()
    parsed = []
    for env in _requests(80):
        text = env.canonical().json
        parts = split_envelope(text, memo)
        assert parts == split_envelope(text)  # the memo changes the cost, not the result
        parsed.append((memo.parsed, memo.hashed))
    # The first request's one message, then two new messages per request, however long the
    # history has grown: the 80th request costs what the 20th does.
    assert parsed[1] == parsed[19] == parsed[79]
    assert max(parsed[1:]) == parsed[1]
    assert parsed[79][0] < 2 * 400


def test_the_store_splits_each_session_from_its_memo(tmp_path: Path) -> None:
    cache = CanonicalCache()
    with SqliteStore(tmp_path / "a.db", ring=None, synchronous="NORMAL") as store:
        lease = store.acquire("s1", Owner("o"), 60_000, 0)
        other = store.acquire("s2", Owner("o"), 60_000, 0)
        parsed = []
        written = []
        for i, env in enumerate(_requests(80)):
            before = cache.written
            canonical = cache.envelope(env)
            written.append(cache.written - before)
            assert isinstance(store.begin(lease, canonical, i), Started)
            parsed.append(store._split_memos["s1"].parsed)
            # Another session's split in between does not make s1 start over.
            step = durable_step_envelope("s2", f"x{i}", {}, turn_id="t").canonical()
            store.begin(other, step, i)
            assert store.recorded_envelope("s1", env.replay_key or "") == canonical
        assert parsed[1] == parsed[19] == parsed[79] and max(parsed[1:]) == parsed[1]
        assert written[1] == written[19] == written[79] and max(written[1:]) == written[1]


def test_the_memo_is_not_fooled_by_a_history_that_changed() -> None:
    a, b, c = '{"a":1}', '{"b":"x,]"}', '{"c":3}'

    def envelope(*messages: str) -> str:
        return '{"command":{"request":{"messages":[' + ",".join(messages) + "]}}}"

    memo = SplitMemo()
    for messages in ((a, b), (a, b, c), (a,), (b, c), (), (a, b), ('{"a":12}', b), (a, b)):
        text = envelope(*messages)
        parts = split_envelope(text, memo)
        assert parts.messages == messages
        assert parts.chain == tuple(message_chain(messages))
        assert join_envelope(parts.skeleton, dict(parts.blobs), parts.messages) == text


def test_a_split_that_fails_leaves_the_memo_as_it_was() -> None:
    memo = SplitMemo()
    split_envelope('{"command":{"request":{"messages":[{"a":1}]}}}', memo)
    before = attrs.evolve(memo)
    parts = split_envelope('{"command":{"request":{"messages":[{"a":1},{"b"}]}}}', memo)
    assert parts.messages == () and parts.blobs == ()
    assert memo == before


def test_envelope_fields_are_read_without_parsing_the_command() -> None:
    env = _requests(3)[2].canonical()
    data = json.loads(env.json)
    assert envelope_member(env.json, "command") == data["command"]
    assert envelope_replay_key(env) == data["invocation"]["replay"]["key"]
    assert envelope_session_id(env) == "s1"
    assert envelope_identity(env) == (envelope_replay_key(env), "s1")
    bare = CanonicalEnvelope('{"invocation":{"scope":{}},"command":{}}', "0" * 64)
    assert envelope_session_id(bare) is None
    with pytest.raises(LashError) as caught:
        envelope_identity(bare)
    assert caught.value.code == codes.RUNTIME_EFFECT_REPLAY_REQUIRED
    assert envelope_member('{"a":1}', "b") is None
    assert envelope_member('{"x\\"y":2,"a\\u0062":1}', "ab") == 1  # escaped keys decode
    with pytest.raises(ValueError):
        envelope_member('{"a":1 }', "b")


# -- the durable turn's canonical envelopes ---------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=20) | st.sampled_from(
    ['"messages":[]', '\\"', "]", "},{", "é€😀"]
)


@settings(max_examples=150, deadline=None)
@given(
    messages=st.lists(texts, min_size=0, max_size=4),
    system=st.none() | texts,
    schema_key=st.sampled_from(["type", "messages"]),
)
def test_the_cached_canonical_envelope_is_the_envelope_canonical(
    messages: list[str], system: str | None, schema_key: str
) -> None:
    tools = (ToolSpec("t", "d", {schema_key: []}),)
    cache = CanonicalCache()
    history = tuple(Message(Role.USER, (TextPart(m),)) for m in messages)
    for n in range(len(history) + 1):
        request = LlmRequest("m", history[:n], tools, system=system)
        env = direct_call_envelope(request, session_id="s", usage_source="u", replay_id=f"{n}")
        assert cache.envelope(env) == env.canonical()
    step = durable_step_envelope("s", "x", {"messages": []}, turn_id="t")
    assert cache.envelope(step) == step.canonical()


def test_the_cache_writes_each_message_once() -> None:
    cache = CanonicalCache()
    envelopes = _requests(10)
    for env in envelopes:
        cache.envelope(env)
    last = envelopes[-1].command
    assert hasattr(last, "request")
    messages = last.request.messages
    # 19 messages in the last request, the 20th (the last reply) never sent.
    assert cache.written == sum(len(cache.message(m)) for m in messages)


def test_the_store_keeps_a_bounded_number_of_memos(tmp_path: Path) -> None:
    requests = _requests(2)
    with SqliteStore(tmp_path / "a.db", ring=None, synchronous="NORMAL") as store:
        for n in range(SPLIT_MEMOS + 4):
            lease = store.acquire(f"s{n}", Owner("o"), 60_000, 0)
            for env in requests:
                # The same request in another session (its scope names s1: the envelope is
                # only split and stored here, the lease covers the session it names).
                retargeted = attrs.evolve(
                    env,
                    invocation=attrs.evolve(
                        env.invocation,
                        scope=attrs.evolve(env.invocation.scope, session_id=f"s{n}"),
                    ),
                )
                assert isinstance(store.begin(lease, retargeted.canonical(), 1), Started)
                stored = store.recorded_envelope(f"s{n}", retargeted.replay_key or "")
                assert stored == retargeted.canonical()
        assert len(store._split_memos) == SPLIT_MEMOS
        assert "s0" not in store._split_memos and f"s{SPLIT_MEMOS + 3}" in store._split_memos


def test_journal_hooks_write_each_message_once(tmp_path: Path) -> None:
    """The durable turn's hooks hand the store envelopes built from their cache: what a step
    writes and what the store parses stay flat as the history grows."""
    with SqliteStore(tmp_path / "a.db", ring=None, synchronous="NORMAL") as store:
        lease = store.acquire("s1", Owner("o"), 60_000, 0)
        hooks = JournalHooks(store, LeaseCell(lease), TurnRef("s1", "t1"), lambda: 1)
        written = []
        parsed = []
        for env in _requests(40):
            before = hooks._canonical.written
            assert hooks.before_effect(env, None) is None  # begun: it runs live
            written.append(hooks._canonical.written - before)
            parsed.append(store._split_memos["s1"].parsed)
            assert store.recorded_envelope("s1", env.replay_key or "") == env.canonical()
        assert hooks.started == 40
        assert written[1] == written[39] == max(written[1:])
        assert parsed[1] == parsed[39] == max(parsed[1:])
