"""Talking to lash turns on Restate from any process (a webhook, a trio or asyncio application,
a script): plain HTTP to Restate's ingress and admin APIs, standard library only.

    turns = RestateTurns(ingress_url, "lash_turns", secret=SECRET, admin_url=admin_url)
    turns.register("http://127.0.0.1:9080")          # once per deployment of the service
    ref = turns.start(machine)                        # the turn runs in the service
    turns.resolve(key, ok({"approved": True}))        # a webhook: verified here, then sent
    result = turns.result(ref)                        # blocks until the turn ends

Every call blocks (``urllib``); from trio run it with ``trio.to_thread.run_sync``, from asyncio
with ``asyncio.to_thread``. A key is verified with the secret *before* anything is sent: a
forged, tampered or foreign key is answered ``unknown_or_revoked`` and Restate is never asked.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from lash_core import codes
from lash_core.durable_turn import TurnStart
from lash_core.effects.process import (
    ProcessAwait,
    ProcessAwaited,
    ProcessCancel,
    ProcessCancelled,
    ProcessCommand,
    ProcessDeleteSession,
    ProcessEffectOutcome,
    ProcessList,
    ProcessSignalled,
    ProcessStart,
    ProcessStarted,
    ProcessTransfer,
)
from lash_core.errors import LashError
from lash_core.keys import AwaitEventKey, KeySigner
from lash_core.process.commands import signal_request
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.grants import (
    ProcessStartGrant,
    check_list,
    check_transfer,
    validate_grant,
)
from lash_core.process.lifecycle import blank, check_scope
from lash_core.process.records import (
    ProcessAwaitOutput,
    ProcessRecord,
    ProcessRegistration,
    SessionScope,
)
from lash_core.process.registry import ProcessRegistry
from lash_core.resolution import UNKNOWN_OR_REVOKED, Resolution, ResolveOutcome
from lash_core.store import TurnRef
from lash_core.turn.events import TurnResult
from lash_core.turn.machine import TurnMachine
from lash_core.wire import JsonValue, canonical_json, from_json
from lash_restate._keys import (
    command_process_id,
    key_accepted,
    lash_error_of,
    start_session,
    workflow_id,
)

__all__ = ["RestateProcesses", "RestateTurns", "TurnFailed"]


class TurnFailed(LashError):
    """A turn's workflow ended with an error (Restate's terminal failure): ``code`` is lash's
    code when the failure was one (``runtime_effect_replay_hash_mismatch`` for a replay that met
    changed code), else ``restate_request_failed``."""


def _request(
    url: str,
    body: Any = None,
    *,
    method: str = "POST",
    timeout: float | None = 60.0,
    idempotency_key: str | None = None,
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if idempotency_key is not None:
        request.add_header("idempotency-key", idempotency_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except (OSError, urllib.error.URLError) as exc:
        raise LashError(codes.RESTATE_REQUEST_FAILED, f"{method} {url} failed: {exc}") from None


def _failed(url: str, status: int, payload: bytes) -> LashError:
    text = payload.decode("utf-8", "replace")
    return LashError(codes.RESTATE_REQUEST_FAILED, f"{url} answered {status}: {text[:1000]}")


class RestateTurns:
    """A client of the :class:`~lash_restate.service.TurnService` named ``service`` behind the
    Restate ingress at ``ingress_url`` (see the module documentation). ``secret`` (and
    ``previous``) must be the service's, so keys are verified here before being sent."""

    def __init__(
        self,
        ingress_url: str,
        service: str,
        *,
        secret: bytes,
        previous: Iterable[bytes] = (),
        admin_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.ingress_url = ingress_url.rstrip("/")
        self.admin_url = None if admin_url is None else admin_url.rstrip("/")
        self.service = service
        self.signer = KeySigner(secret, previous)
        self.timeout = timeout

    def _url(self, session_id: str, turn_id: str, handler: str) -> str:
        key = urllib.parse.quote(workflow_id(session_id, turn_id), safe="")
        return f"{self.ingress_url}/{self.service}/{key}/{handler}"

    # -- deployments -------------------------------------------------------------------------

    def register(self, service_url: str, *, force: bool = True) -> None:
        """Register the deployment serving the workflow at ``service_url`` with Restate's
        admin API (``force``: replace a registration of the same URL)."""
        if self.admin_url is None:
            raise LashError(codes.RESTATE_REQUEST_FAILED, "register needs the admin_url")
        url = f"{self.admin_url}/deployments"
        status, payload = _request(url, {"uri": service_url, "force": force}, timeout=self.timeout)
        if status >= 300:
            raise _failed(url, status, payload)

    # -- turns -------------------------------------------------------------------------------

    def start(self, machine: TurnMachine) -> TurnRef:
        """Start a fresh ``machine``'s turn in the service (it runs there, durably); returns at
        once. Starting the same turn again is a no-op (the workflow runs once per key)."""
        start = TurnStart.of(machine)
        url = self._url(start.session_id, start.turn_id, "run/send")
        status, payload = _request(url, json.loads(start.to_json()), timeout=self.timeout)
        if status >= 300:
            raise _failed(url, status, payload)
        return start.ref

    def result(self, ref: TurnRef) -> TurnResult:
        """Wait for the turn's result (``TurnFailed`` if its workflow failed terminally)."""
        key = urllib.parse.quote(workflow_id(ref.session_id, ref.turn_id), safe="")
        url = f"{self.ingress_url}/restate/workflow/{self.service}/{key}/attach"
        status, payload = _request(url, method="GET", timeout=self.timeout)
        if status >= 300:
            raise _turn_failed(url, status, payload)
        result: TurnResult = from_json(payload, TurnResult)
        return result

    def resolve(self, key: AwaitEventKey, resolution: Resolution) -> ResolveOutcome:
        """Resolve ``key`` (first writer wins) and return lash's answer; waits for the service
        to run the resolve. A key that does not verify is ``unknown_or_revoked`` at once."""
        if not key_accepted(self.signer, key):
            return UNKNOWN_OR_REVOKED
        scope = key.scope
        assert scope.turn_id is not None
        url = self._url(scope.session_id, scope.turn_id, "resolve")
        status, payload = _request(url, _resolve_body(key, resolution), timeout=self.timeout)
        if status >= 300:
            raise _failed(url, status, payload)
        outcome: ResolveOutcome = from_json(payload, ResolveOutcome)
        return outcome

    def resolve_later(self, key: AwaitEventKey, resolution: Resolution) -> bool:
        """Hand the resolve to Restate and return at once (it runs when the service can, even
        if the service is down now). False, nothing sent, if the key does not verify."""
        if not key_accepted(self.signer, key):
            return False
        scope = key.scope
        assert scope.turn_id is not None
        url = self._url(scope.session_id, scope.turn_id, "resolve/send")
        status, payload = _request(url, _resolve_body(key, resolution), timeout=self.timeout)
        if status >= 300:
            raise _failed(url, status, payload)
        return True

    def cancel(self, ref: TurnRef, message: str = "the turn was cancelled") -> bool:
        """Ask the turn to stop: its current or next wait is cancelled and it ends
        ``cancelled``. False if a cancel had already been asked."""
        url = self._url(ref.session_id, ref.turn_id, "cancel")
        status, payload = _request(url, {"message": message}, timeout=self.timeout)
        if status >= 300:
            raise _failed(url, status, payload)
        return bool(json.loads(payload))


def _resolve_body(key: AwaitEventKey, resolution: Resolution) -> dict[str, Any]:
    return {
        "key": json.loads(canonical_json(key)),
        "resolution": json.loads(canonical_json(resolution)),
    }


def _turn_failed(url: str, status: int, payload: bytes) -> LashError:
    text = payload.decode("utf-8", "replace")
    try:
        message = json.loads(text).get("message", text)
    except (ValueError, AttributeError):
        message = text
    code = codes.RESTATE_REQUEST_FAILED
    if isinstance(message, str):
        head = message.split(":", 1)[0].strip()
        if head in codes.CODES:
            code = head
    return TurnFailed(code, f"{url} answered {status}: {message}"[:4000])


def _refused(url: str, status: int, payload: bytes) -> LashError:
    """The lash error a failed process request carries (its code), else
    ``restate_request_failed``."""
    text = payload.decode("utf-8", "replace")
    try:
        message = json.loads(text).get("message", text)
    except (ValueError, AttributeError):
        message = text
    error = lash_error_of(str(message))
    if error.code == codes.RESTATE_REQUEST_FAILED:
        return _failed(url, status, payload)
    return error


class RestateProcesses:
    """A client of the processes of the :class:`~lash_restate.service.TurnService` named
    ``service`` behind the Restate ingress at ``ingress_url``: each process is the registry
    object ``<service>_processes`` and the workflow ``<service>_process`` keyed by its id
    (see :mod:`lash_restate.processes`). A turn's ``process`` effects go through one of these;
    any other process (a webhook, a script) may use one too. Every call blocks (``urllib``).

    A refused command raises lash's :class:`~lash_core.errors.LashError` with its code (the
    process's state is unchanged); Restate unreachable is ``restate_request_failed``.
    """

    def __init__(self, ingress_url: str, service: str, *, timeout: float = 60.0) -> None:
        self.ingress_url = ingress_url.rstrip("/")
        self.service = service
        self.timeout = timeout

    def _url(self, name: str, process_id: str, handler: str) -> str:
        key = urllib.parse.quote(process_id, safe="")
        return f"{self.ingress_url}/{name}/{key}/{handler}"

    def execute(
        self, command: ProcessCommand, *, idempotency_key: str | None = None
    ) -> ProcessEffectOutcome:
        """Run one ``process`` command (a ``process`` effect's): a command for one process on
        its registry object (a ``start`` that grants a session a handle, or names its wake
        target, through that session's object, which indexes it); ``list`` and
        ``delete_session`` on the session's object, ``transfer`` through the transfer service
        (see :mod:`lash_restate.sessions`). An ``await`` of a live process then waits for its
        terminal (no timeout). ``idempotency_key`` (a turn passes its effect's replay key)
        makes a repeat of the request answer what the first got, even after a crash. A
        malformed command is refused here with the registry's code, before anything is sent."""
        url = self._command_url(command)
        body = {"command": json.loads(canonical_json(command))}
        status, payload = _request(url, body, timeout=self.timeout, idempotency_key=idempotency_key)
        if status >= 300:
            raise _refused(url, status, payload)
        answer = json.loads(payload)
        if answer.get("parked"):
            pid = command_process_id(command)
            assert pid is not None
            return ProcessAwaited(self.await_terminal(pid))
        outcome: ProcessEffectOutcome = from_json(
            json.dumps(answer["outcome"]), ProcessEffectOutcome
        )
        return outcome

    def _command_url(self, command: ProcessCommand) -> str:
        """Where ``command`` goes (raising the registry's error for a malformed session-wide
        command, so no request names a blank session)."""
        sessions = f"{self.service}_session_processes"
        if isinstance(command, ProcessStart):
            grant = command.grant
            if grant is not None:
                validate_grant(grant.session_scope, grant.descriptor)
            session = start_session(command)
            if session is not None:
                return self._url(sessions, session, "start")
        if isinstance(command, ProcessList):
            check_list(command.session_scope, command.mode)
            return self._url(sessions, command.session_scope.session_id, "list")
        if isinstance(command, ProcessTransfer):
            check_transfer(command.from_scope, command.to_scope, command.process_ids)
            return f"{self.ingress_url}/{self.service}_session_transfer/transfer"
        if isinstance(command, ProcessDeleteSession):
            ProcessRegistry().delete_session_process_state(command.session_id)  # its checks
            return self._url(sessions, command.session_id, "delete")
        pid = command_process_id(command)
        if pid is None:
            raise LashError(
                codes.PROCESS_COMMAND_INVALID,
                f"expected a process command, got {type(command).__name__}",
            )
        return self._url(f"{self.service}_processes", pid, "apply")

    def start(
        self, registration: ProcessRegistration, grant: ProcessStartGrant | None = None
    ) -> ProcessRecord:
        """Register a process and start its workflow (the same registration again is a no-op
        that returns the record; another one under the same id is
        ``process_registration_conflict``)."""
        outcome = self.execute(ProcessStart(registration, grant))
        assert isinstance(outcome, ProcessStarted)
        return outcome.record

    def signal(
        self, process_id: str, name: str, signal_id: str, payload: JsonValue = None
    ) -> ProcessSignalled:
        """Send signal ``name`` (``signal_id`` makes it idempotent) to the process."""
        outcome = self.execute(signal_request(process_id, name, signal_id, payload))
        assert isinstance(outcome, ProcessSignalled)
        return outcome

    def cancel(self, process_id: str, reason: str | None = None) -> ProcessRecord:
        """Ask the process to stop (it ends ``cancelled`` at its next sleep or signal wait)."""
        outcome = self.execute(ProcessCancel(process_id, reason))
        assert isinstance(outcome, ProcessCancelled)
        return outcome.record

    def await_terminal(self, process_id: str) -> ProcessAwaitOutput:
        """Wait for the process's terminal (its await output)."""
        url = self._url(f"{self.service}_process", process_id, "terminal")
        status, payload = _request(url, None, timeout=None, method="POST")
        if status >= 300:
            raise _refused(url, status, payload)
        output: ProcessAwaitOutput = from_json(payload, ProcessAwaitOutput)
        return output

    def finish(self, process_id: str, output: ProcessAwaitOutput) -> ProcessAwaitOutput:
        """Write the terminal of a process whose work is owned outside lash (an ``external``
        or ``session_turn`` input: no workflow runs it) and wake its awaiters. A process has
        exactly one terminal: for one that has ended already, the terminal it has."""
        url = self._url(f"{self.service}_processes", process_id, "act")
        body = {"op": "finish", "output": json.loads(canonical_json(output))}
        status, payload = _request(url, body, timeout=self.timeout)
        if status >= 300:
            raise _refused(url, status, payload)
        written: ProcessAwaitOutput = from_json(
            json.dumps(json.loads(payload)["value"]), ProcessAwaitOutput
        )
        return written

    def record(self, process_id: str) -> ProcessRecord | None:
        """The process's current record (``None`` if it was never registered)."""
        url = self._url(f"{self.service}_processes", process_id, "record")
        status, payload = _request(url, None, timeout=self.timeout, method="POST")
        if status >= 300:
            raise _refused(url, status, payload)
        found = json.loads(payload) if payload.strip() else None
        return None if found is None else from_json(json.dumps(found), ProcessRecord)

    def awaited(self, process_id: str) -> ProcessAwaitOutput:
        """``execute(ProcessAwait(process_id))``'s output."""
        outcome = self.execute(ProcessAwait(process_id))
        assert isinstance(outcome, ProcessAwaited)
        return outcome.output

    def pending_wakes(self, scope: SessionScope) -> tuple[ProcessWakeDelivery, ...]:
        """The wake deliveries for exactly this scope not acknowledged yet, in the order its
        session's object recorded them (as :meth:`ProcessRegistry.pending_wakes
        <lash_core.process.ProcessRegistry.pending_wakes>`; a blank session is
        ``process_session_invalid``). A process's object sends each delivery to the session's
        object one way, so a wake shows up here shortly after the event that made it."""
        check_scope(scope)
        url = self._url(f"{self.service}_session_processes", scope.session_id, "pending")
        status, payload = _request(
            url, {"scope": json.loads(canonical_json(scope))}, timeout=self.timeout
        )
        if status >= 300:
            raise _refused(url, status, payload)
        return tuple(
            from_json(json.dumps(found), ProcessWakeDelivery) for found in json.loads(payload)
        )

    def acknowledge_wake(self, session_id: str, wake_id: str) -> ProcessWakeDelivery:
        """Take the pending wake ``wake_id`` of session ``session_id`` off its list, for good
        (an event with the same target and dedupe key is not delivered again) and return it;
        ``process_wake_unknown`` when the session has no pending wake with this id (never
        delivered, or acknowledged already), as
        :meth:`ProcessRegistry.acknowledge_wake
        <lash_core.process.ProcessRegistry.acknowledge_wake>`."""
        if type(session_id) is not str or blank(session_id) or type(wake_id) is not str:
            raise LashError(codes.PROCESS_WAKE_UNKNOWN, f"no pending wake has the id {wake_id!r}")
        url = self._url(f"{self.service}_session_processes", session_id, "ack")
        status, payload = _request(url, {"wake_id": wake_id}, timeout=self.timeout)
        if status >= 300:
            raise _refused(url, status, payload)
        delivery: ProcessWakeDelivery = from_json(payload, ProcessWakeDelivery)
        return delivery
