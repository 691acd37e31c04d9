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
WIRE_TOO_DEEP: Final = "wire_too_deep"

# -- scopes, wait identities, keys -----------------------------------------------------------
MISSING_EXECUTION_SCOPE_ID: Final = "missing_execution_scope_id"
INVALID_AWAIT_EVENT_WAIT_IDENTITY: Final = "invalid_await_event_wait_identity"
AWAIT_EVENT_KEY_HASH: Final = "await_event_key_hash"
AWAIT_EVENT_SECRET_INVALID: Final = "await_event_secret_invalid"
AWAIT_EVENT_KEY_MATERIAL_INVALID: Final = "await_event_key_material_invalid"

# -- the await-event registry ----------------------------------------------------------------
AWAIT_EVENT_UNKNOWN_OR_REVOKED: Final = "await_event_unknown_or_revoked"
INVALID_AWAIT_EVENT_SESSION_ID: Final = "invalid_await_event_session_id"
AWAIT_EVENT_WAITER_UNKNOWN: Final = "await_event_waiter_unknown"
AWAIT_EVENT_WAITER_NOT_WOKEN: Final = "await_event_waiter_not_woken"
AWAIT_EVENT_INVALID_RESOLUTION: Final = "await_event_invalid_resolution"
AWAIT_EVENT_KEY_TYPE: Final = "await_event_key_type"
AWAIT_EVENT_RETIRED: Final = "await_event_retired"
AWAIT_EVENT_REGISTRY_INVALID: Final = "await_event_registry_invalid"
AWAIT_EVENT_SESSION_CLOSED: Final = "await_event_session_closed"
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
HOST_WRONG_EVENT_LOOP: Final = "host_wrong_event_loop"
RESOLVE_THREADSAFE_ON_LOOP_THREAD: Final = "resolve_threadsafe_on_loop_thread"
RESOLVE_THREADSAFE_LOOP_NOT_RUNNING: Final = "resolve_threadsafe_loop_not_running"

LLM_VALUE_INVALID: Final = "llm_value_invalid"

# -- friendly handlers: scripted models and typed tools --------------------------------------
SCRIPTED_REPLY_INVALID: Final = "scripted_reply_invalid"
SCRIPTED_MODEL_EXHAUSTED: Final = "scripted_model_exhausted"
SCRIPTED_MODEL_UNKNOWN_TOOL: Final = "scripted_model_unknown_tool"
SCRIPTED_MODEL_EXPECTATION_FAILED: Final = "scripted_model_expectation_failed"
TOOL_DEFINITION_INVALID: Final = "tool_definition_invalid"
TOOL_ARGUMENTS_INVALID: Final = "tool_arguments_invalid"
TOOL_UNKNOWN: Final = "tool_unknown"
TOOL_PENDING_UNAVAILABLE: Final = "tool_pending_unavailable"

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
RUNTIME_EFFECT_INVALID_OUTCOME: Final = "runtime_effect_invalid_outcome"
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
TURN_MACHINE_BROKEN: Final = "turn_machine_broken"
TURN_NOT_FINISHED: Final = "turn_not_finished"
TURN_CANCELLED: Final = "turn_cancelled"
RECONFIGURE_FAILED: Final = "reconfigure_failed"
TURN_LLM_CALL_FAILED: Final = "turn_llm_call_failed"
TURN_INVALID_TOOL_CALL: Final = "turn_invalid_tool_call"
TURN_EXEC_ARGS_INVALID: Final = "turn_exec_args_invalid"
TURN_EXEC_FAILED: Final = "turn_exec_failed"
TOOL_COMPLETION_TIMEOUT: Final = "tool_completion_timeout"
TOOL_COMPLETION_CANCELLED: Final = "tool_completion_cancelled"
TOOL_COMPLETION_KEY_MISMATCH: Final = "tool_completion_key_mismatch"
TURN_CALLBACK_FAILED: Final = "turn_callback_failed"

# -- turn control ----------------------------------------------------------------------------
INVALID_TURN_CANCEL_REQUEST: Final = "invalid_turn_cancel_request"
TURN_CONTROL_UNKNOWN_OR_REVOKED: Final = "turn_control_unknown_or_revoked"
TURN_CANCEL_GATE_INVALID_TERMINAL: Final = "turn_cancel_gate_invalid_terminal"
TURN_CANCEL_GATE_DECODE: Final = "turn_cancel_gate_decode"
TURN_TERMINAL_UNKNOWN_OR_REVOKED: Final = "turn_terminal_unknown_or_revoked"
TURN_TERMINAL_INVALID_RESOLUTION: Final = "turn_terminal_invalid_resolution"
TURN_TERMINAL_DECODE: Final = "turn_terminal_decode"
TURN_TERMINAL_AWAIT_TIMEOUT: Final = "turn_terminal_await_timeout"
# -- the process registry --------------------------------------------------------------------
PROCESS_COMMAND_INVALID: Final = "process_command_invalid"
PROCESS_ID_INVALID: Final = "process_id_invalid"
PROCESS_REGISTRATION_INVALID: Final = "process_registration_invalid"
PROCESS_REGISTRATION_CONFLICT: Final = "process_registration_conflict"
PROCESS_UNKNOWN: Final = "process_unknown"
PROCESS_EVENT_TYPE_UNDECLARED: Final = "process_event_type_undeclared"
PROCESS_EVENT_REPLAY_REQUIRED: Final = "process_event_replay_required"
PROCESS_EVENT_REPLAY_CONFLICT: Final = "process_event_replay_conflict"
PROCESS_EVENT_PAYLOAD_INVALID: Final = "process_event_payload_invalid"
PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH: Final = "process_event_payload_schema_mismatch"
PROCESS_ALREADY_TERMINAL: Final = "process_already_terminal"
PROCESS_SESSION_INVALID: Final = "process_session_invalid"
PROCESS_TIMESTAMP_INVALID: Final = "process_timestamp_invalid"
PROCESS_HANDLE_NOT_GRANTED: Final = "process_handle_not_granted"
PROCESS_AWAITER_UNKNOWN: Final = "process_awaiter_unknown"
PROCESS_SIGNAL_NAME_INVALID: Final = "process_signal_name_invalid"
PROCESS_SIGNAL_REQUEST_INVALID: Final = "process_signal_request_invalid"
PROCESS_SIGNAL_WAIT_TIMEOUT: Final = "process_signal_wait_timeout"
PROCESS_SIGNAL_WAIT_CANCELLED: Final = "process_signal_wait_cancelled"
PROCESS_FUNCTION_UNKNOWN: Final = "process_function_unknown"
PROCESS_FUNCTION_FAILED: Final = "process_function_failed"
PROCESS_RUNNER_ATTACHED: Final = "process_runner_attached"
PROCESS_WAKE_UNKNOWN: Final = "process_wake_unknown"
PROCESS_LEASE_HELD: Final = "process_lease_held"
PROCESS_LEASE_LOST: Final = "process_lease_lost"
PROCESS_LEASE_EXPIRED: Final = "process_lease_expired"
PROCESS_LEASE_INVALID: Final = "process_lease_invalid"
PROCESS_ARGUMENT_INVALID: Final = "process_argument_invalid"
PROCESS_COMPLETION_UNAUTHORIZED: Final = "process_completion_unauthorized"
PROCESS_NOT_PRUNABLE: Final = "process_not_prunable"
# -- durable steps, direct calls and the effect journal --------------------------------------
EFFECT_JOURNAL_CORRUPT_ENTRY: Final = "effect_journal_corrupt_entry"
EFFECT_JOURNAL_ENTRY_EXISTS: Final = "effect_journal_entry_exists"
EFFECT_JOURNAL_ENTRY_IN_FLIGHT: Final = "effect_journal_entry_in_flight"
DURABLE_STEP_VALUE_NOT_JSON: Final = "durable_step_value_not_json"
DIRECT_CALL_FAILED: Final = "direct_call_failed"
# -- provider adapters (lash_providers) ------------------------------------------------------
PROVIDER_SDK_MISSING: Final = "provider_sdk_missing"
PROVIDER_CONFIG_INVALID: Final = "provider_config_invalid"
PROVIDER_HTTP_ERROR: Final = "provider_http_error"
PROVIDER_UNREACHABLE: Final = "provider_unreachable"
PROVIDER_TIMEOUT: Final = "provider_timeout"
PROVIDER_RESPONSE_INVALID: Final = "provider_response_invalid"
# -- durable stores --------------------------------------------------------------------------
LEASE_HELD: Final = "lease_held"
LEASE_LOST: Final = "lease_lost"
LEASE_INVALID: Final = "lease_invalid"
STORE_SCHEMA_TOO_NEW: Final = "store_schema_too_new"
STORE_EFFECT_NOT_STARTED: Final = "store_effect_not_started"
STORE_TURN_CONFLICT: Final = "store_turn_conflict"
STORE_TURN_UNKNOWN: Final = "store_turn_unknown"
STORE_CORRUPT: Final = "store_corrupt"
STORE_UNAVAILABLE: Final = "store_unavailable"
STORE_NOT_FOUND: Final = "store_not_found"
STORE_CONFIG_INVALID: Final = "store_config_invalid"
STORE_DRIVER_MISSING: Final = "store_driver_missing"
DURABLE_TURN_NOT_FRESH: Final = "durable_turn_not_fresh"
RESUME_ON_DIVERGENCE_INVALID: Final = "resume_on_divergence_invalid"
LOOP_WAIT_READABLE_UNSUPPORTED: Final = "loop_wait_readable_unsupported"
# -- the simulator ---------------------------------------------------------------------------
SIM_DEADLOCK: Final = "sim_deadlock"
SIM_STEP_LIMIT: Final = "sim_step_limit"
SIM_FOREIGN_AWAIT: Final = "sim_foreign_await"
SIM_OUTSIDE_TASK: Final = "sim_outside_task"
SIM_WORLD_SHAPE_INVALID: Final = "sim_world_shape_invalid"
# -- the Restate tier ------------------------------------------------------------------------
RESTATE_SERVER_UNAVAILABLE: Final = "restate_server_unavailable"
RESTATE_REQUEST_FAILED: Final = "restate_request_failed"
RESTATE_TURN_INPUT_INVALID: Final = "restate_turn_input_invalid"
RESTATE_PROCESSES_UNSUPPORTED: Final = "restate_processes_unsupported"

CODES: Final[dict[str, str]] = {
    WIRE_INVALID_JSON: "The input is not JSON text (or not valid UTF-8).",
    WIRE_DECODE: "The JSON does not have the shape of the requested wire type; the error's "
    "`path` names the first offending place.",
    CANONICAL_JSON_UNENCODABLE: "A value cannot be written as canonical JSON (a lone surrogate "
    "in a string, an object key that is not a string, or a Python object that is not JSON).",
    WIRE_TOO_DEEP: "A JSON value nests arrays and objects deeper than `MAX_JSON_DEPTH` (128), on "
    "input or output; the message names the path where the limit was exceeded.",
    MISSING_EXECUTION_SCOPE_ID: "An execution scope has a blank id (empty after trimming), or "
    "an id that is not a str.",
    INVALID_AWAIT_EVENT_WAIT_IDENTITY: "A wait identity has a blank field, a field of the wrong "
    "type or a signal ordinal of 0.",
    AWAIT_EVENT_KEY_HASH: "The scope and wait of a key could not be hashed (their canonical "
    "JSON could not be written), or a key id to sign is not a string.",
    AWAIT_EVENT_SECRET_INVALID: "A signing secret is not bytes of at least 16 bytes (a `str`, "
    "an int, `None`, too short), or `previous` is not a sequence of such secrets; the message "
    "names the argument (`secret`, `previous`, `previous[i]`).",
    AWAIT_EVENT_KEY_MATERIAL_INVALID: "`KeySigner.sign` was given material that is not bytes.",
    AWAIT_EVENT_UNKNOWN_OR_REVOKED: "The key is not one this registry signed, does not match the "
    "promise it names, or its session was revoked.",
    INVALID_AWAIT_EVENT_SESSION_ID: "A session id given to revoke, close or cancel is blank.",
    AWAIT_EVENT_WAITER_UNKNOWN: "A waiter given to end_parked is not a parked wait of this "
    "registry (not a Waiter, or its wait already ended).",
    AWAIT_EVENT_WAITER_NOT_WOKEN: "A parked waiter was ended as woken before the registry woke "
    "it; end it as cancelled or deadline instead.",
    AWAIT_EVENT_INVALID_RESOLUTION: "A resolution is not one of ok, err, timeout or cancelled, "
    "or its ok payload is not JSON.",
    AWAIT_EVENT_KEY_TYPE: "Something that is not an AwaitEventKey (a JSON text or dict not yet "
    "decoded) was presented as a key; decode it with from_json(AwaitEventKey, text).",
    AWAIT_EVENT_REGISTRY_INVALID: "An `AwaitEventRegistry` was built with a `signer` that is not a "
    "`KeySigner`, or a `retain_recent` or `mint_cache` that is not a whole number >= 0.",
    AWAIT_EVENT_RETIRED: "The key was resolved long ago and its terminal was retired from "
    "memory (beyond the registry's retain_recent window): it stays resolved, but its terminal "
    "can no longer be read.",
    AWAIT_EVENT_SESSION_CLOSED: "A parked wait's session was closed (close_session) while it "
    "waited; its promises were dropped.",
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
    "error (or the loop's own cancellation while nothing cancelled its task); the message "
    "names the effect kind and the exception.",
    HOST_WRONG_EVENT_LOOP: "A driver's host was used outside its event loop: the trio host "
    "outside trio.run (under asyncio, say), or the asyncio host outside a running asyncio loop.",
    RESOLVE_THREADSAFE_ON_LOOP_THREAD: "resolve_threadsafe was called on the host's own event "
    "loop thread, where waiting for the loop would never end; call resolve_await_event there.",
    RESOLVE_THREADSAFE_LOOP_NOT_RUNNING: "resolve_threadsafe found no loop to run on: the host "
    "has not been used in a loop yet, or the loop it was last used in has finished or closed "
    "(also while the call waited). Nothing was resolved.",
    LLM_VALUE_INVALID: "A message, a message part or a tool spec was built with a field of the "
    'wrong type (`Message("user", ...)`, a str among a message\'s parts); the message names '
    "the field and what it expects.",
    SCRIPTED_REPLY_INVALID: "A reply given to `ScriptedModel` (or to `reply`, `call`, "
    "`error_reply`) is malformed: an unknown dict key, a tool call without a name, arguments "
    "that are not a mapping, a value of the wrong type (a text that is not a str), two calls "
    "with the same id; the message names the reply. Nothing was built.",
    SCRIPTED_MODEL_EXHAUSTED: "A `ScriptedModel` was asked for more replies than its script "
    "holds; the message says how many it had and what the request asked. The model call "
    "fails with this code (the turn stops as `provider_error`).",
    SCRIPTED_MODEL_UNKNOWN_TOOL: "A `ScriptedModel` reply calls a tool that is not among the "
    "request's tools (a typo, or a tool missing from `TurnConfig.tools`); the message names "
    "the reply, the tool and the tools on offer. The model call fails with this code.",
    SCRIPTED_MODEL_EXPECTATION_FAILED: "A `ScriptedModel` reply's `expect` check refused the "
    "request it was answering (it returned false or raised); the message names the reply. The "
    "model call fails with this code.",
    TOOL_DEFINITION_INVALID: "`@tool` or `Toolbox` was given a function it cannot describe: a "
    "parameter without a type annotation or with a type that has no JSON schema (a set, a "
    "class), `*args`/`**kwargs`, a tool name that is not 1-64 letters, digits, `_` or `-`, or "
    "two tools with the same name. Raised where the tool is defined.",
    TOOL_ARGUMENTS_INVALID: "The model called a `@tool` with arguments that do not fit its "
    "signature (a missing or unexpected argument, a value of the wrong type); the function "
    "did not run and the model is given this error as the tool's result, so it can retry.",
    TOOL_UNKNOWN: "The model called a tool the `Toolbox` does not have; the model is given this "
    "error as the tool's result, naming the tools it has.",
    TOOL_PENDING_UNAVAILABLE: "A tool asked its context for a completion key (`ctx.key`, "
    "`ctx.pending()`) but none can be minted: the toolbox's handler was built without a host "
    "(use `toolbox.handler(host)`), or the attempt is not part of a turn. The tool call fails "
    "with this code.",
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
    RUNTIME_EFFECT_INVALID_OUTCOME: "A handler returned an outcome of the right kind whose "
    "contents are unusable (a field of the wrong type, such as `Ok(None)` for a model response "
    "or an int for a pending deadline, or a value that is not JSON, such as a `datetime` or NaN "
    "in a tool output); the message names the handler, the tool if any, and the path. The "
    "effect fails with its kind's error outcome.",
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
    "or turn id, or restore() was given something other than a TurnState; or a config field "
    "or a turn machine argument has the wrong type (`TurnConfig(model=None)`, "
    '`messages=["hello"]`).',
    TURN_UNKNOWN_REPLAY_KEY: "An outcome was sent to a turn machine for a replay key it does "
    "not await (never emitted, already answered, or not yet handed out by next()).",
    TURN_FINISHED: "An outcome or a cancel was sent to a turn machine whose turn is over.",
    TURN_MACHINE_BROKEN: "A turn machine refuses every call after one failed inside a "
    "transition (a bug in lash, please report it); restore a checkpoint taken before.",
    TURN_NOT_FINISHED: "A streamed turn's result was read before the turn ended.",
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
    TOOL_COMPLETION_KEY_MISMATCH: "A tool handler returned a pending launch whose key is not the "
    "`ToolCompletion(call_id)` key of that call in its turn's `TurnScope` (a key minted for "
    "another call or turn); that tool call fails with an error result, nothing else changes.",
    TURN_CALLBACK_FAILED: "A callback of `run_turn` (`on_event`, `on_effect`, "
    "`on_handler_error`) or a `TurnHooks` method raised an exception that is not a library "
    "error: the exception propagates out of `run_turn` unchanged and the turn's terminal is "
    "published as `failed` with this code.",
    INVALID_TURN_CANCEL_REQUEST: "A turn cancel request has a blank session id, turn id or "
    "request id (or is not a TurnCancelRequest).",
    TURN_CONTROL_UNKNOWN_OR_REVOKED: "A turn could not settle its cancel gate before committing: "
    "the key is unknown or the turn's session was revoked.",
    TURN_CANCEL_GATE_INVALID_TERMINAL: "A turn's cancel gate holds a terminal that is not `ok` "
    "(something other than turn control wrote it).",
    TURN_CANCEL_GATE_DECODE: "A turn's cancel gate holds an `ok` payload that is not a gate "
    "terminal (`cancel_requested` or `completion_sealed`).",
    TURN_TERMINAL_UNKNOWN_OR_REVOKED: "A turn's terminal could not be published: the key is "
    "unknown or the turn's session was revoked.",
    TURN_TERMINAL_INVALID_RESOLUTION: "A turn's terminal key holds a resolution that is not `ok`.",
    TURN_TERMINAL_DECODE: "A turn's terminal key holds an `ok` payload that is not a turn "
    "terminal (`committed` or `failed`).",
    TURN_TERMINAL_AWAIT_TIMEOUT: "Waiting for a turn's terminal reached its timeout; nothing was "
    "written, so a later publication and a later wait still work.",
    PROCESS_COMMAND_INVALID: "Something other than a process command was given where one was "
    "expected.",
    PROCESS_ID_INVALID: "A process id is blank (empty after trimming) or contains the reserved "
    "segment separator `#`.",
    PROCESS_REGISTRATION_INVALID: "A process registration is malformed: an env_ref missing for a "
    "tool_call or engine input or present for an external or session_turn input, a blank or "
    "repeated event type name, a core event type redeclared differently, or await_output on a "
    "non-terminal event type.",
    PROCESS_REGISTRATION_CONFLICT: "A process id is already registered with a different "
    "registration (its hash differs); an identical registration returns the existing record.",
    PROCESS_UNKNOWN: "No process with this id is registered.",
    PROCESS_EVENT_TYPE_UNDECLARED: "An event was appended with a type its process did not declare.",
    PROCESS_EVENT_REPLAY_REQUIRED: "A terminal or `process.cancel_requested` event was appended "
    "without a replay key.",
    PROCESS_EVENT_REPLAY_CONFLICT: "An event's replay key was already used for a different event "
    "type or payload (their hashes differ).",
    PROCESS_EVENT_PAYLOAD_INVALID: "An event payload is not JSON or cannot be hashed (NaN, "
    "infinity, a lone surrogate, nesting too deep), an append request or its replay has the "
    "wrong type, or a terminal event's payload has no valid `await_output`; nothing was logged.",
    PROCESS_EVENT_PAYLOAD_SCHEMA_MISMATCH: "An event payload does not match the "
    "`payload_schema` its event type declares; nothing was logged.",
    PROCESS_COMPLETION_UNAUTHORIZED: "A terminal was written without a lease for an "
    "`owner_bound` process and without a completion authority, or with an authority the "
    "terminal or the disposition does not allow (`reconciled_abandon` only for an abandonment); "
    "nothing was logged.",
    PROCESS_NOT_PRUNABLE: "A process named for pruning is still running, or an awaiter it woke "
    "has not ended its await yet; nothing was pruned.",
    PROCESS_ALREADY_TERMINAL: "A new event (a second terminal, a progress or custom event, a "
    "cancel request, a wait) was appended to a process that already has its terminal; replays "
    "of recorded events still answer.",
    PROCESS_SESSION_INVALID: "A session scope or session id given to the process registry is "
    "blank.",
    PROCESS_TIMESTAMP_INVALID: "A timestamp given to the process registry is not a whole, "
    "non-negative number of milliseconds.",
    PROCESS_HANDLE_NOT_GRANTED: "A transfer names a process that is not granted to the source "
    "scope; nothing moved.",
    PROCESS_AWAITER_UNKNOWN: "A process awaiter id is not parked here (never issued, or its "
    "await already ended).",
    PROCESS_SIGNAL_NAME_INVALID: "A signal name is empty or has a character other than ASCII "
    "letters, digits, `_` and `-`.",
    PROCESS_SIGNAL_REQUEST_INVALID: "A signal command's append request is not a "
    "`signal.{name}` event for the named signal.",
    PROCESS_SIGNAL_WAIT_TIMEOUT: "A process's wait for a signal reached its deadline.",
    PROCESS_SIGNAL_WAIT_CANCELLED: "A process's wait for a signal was cancelled (the process "
    "was asked to cancel).",
    PROCESS_FUNCTION_UNKNOWN: "The process runner has no function for a started process's "
    "input (the failure output of its terminal).",
    PROCESS_FUNCTION_FAILED: "A process function raised an exception that is not a library "
    "error (the failure output of its terminal; the message names the exception).",
    PROCESS_RUNNER_ATTACHED: "A process runner was started on a host that already has one running.",
    PROCESS_WAKE_UNKNOWN: "A wake id given to acknowledge is not pending (never delivered, "
    "already acknowledged, or dropped with its session's process state), or a process event "
    "given to acknowledge has no wake.",
    PROCESS_LEASE_HELD: "A process lease was claimed while another owner holds a live lease "
    "on the process (it is already leased until its expiry).",
    PROCESS_LEASE_LOST: "A process lease presented to renew, reclaim or complete is not the "
    "process's current lease (missing, released, or superseded by a newer holder).",
    PROCESS_LEASE_EXPIRED: "A process was completed under its current lease after that lease "
    "expired; claim it again first.",
    PROCESS_LEASE_INVALID: "A lease request is malformed: a blank owner, a negative or "
    "non-integer ttl, or a lease of another process.",
    PROCESS_ARGUMENT_INVALID: "An argument of a process-registry call has the wrong Python type "
    "(a cursor or limit that is not an int, a filter that is not a bool, a list mode that is not "
    "a ProcessListMode, an id list that is a string or holds non-strings, a non-string id); "
    "nothing changed.",
    EFFECT_JOURNAL_CORRUPT_ENTRY: "A line of an effect journal does not decode, or is not "
    "consistent (its hash is not the SHA-256 of its envelope, its replay key is not the "
    "envelope's, its outcome is of another kind, or its replay key appears twice); the message "
    "names the line. Nothing was loaded.",
    EFFECT_JOURNAL_ENTRY_EXISTS: "An outcome was recorded for a replay key the journal already "
    "holds (or is loading a line for such a key); the journal is unchanged.",
    EFFECT_JOURNAL_ENTRY_IN_FLIGHT: "An effect was started while another effect with the same "
    "replay key was still running against the same journal (two durable steps or direct calls "
    "with the same identity at once).",
    DURABLE_STEP_VALUE_NOT_JSON: "A durable step's function returned a value that is not JSON "
    "(a Python object, a non-string key, NaN or an infinity); nothing was recorded.",
    DIRECT_CALL_FAILED: "A direct model call's handler answered with an LLM call error; the "
    "exception carries that error (`llm_error`), whose own code and kind say why.",
    LEASE_HELD: "A session lease was acquired while another owner holds a live lease on the "
    "session; wait for it to expire or be released.",
    LEASE_LOST: "A session lease presented to a store write (begin, complete, a turn write, "
    "renew) is not the current one, or has expired: another owner took the session over, or "
    "the holder paused past its ttl. Nothing was written; stop running the turn.",
    LEASE_INVALID: "A lease request is malformed: a blank session id or owner, or a ttl or time "
    "that is not a non-negative whole number of milliseconds.",
    STORE_SCHEMA_TOO_NEW: "The store file was written by a newer lash (its schema version is "
    "higher than this one knows); it was not changed. Upgrade lash to open it.",
    STORE_EFFECT_NOT_STARTED: "An effect was completed under a replay key the store has no "
    "running record of (never begun, or abandoned); call `begin` first.",
    STORE_TURN_CONFLICT: "A turn was opened again with another start, or finished again with "
    "another result; the stored turn is unchanged.",
    STORE_TURN_UNKNOWN: "A turn write named a turn the store does not hold (open it first).",
    STORE_CORRUPT: "A stored row does not decode (edited by hand, or a bug); the message names "
    "it. Nothing was changed.",
    STORE_UNAVAILABLE: "The store's file could not be read or written: another process held the "
    "write lock longer than the busy timeout, a disk error, or a file that is not a store. "
    "The operation's transaction was rolled back: nothing was written.",
    STORE_NOT_FOUND: "`lash store` was given a path with no store: no file there, or a file that "
    "holds no lash store (its schema version is 0). Nothing was created; check the path.",
    STORE_CONFIG_INVALID: "A store was opened with a setting it cannot use (a Postgres schema "
    "name that is not lower-case letters, digits and `_`); nothing was connected or created.",
    STORE_DRIVER_MISSING: "A store package was imported without its database driver (`import "
    "lash_postgres` without psycopg); install the extra the message names "
    "(`pip install 'lash-effects[postgres]'`). The error is also an `ImportError`.",
    DURABLE_TURN_NOT_FRESH: "A turn machine handed to `run_turn` on a durable host was not "
    "fresh (it had already run, or was restored from a later checkpoint); the store records a "
    "turn from its start. Build a new machine, or resume the stored turn with `resume_turn`.",
    RESUME_ON_DIVERGENCE_INVALID: "`resume_turn` was given an `on_divergence` other than "
    '"fail" or "continue". Nothing was read or written.',
    LOOP_WAIT_READABLE_UNSUPPORTED: "The event loop driver cannot wait on a file descriptor "
    "(the simulator); run a durable host there without a doorbell.",
    SIM_DEADLOCK: "In the simulator, every task was blocked and no deadline lay ahead: the "
    "simulated code waits for something that can never happen (a lost wake-up).",
    SIM_STEP_LIMIT: "A simulation took more task steps than its limit (a livelock, or a world "
    "too large for the limit).",
    SIM_FOREIGN_AWAIT: "A simulated task awaited something that is not the simulator's (an "
    "asyncio or trio primitive); simulated code must await only the host's loop primitives.",
    SIM_OUTSIDE_TASK: "A simulator operation that needs a running task (opening a task group) "
    "was called outside one.",
    SIM_WORLD_SHAPE_INVALID: "A simulated world's bounds are unusable (fewer than one session, "
    "turn, model call or tool; a negative latency; a fault percent outside 0-100; an offset "
    "outside [0, 1) ms).",
    RESTATE_SERVER_UNAVAILABLE: "The local Restate server could not be installed (no npm, or "
    "the npm install failed) or did not start in time; the message carries npm's error or the "
    "end of the server's log.",
    RESTATE_REQUEST_FAILED: "A request to the Restate server (ingress or admin API) failed or "
    "was refused; the message names the URL and the server's answer. Nothing was resolved.",
    RESTATE_TURN_INPUT_INVALID: "A Restate turn handler was given a body that is not a turn "
    "start, a key with a resolution, or a cancel request; the invocation fails terminally and "
    "nothing was journaled.",
    RESTATE_PROCESSES_UNSUPPORTED: "A process effect the Restate tier cannot run: any process "
    "effect of a turn service given no `ingress_url` (or a wait kind the tier does not offer). "
    "Nothing was sent; give the service Restate's ingress URL.",
    PROVIDER_SDK_MISSING: "A provider model handler was built without its SDK installed; "
    "install the extra the message names (`pip install 'lash-effects[openai]'` or "
    "`'lash-effects[anthropic]'`).",
    PROVIDER_CONFIG_INVALID: "A provider model handler or `model_from_spec` was given an "
    "unusable option (an unknown provider prefix, a blank model name, no API key); nothing "
    "was built.",
    PROVIDER_HTTP_ERROR: "The provider answered a model call with an HTTP error status, or sent "
    "an error event in the middle of a stream; the call's `LlmCallError` carries the status, "
    "the provider's error type and message as evidence, and says whether it is retryable.",
    PROVIDER_UNREACHABLE: "A model call could not reach the provider (connection refused or "
    "dropped); retryable.",
    PROVIDER_TIMEOUT: "A model call reached the client's timeout; retryable.",
    PROVIDER_RESPONSE_INVALID: "The provider answered a model call with a success status but a "
    "body lash cannot read (no choices, a content block of the wrong shape): permanent; or a "
    "stream that ended early: retryable.",
}
