"""Direct model calls outside a turn: the reference's replay keys, and journaled replay."""

from __future__ import annotations

import pickle

import pytest

from lash_asyncio.testing import AsyncioDriver
from lash_core import (
    EffectEnvelope,
    EffectKind,
    Err,
    LashError,
    LlmResponse,
    Message,
    Ok,
    ReplayMismatchError,
    Role,
    StopReason,
    TextPart,
    Usage,
    codes,
    direct_call,
)
from lash_core.canonical import sha256_hex
from lash_core.durable import DirectCallError, direct_call_envelope
from lash_core.effects import (
    CausalRef,
    DirectCommand,
    DirectOutcome,
    EffectCause,
    EffectSubject,
    InvocationScope,
    LlmCallError,
    LlmErrorKind,
    LlmRequest,
    ProcessCause,
    ProcessEventCause,
    Replay,
    SessionNodeCause,
    SleepOutcome,
    ToolCallCause,
    TriggerOccurrenceCause,
    TurnCause,
)
from lash_core.journal import EffectJournal
from lash_core.testing.conformance import Driver, Harness
from lash_core.wire import canonical_json
from lash_trio.testing import TrioDriver

DRIVERS: list[Driver] = [TrioDriver(), AsyncioDriver()]
drivers = pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)


def request(text: str = "Name this chat: trip to Lisbon") -> LlmRequest:
    return LlmRequest(model="small", messages=(Message(Role.USER, (TextPart(text),)),))


def response(text: str) -> LlmResponse:
    return LlmResponse(Message(Role.ASSISTANT, (TextPart(text),)), Usage(12, 3), StopReason.STOP)


# -- replay keys (the reference's) -----------------------------------------------------------


def test_an_explicit_replay_id_keeps_the_runtime_scope() -> None:
    """The reference's ``direct_effect_invocation_preserves_runtime_scope``."""
    envelope = direct_call_envelope(request(), session_id="s", usage_source="tool", replay_id="k")
    assert envelope.replay_key == "s:direct:tool:request:k"
    assert envelope.invocation.scope == InvocationScope.new("s")
    assert envelope.invocation.subject == EffectSubject("request:k", EffectKind.DIRECT)
    assert envelope.command == DirectCommand(request(), "tool")
    in_turn = direct_call_envelope(
        request(), session_id="s", turn_id="t", usage_source="tool", replay_id="k"
    )
    assert in_turn.replay_key == "s:t:direct:tool:request:k"
    assert in_turn.invocation.scope == InvocationScope("s", "t")


def test_without_a_replay_id_the_key_is_the_request_hash() -> None:
    digest = sha256_hex(canonical_json(request()).encode("utf-8"))
    envelope = direct_call_envelope(request(), session_id="s", usage_source="title")
    assert envelope.invocation.subject == EffectSubject(f"sha256:{digest}", EffectKind.DIRECT)
    assert envelope.replay_key == f"s:direct:title:sha256:{digest}"
    assert direct_call_envelope(request(), session_id="s", usage_source="title", replay_id="") == (
        envelope
    )
    other = direct_call_envelope(request("another"), session_id="s", usage_source="title")
    assert other.replay_key != envelope.replay_key


@pytest.mark.parametrize(
    ("cause", "prefix"),
    [
        (TurnCause("s", "t"), "cause:turn:s:t:"),
        (EffectCause(session_id="s", turn_id="t", effect_id="3"), "cause:effect:s:t:3:"),
        (EffectCause(session_id="s", effect_id="3"), "cause:effect:s::3:"),
        (ToolCallCause("s", "c1"), "cause:tool_call:s:c1:"),
        (ProcessCause("p"), "cause:process:p:"),
        (ProcessEventCause("p", 4), "cause:process_event:p:4:"),
        (TriggerOccurrenceCause("o"), "cause:trigger:o:"),
        (TriggerOccurrenceCause("o", "sub", None, 2), "cause:trigger:o:sub::2:"),
        (SessionNodeCause("s", "n"), "cause:session_node:s:n:"),
    ],
)
def test_a_cause_prefixes_the_discriminator(cause: CausalRef, prefix: str) -> None:
    envelope = direct_call_envelope(
        request(), session_id="s", usage_source="tool", caused_by=cause, replay_id="k"
    )
    assert envelope.invocation.caused_by == cause
    assert envelope.invocation.subject == EffectSubject(f"{prefix}request:k", EffectKind.DIRECT)
    assert envelope.replay_key == f"s:direct:tool:{prefix}request:k"
    hashed = direct_call_envelope(request(), session_id="s", usage_source="tool", caused_by=cause)
    assert hashed.replay_key.startswith(f"s:direct:tool:{prefix}sha256:")  # type: ignore[union-attr]


def test_a_request_that_is_not_json_has_no_discriminator() -> None:
    bad = LlmRequest(model="m", messages=(Message(Role.USER, (TextPart("\ud800"),)),))
    with pytest.raises(LashError) as caught:
        direct_call_envelope(bad, session_id="s", usage_source="tool")
    assert caught.value.code == codes.RUNTIME_EFFECT_DISCRIMINATOR


# -- calls -----------------------------------------------------------------------------------


class Model:
    """A scripted model: answers in order, and remembers the envelopes it was asked."""

    def __init__(self, *answers: LlmResponse | LlmCallError) -> None:
        self.answers = list(answers)
        self.seen: list[EffectEnvelope] = []

    async def __call__(self, envelope: EffectEnvelope) -> DirectOutcome:
        self.seen.append(envelope)
        answer = self.answers.pop(0)
        if isinstance(answer, LlmCallError):
            return DirectOutcome(Err(answer))
        return DirectOutcome(Ok(answer))


@drivers
def test_a_direct_call_runs_once_and_replays_from_the_journal_lines(driver: Driver) -> None:
    model = Model(response("Lisbon trip"), response("never used"))
    stored: list[str] = []

    async def first(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal(on_record=lambda entry: stored.append(entry.to_json() + "\n"))
        title = await direct_call(
            host, request(), model, session_id="s", usage_source="title", journal=journal
        )
        assert title == response("Lisbon trip")

    async def replay(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal.from_json_lines("".join(stored))
        start = h.now()
        title = await direct_call(
            host, request(), model, session_id="s", usage_source="title", journal=journal
        )
        assert title == response("Lisbon trip") and h.now() == start

    driver.run(first)
    driver.run(replay)
    [envelope] = model.seen
    assert envelope == direct_call_envelope(request(), session_id="s", usage_source="title")
    assert len(stored) == 1


@drivers
def test_an_error_answer_raises_with_its_code_and_replays_as_the_same_error(
    driver: Driver,
) -> None:
    failure = LlmCallError(
        message="slow down", retryable=True, kind=LlmErrorKind.RATE_LIMIT, code="rate_limited"
    )
    model = Model(failure, response("after the retry"))

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        for _ in range(2):  # the second time comes from the journal
            with pytest.raises(DirectCallError) as caught:
                await direct_call(
                    host,
                    request(),
                    model,
                    session_id="s",
                    usage_source="title",
                    replay_id="attempt-1",
                    journal=journal,
                )
            error = caught.value
            assert error.code == codes.DIRECT_CALL_FAILED
            assert error.llm_error == failure
            assert error.message == (
                "direct model call failed (rate_limit): rate_limited: slow down"
            )
            assert pickle.loads(pickle.dumps(error)).llm_error == failure
        # A retry is a new identity.
        retried = await direct_call(
            host,
            request(),
            model,
            session_id="s",
            usage_source="title",
            replay_id="attempt-2",
            journal=journal,
        )
        assert retried == response("after the retry")

    driver.run(scenario)
    assert len(model.seen) == 2


@drivers
def test_the_same_replay_id_with_another_request_is_a_mismatch(driver: Driver) -> None:
    model = Model(response("one"), response("two"))

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()

        async def summarise(text: str) -> LlmResponse:
            return await direct_call(
                host,
                request(text),
                model,
                session_id="s",
                usage_source="summary",
                replay_id="k",
                journal=journal,
            )

        await summarise("a")
        with pytest.raises(ReplayMismatchError) as caught:
            await summarise("b")
        assert caught.value.summary.first_divergent_paths == (
            "command.request.messages[0].parts[0].text",
        )

    driver.run(scenario)
    assert len(model.seen) == 1


@drivers
def test_a_model_that_answers_wrongly_or_raises_fails_with_the_host_codes(
    driver: Driver,
) -> None:
    async def wrong_kind(envelope: EffectEnvelope) -> SleepOutcome:
        return SleepOutcome()

    async def broken(envelope: EffectEnvelope) -> DirectOutcome:
        raise TimeoutError("provider timed out")

    async def scenario(h: Harness) -> None:
        host = h.new_host(bytes(32))
        journal = EffectJournal()
        with pytest.raises(LashError) as wrong:
            await direct_call(
                host,
                request(),
                wrong_kind,
                session_id="s",
                usage_source="t",
                journal=journal,
            )
        assert wrong.value.code == codes.RUNTIME_EFFECT_WRONG_OUTCOME
        assert wrong.value.message == "expected direct outcome, got sleep"
        with pytest.raises(LashError) as raised:
            await direct_call(
                host, request(), broken, session_id="s", usage_source="t", journal=journal
            )
        assert raised.value.code == codes.RUNTIME_EFFECT_HANDLER_FAILED
        assert len(journal) == 0

    driver.run(scenario)


def test_the_envelope_replays_in_a_turn_scope_with_a_cause() -> None:
    envelope = direct_call_envelope(
        request(),
        session_id="s",
        turn_id="t",
        usage_source="tool",
        caused_by=ToolCallCause("s", "c1"),
        replay_id="k",
    )
    assert envelope.invocation.replay == Replay("s:t:direct:tool:cause:tool_call:s:c1:request:k")
    assert canonical_json(envelope).startswith(
        '{"invocation":{"scope":{"session_id":"s","turn_id":"t"},'
        '"subject":{"type":"effect","effect_id":"cause:tool_call:s:c1:request:k","kind":"direct"},'
        '"caused_by":{"type":"tool_call","session_id":"s","call_id":"c1"},'
    )
