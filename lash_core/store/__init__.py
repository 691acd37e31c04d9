"""The durable store protocol, its data types and the pure rules every store applies.

A :class:`DurableStore` keeps what must survive a crash: the effect journal of each session
(fenced by a session :class:`Lease`), the turns, and the await-event promises with their
revocation tombstones. Stores only do compare-and-swap: they read a row, hand it to a rule of
this module (or of :mod:`lash_core.promise`), and write what the rule says, in one transaction.
So an in-memory store (:mod:`lash_core.store_memory`), the SQLite store (``lash_sqlite``) and the
Postgres store (``lash_postgres``) decide everything the same way.

Times are inputs (``now_ms``, wall-clock milliseconds chosen by the caller); this module reads
no clock and does no I/O.

Leases and fencing:

* one owner per session: :func:`acquire_transition` gives a new holder the next fencing token
  (``fence + 1``) when the session has no live lease, refuses another owner while one is live
  (``lease_held``), and lets the holder acquire again (same token, later expiry);
* every journal and turn write presents its lease; :func:`check_fence` refuses (``lease_lost``)
  a lease that is not the current one or has expired, and the store checks it in the same
  transaction as the write, so a paused owner that lost its lease writes nothing.

The journal (:func:`begin_transition`):

* a replay key recorded with the same envelope hash answers :class:`Recorded` (a recorded
  failure too: the outcome JSON is whatever the host stored);
* one recorded (or running) with another hash answers :class:`Diverged`, with the JSON-path diff;
* a new key answers :class:`Started` (attempt 1);
* a ``running`` row left by an older fencing token is *in doubt* (its owner died between running
  and recording): it answers ``Started(attempt + 1, in_doubt=True)``, and the effect runs again
  under the same replay key, which a handler can offer as an idempotency key.

The rules live in one module per concern, all re-exported here:

* :mod:`lash_core.store.protocol`: the :class:`DurableStore` protocol (and :class:`ProcessRows`,
  the process registry's rows, from :mod:`lash_core.process.rows`);
* :mod:`lash_core.store.leases`: :class:`Owner`, :class:`Lease` and the fencing rules;
* :mod:`lash_core.store.journal`: the effect journal's rules and answers;
* :mod:`lash_core.store.turns`: stored turns and their rules;
* :mod:`lash_core.store.waits`: the await-event rules around :mod:`lash_core.promise`;
* :mod:`lash_core.store.envelopes`: envelopes cut into parts for linear storage.
"""

from __future__ import annotations

from lash_core.store.envelopes import SPLIT_MEMOS as SPLIT_MEMOS
from lash_core.store.envelopes import EnvelopeParts as EnvelopeParts
from lash_core.store.envelopes import SplitMemo as SplitMemo
from lash_core.store.envelopes import SplitMemos as SplitMemos
from lash_core.store.envelopes import envelope_member as envelope_member
from lash_core.store.envelopes import join_envelope as join_envelope
from lash_core.store.envelopes import join_stored_envelope as join_stored_envelope
from lash_core.store.envelopes import message_chain as message_chain
from lash_core.store.envelopes import skeleton_blob_hashes as skeleton_blob_hashes
from lash_core.store.envelopes import split_envelope as split_envelope
from lash_core.store.envelopes import stored_skeleton as stored_skeleton
from lash_core.store.envelopes import text_hash as text_hash
from lash_core.store.journal import DIVERGE as DIVERGE
from lash_core.store.journal import BeginResult as BeginResult
from lash_core.store.journal import Diverged as Diverged
from lash_core.store.journal import EffectState as EffectState
from lash_core.store.journal import EffectStatus as EffectStatus
from lash_core.store.journal import Recorded as Recorded
from lash_core.store.journal import Started as Started
from lash_core.store.journal import abandon_allowed as abandon_allowed
from lash_core.store.journal import begin_transition as begin_transition
from lash_core.store.journal import complete_transition as complete_transition
from lash_core.store.journal import envelope_identity as envelope_identity
from lash_core.store.journal import envelope_replay_key as envelope_replay_key
from lash_core.store.journal import envelope_session_id as envelope_session_id
from lash_core.store.leases import Lease as Lease
from lash_core.store.leases import LeaseState as LeaseState
from lash_core.store.leases import Owner as Owner
from lash_core.store.leases import acquire_transition as acquire_transition
from lash_core.store.leases import check_fence as check_fence
from lash_core.store.leases import check_lease_covers as check_lease_covers
from lash_core.store.leases import check_now as check_now
from lash_core.store.leases import release_transition as release_transition
from lash_core.store.leases import renew_transition as renew_transition
from lash_core.store.protocol import DurableStore as DurableStore
from lash_core.store.protocol import ProcessRows as ProcessRows
from lash_core.store.turns import TurnRef as TurnRef
from lash_core.store.turns import TurnRow as TurnRow
from lash_core.store.turns import TurnStatus as TurnStatus
from lash_core.store.turns import diverge_turn_transition as diverge_turn_transition
from lash_core.store.turns import finish_turn_transition as finish_turn_transition
from lash_core.store.turns import open_turn_transition as open_turn_transition
from lash_core.store.waits import abandoned_gate_id as abandoned_gate_id
from lash_core.store.waits import authentic_key_texts as authentic_key_texts
from lash_core.store.waits import check_resolution as check_resolution
from lash_core.store.waits import check_session_id as check_session_id
from lash_core.store.waits import ended_wait_proposal as ended_wait_proposal
from lash_core.store.waits import key_is_authentic as key_is_authentic
from lash_core.store.waits import promise_state as promise_state
from lash_core.store.waits import resolution_from_json as resolution_from_json
from lash_core.store.waits import resolution_to_json as resolution_to_json
from lash_core.store.waits import revoked_error as revoked_error
from lash_core.store.waits import revoked_mint_error as revoked_mint_error

__all__ = [
    "DIVERGE",
    "SPLIT_MEMOS",
    "BeginResult",
    "Diverged",
    "DurableStore",
    "EffectState",
    "EffectStatus",
    "EnvelopeParts",
    "Lease",
    "LeaseState",
    "Owner",
    "ProcessRows",
    "Recorded",
    "SplitMemo",
    "SplitMemos",
    "Started",
    "TurnRef",
    "TurnRow",
    "TurnStatus",
    "abandon_allowed",
    "abandoned_gate_id",
    "acquire_transition",
    "authentic_key_texts",
    "begin_transition",
    "check_fence",
    "check_lease_covers",
    "check_now",
    "check_resolution",
    "check_session_id",
    "complete_transition",
    "diverge_turn_transition",
    "ended_wait_proposal",
    "envelope_identity",
    "envelope_member",
    "envelope_replay_key",
    "envelope_session_id",
    "finish_turn_transition",
    "join_envelope",
    "join_stored_envelope",
    "key_is_authentic",
    "message_chain",
    "open_turn_transition",
    "promise_state",
    "release_transition",
    "renew_transition",
    "resolution_from_json",
    "resolution_to_json",
    "revoked_error",
    "revoked_mint_error",
    "skeleton_blob_hashes",
    "split_envelope",
    "stored_skeleton",
    "text_hash",
]
