"""lash: the pure, synchronous effect core.

This package exports what a newcomer needs; everything else is importable from the subpackage
or module that owns it (see docs/api.md for the map).

* running a turn: :class:`TurnMachine` (``next()`` / ``send()``) built from a
  :class:`TurnConfig`, or :func:`run_turn` / :class:`TurnRunner` on a host with your
  :class:`TurnHandlers` and optional :class:`TurnHooks`; the machine's steps
  (:class:`RunEffects`, :class:`NeedOutcomes`, :class:`TurnFinished`), its events
  (:data:`TurnEvent`) and its :class:`TurnResult` (:class:`TurnCompleted` or
  :class:`TurnStopped`);
* the host: :class:`InlineHost` (the trio and asyncio drivers' ``InlineEffectHost`` is one) and
  :class:`CancelToken`;
* effects: :class:`EffectEnvelope`, :data:`EffectOutcome`, :class:`EffectKind`, the messages of
  a conversation (:class:`Message`, :class:`Role`, :class:`TextPart`, :class:`ToolCallPart`),
  :class:`ToolSpec`, the model's answer (:class:`LlmCallOutcome`, :class:`LlmResponse`,
  :class:`StopReason`, :class:`Usage`) and a tool's (:class:`ToolAttemptOutcome`,
  :class:`ToolLaunchPending`, :class:`PendingCompletion`);
* keys and waits: :data:`TurnScope`, :class:`ToolCompletion`, :data:`ExecutionScope`,
  :data:`WaitIdentity`, :class:`AwaitEventKey`, :class:`KeySigner`, the pure
  :class:`AwaitEventRegistry`, resolutions (:data:`Resolution`, :func:`ok`, :func:`err`,
  :data:`TIMEOUT`, :data:`CANCELLED`) and what resolving answers (:data:`ResolveOutcome`:
  :class:`Accepted`, :class:`AlreadyResolved`, :class:`UnknownOrRevoked`);
* errors: :class:`LashError` and its subclasses; :mod:`lash_core.codes` lists every code;
* the wire format: :func:`to_json`, :func:`from_json`, :func:`to_wire`, :func:`from_wire`,
  :data:`JsonValue`, :class:`Ok` and :class:`Err` (canonical JSON and hashes are in
  :mod:`lash_core.wire`);
* durable steps and direct model calls: :func:`durable_step`, :func:`direct_call`;
* friendly handlers: :class:`ScriptedModel` (a model answering from a script of :func:`reply`,
  :func:`call` and :func:`error_reply`), :func:`tool` (a typed function as a tool), its
  :class:`ToolContext` and :class:`Toolbox` (the turn's tool specs and its ``tools`` handler).
"""

from lash_core import codes as codes
from lash_core.durable import direct_call as direct_call
from lash_core.durable import durable_step as durable_step
from lash_core.effects import EffectEnvelope as EffectEnvelope
from lash_core.effects import EffectKind as EffectKind
from lash_core.effects import EffectOutcome as EffectOutcome
from lash_core.effects import LlmCallOutcome as LlmCallOutcome
from lash_core.effects import LlmResponse as LlmResponse
from lash_core.effects import Message as Message
from lash_core.effects import Role as Role
from lash_core.effects import StopReason as StopReason
from lash_core.effects import TextPart as TextPart
from lash_core.effects import ToolAttemptOutcome as ToolAttemptOutcome
from lash_core.effects import ToolCallPart as ToolCallPart
from lash_core.effects import ToolSpec as ToolSpec
from lash_core.effects import Usage as Usage
from lash_core.effects.tools import PendingCompletion as PendingCompletion
from lash_core.effects.tools import ToolLaunchPending as ToolLaunchPending
from lash_core.errors import LashError as LashError
from lash_core.errors import LocalProtocolError as LocalProtocolError
from lash_core.errors import ReplayMismatchError as ReplayMismatchError
from lash_core.errors import WireDecodeError as WireDecodeError
from lash_core.handlers import ScriptedModel as ScriptedModel
from lash_core.handlers import Toolbox as Toolbox
from lash_core.handlers import ToolContext as ToolContext
from lash_core.handlers import call as call
from lash_core.handlers import error_reply as error_reply
from lash_core.handlers import reply as reply
from lash_core.handlers import tool as tool
from lash_core.host import InlineHost as InlineHost
from lash_core.keys import AwaitEventKey as AwaitEventKey
from lash_core.keys import KeySigner as KeySigner
from lash_core.loop import CancelToken as CancelToken
from lash_core.promise import AwaitEventRegistry as AwaitEventRegistry
from lash_core.resolution import CANCELLED as CANCELLED
from lash_core.resolution import TIMEOUT as TIMEOUT
from lash_core.resolution import Accepted as Accepted
from lash_core.resolution import AlreadyResolved as AlreadyResolved
from lash_core.resolution import Resolution as Resolution
from lash_core.resolution import ResolveOutcome as ResolveOutcome
from lash_core.resolution import UnknownOrRevoked as UnknownOrRevoked
from lash_core.resolution import err as err
from lash_core.resolution import ok as ok
from lash_core.scope import ExecutionScope as ExecutionScope
from lash_core.scope import ToolCompletion as ToolCompletion
from lash_core.scope import TurnScope as TurnScope
from lash_core.scope import WaitIdentity as WaitIdentity
from lash_core.turn import NeedOutcomes as NeedOutcomes
from lash_core.turn import RunEffects as RunEffects
from lash_core.turn import TurnCompleted as TurnCompleted
from lash_core.turn import TurnConfig as TurnConfig
from lash_core.turn import TurnEvent as TurnEvent
from lash_core.turn import TurnFinished as TurnFinished
from lash_core.turn import TurnHandlers as TurnHandlers
from lash_core.turn import TurnHooks as TurnHooks
from lash_core.turn import TurnMachine as TurnMachine
from lash_core.turn import TurnResult as TurnResult
from lash_core.turn import TurnRunner as TurnRunner
from lash_core.turn import TurnStopped as TurnStopped
from lash_core.turn import run_turn as run_turn
from lash_core.wire import Err as Err
from lash_core.wire import JsonValue as JsonValue
from lash_core.wire import Ok as Ok
from lash_core.wire import from_json as from_json
from lash_core.wire import from_wire as from_wire
from lash_core.wire import to_json as to_json
from lash_core.wire import to_wire as to_wire

__version__ = "0.1.0"

__all__ = [
    "CANCELLED",
    "TIMEOUT",
    "Accepted",
    "AlreadyResolved",
    "AwaitEventKey",
    "AwaitEventRegistry",
    "CancelToken",
    "EffectEnvelope",
    "EffectKind",
    "EffectOutcome",
    "Err",
    "ExecutionScope",
    "InlineHost",
    "JsonValue",
    "KeySigner",
    "LashError",
    "LlmCallOutcome",
    "LlmResponse",
    "LocalProtocolError",
    "Message",
    "NeedOutcomes",
    "Ok",
    "PendingCompletion",
    "ReplayMismatchError",
    "Resolution",
    "ResolveOutcome",
    "Role",
    "RunEffects",
    "ScriptedModel",
    "StopReason",
    "TextPart",
    "ToolAttemptOutcome",
    "ToolCallPart",
    "ToolCompletion",
    "ToolContext",
    "ToolLaunchPending",
    "ToolSpec",
    "Toolbox",
    "TurnCompleted",
    "TurnConfig",
    "TurnEvent",
    "TurnFinished",
    "TurnHandlers",
    "TurnHooks",
    "TurnMachine",
    "TurnResult",
    "TurnRunner",
    "TurnScope",
    "TurnStopped",
    "UnknownOrRevoked",
    "Usage",
    "WaitIdentity",
    "WireDecodeError",
    "call",
    "codes",
    "direct_call",
    "durable_step",
    "err",
    "error_reply",
    "from_json",
    "from_wire",
    "ok",
    "reply",
    "run_turn",
    "to_json",
    "to_wire",
    "tool",
]
