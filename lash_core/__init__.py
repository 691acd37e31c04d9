"""lash: the pure, synchronous effect core.

Everything public is re-exported here; the submodules hold the details.

* errors: :class:`LashError` and its subclasses; :mod:`lash_core.codes` lists every code;
* the wire format: :func:`to_json`, :func:`from_json`, :func:`to_wire`, :func:`from_wire`,
  :func:`canonical_json`, :func:`stable_hash`, :data:`JsonValue`, :class:`Ok`, :class:`Err`,
  :func:`check_json_value` and :data:`MAX_JSON_DEPTH`;
* scopes and wait identities: :data:`ExecutionScope`, :data:`WaitIdentity` and their variants;
* resolutions and resolve outcomes: :data:`Resolution`, :func:`ok`, :func:`err`,
  :data:`TIMEOUT`, :data:`CANCELLED`, :data:`ResolveOutcome`;
* keys: :class:`AwaitEventKey`, :class:`KeySigner`, :func:`derive_key_id`, :func:`sign_material`;
* the registry: :class:`AwaitEventRegistry`, its parked :class:`Waiter` and :class:`WaitEnd`;
* background processes: :class:`ProcessRegistry`, :class:`ProcessRunner`,
  :class:`ProcessContext` (the rest is in :mod:`lash_core.process`).
* durable steps and direct model calls: :func:`durable_step`, :func:`direct_call`,
  :func:`run_effect`, the :class:`EffectJournal` they replay from, :class:`DirectCallError`;
* durable stores: the :class:`DurableStore` protocol and its types (:class:`Lease`,
  :class:`Owner`, :class:`Recorded`, :class:`Diverged`, :class:`Started`, :class:`TurnRef`,
  :class:`TurnRow`, :class:`ProcessRows`), and :class:`MemoryStore` (the SQLite store is
  ``lash_sqlite.SqliteStore``).
"""

from lash_core import codes as codes
from lash_core.durable import DirectCallError as DirectCallError
from lash_core.durable import direct_call as direct_call
from lash_core.durable import durable_step as durable_step
from lash_core.durable import run_effect as run_effect
from lash_core.errors import LashError as LashError
from lash_core.errors import LocalProtocolError as LocalProtocolError
from lash_core.errors import ReplayMismatchError as ReplayMismatchError
from lash_core.errors import WireDecodeError as WireDecodeError
from lash_core.journal import EffectJournal as EffectJournal
from lash_core.journal import JournalEntry as JournalEntry
from lash_core.keys import PROMISE_KEY_PREFIX as PROMISE_KEY_PREFIX
from lash_core.keys import AwaitEventKey as AwaitEventKey
from lash_core.keys import KeySigner as KeySigner
from lash_core.keys import constant_time_eq as constant_time_eq
from lash_core.keys import derive_key_id as derive_key_id
from lash_core.keys import sign_material as sign_material
from lash_core.process import ProcessContext as ProcessContext
from lash_core.process import ProcessRegistry as ProcessRegistry
from lash_core.process import ProcessRunner as ProcessRunner
from lash_core.promise import DEFAULT_RETAIN_RECENT as DEFAULT_RETAIN_RECENT
from lash_core.promise import AwaitEventRegistry as AwaitEventRegistry
from lash_core.promise import WaitEnd as WaitEnd
from lash_core.promise import Waiter as Waiter
from lash_core.resolution import ACCEPTED as ACCEPTED
from lash_core.resolution import CANCELLED as CANCELLED
from lash_core.resolution import TIMEOUT as TIMEOUT
from lash_core.resolution import UNKNOWN_OR_REVOKED as UNKNOWN_OR_REVOKED
from lash_core.resolution import Accepted as Accepted
from lash_core.resolution import AlreadyResolved as AlreadyResolved
from lash_core.resolution import ExternalCompletionError as ExternalCompletionError
from lash_core.resolution import Resolution as Resolution
from lash_core.resolution import ResolutionCancelled as ResolutionCancelled
from lash_core.resolution import ResolutionErr as ResolutionErr
from lash_core.resolution import ResolutionOk as ResolutionOk
from lash_core.resolution import ResolutionTimeout as ResolutionTimeout
from lash_core.resolution import ResolveOutcome as ResolveOutcome
from lash_core.resolution import UnknownOrRevoked as UnknownOrRevoked
from lash_core.resolution import err as err
from lash_core.resolution import ok as ok
from lash_core.scope import Custom as Custom
from lash_core.scope import ExecutionScope as ExecutionScope
from lash_core.scope import ProcessScope as ProcessScope
from lash_core.scope import ProcessSignal as ProcessSignal
from lash_core.scope import QueueDrainScope as QueueDrainScope
from lash_core.scope import RuntimeOperationScope as RuntimeOperationScope
from lash_core.scope import SessionDeleteScope as SessionDeleteScope
from lash_core.scope import ToolCompletion as ToolCompletion
from lash_core.scope import TurnCancelGate as TurnCancelGate
from lash_core.scope import TurnScope as TurnScope
from lash_core.scope import TurnTerminal as TurnTerminal
from lash_core.scope import WaitIdentity as WaitIdentity
from lash_core.scope import validate_scope as validate_scope
from lash_core.scope import validate_wait as validate_wait
from lash_core.store import Diverged as Diverged
from lash_core.store import DurableStore as DurableStore
from lash_core.store import Lease as Lease
from lash_core.store import Owner as Owner
from lash_core.store import ProcessRows as ProcessRows
from lash_core.store import Recorded as Recorded
from lash_core.store import Started as Started
from lash_core.store import TurnRef as TurnRef
from lash_core.store import TurnRow as TurnRow
from lash_core.store_memory import MemoryStore as MemoryStore
from lash_core.store_memory import MemoryStoreState as MemoryStoreState
from lash_core.wire import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from lash_core.wire import Err as Err
from lash_core.wire import JsonValue as JsonValue
from lash_core.wire import Ok as Ok
from lash_core.wire import Result as Result
from lash_core.wire import canonical_bytes as canonical_bytes
from lash_core.wire import canonical_json as canonical_json
from lash_core.wire import check_json_value as check_json_value
from lash_core.wire import from_json as from_json
from lash_core.wire import from_wire as from_wire
from lash_core.wire import stable_hash as stable_hash
from lash_core.wire import to_json as to_json
from lash_core.wire import to_wire as to_wire

__version__ = "0.1.0"

__all__ = [
    "ACCEPTED",
    "CANCELLED",
    "DEFAULT_RETAIN_RECENT",
    "MAX_JSON_DEPTH",
    "PROMISE_KEY_PREFIX",
    "TIMEOUT",
    "UNKNOWN_OR_REVOKED",
    "Accepted",
    "AlreadyResolved",
    "AwaitEventKey",
    "AwaitEventRegistry",
    "Custom",
    "DirectCallError",
    "Diverged",
    "DurableStore",
    "EffectJournal",
    "Err",
    "ExecutionScope",
    "ExternalCompletionError",
    "JournalEntry",
    "JsonValue",
    "KeySigner",
    "LashError",
    "Lease",
    "LocalProtocolError",
    "MemoryStore",
    "MemoryStoreState",
    "Ok",
    "Owner",
    "ProcessContext",
    "ProcessRegistry",
    "ProcessRows",
    "ProcessRunner",
    "ProcessScope",
    "ProcessSignal",
    "QueueDrainScope",
    "Recorded",
    "ReplayMismatchError",
    "Resolution",
    "ResolutionCancelled",
    "ResolutionErr",
    "ResolutionOk",
    "ResolutionTimeout",
    "ResolveOutcome",
    "Result",
    "RuntimeOperationScope",
    "SessionDeleteScope",
    "Started",
    "ToolCompletion",
    "TurnCancelGate",
    "TurnRef",
    "TurnRow",
    "TurnScope",
    "TurnTerminal",
    "UnknownOrRevoked",
    "WaitEnd",
    "WaitIdentity",
    "Waiter",
    "WireDecodeError",
    "__version__",
    "canonical_bytes",
    "canonical_json",
    "check_json_value",
    "codes",
    "constant_time_eq",
    "derive_key_id",
    "direct_call",
    "durable_step",
    "err",
    "from_json",
    "from_wire",
    "ok",
    "run_effect",
    "sign_material",
    "stable_hash",
    "to_json",
    "to_wire",
    "validate_scope",
    "validate_wait",
]
