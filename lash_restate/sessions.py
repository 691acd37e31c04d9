"""A session's process grants on Restate: the session-wide ``process`` commands.

A process's registry object (:mod:`lash_restate.processes`) keeps the grants on that process,
as lash's registry does. The commands that act on a session's grants across processes need
the other direction too, so each session has an index:

* the **session object** (``<service>_session_processes``, keyed by session id) holds, per
  session scope, the processes the scope holds a handle to and their descriptors, and the
  processes whose wake target is the session. Its exclusive handlers: ``start`` applies a
  ``start`` that grants the session a handle (or names it as the wake target) to the
  process's object, then indexes it; ``list`` reads the scope's grants and each process's
  record; ``release`` and ``receive`` are a transfer's two halves; ``delete`` applies
  ``delete_session`` to each process the session touches and adds up their reports;
  ``watch`` indexes a wake target named by a start that went through another session;
  ``wake`` records a wake delivery a process's object sends it (one way), pending until
  ``ack`` acknowledges it; ``pending`` reads a scope's pending wakes.
* the **transfer service** (``<service>_session_transfer``, a plain service) runs a
  ``transfer``: the source session's ``release`` (all or none: ``process_handle_not_granted``
  names the ids it does not hold; it moves each grant in its process's object), then the
  target session's ``receive``.

Calls only go one way (transfer service to session object to process object; a process's
body never calls a session), so no two exclusive handlers wait on each other. Each handler's
calls are journaled, so a retried invocation does not apply them twice, and the index writes
are idempotent (a put or a removal of a known entry).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import restate

from lash_core import codes
from lash_core.effects.process import (
    ProcessDeleteSession,
    ProcessList,
    ProcessListed,
    ProcessSessionDeleted,
    ProcessStart,
    ProcessTransfer,
    ProcessTransferred,
)
from lash_core.errors import LashError, LocalProtocolError
from lash_core.process.events import ProcessWakeDelivery
from lash_core.process.grants import (
    HandleDescriptor,
    ProcessHandleGrant,
    ProcessListMode,
    ProcessSessionDeleteReport,
    check_list,
    check_transfer,
    validate_grant,
)
from lash_core.process.lifecycle import blank, check_scope
from lash_core.process.records import ProcessRecord, SessionScope
from lash_core.wire import from_json
from lash_restate._keys import start_session
from lash_restate.processes import ProcessWorkflows, _decode, _encode, terminal_error

__all__ = ["SessionGrants"]

GRANTS: Final = "grants"
"""The session object's state: ``{scope id: {"scope": scope, "grants": {pid: descriptor}}}``."""

WAKES: Final = "wakes"
"""The session object's state: the sorted ids of the processes whose wake target it is."""

PENDING: Final = "pending_wakes"
"""The session object's state: its pending wake deliveries, in delivery order."""

ACKNOWLEDGED: Final = "acknowledged_wakes"
"""The session object's state: the sorted ids of its acknowledged wakes (kept by a delete)."""


def _wrong_key(what: str, session_id: str, key: str) -> LashError:
    return LashError(
        codes.RESTATE_TURN_INPUT_INVALID,
        f"{what} of session {session_id!r} was sent to the session object of {key!r}",
    )


class SessionGrants:
    """The session object and the transfer service of the processes ``processes`` (see the
    module documentation); ``on_wake(delivery)`` is told of each wake delivery the session
    object records, as it records it: a pending wakes read sent after that sees it (at least
    once; for observers and tests)."""

    def __init__(
        self,
        processes: ProcessWorkflows,
        name: str,
        *,
        on_wake: Callable[[ProcessWakeDelivery], None] | None = None,
    ) -> None:
        self._processes = processes
        self._on_wake = on_wake
        self.object_name = f"{name}_session_processes"
        self.transfer_name = f"{name}_session_transfer"
        sessions = restate.VirtualObject(self.object_name)
        transfers = restate.Service(self.transfer_name)
        self.session_object = sessions
        self.transfer_service = transfers

        @sessions.handler(name="start")
        async def start(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._start(ctx, body)

        @sessions.handler(name="watch")
        async def watch(ctx: restate.ObjectContext, body: dict[str, Any]) -> None:
            wakes = await self._wakes(ctx)
            wakes.add(str(body["process_id"]))
            ctx.set(WAKES, json.dumps(sorted(wakes)))

        @sessions.handler(name="wake")
        async def wake(ctx: restate.ObjectContext, body: dict[str, Any]) -> None:
            await self._wake(ctx, body)

        # Exclusive, so a read queues behind a wake being recorded and sees it.
        @sessions.handler(name="pending")
        async def pending(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            scope: SessionScope = _decode(body.get("scope"), SessionScope, "the session scope")
            try:
                check_scope(scope)
                if scope.session_id != ctx.key():
                    raise _wrong_key("a pending wakes read", scope.session_id, ctx.key())
            except LashError as error:
                raise terminal_error(error) from None
            return [w for w in await self._pending(ctx) if w["target_scope_id"] == scope.id]

        @sessions.handler(name="ack")
        async def ack(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._ack(ctx, body)

        @sessions.handler(name="list")
        async def list_(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._list(ctx, body)

        @sessions.handler(name="release")
        async def release(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._release(ctx, body)

        @sessions.handler(name="receive")
        async def receive(ctx: restate.ObjectContext, body: dict[str, Any]) -> None:
            scope: SessionScope = _decode(body["to"], SessionScope, "the target scope")
            grants = await self._grants(ctx)
            for pid, descriptor in body["grants"].items():
                _put(grants, scope, pid, descriptor)
            ctx.set(GRANTS, json.dumps(grants, sort_keys=True))

        @sessions.handler(name="delete")
        async def delete(ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
            return await self._delete(ctx, body)

        @transfers.handler(name="transfer")
        async def transfer(ctx: restate.Context, body: dict[str, Any]) -> Any:
            return await self._transfer(ctx, body)

        self._watch = watch
        processes.wake_handler = wake
        self._release_handler = release
        self._receive_handler = receive

    @property
    def services(self) -> list[Any]:
        """The Restate services to serve (the session object and the transfer service)."""
        return [self.session_object, self.transfer_service]

    async def _grants(self, ctx: restate.ObjectContext) -> dict[str, Any]:
        found = await ctx.get(GRANTS, type_hint=str)
        return {} if found is None else dict(json.loads(found))

    async def _wakes(self, ctx: restate.ObjectContext) -> set[str]:
        found = await ctx.get(WAKES, type_hint=str)
        return set() if found is None else {str(pid) for pid in json.loads(found)}

    async def _pending(self, ctx: restate.ObjectContext) -> list[Any]:
        found = await ctx.get(PENDING, type_hint=str)
        return [] if found is None else list(json.loads(found))

    async def _acknowledged(self, ctx: restate.ObjectContext) -> set[str]:
        found = await ctx.get(ACKNOWLEDGED, type_hint=str)
        return set() if found is None else {str(i) for i in json.loads(found)}

    async def _wake(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> None:
        """Record a wake delivery as pending, unless its wake id is pending or acknowledged
        already (the registry's dedupe: a retried or repeated send records it once)."""
        delivery: ProcessWakeDelivery = _decode(
            body.get("delivery"), ProcessWakeDelivery, "the wake delivery"
        )
        if delivery.target_session_id != ctx.key():
            raise terminal_error(_wrong_key("a wake", delivery.target_session_id, ctx.key()))
        pending = await self._pending(ctx)
        if any(w["wake_id"] == delivery.wake_id for w in pending):
            return
        if delivery.wake_id in await self._acknowledged(ctx):
            return
        pending.append(_encode(delivery))
        ctx.set(PENDING, json.dumps(pending, sort_keys=True))
        on_wake = self._on_wake
        if on_wake is not None:
            on_wake(delivery)

    async def _ack(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        """Take a pending wake off the session's list for good (``process_wake_unknown`` when
        none has this id: never delivered, or acknowledged already)."""
        wake_id = body.get("wake_id") if isinstance(body, dict) else None
        pending = await self._pending(ctx)
        found = [w for w in pending if w["wake_id"] == wake_id]
        if not found or not isinstance(wake_id, str):
            raise terminal_error(
                LashError(codes.PROCESS_WAKE_UNKNOWN, f"no pending wake has the id {wake_id!r}")
            )
        ctx.set(
            PENDING, json.dumps([w for w in pending if w["wake_id"] != wake_id], sort_keys=True)
        )
        acknowledged = await self._acknowledged(ctx)
        acknowledged.add(wake_id)
        ctx.set(ACKNOWLEDGED, json.dumps(sorted(acknowledged)))
        return found[0]

    async def _start(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        command: ProcessStart = _decode(body.get("command"), ProcessStart, "the process command")
        key = ctx.key()
        grant = command.grant
        try:
            if grant is not None:
                validate_grant(grant.session_scope, grant.descriptor)
            session = start_session(command)
            if session is None:
                raise LashError(
                    codes.RESTATE_TURN_INPUT_INVALID,
                    "a start that names no session goes to its process's object",
                )
            if session != key:
                raise _wrong_key("a start", session, key)
        except LashError as error:
            raise terminal_error(error) from None
        pid = command.registration.id
        answer = await ctx.object_call(
            self._processes.apply_handler,
            key=pid,
            arg={"command": body["command"], "indexed": True},
        )
        if grant is not None and grant.session_scope.session_id == key:
            grants = await self._grants(ctx)
            _put(grants, grant.session_scope, pid, _encode(grant.descriptor))
            ctx.set(GRANTS, json.dumps(grants, sort_keys=True))
        target = command.registration.wake_target
        if target is not None and target.session_id == key:
            wakes = await self._wakes(ctx)
            wakes.add(pid)
            ctx.set(WAKES, json.dumps(sorted(wakes)))
        elif target is not None and not blank(target.session_id):
            # Another session's index: a one-way message, so no two sessions wait on each other.
            ctx.object_send(self._watch, key=target.session_id, arg={"process_id": pid})
        return answer

    async def _list(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        command: ProcessList = _decode(body.get("command"), ProcessList, "the process command")
        key = ctx.key()
        try:
            live = check_list(command.session_scope, command.mode) is ProcessListMode.LIVE
            if command.session_scope.session_id != key:
                raise _wrong_key("a list", command.session_scope.session_id, key)
        except LashError as error:
            raise terminal_error(error) from None
        scope = command.session_scope
        held = (await self._grants(ctx)).get(scope.id, {}).get("grants", {})
        pids = sorted(held)
        calls = [ctx.object_call(self._processes.record_handler, key=pid, arg=None) for pid in pids]
        entries = []
        for pid, call in zip(pids, calls, strict=True):
            found = await call
            if found is None:  # pragma: no cover - a grant is indexed after its start
                continue
            record: ProcessRecord = from_json(json.dumps(found), ProcessRecord)
            if live and record.is_terminal:
                continue
            descriptor = from_json(json.dumps(held[pid]), HandleDescriptor)
            entries.append((ProcessHandleGrant(scope.session_id, pid, descriptor), record))
        return {"outcome": _encode(ProcessListed(tuple(entries)))}

    async def _release(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        from_scope: SessionScope = _decode(body["from"], SessionScope, "the source scope")
        to_scope: SessionScope = _decode(body["to"], SessionScope, "the target scope")
        wanted = [str(pid) for pid in body["ids"]]
        grants = await self._grants(ctx)
        held: dict[str, Any] = dict(grants.get(from_scope.id, {}).get("grants", {}))
        missing = [pid for pid in wanted if pid not in held]
        if missing:
            raise terminal_error(
                LashError(
                    codes.PROCESS_HANDLE_NOT_GRANTED,
                    f"{from_scope.id} holds no grant for {', '.join(map(repr, missing))}",
                )
            )
        if from_scope.id == to_scope.id:
            return {}
        moved = {}
        for pid in wanted:
            await ctx.object_call(
                self._processes.act_handler,
                key=pid,
                arg={"op": "transfer", "from": body["from"], "to": body["to"]},
            )
            moved[pid] = held.pop(pid)
        if held:
            grants[from_scope.id] = {"scope": _encode(from_scope), "grants": held}
        else:
            grants.pop(from_scope.id, None)
        ctx.set(GRANTS, json.dumps(grants, sort_keys=True))
        return moved

    async def _transfer(self, ctx: restate.Context, body: dict[str, Any]) -> Any:
        command: ProcessTransfer = _decode(
            body.get("command"), ProcessTransfer, "the process command"
        )
        try:
            ids = check_transfer(command.from_scope, command.to_scope, command.process_ids)
        except LashError as error:
            raise terminal_error(error) from None
        source, target = _encode(command.from_scope), _encode(command.to_scope)
        moved = await ctx.object_call(
            self._release_handler,
            key=command.from_scope.session_id,
            arg={"from": source, "to": target, "ids": list(ids)},
        )
        if moved:
            await ctx.object_call(
                self._receive_handler,
                key=command.to_scope.session_id,
                arg={"to": target, "grants": moved},
            )
        return {"outcome": _encode(ProcessTransferred())}

    async def _delete(self, ctx: restate.ObjectContext, body: dict[str, Any]) -> Any:
        command: ProcessDeleteSession = _decode(
            body.get("command"), ProcessDeleteSession, "the process command"
        )
        key = ctx.key()
        session_id = command.session_id
        try:
            if blank(session_id):
                raise LocalProtocolError(
                    codes.PROCESS_SESSION_INVALID, "delete_session needs a non-blank session id"
                )
            if session_id != key:
                raise _wrong_key("a delete_session", session_id, key)
        except LashError as error:
            raise terminal_error(error) from None
        dropped = len(await self._pending(ctx))
        touched = set(await self._wakes(ctx))
        for entry in (await self._grants(ctx)).values():
            touched.update(entry["grants"])
        revoked = deleted = 0
        orphaned: list[str] = []
        preserved: list[str] = []
        for pid in sorted(touched):
            answer = await ctx.object_call(
                self._processes.act_handler,
                key=pid,
                arg={"op": "delete_session", "session_id": session_id},
            )
            report: ProcessSessionDeleteReport = from_json(
                json.dumps(answer["value"]), ProcessSessionDeleteReport
            )
            revoked += report.revoked_handle_count
            deleted += report.deleted_wake_count
            orphaned.extend(report.orphaned_process_ids)
            preserved.extend(report.preserved_process_ids)
        for name in (GRANTS, WAKES, PENDING):  # acknowledged wakes stay acknowledged
            ctx.clear(name)
        total = ProcessSessionDeleteReport(
            session_id=session_id,
            revoked_handle_count=revoked,
            deleted_wake_count=deleted + dropped,
            orphaned_process_ids=tuple(sorted(orphaned)),
            preserved_process_ids=tuple(sorted(preserved)),
        )
        return {"outcome": _encode(ProcessSessionDeleted(total))}


def _put(grants: dict[str, Any], scope: SessionScope, pid: str, descriptor: Any) -> None:
    entry = grants.setdefault(scope.id, {"scope": _encode(scope), "grants": {}})
    entry["scope"] = _encode(scope)
    entry["grants"] = {**entry["grants"], pid: descriptor}
