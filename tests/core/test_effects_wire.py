"""The wire form of every effect type: exact JSON, round trips, and the reference vectors.

Expected strings are written by hand from the wire rules: fields in declaration order, the tag
first, optional fields left out or written as ``null`` as each type declares, free-form JSON
with sorted keys.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lash_core import (
    TIMEOUT,
    AwaitEventKey,
    EffectEnvelope,
    EffectKind,
    EffectOutcome,
    Err,
    LashError,
    LlmCallOutcome,
    LlmResponse,
    Message,
    Ok,
    PendingCompletion,
    ReplayMismatchError,
    Role,
    StopReason,
    TextPart,
    ToolAttemptOutcome,
    ToolCallPart,
    ToolCompletion,
    ToolLaunchPending,
    ToolSpec,
    TurnScope,
    Usage,
    WireDecodeError,
    codes,
    wire,
)
from lash_core.effects import (
    AbandonedOutput,
    AbandonedStatus,
    AbandonEvidence,
    AbandonWriter,
    AwaitEventCommand,
    AwaitEventOutcome,
    CancelledOutput,
    CancelledStatus,
    CancelPolicy,
    CausalRef,
    CheckpointCommand,
    CheckpointDelivery,
    CheckpointKind,
    CheckpointOutcome,
    CompletedStatus,
    CompletedToolCall,
    ControllerError,
    DirectCommand,
    DirectOutcome,
    DurableStepCommand,
    DurableStepOutcome,
    Duration,
    EffectCause,
    EffectCommand,
    EffectSubject,
    EngineInput,
    ExecCodeCommand,
    ExecCodeOutcome,
    ExecResponse,
    ExecutionEnvironmentSync,
    ExternalInput,
    FailedStatus,
    FailureOutput,
    HandleDescriptor,
    HostOriginator,
    Invocation,
    InvocationScope,
    LlmCallCommand,
    LlmCallError,
    LlmErrorKind,
    LlmRequest,
    PeekAwaitEventCommand,
    PeekAwaitEventOutcome,
    PreparedToolBatch,
    PreparedToolCall,
    ProcessAwait,
    ProcessAwaited,
    ProcessAwaitOutput,
    ProcessCancel,
    ProcessCancelled,
    ProcessCause,
    ProcessCommand,
    ProcessDeleteSession,
    ProcessEffectCommand,
    ProcessEffectOutcome,
    ProcessEvent,
    ProcessEventAppendRequest,
    ProcessEventCause,
    ProcessEventSemantics,
    ProcessEventSubject,
    ProcessEventTerminal,
    ProcessEventType,
    ProcessEventWake,
    ProcessExecutionContext,
    ProcessExternalRef,
    ProcessHandleGrant,
    ProcessIdentity,
    ProcessInput,
    ProcessList,
    ProcessListed,
    ProcessListMode,
    ProcessOutcome,
    ProcessProvenance,
    ProcessRecord,
    ProcessRegistration,
    ProcessSessionDeleted,
    ProcessSessionDeleteReport,
    ProcessSignalled,
    ProcessSignalSend,
    ProcessStart,
    ProcessStarted,
    ProcessStartGrant,
    ProcessStatus,
    ProcessSubject,
    ProcessTransfer,
    ProcessTransferred,
    RecoveryDisposition,
    Replay,
    ReplayMismatchSummary,
    RunningStatus,
    SessionNodeCause,
    SessionNodeSubject,
    SessionOriginator,
    SessionScope,
    SessionTurnInput,
    SignalWait,
    SleepCommand,
    SleepOutcome,
    Subject,
    SuccessOutput,
    SyncExecutionEnvironmentCommand,
    SyncExecutionEnvironmentOutcome,
    SystemTime,
    TimeoutPolicy,
    ToolAttemptCommand,
    ToolAttemptLaunch,
    ToolAttemptLaunchDone,
    ToolBatchCommand,
    ToolBatchLaunchDone,
    ToolBatchOutcome,
    ToolCallCause,
    ToolCallInput,
    ToolCallLaunch,
    ToolCallRecord,
    ToolExecutionGrant,
    ToolResultPart,
    TriggerOccurrenceCause,
    TriggerOccurrenceSubject,
    TurnCause,
    WaitState,
    expect_outcome,
    into_await_event,
    into_checkpoint,
    into_direct_response,
    into_durable_step,
    into_exec_code,
    into_llm_call,
    into_peek_await_event,
    into_process,
    into_sync_execution_environment,
    into_tool_attempt,
    into_tool_batch,
)
from lash_core.resolution import ResolutionOk

# -- shared values ---------------------------------------------------------------------------

KEY = AwaitEventKey(TurnScope("s", "t"), ToolCompletion("c1"), "kid", "sig")
KEY_JSON = (
    '{"scope":{"type":"turn","session_id":"s","turn_id":"t"},'
    '"wait":{"type":"tool_completion","tool_call_id":"c1"},"key_id":"kid","signature":"sig"}'
)

SCOPE = InvocationScope.for_turn("s", "t", 0, 1)
SCOPE_JSON = '{"session_id":"s","turn_id":"t","turn_index":0,"protocol_iteration":1}'

INVOCATION = Invocation.effect(SCOPE, "3", EffectKind.TOOL_BATCH, "s:t:0:1:tool_batch:3")
INVOCATION_JSON = (
    '{"scope":' + SCOPE_JSON + ',"subject":{"type":"effect","effect_id":"3","kind":"tool_batch"},'
    '"replay":{"key":"s:t:0:1:tool_batch:3"}}'
)

CALL = PreparedToolCall("c1", "tool-read", "read", {"path": "a.txt"})
CALL_JSON = '{"call_id":"c1","tool_id":"tool-read","tool_name":"read","args":{"path":"a.txt"}}'

USER_MESSAGE = Message(Role.USER, (TextPart("hi"),))
USER_MESSAGE_JSON = '{"role":"user","parts":[{"type":"text","text":"hi"}]}'

REQUEST = LlmRequest("m", (USER_MESSAGE,))
REQUEST_JSON = '{"model":"m","messages":[' + USER_MESSAGE_JSON + "]}"

RESPONSE = LlmResponse(Message(Role.ASSISTANT, (TextPart("yo"),)), Usage(3, 4), StopReason.STOP)
RESPONSE_JSON = (
    '{"message":{"role":"assistant","parts":[{"type":"text","text":"yo"}]},'
    '"usage":{"input_tokens":3,"output_tokens":4,"cache_read_tokens":0,"cache_write_tokens":0},'
    '"stop_reason":"stop"}'
)

COMPLETED = CompletedToolCall("c1", "read", {"path": "a"}, "text", "text", 12)
COMPLETED_JSON = (
    '{"call_id":"c1","tool_name":"read","args":{"path":"a"},"output":"text",'
    '"model_return":"text","duration_ms":12,"replay":null}'
)

RECORD_RUN = ToolCallRecord("c1", "read", {}, {"ok": True}, "ok", 7, 2, True)
RECORD_RUN_JSON = (
    '{"call_id":"c1","tool_name":"read","args":{},"output":{"ok":true},"model_return":"ok",'
    '"duration_ms":7,"attempt":2,"success":true}'
)

PROCESS_RECORD = ProcessRecord(
    id="p1",
    registration_hash="h",
    input=ExternalInput(),
    disposition=RecoveryDisposition.EXTERNALLY_OWNED,
    identity=ProcessIdentity("external"),
    provenance=ProcessProvenance(SessionOriginator(SessionScope("s"))),
    created_at_ms=5,
    updated_at_ms=6,
)
PROCESS_RECORD_JSON = (
    '{"id":"p1","registration_hash":"h","input":{"type":"external","metadata":null},'
    '"disposition":"externally_owned","identity":{"kind":"external"},"event_types":[],'
    '"provenance":{"originator":{"type":"session","scope":{"session_id":"s"}}},'
    '"created_at_ms":5,"updated_at_ms":6,"status":{"state":"running"}}'
)

SUCCESS = SuccessOutput({"n": 1})
SUCCESS_JSON = '{"type":"success","value":{"n":1}}'

GRANT = ProcessHandleGrant("session:s", "p1", HandleDescriptor("job", "Nightly"))
GRANT_JSON = (
    '{"session_id":"session:s","process_id":"p1","descriptor":{"kind":"job","label":"Nightly"}}'
)

SIGNAL_REQUEST = ProcessEventAppendRequest("process.signal", {"go": True}, Replay("sig-1"))
SIGNAL_REQUEST_JSON = (
    '{"event_type":"process.signal","payload":{"go":true},"replay":{"key":"sig-1"}}'
)

EVENT = ProcessEvent(
    "p1",
    2,
    "process.signal",
    {"go": True},
    Invocation(
        InvocationScope.new("runtime"),
        ProcessEventSubject("p1", 2, "process.signal"),
        ProcessCause("p1"),
        Replay("sig-1"),
    ),
    ProcessEventSemantics(),
    SystemTime(1700000000, 5),
)
EVENT_JSON = (
    '{"process_id":"p1","sequence":2,"event_type":"process.signal","payload":{"go":true},'
    '"invocation":{"scope":{"session_id":"runtime"},'
    '"subject":{"type":"process_event","process_id":"p1","sequence":2,'
    '"event_type":"process.signal"},'
    '"caused_by":{"type":"process","process_id":"p1"},"replay":{"key":"sig-1"}},'
    '"semantics":{},"occurred_at":{"secs_since_epoch":1700000000,"nanos_since_epoch":5}}'
)


# -- the table -------------------------------------------------------------------------------

CASES: list[tuple[str, Any, Any, str]] = [
    # invocation identity
    ("scope_new", InvocationScope.new("s"), InvocationScope, '{"session_id":"s"}'),
    ("scope_for_turn", SCOPE, InvocationScope, SCOPE_JSON),
    (
        "subject_effect",
        EffectSubject("e1", EffectKind.SLEEP),
        Subject,
        '{"type":"effect","effect_id":"e1","kind":"sleep"}',
    ),
    ("subject_process", ProcessSubject("p1"), Subject, '{"type":"process","process_id":"p1"}'),
    (
        "subject_process_event",
        ProcessEventSubject("p1", 3, "process.yield"),
        Subject,
        '{"type":"process_event","process_id":"p1","sequence":3,"event_type":"process.yield"}',
    ),
    (
        "subject_trigger",
        TriggerOccurrenceSubject("o1"),
        Subject,
        '{"type":"trigger_occurrence","occurrence_id":"o1"}',
    ),
    (
        "subject_session_node",
        SessionNodeSubject("n1"),
        Subject,
        '{"type":"session_node","node_id":"n1"}',
    ),
    (
        "cause_turn",
        TurnCause("s", "t"),
        CausalRef,
        '{"type":"turn","session_id":"s","turn_id":"t"}',
    ),
    (
        "cause_effect",
        EffectCause(session_id="s", turn_id="t", effect_id="4"),
        CausalRef,
        '{"type":"effect","session_id":"s","turn_id":"t","effect_id":"4"}',
    ),
    (
        "cause_effect_no_turn",
        EffectCause(session_id="s", effect_id="4"),
        CausalRef,
        '{"type":"effect","session_id":"s","effect_id":"4"}',
    ),
    (
        "cause_tool_call",
        ToolCallCause("s", "c1"),
        CausalRef,
        '{"type":"tool_call","session_id":"s","call_id":"c1"}',
    ),
    ("cause_process", ProcessCause("p1"), CausalRef, '{"type":"process","process_id":"p1"}'),
    (
        "cause_process_event",
        ProcessEventCause("p1", 9),
        CausalRef,
        '{"type":"process_event","process_id":"p1","sequence":9}',
    ),
    (
        "cause_trigger_short",
        TriggerOccurrenceCause("o1"),
        CausalRef,
        '{"type":"trigger_occurrence","occurrence_id":"o1"}',
    ),
    (
        "cause_trigger_full",
        TriggerOccurrenceCause("o1", "sub", "inc", 3),
        CausalRef,
        '{"type":"trigger_occurrence","occurrence_id":"o1","subscription_id":"sub",'
        '"subscription_incarnation":"inc","subscription_revision":3}',
    ),
    (
        "cause_session_node",
        SessionNodeCause("s", "n1"),
        CausalRef,
        '{"type":"session_node","session_id":"s","node_id":"n1"}',
    ),
    ("invocation", INVOCATION, Invocation, INVOCATION_JSON),
    (
        "invocation_caused",
        Invocation(
            InvocationScope.new("s"),
            SessionNodeSubject("n1"),
            TurnCause("s", "t"),
        ),
        Invocation,
        '{"scope":{"session_id":"s"},"subject":{"type":"session_node","node_id":"n1"},'
        '"caused_by":{"type":"turn","session_id":"s","turn_id":"t"}}',
    ),
    # llm
    ("message", USER_MESSAGE, Message, USER_MESSAGE_JSON),
    (
        "message_parts",
        Message(
            Role.ASSISTANT,
            (
                ToolCallPart("c1", "read", {"z": 1, "a": [True, None]}),
                ToolResultPart("c1", "read", "done"),
                ToolResultPart("c2", "read", {"e": "x"}, is_error=True),
            ),
            id="m1",
        ),
        Message,
        '{"role":"assistant","parts":['
        '{"type":"tool_call","call_id":"c1","tool_name":"read","args":{"a":[true,null],"z":1}},'
        '{"type":"tool_result","call_id":"c1","tool_name":"read","output":"done",'
        '"is_error":false},'
        '{"type":"tool_result","call_id":"c2","tool_name":"read","output":{"e":"x"},'
        '"is_error":true}],"id":"m1"}',
    ),
    ("request_minimal", REQUEST, LlmRequest, REQUEST_JSON),
    (
        "request_full",
        LlmRequest(
            "m",
            (),
            (ToolSpec("read", "Read a file", {"type": "object", "properties": {}}),),
            "be brief",
            256,
        ),
        LlmRequest,
        '{"model":"m","messages":[],"tools":[{"name":"read","description":"Read a file",'
        '"input_schema":{"properties":{},"type":"object"}}],"system":"be brief",'
        '"max_output_tokens":256}',
    ),
    ("response", RESPONSE, LlmResponse, RESPONSE_JSON),
    (
        "llm_error_minimal",
        LlmCallError("boom", True),
        LlmCallError,
        '{"message":"boom","retryable":true,"kind":"unknown","raw":null,"code":null,'
        '"terminal_reason":null}',
    ),
    (
        "llm_error_full",
        LlmCallError(
            "slow down", True, LlmErrorKind.RATE_LIMIT, {"b": 1, "a": 2}, "429", StopReason.UNKNOWN
        ),
        LlmCallError,
        '{"message":"slow down","retryable":true,"kind":"rate_limit","raw":{"a":2,"b":1},'
        '"code":"429","terminal_reason":"unknown"}',
    ),
    # tools
    ("prepared_call", CALL, PreparedToolCall, CALL_JSON),
    (
        "prepared_call_full",
        PreparedToolCall("c1", "t", "read", None, {"sig": "x"}, {"p": 1}),
        PreparedToolCall,
        '{"call_id":"c1","tool_id":"t","tool_name":"read","args":null,"replay":{"sig":"x"},'
        '"prepared_payload":{"p":1}}',
    ),
    (
        "grant",
        ToolExecutionGrant(manifest={"id": "t"}, contract={}, execution_binding=None),
        ToolExecutionGrant,
        '{"manifest":{"id":"t"},"contract":{},"source_id":null,"execution_binding":null}',
    ),
    (
        "batch",
        PreparedToolBatch.build(
            "b1",
            [CALL, PreparedToolCall("c2", "t2", "ls", [])],
            {
                "c2": ToolExecutionGrant(
                    manifest=1, contract=2, source_id="src", execution_binding=3
                )
            },
        ),
        PreparedToolBatch,
        '{"batch_id":"b1","calls":[{"call":' + CALL_JSON + ',"replay_suffix":"child:0:c1"},'
        '{"call":{"call_id":"c2","tool_id":"t2","tool_name":"ls","args":[]},'
        '"replay_suffix":"child:1:c2","execution_grant":{"manifest":1,"contract":2,'
        '"source_id":"src","execution_binding":3}}]}',
    ),
    ("completed_call", COMPLETED, CompletedToolCall, COMPLETED_JSON),
    ("call_record", RECORD_RUN, ToolCallRecord, RECORD_RUN_JSON),
    ("duration", Duration(1, 500_000_000), Duration, '{"secs":1,"nanos":500000000}'),
    (
        "pending_default",
        PendingCompletion(),
        PendingCompletion,
        '{"on_timeout":"error_as_result","on_cancel":"cancel_external_work"}',
    ),
    (
        "pending_full",
        PendingCompletion(Duration(30, 0), TimeoutPolicy.FAIL_TURN, CancelPolicy.IGNORE),
        PendingCompletion,
        '{"deadline":{"secs":30,"nanos":0},"on_timeout":"fail_turn","on_cancel":"ignore"}',
    ),
    (
        "call_launch_done",
        ToolBatchLaunchDone(COMPLETED),
        ToolCallLaunch,
        '{"status":"done","result":' + COMPLETED_JSON + "}",
    ),
    (
        "call_launch_pending",
        ToolLaunchPending(KEY, PendingCompletion(), 4),
        ToolCallLaunch,
        '{"status":"pending","key":' + KEY_JSON + ',"pending":{"on_timeout":"error_as_result",'
        '"on_cancel":"cancel_external_work"},"duration_ms":4}',
    ),
    (
        "attempt_launch_done",
        ToolAttemptLaunchDone(RECORD_RUN),
        ToolAttemptLaunch,
        '{"status":"done","record":' + RECORD_RUN_JSON + "}",
    ),
    (
        "attempt_launch_pending",
        ToolLaunchPending(KEY, PendingCompletion(on_cancel=CancelPolicy.IGNORE), 0),
        ToolAttemptLaunch,
        '{"status":"pending","key":' + KEY_JSON + ',"pending":{"on_timeout":"error_as_result",'
        '"on_cancel":"ignore"},"duration_ms":0}',
    ),
    (
        "checkpoint_delivery_empty",
        CheckpointDelivery(),
        CheckpointDelivery,
        '{"committed_user_messages":[],"messages":[],"transient_messages":[],"turn_causes":[]}',
    ),
    (
        "checkpoint_delivery",
        CheckpointDelivery((USER_MESSAGE,), turn_causes=({"k": 1},)),
        CheckpointDelivery,
        '{"committed_user_messages":[' + USER_MESSAGE_JSON + '],"messages":[],'
        '"transient_messages":[],"turn_causes":[{"k":1}]}',
    ),
    (
        "exec_response",
        ExecResponse("hi"),
        ExecResponse,
        '{"output":"hi","result":null,"is_error":false}',
    ),
    (
        "environment_sync",
        ExecutionEnvironmentSync("prompt", (ToolSpec("ls", "List", {}),)),
        ExecutionEnvironmentSync,
        '{"system_prompt":"prompt","tool_specs":[{"name":"ls","description":"List",'
        '"input_schema":{}}]}',
    ),
    # process data
    ("session_scope", SessionScope("s"), SessionScope, '{"session_id":"s"}'),
    (
        "session_scope_frame",
        SessionScope("s", "f1"),
        SessionScope,
        '{"session_id":"s","agent_frame":"f1"}',
    ),
    (
        "input_tool_call",
        ToolCallInput(CALL),
        ProcessInput,
        '{"type":"tool_call","call":' + CALL_JSON + "}",
    ),
    (
        "input_engine",
        EngineInput("lashlang"),
        ProcessInput,
        '{"type":"engine","kind":"lashlang","payload":null}',
    ),
    (
        "input_session_turn",
        SessionTurnInput({"agent": "a"}, "go", {"schema": True}),
        ProcessInput,
        '{"type":"session_turn","create_request":{"agent":"a"},"turn_input":"go",'
        '"output_contract":{"schema":true}}',
    ),
    (
        "registration",
        ProcessRegistration(
            id="p1",
            input=ExternalInput({"label": "job"}),
            disposition=RecoveryDisposition.EXTERNALLY_OWNED,
            identity=ProcessIdentity("external", "job"),
            provenance=ProcessProvenance(HostOriginator()),
        ),
        ProcessRegistration,
        '{"id":"p1","input":{"type":"external","metadata":{"label":"job"}},'
        '"disposition":"externally_owned","identity":{"kind":"external","label":"job"},'
        '"event_types":[],"provenance":{"originator":{"type":"host"}}}',
    ),
    (
        "registration_full",
        ProcessRegistration(
            id="p2",
            input=EngineInput("lashlang", {"m": 1}),
            disposition=RecoveryDisposition.RERUNNABLE,
            identity=ProcessIdentity("lashlang", None, {"name": "main"}),
            event_types=(ProcessEventType("process.completed", terminal=True, await_output=True),),
            provenance=ProcessProvenance(HostOriginator(SessionScope("s")), ProcessCause("p1")),
            env_ref="process-env:sha256:00",
            wake_target=SessionScope("s", "f"),
        ),
        ProcessRegistration,
        '{"id":"p2","input":{"type":"engine","kind":"lashlang","payload":{"m":1}},'
        '"disposition":"rerunnable","identity":{"kind":"lashlang","definition":{"name":"main"}},'
        '"event_types":[{"name":"process.completed","terminal":true,"await_output":true}],'
        '"provenance":{"originator":{"type":"host","scope":{"session_id":"s"}},'
        '"caused_by":{"type":"process","process_id":"p1"}},'
        '"env_ref":"process-env:sha256:00","wake_target":{"session_id":"s","agent_frame":"f"}}',
    ),
    ("record_minimal", PROCESS_RECORD, ProcessRecord, PROCESS_RECORD_JSON),
    (
        "record_full",
        ProcessRecord(
            id="p1",
            registration_hash="h",
            input=ExternalInput(),
            disposition=RecoveryDisposition.OWNER_BOUND,
            identity=ProcessIdentity("external"),
            provenance=ProcessProvenance(HostOriginator()),
            created_at_ms=1,
            updated_at_ms=2,
            external_ref=ProcessExternalRef("restate", "wf-1"),
            first_started={"at_ms": 1},
            abandon_request={"by": "sweep"},
            wait=WaitState(SignalWait("ready", "process.signal", KEY, 1), 10),
            status=CompletedStatus(SUCCESS),
        ),
        ProcessRecord,
        '{"id":"p1","registration_hash":"h","input":{"type":"external","metadata":null},'
        '"disposition":"owner_bound","identity":{"kind":"external"},"event_types":[],'
        '"provenance":{"originator":{"type":"host"}},"created_at_ms":1,"updated_at_ms":2,'
        '"external_ref":{"backend":"restate","id":"wf-1"},"first_started":{"at_ms":1},'
        '"abandon_request":{"by":"sweep"},"wait":{"kind":{"kind":"signal","name":"ready",'
        '"event_type":"process.signal","key":' + KEY_JSON + ',"ordinal":1},"since_ms":10},'
        '"status":{"state":"completed","await_output":' + SUCCESS_JSON + "}}",
    ),
    ("await_success", SUCCESS, ProcessAwaitOutput, SUCCESS_JSON),
    (
        "await_failure",
        FailureOutput(class_="tool", code="bad", message="no", raw=[1], control={"retry": False}),
        ProcessAwaitOutput,
        '{"type":"failure","class":"tool","code":"bad","message":"no","raw":[1],'
        '"control":{"retry":false}}',
    ),
    (
        "await_cancelled",
        CancelledOutput("stopped"),
        ProcessAwaitOutput,
        '{"type":"cancelled","message":"stopped"}',
    ),
    (
        "await_abandoned",
        AbandonedOutput(AbandonEvidence(writer=AbandonWriter.SWEEP, owner="w1", epoch_ms=99)),
        ProcessAwaitOutput,
        '{"type":"abandoned","evidence":{"writer":"sweep","owner":"w1","epoch_ms":99}}',
    ),
    ("status_running", RunningStatus(), ProcessStatus, '{"state":"running"}'),
    (
        "status_failed",
        FailedStatus(CancelledOutput("x")),
        ProcessStatus,
        '{"state":"failed","await_output":{"type":"cancelled","message":"x"}}',
    ),
    (
        "status_cancelled",
        CancelledStatus(CancelledOutput("x")),
        ProcessStatus,
        '{"state":"cancelled","await_output":{"type":"cancelled","message":"x"}}',
    ),
    (
        "status_abandoned",
        AbandonedStatus(
            AbandonedOutput(AbandonEvidence(writer=AbandonWriter.RECONCILED_REQUEST, epoch_ms=1))
        ),
        ProcessStatus,
        '{"state":"abandoned","await_output":{"type":"abandoned",'
        '"evidence":{"writer":"reconciled_request","epoch_ms":1}}}',
    ),
    ("event", EVENT, ProcessEvent, EVENT_JSON),
    (
        "event_semantics",
        ProcessEventSemantics(
            ProcessEventTerminal("completed", {"type": "success", "value": 1}),
            ProcessEventWake("hi", "wake-1"),
        ),
        ProcessEventSemantics,
        '{"terminal":{"state":"completed","await_output":{"type":"success","value":1}},'
        '"wake":{"input":"hi","dedupe_key":"wake-1"}}',
    ),
    ("append_request", SIGNAL_REQUEST, ProcessEventAppendRequest, SIGNAL_REQUEST_JSON),
    ("grant_handle", GRANT, ProcessHandleGrant, GRANT_JSON),
    ("descriptor_empty", HandleDescriptor(), HandleDescriptor, "{}"),
    (
        "start_grant",
        ProcessStartGrant(SessionScope("s"), HandleDescriptor(label="L")),
        ProcessStartGrant,
        '{"session_scope":{"session_id":"s"},"descriptor":{"label":"L"}}',
    ),
    (
        "delete_report",
        ProcessSessionDeleteReport("s", 2, 1, ("p1",), ()),
        ProcessSessionDeleteReport,
        '{"session_id":"s","revoked_handle_count":2,"deleted_wake_count":1,'
        '"orphaned_process_ids":["p1"],"preserved_process_ids":[]}',
    ),
    # process commands
    (
        "process_start",
        ProcessStart(
            ProcessRegistration(
                id="p1",
                input=ExternalInput(),
                disposition=RecoveryDisposition.EXTERNALLY_OWNED,
                identity=ProcessIdentity("external"),
                provenance=ProcessProvenance(HostOriginator()),
            ),
            ProcessStartGrant(SessionScope("s"), HandleDescriptor()),
            ProcessExecutionContext(INVOCATION),
        ),
        ProcessCommand,
        '{"op":"start","registration":{"id":"p1","input":{"type":"external","metadata":null},'
        '"disposition":"externally_owned","identity":{"kind":"external"},"event_types":[],'
        '"provenance":{"originator":{"type":"host"}}},'
        '"grant":{"session_scope":{"session_id":"s"},"descriptor":{}},'
        '"execution_context":{"causal_invocation":' + INVOCATION_JSON + "}}",
    ),
    (
        "process_list",
        ProcessList(SessionScope("s")),
        ProcessCommand,
        '{"op":"list","session_scope":{"session_id":"s"},"mode":"live"}',
    ),
    (
        "process_transfer",
        ProcessTransfer(SessionScope("a"), SessionScope("b"), ("p1", "p2")),
        ProcessCommand,
        '{"op":"transfer","from_scope":{"session_id":"a"},"to_scope":{"session_id":"b"},'
        '"process_ids":["p1","p2"]}',
    ),
    (
        "process_delete_session",
        ProcessDeleteSession("s"),
        ProcessCommand,
        '{"op":"delete_session","session_id":"s"}',
    ),
    ("process_await", ProcessAwait("p1"), ProcessCommand, '{"op":"await","process_id":"p1"}'),
    (
        "process_cancel",
        ProcessCancel("p1"),
        ProcessCommand,
        '{"op":"cancel","process_id":"p1","reason":null}',
    ),
    (
        "process_signal",
        ProcessSignalSend("p1", "ready", "sig-1", SIGNAL_REQUEST),
        ProcessCommand,
        '{"op":"signal","process_id":"p1","signal_name":"ready","signal_id":"sig-1",'
        '"request":' + SIGNAL_REQUEST_JSON + "}",
    ),
    # process outcomes
    (
        "process_started",
        ProcessStarted(PROCESS_RECORD),
        ProcessEffectOutcome,
        '{"op":"start","record":' + PROCESS_RECORD_JSON + "}",
    ),
    (
        "process_listed",
        ProcessListed(((GRANT, PROCESS_RECORD),)),
        ProcessEffectOutcome,
        '{"op":"list","entries":[[' + GRANT_JSON + "," + PROCESS_RECORD_JSON + "]]}",
    ),
    ("process_transferred", ProcessTransferred(), ProcessEffectOutcome, '{"op":"transfer"}'),
    (
        "process_session_deleted",
        ProcessSessionDeleted(ProcessSessionDeleteReport("s", 0, 0, (), ("p9",))),
        ProcessEffectOutcome,
        '{"op":"delete_session","report":{"session_id":"s","revoked_handle_count":0,'
        '"deleted_wake_count":0,"orphaned_process_ids":[],"preserved_process_ids":["p9"]}}',
    ),
    (
        "process_awaited",
        ProcessAwaited(SUCCESS),
        ProcessEffectOutcome,
        '{"op":"await","output":' + SUCCESS_JSON + "}",
    ),
    (
        "process_cancelled",
        ProcessCancelled(PROCESS_RECORD),
        ProcessEffectOutcome,
        '{"op":"cancel","record":' + PROCESS_RECORD_JSON + "}",
    ),
    (
        "process_signalled",
        ProcessSignalled(EVENT),
        ProcessEffectOutcome,
        '{"op":"signal","event":' + EVENT_JSON + "}",
    ),
    # effect commands
    (
        "cmd_llm_call",
        LlmCallCommand(REQUEST),
        EffectCommand,
        '{"type":"llm_call","request":' + REQUEST_JSON + "}",
    ),
    (
        "cmd_direct",
        DirectCommand(REQUEST, "title"),
        EffectCommand,
        '{"type":"direct","request":' + REQUEST_JSON + ',"usage_source":"title"}',
    ),
    (
        "cmd_tool_attempt",
        ToolAttemptCommand(call=CALL, attempt=1, max_attempts=3),
        EffectCommand,
        '{"type":"tool_attempt","call":' + CALL_JSON + ',"attempt":1,"max_attempts":3}',
    ),
    (
        "cmd_tool_attempt_grant",
        ToolAttemptCommand(
            call=CALL,
            execution_grant=ToolExecutionGrant(manifest=1, contract=2, execution_binding=3),
            attempt=2,
            max_attempts=2,
        ),
        EffectCommand,
        '{"type":"tool_attempt","call":' + CALL_JSON + ',"execution_grant":{"manifest":1,'
        '"contract":2,"source_id":null,"execution_binding":3},"attempt":2,"max_attempts":2}',
    ),
    (
        "cmd_tool_batch",
        ToolBatchCommand(PreparedToolBatch.build("b1", [CALL])),
        EffectCommand,
        '{"type":"tool_batch","batch":{"batch_id":"b1","calls":[{"call":' + CALL_JSON + ","
        '"replay_suffix":"child:0:c1"}]}}',
    ),
    (
        "cmd_process",
        ProcessEffectCommand(ProcessAwait("p1")),
        EffectCommand,
        '{"type":"process","command":{"op":"await","process_id":"p1"}}',
    ),
    (
        "cmd_exec_code",
        ExecCodeCommand("python", "print(1)"),
        EffectCommand,
        '{"type":"exec_code","language":"python","code":"print(1)"}',
    ),
    (
        "cmd_checkpoint",
        CheckpointCommand(CheckpointKind.BEFORE_COMPLETION),
        EffectCommand,
        '{"type":"checkpoint","checkpoint":"before_completion"}',
    ),
    (
        "cmd_sync",
        SyncExecutionEnvironmentCommand(True),
        EffectCommand,
        '{"type":"sync_execution_environment","update_machine_config":true}',
    ),
    ("cmd_sleep", SleepCommand(250), EffectCommand, '{"type":"sleep","duration_ms":250}'),
    (
        "cmd_await_event",
        AwaitEventCommand(KEY),
        EffectCommand,
        '{"type":"await_event","key":' + KEY_JSON + "}",
    ),
    (
        "cmd_peek_await_event",
        PeekAwaitEventCommand(KEY),
        EffectCommand,
        '{"type":"peek_await_event","key":' + KEY_JSON + "}",
    ),
    (
        "cmd_durable_step",
        DurableStepCommand("s1", {"b": [], "a": None}),
        EffectCommand,
        '{"type":"durable_step","step_id":"s1","input":{"a":null,"b":[]}}',
    ),
    # effect outcomes
    (
        "out_llm_call_ok",
        LlmCallOutcome(Ok(RESPONSE), True),
        EffectOutcome,
        '{"type":"llm_call","result":{"Ok":' + RESPONSE_JSON + '},"text_streamed":true}',
    ),
    (
        "out_llm_call_err",
        LlmCallOutcome(Err(LlmCallError("down", False, LlmErrorKind.SERVER)), False),
        EffectOutcome,
        '{"type":"llm_call","result":{"Err":{"message":"down","retryable":false,'
        '"kind":"server","raw":null,"code":null,"terminal_reason":null}},"text_streamed":false}',
    ),
    (
        "out_direct",
        DirectOutcome(Ok(RESPONSE)),
        EffectOutcome,
        '{"type":"direct","result":{"Ok":' + RESPONSE_JSON + "}}",
    ),
    (
        "out_tool_attempt",
        ToolAttemptOutcome(ToolAttemptLaunchDone(RECORD_RUN)),
        EffectOutcome,
        '{"type":"tool_attempt","launch":{"status":"done","record":' + RECORD_RUN_JSON + "}}",
    ),
    (
        "out_tool_batch",
        ToolBatchOutcome(
            (ToolBatchLaunchDone(COMPLETED), ToolLaunchPending(KEY, PendingCompletion(), 1))
        ),
        EffectOutcome,
        '{"type":"tool_batch","launches":[{"status":"done","result":' + COMPLETED_JSON + "},"
        '{"status":"pending","key":' + KEY_JSON + ',"pending":{"on_timeout":"error_as_result",'
        '"on_cancel":"cancel_external_work"},"duration_ms":1}]}',
    ),
    (
        "out_process",
        ProcessOutcome(ProcessTransferred()),
        EffectOutcome,
        '{"type":"process","result":{"op":"transfer"}}',
    ),
    (
        "out_exec_code",
        ExecCodeOutcome(Ok(ExecResponse("1\n", 1, False))),
        EffectOutcome,
        '{"type":"exec_code","result":{"Ok":{"output":"1\\n","result":1,"is_error":false}}}',
    ),
    (
        "out_checkpoint_ok",
        CheckpointOutcome(Ok(CheckpointDelivery())),
        EffectOutcome,
        '{"type":"checkpoint","result":{"Ok":{"committed_user_messages":[],"messages":[],'
        '"transient_messages":[],"turn_causes":[]}}}',
    ),
    (
        "out_checkpoint_err",
        CheckpointOutcome(Err(ControllerError("plugin", "nope"))),
        EffectOutcome,
        '{"type":"checkpoint","result":{"Err":{"code":"plugin","message":"nope"}}}',
    ),
    (
        "out_sync",
        SyncExecutionEnvironmentOutcome(Ok(ExecutionEnvironmentSync("p", ()))),
        EffectOutcome,
        '{"type":"sync_execution_environment","result":{"Ok":{"system_prompt":"p",'
        '"tool_specs":[]}}}',
    ),
    ("out_sleep", SleepOutcome(), EffectOutcome, '{"type":"sleep"}'),
    (
        "out_await_event",
        AwaitEventOutcome(ResolutionOk({"v": 1})),
        EffectOutcome,
        '{"type":"await_event","resolution":{"status":"ok","payload":{"v":1}}}',
    ),
    (
        "out_peek_resolved",
        PeekAwaitEventOutcome(TIMEOUT),
        EffectOutcome,
        '{"type":"peek_await_event","resolution":{"status":"timeout"}}',
    ),
    (
        "out_durable_step",
        DurableStepOutcome({"y": 2, "x": 1}),
        EffectOutcome,
        '{"type":"durable_step","value":{"x":1,"y":2}}',
    ),
    # envelope
    (
        "envelope",
        EffectEnvelope(INVOCATION, ToolBatchCommand(PreparedToolBatch.build("b1", [CALL]))),
        EffectEnvelope,
        '{"invocation":' + INVOCATION_JSON + ',"command":{"type":"tool_batch","batch":'
        '{"batch_id":"b1","calls":[{"call":' + CALL_JSON + ',"replay_suffix":"child:0:c1"}]}}}',
    ),
]


@pytest.mark.parametrize(
    ("value", "tp", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_exact_json(value: Any, tp: Any, expected: str) -> None:
    assert wire.to_json(value) == expected


@pytest.mark.parametrize(
    ("value", "tp", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_round_trip(value: Any, tp: Any, expected: str) -> None:
    decoded = wire.from_json(expected, tp)
    assert decoded == value
    assert wire.to_json(decoded) == expected


def test_table_covers_every_command_and_outcome_kind() -> None:
    kinds = {k for k in EffectKind if k is not EffectKind.TRIGGER}
    commands = {v.kind for _, v, tp, _ in CASES if tp is EffectCommand}
    outcomes = {v.kind for _, v, tp, _ in CASES if tp is EffectOutcome}
    assert commands == kinds
    assert outcomes == kinds
    assert len(EffectKind) == 13


def test_tag_is_the_kind() -> None:
    for _, value, tp, _ in CASES:
        if tp is EffectCommand or tp is EffectOutcome:
            assert wire.to_wire(value)["type"] == value.kind.value


# -- reference vectors -----------------------------------------------------------------------

REFERENCE_OUTCOMES = [
    '{"type":"sleep"}',
    '{"type":"await_event","resolution":{"status":"timeout"}}',
    '{"type":"peek_await_event","resolution":null}',
    '{"type":"durable_step","value":[1,"two"]}',
    '{"type":"exec_code","result":{"Err":"boom"}}',
    '{"type":"sync_execution_environment","result":{"Ok":null}}',
]


@pytest.mark.parametrize("text", REFERENCE_OUTCOMES)
def test_reference_outcomes_round_trip_byte_exactly(text: str) -> None:
    assert wire.to_json(wire.from_json(text, EffectOutcome)) == text


def test_reference_outcomes_decode_to_the_right_values() -> None:
    decoded: list[EffectOutcome] = [wire.from_json(t, EffectOutcome) for t in REFERENCE_OUTCOMES]
    assert decoded == [
        SleepOutcome(),
        AwaitEventOutcome(TIMEOUT),
        PeekAwaitEventOutcome(None),
        DurableStepOutcome([1, "two"]),
        ExecCodeOutcome(Err("boom")),
        SyncExecutionEnvironmentOutcome(Ok(None)),
    ]


REFERENCE_CONTROLLER_ERRORS = [
    '{"code":"runtime_effect_sleep_cancelled","message":"runtime effect sleep was cancelled"}',
    '{"code":"sqlite_effect_replay_hash_conflict","message":"m","summary":'
    '{"divergent_path_count":1,"first_divergent_paths":["command.duration_ms"]}}',
]


@pytest.mark.parametrize("text", REFERENCE_CONTROLLER_ERRORS)
def test_reference_controller_errors_round_trip_byte_exactly(text: str) -> None:
    assert wire.to_json(wire.from_json(text, ControllerError)) == text


def test_controller_error_str_and_exceptions() -> None:
    plain: ControllerError = wire.from_json(REFERENCE_CONTROLLER_ERRORS[0], ControllerError)
    assert str(plain) == "runtime_effect_sleep_cancelled: runtime effect sleep was cancelled"
    exc = plain.to_exception()
    assert type(exc) is LashError
    assert (exc.code, exc.message) == (plain.code, plain.message)
    assert exc.to_controller_error() == plain

    mismatch: ControllerError = wire.from_json(REFERENCE_CONTROLLER_ERRORS[1], ControllerError)
    assert mismatch.summary == ReplayMismatchSummary(1, ("command.duration_ms",))
    mexc = mismatch.to_exception()
    assert isinstance(mexc, ReplayMismatchError)
    assert mexc.summary == mismatch.summary
    assert mexc.to_controller_error() == mismatch


def _durable_envelope(session: str, key: str, effect_id: str) -> EffectEnvelope:
    return EffectEnvelope.build(
        Invocation.effect(InvocationScope.new(session), effect_id, EffectKind.DURABLE_STEP, key),
        DurableStepCommand(effect_id, {"durable_key": key, "session": session}),
    )


def _recorded() -> list[dict[str, str]]:
    path = Path(__file__).resolve().parent.parent / "data" / "wire.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    hashes: list[dict[str, str]] = data["recorded_by_the_reference_runtime"]["envelope_hashes"]
    return hashes


@pytest.mark.parametrize("row", _recorded(), ids=lambda r: r["durable_key"])
def test_envelope_hashes_recorded_by_the_reference(row: dict[str, str]) -> None:
    envelope = _durable_envelope(row["session"], row["durable_key"], row["effect_id"])
    assert envelope.stable_hash() == row["envelope_hash"]


# -- field rules -----------------------------------------------------------------------------


def test_defaults_fill_absent_fields_on_input() -> None:
    assert wire.from_json('{"message":"x","retryable":false}', LlmCallError) == LlmCallError(
        "x", False
    )
    assert wire.from_json("{}", CheckpointDelivery) == CheckpointDelivery()
    assert wire.from_json("{}", PendingCompletion) == PendingCompletion()
    assert wire.from_json(
        '{"op":"list","session_scope":{"session_id":"s"}}', ProcessCommand
    ) == ProcessList(SessionScope("s"), ProcessListMode.LIVE)
    assert wire.from_json('{"type":"engine","kind":"k"}', ProcessInput) == EngineInput("k")
    assert wire.from_json('{"type":"external"}', ProcessInput) == ExternalInput()
    minimal_record = (
        '{"id":"p1","registration_hash":"h","input":{"type":"external"},'
        '"disposition":"externally_owned","identity":{"kind":"external"},'
        '"provenance":{"originator":{"type":"session","scope":{"session_id":"s"}}}}'
    )
    record: ProcessRecord = wire.from_json(minimal_record, ProcessRecord)
    assert record.status == RunningStatus()
    assert not record.is_terminal
    assert (record.created_at_ms, record.updated_at_ms, record.event_types) == (0, 0, ())


def test_renamed_field_reads_and_reports_its_wire_name() -> None:
    text = '{"type":"failure","class":"timeout","code":"c","message":"m"}'
    output: ProcessAwaitOutput = wire.from_json(text, ProcessAwaitOutput)
    assert output == FailureOutput(class_="timeout", code="c", message="m")
    with pytest.raises(WireDecodeError) as info:
        wire.from_json('{"type":"failure","class_":"x","code":"c","message":"m"}', FailureOutput)
    assert "missing field `class`" in info.value.message
    with pytest.raises(WireDecodeError) as info:
        wire.from_json('{"type":"failure","class":1,"code":"c","message":"m"}', FailureOutput)
    assert info.value.path == "$.class"


def test_empty_execution_context_is_omitted() -> None:
    registration = ProcessRegistration(
        id="p1",
        input=ExternalInput(),
        disposition=RecoveryDisposition.EXTERNALLY_OWNED,
        identity=ProcessIdentity("external"),
        provenance=ProcessProvenance(HostOriginator()),
    )
    start = ProcessStart(registration, execution_context=ProcessExecutionContext())
    assert start.execution_context is None
    assert start == ProcessStart(registration)
    assert '"execution_context"' not in wire.to_json(start)
    text = wire.to_json(start)[:-1] + ',"execution_context":{}}'
    decoded: ProcessCommand = wire.from_json(text, ProcessCommand)
    assert decoded == start
    assert wire.to_json(decoded) == wire.to_json(start)


def test_invocation_accessors_and_causal_ref() -> None:
    assert INVOCATION.effect_id == "3"
    assert INVOCATION.effect_kind is EffectKind.TOOL_BATCH
    assert INVOCATION.replay_key == "s:t:0:1:tool_batch:3"
    assert INVOCATION.causal_ref() == EffectCause(session_id="s", turn_id="t", effect_id="3")
    session = InvocationScope.new("s")
    assert Invocation(session, ProcessSubject("p")).causal_ref() == ProcessCause("p")
    assert Invocation(session, ProcessEventSubject("p", 2, "e")).causal_ref() == (
        ProcessEventCause("p", 2)
    )
    trigger = Invocation(session, TriggerOccurrenceSubject("o"))
    assert trigger.causal_ref() == TriggerOccurrenceCause("o")
    node = Invocation(session, SessionNodeSubject("n"))
    assert node.causal_ref() == SessionNodeCause("s", "n")
    assert (node.effect_id, node.effect_kind, node.replay_key) == (None, None, None)


def test_session_scope_id_and_process_effect_ids() -> None:
    assert SessionScope("s").id == "session:s"
    assert SessionScope("s", "").id == "session:s"
    assert SessionScope("s", "f").id == "session:s/frame:f"
    digest = hashlib.sha256(b'["p1","p2"]').hexdigest()
    transfer = ProcessTransfer(SessionScope("a"), SessionScope("b", "f"), ("p1", "p2"))
    assert transfer.effect_id == f"process:transfer:session:a:session:b/frame:f:{digest}"
    unhashable = ProcessTransfer(SessionScope("a"), SessionScope("b"), ("\ud800",))
    assert unhashable.effect_id == "process:transfer:session:a:session:b:unhashable"
    registration = ProcessRegistration(
        id="p1",
        input=ExternalInput(),
        disposition=RecoveryDisposition.EXTERNALLY_OWNED,
        identity=ProcessIdentity("external"),
        provenance=ProcessProvenance(HostOriginator()),
    )
    assert ProcessStart(registration).effect_id == "process:start:p1"
    assert ProcessList(SessionScope("s")).effect_id == "process:list:session:s:live"
    assert (
        ProcessList(SessionScope("s", "f"), ProcessListMode.ALL).effect_id
        == "process:list:session:s/frame:f:all"
    )
    assert ProcessDeleteSession("s").effect_id == "process:delete-session:s"
    assert ProcessAwait("p1").effect_id == "process:await:p1"
    assert ProcessCancel("p1", "why").effect_id == "process:cancel:p1"
    assert (
        ProcessSignalSend("p1", "ready", "sig-1", SIGNAL_REQUEST).effect_id
        == "process:signal:p1:signal.ready:sig-1"
    )


def test_usage_adds_and_durations_convert() -> None:
    assert Usage(1, 2, 3, 4) + Usage(10, 20, 30, 40) == Usage(11, 22, 33, 44)
    assert Usage() + Usage() == Usage()
    assert Duration.from_ms(1500) == Duration(1, 500_000_000)
    assert Duration.from_ms(1500).to_ms() == 1500
    assert Duration(2, 999_999).to_ms() == 2000
    assert SystemTime.from_ms(1_700_000_000_123) == SystemTime(1_700_000_000, 123_000_000)
    assert SystemTime.from_ms(42).to_ms() == 42


def test_batch_build_numbers_calls_by_position() -> None:
    calls = [PreparedToolCall(f"c{i}", "t", "n", None) for i in range(3)]
    batch = PreparedToolBatch.build("b", calls)
    assert [c.replay_suffix for c in batch.calls] == ["child:0:c0", "child:1:c1", "child:2:c2"]
    assert all(c.execution_grant is None for c in batch.calls)


def test_u32_fields_reject_out_of_range() -> None:
    with pytest.raises(WireDecodeError) as info:
        wire.from_json(
            '{"type":"tool_attempt","call":' + CALL_JSON + ',"attempt":4294967296,'
            '"max_attempts":1}',
            EffectCommand,
        )
    assert info.value.path == "$.attempt"


# -- typed extraction ------------------------------------------------------------------------


def test_into_helpers_return_the_payload() -> None:
    assert into_llm_call(LlmCallOutcome(Ok(RESPONSE), True)) == (Ok(RESPONSE), True)
    assert into_direct_response(DirectOutcome(Err(LlmCallError("x", False)))) == Err(
        LlmCallError("x", False)
    )
    launch = ToolAttemptLaunchDone(RECORD_RUN)
    assert into_tool_attempt(ToolAttemptOutcome(launch)) == launch
    assert into_tool_batch(ToolBatchOutcome(())) == ()
    assert into_process(ProcessOutcome(ProcessTransferred())) == ProcessTransferred()
    assert into_exec_code(ExecCodeOutcome(Err("boom"))) == Err("boom")
    assert into_checkpoint(CheckpointOutcome(Ok(CheckpointDelivery()))) == Ok(CheckpointDelivery())
    assert into_sync_execution_environment(SyncExecutionEnvironmentOutcome(Ok(None))) == Ok(None)
    assert into_await_event(AwaitEventOutcome(TIMEOUT)) == TIMEOUT
    assert into_peek_await_event(PeekAwaitEventOutcome(None)) is None
    assert into_durable_step(DurableStepOutcome([1])) == [1]
    sleep = SleepOutcome()
    assert expect_outcome(sleep, SleepOutcome) is sleep


@pytest.mark.parametrize(
    ("call", "outcome", "message"),
    [
        (into_llm_call, SleepOutcome(), "expected llm_call outcome, got sleep"),
        (into_direct_response, SleepOutcome(), "expected direct outcome, got sleep"),
        (
            into_tool_attempt,
            ToolBatchOutcome(()),
            "expected tool_attempt outcome, got tool_batch",
        ),
        (into_tool_batch, DurableStepOutcome(1), "expected tool_batch outcome, got durable_step"),
        (into_process, SleepOutcome(), "expected process outcome, got sleep"),
        (into_exec_code, SleepOutcome(), "expected exec_code outcome, got sleep"),
        (into_checkpoint, SleepOutcome(), "expected checkpoint outcome, got sleep"),
        (
            into_sync_execution_environment,
            SleepOutcome(),
            "expected sync_execution_environment outcome, got sleep",
        ),
        (
            into_await_event,
            PeekAwaitEventOutcome(None),
            "expected await_event outcome, got peek_await_event",
        ),
        (
            into_peek_await_event,
            AwaitEventOutcome(TIMEOUT),
            "expected peek_await_event outcome, got await_event",
        ),
        (into_durable_step, SleepOutcome(), "expected durable_step outcome, got sleep"),
    ],
)
def test_wrong_outcome_names_both_kinds(call: Any, outcome: Any, message: str) -> None:
    with pytest.raises(LashError) as info:
        call(outcome)
    assert info.value.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
    assert info.value.message == message


def test_expect_outcome_wrong_kind() -> None:
    with pytest.raises(LashError) as info:
        expect_outcome(DurableStepOutcome(None), SleepOutcome)
    assert str(info.value) == (
        "runtime_effect_wrong_outcome: expected sleep outcome, got durable_step"
    )
