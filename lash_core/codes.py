"""Every error code the library raises, with its meaning.

Codes are stable snake_case strings; most are the reference runtime's own.
``docs/errors.md`` documents each one (a test keeps the two in step).
"""

from __future__ import annotations

from typing import Final

# -- wire format -----------------------------------------------------------------------------
WIRE_INVALID_JSON: Final = "wire_invalid_json"
WIRE_DECODE: Final = "wire_decode"
CANONICAL_JSON_UNENCODABLE: Final = "canonical_json_unencodable"

# -- scopes, wait identities, keys -----------------------------------------------------------
MISSING_EXECUTION_SCOPE_ID: Final = "missing_execution_scope_id"
INVALID_AWAIT_EVENT_WAIT_IDENTITY: Final = "invalid_await_event_wait_identity"
AWAIT_EVENT_KEY_HASH: Final = "await_event_key_hash"
AWAIT_EVENT_SECRET_INVALID: Final = "await_event_secret_invalid"

# -- the await-event registry ----------------------------------------------------------------
AWAIT_EVENT_UNKNOWN_OR_REVOKED: Final = "await_event_unknown_or_revoked"
INVALID_AWAIT_EVENT_SESSION_ID: Final = "invalid_await_event_session_id"
AWAIT_EVENT_WAITER_UNKNOWN: Final = "await_event_waiter_unknown"
AWAIT_EVENT_WAITER_NOT_WOKEN: Final = "await_event_waiter_not_woken"
AWAIT_EVENT_INVALID_RESOLUTION: Final = "await_event_invalid_resolution"
TURN_CONTROL_WAIT_CANCELLED: Final = "turn_control_wait_cancelled"
TURN_CONTROL_WAIT_TIMEOUT: Final = "turn_control_wait_timeout"
TURN_CONTROL_WAIT_ABANDONED: Final = "turn_control_wait_abandoned"

# -- hosts and local executors --------------------------------------------------------------
AWAIT_EVENT_UNSUPPORTED: Final = "await_event_unsupported"
AWAIT_EVENT_CANCEL_UNSUPPORTED: Final = "await_event_cancel_unsupported"
AWAIT_EVENT_DEADLINE_AND_TIMEOUT: Final = "await_event_deadline_and_timeout"
RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE: Final = "runtime_effect_local_executor_unavailable"
RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH: Final = "runtime_effect_local_executor_mismatch"
RUNTIME_EFFECT_SLEEP_CANCELLED: Final = "runtime_effect_sleep_cancelled"
RUNTIME_EFFECT_HANDLER_FAILED: Final = "runtime_effect_handler_failed"

# -- envelopes -------------------------------------------------------------------------------
RUNTIME_EFFECT_INVOCATION_SUBJECT: Final = "runtime_effect_invocation_subject"
RUNTIME_EFFECT_INVOCATION_KIND: Final = "runtime_effect_invocation_kind"
RUNTIME_EFFECT_REPLAY_REQUIRED: Final = "runtime_effect_replay_required"
RUNTIME_EFFECT_DURABLE_STEP_ID: Final = "runtime_effect_durable_step_id"
RUNTIME_EFFECT_TOOL_ATTEMPT_CALL_ID: Final = "runtime_effect_tool_attempt_call_id"
RUNTIME_EFFECT_TOOL_ATTEMPT_INDEX: Final = "runtime_effect_tool_attempt_index"
RUNTIME_EFFECT_TOOL_BATCH_ID: Final = "runtime_effect_tool_batch_id"
RUNTIME_EFFECT_TOOL_BATCH_EMPTY: Final = "runtime_effect_tool_batch_empty"
RUNTIME_EFFECT_TOOL_BATCH_CALL_ID: Final = "runtime_effect_tool_batch_call_id"
RUNTIME_EFFECT_TOOL_BATCH_CALL_REPLAY: Final = "runtime_effect_tool_batch_call_replay"
RUNTIME_EFFECT_WRONG_OUTCOME: Final = "runtime_effect_wrong_outcome"
RUNTIME_EFFECT_ENVELOPE_HASH: Final = "runtime_effect_envelope_hash"
RUNTIME_EFFECT_DISCRIMINATOR: Final = "runtime_effect_discriminator"

# -- replay validation -----------------------------------------------------------------------
RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT: Final = (
    "runtime_effect_envelope_canonical_hash_invariant"
)
RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE: Final = "runtime_effect_envelope_canonical_decode"
RUNTIME_EFFECT_REPLAY_HASH_MISMATCH: Final = "runtime_effect_replay_hash_mismatch"

# -- the turn machine ------------------------------------------------------------------------
TURN_CONFIG_INVALID: Final = "turn_config_invalid"
TURN_UNKNOWN_REPLAY_KEY: Final = "turn_unknown_replay_key"
TURN_FINISHED: Final = "turn_finished"
TURN_CANCELLED: Final = "turn_cancelled"
RECONFIGURE_FAILED: Final = "reconfigure_failed"
TURN_LLM_CALL_FAILED: Final = "turn_llm_call_failed"
TURN_INVALID_TOOL_CALL: Final = "turn_invalid_tool_call"
TURN_EXEC_ARGS_INVALID: Final = "turn_exec_args_invalid"
TURN_EXEC_FAILED: Final = "turn_exec_failed"
TOOL_COMPLETION_TIMEOUT: Final = "tool_completion_timeout"
TOOL_COMPLETION_CANCELLED: Final = "tool_completion_cancelled"

CODES: Final[dict[str, str]] = {
    WIRE_INVALID_JSON: "The input is not JSON text (or not valid UTF-8).",
    WIRE_DECODE: "The JSON does not have the shape of the requested wire type; the error's "
    "`path` names the first offending place.",
    CANONICAL_JSON_UNENCODABLE: "A value cannot be written as canonical JSON (a lone surrogate "
    "in a string, an object key that is not a string, or a Python object that is not JSON).",
    MISSING_EXECUTION_SCOPE_ID: "An execution scope has a blank id (empty after trimming).",
    INVALID_AWAIT_EVENT_WAIT_IDENTITY: "A wait identity has a blank field or a signal ordinal "
    "of 0.",
    AWAIT_EVENT_KEY_HASH: "The scope and wait of a key could not be hashed (their canonical "
    "JSON could not be written).",
    AWAIT_EVENT_SECRET_INVALID: "A signing secret is not bytes of at least 16 bytes.",
    AWAIT_EVENT_UNKNOWN_OR_REVOKED: "The key is not one this registry signed, does not match the "
    "promise it names, or its session was revoked.",
    INVALID_AWAIT_EVENT_SESSION_ID: "A session id given to revoke or cancel is blank.",
    AWAIT_EVENT_WAITER_UNKNOWN: "A waiter is not parked in this registry (its id was never "
    "issued, or its wait already ended).",
    AWAIT_EVENT_WAITER_NOT_WOKEN: "A parked waiter was ended as woken before the registry woke "
    "it; end it as cancelled or deadline instead.",
    AWAIT_EVENT_INVALID_RESOLUTION: "A resolution is not one of ok, err, timeout or cancelled, "
    "or its ok payload is not JSON.",
    TURN_CONTROL_WAIT_CANCELLED: "A wait on a turn-control key (cancel gate or terminal) was "
    "cancelled; nothing was written to the key.",
    TURN_CONTROL_WAIT_TIMEOUT: "A wait on a turn-control key reached its deadline; nothing was "
    "written to the key.",
    TURN_CONTROL_WAIT_ABANDONED: "A pending cancel-gate wait ended because the turn's terminal "
    "was published without the gate being settled.",
    AWAIT_EVENT_UNSUPPORTED: "The effect host does not support await events (the default of a "
    "host that does not implement them).",
    AWAIT_EVENT_CANCEL_UNSUPPORTED: "The effect host does not support cancelling a session's "
    "await events.",
    AWAIT_EVENT_DEADLINE_AND_TIMEOUT: "A wait was given both an absolute deadline and a relative "
    "timeout; give one.",
    RUNTIME_EFFECT_LOCAL_EXECUTOR_UNAVAILABLE: "No local executor can run this kind of effect "
    "(none was given, or process effects before a process registry exists).",
    RUNTIME_EFFECT_LOCAL_EXECUTOR_MISMATCH: "The local executor given cannot run this kind of "
    "effect (for example a sleep executor asked to run a tool call).",
    RUNTIME_EFFECT_SLEEP_CANCELLED: "A sleep effect was cancelled through its cancel token.",
    RUNTIME_EFFECT_HANDLER_FAILED: "A user handler raised an exception that is not a library "
    "error; the message names the effect kind and the exception.",
    RUNTIME_EFFECT_INVOCATION_SUBJECT: "An envelope's subject is not an effect, or its effect id "
    "is blank.",
    RUNTIME_EFFECT_INVOCATION_KIND: "An envelope's subject kind differs from its command kind.",
    RUNTIME_EFFECT_REPLAY_REQUIRED: "An envelope has no replay key (or an empty one).",
    RUNTIME_EFFECT_DURABLE_STEP_ID: "A durable step has a blank step id.",
    RUNTIME_EFFECT_TOOL_ATTEMPT_CALL_ID: "A tool attempt has a blank call id.",
    RUNTIME_EFFECT_TOOL_ATTEMPT_INDEX: "A tool attempt number is 0, or above max_attempts, or "
    "max_attempts is 0.",
    RUNTIME_EFFECT_TOOL_BATCH_ID: "A tool batch has a blank batch id.",
    RUNTIME_EFFECT_TOOL_BATCH_EMPTY: "A tool batch has no calls.",
    RUNTIME_EFFECT_TOOL_BATCH_CALL_ID: "A call in a tool batch has a blank call id.",
    RUNTIME_EFFECT_TOOL_BATCH_CALL_REPLAY: "A call in a tool batch has a blank replay suffix.",
    RUNTIME_EFFECT_WRONG_OUTCOME: "An outcome of one kind was given where another kind was "
    "expected.",
    RUNTIME_EFFECT_ENVELOPE_HASH: "An envelope could not be written as canonical JSON, so it has "
    "no hash.",
    RUNTIME_EFFECT_DISCRIMINATOR: "A direct LLM call's request could not be written as "
    "canonical JSON, so it has no replay discriminator.",
    RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT: "A canonical envelope pair is "
    "inconsistent: its hash is not the SHA-256 of its JSON, or two different hashes have "
    "the same JSON, or different hashes show no structural difference.",
    RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE: "The JSON of a canonical envelope pair does not "
    "parse.",
    RUNTIME_EFFECT_REPLAY_HASH_MISMATCH: "A replayed envelope differs from the recorded one (the "
    "default mismatch code; durable stores pass their own, such as "
    "`sqlite_effect_replay_hash_conflict`).",
    TURN_CONFIG_INVALID: "A turn machine was given an unusable configuration (an empty model, "
    "max_iterations or a retry policy's max_attempts of 0, a negative delay), a blank session "
    "or turn id, or restore() was given something other than a TurnState.",
    TURN_UNKNOWN_REPLAY_KEY: "An outcome was sent to a turn machine for a replay key it does "
    "not await (never emitted, already answered, or not yet handed out by next()).",
    TURN_FINISHED: "An outcome or a cancel was sent to a turn machine whose turn is over.",
    TURN_CANCELLED: "The turn was cancelled by its driver (the error of a `cancelled` stop).",
    RECONFIGURE_FAILED: "The execution environment could not be synced; the turn stops as a "
    "runtime error (the error of that stop).",
    TURN_LLM_CALL_FAILED: "A model call failed for good and its error carried no code (the "
    "error of a `provider_error` stop).",
    TURN_INVALID_TOOL_CALL: "A model response has a tool call with an empty call id, or two "
    "with the same id; the turn stops as a runtime error.",
    TURN_EXEC_ARGS_INVALID: "A call to the built-in code tool does not have the arguments "
    '`{"code": str, "language"?: str}` (an error tool result, nothing is run).',
    TURN_EXEC_FAILED: "Running code failed (an error tool result carrying the executor's message).",
    TOOL_COMPLETION_TIMEOUT: "A pending tool call was not completed before its deadline (an "
    "error tool result, or the error of a `runtime_error` stop under the `fail_turn` policy).",
    TOOL_COMPLETION_CANCELLED: "A pending tool call's completion was cancelled (an error tool "
    "result).",
}
