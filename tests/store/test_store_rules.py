"""The pure parts of lash_core.store: envelope splitting is exact for any text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lash_core import Message, Role, TextPart, ToolSpec
from lash_core.durable import direct_call_envelope
from lash_core.effects.llm import LlmRequest
from lash_core.store import join_envelope, message_chain, split_envelope

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ['"', "\\", '\\"', "]", "}", "[{", '","', "\\\\\\"]
)


@settings(max_examples=200, deadline=None)
@given(
    messages=st.lists(texts, min_size=0, max_size=5),
    system=st.none() | texts,
    tool_description=st.none() | texts,
)
def test_split_then_join_is_the_identity(
    messages: list[str], system: str | None, tool_description: str | None
) -> None:
    tools = () if tool_description is None else (ToolSpec("t", tool_description, {"a": [1]}),)
    request = LlmRequest(
        "m", tuple(Message(Role.USER, (TextPart(m),)) for m in messages), tools, system=system
    )
    text = direct_call_envelope(request, session_id="s", usage_source="u").canonical().json
    parts = split_envelope(text)
    assert len(parts.messages) == len(messages)
    assert join_envelope(parts.skeleton, dict(parts.blobs), parts.messages) == text


def test_a_history_extending_another_shares_its_chain() -> None:
    short = message_chain(['{"a":1}', '{"b":2}'])
    long = message_chain(['{"a":1}', '{"b":2}', '{"c":3}'])
    assert long[:2] == short and long[2][1] == short[-1][0]
