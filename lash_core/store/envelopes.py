"""Content-addressed envelopes, so storage grows linearly with a conversation.

:func:`split_envelope` cuts a canonical envelope into a small skeleton, its big repeated parts
(a model request's ``system`` and ``tools``, stored once each by hash) and its messages (stored
as a hash chain, :func:`message_chain`, so a request repeating the whole history adds only its
new messages); :func:`join_envelope` puts it back byte for byte.

Splitting costs in proportion to what is new, not to the conversation: the values around the
messages are skipped by the C JSON decoder, and a :class:`SplitMemo` (the previous split of the
same conversation) lets a request that repeats the previous request's messages skip them with
one string comparison; only the messages after them are parsed and hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Final

import attrs

from lash_core import codes
from lash_core.errors import LashError

__all__ = [
    "SPLIT_MEMOS",
    "EnvelopeParts",
    "SplitMemo",
    "SplitMemos",
    "envelope_member",
    "join_envelope",
    "join_stored_envelope",
    "message_chain",
    "skeleton_blob_hashes",
    "split_envelope",
    "stored_skeleton",
    "text_hash",
]

SPLIT_MEMOS: Final = 16
"""How many sessions' last envelope split a store keeps (so the next split of a session's
conversation parses only its new messages; each holds about twice its conversation's text). A
session whose memo was dropped is split in full once, then from its memo again."""

ChainLink = tuple[str, str, str]
"""``(node, previous node, message hash)``: one link of a message chain."""


def text_hash(text: str) -> str:
    """Lowercase hex SHA-256 of ``text``'s UTF-8 bytes (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_DECODE: Final = json.JSONDecoder().raw_decode


def _string_end(text: str, i: int) -> int:
    """The index after the JSON string starting at ``text[i] == '"'``."""
    i += 1
    while True:
        j = text.index('"', i)
        k = j - 1
        while text[k] == "\\":
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        i = j + 1


def _value_end(text: str, i: int) -> int:
    """The index after the compact JSON value starting at ``i`` (parsed by the C decoder)."""
    try:
        end: int = _DECODE(text, i)[1]
    except json.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None
    return end


def _key_at(text: str, i: int) -> tuple[str, int]:
    """The member key starting at ``i`` and where its value starts."""
    key_end = _string_end(text, i)
    if text[key_end] != ":":
        raise ValueError("not compact JSON")
    key: str = text[i + 1 : key_end - 1]
    if "\\" in key:  # an escape: decode it (a key without one is its own text)
        key = json.loads(text[i:key_end])
    return key, key_end + 1


def _next_member(text: str, end: int) -> int | None:
    """After a member's value ending at ``end``: where the next key starts (``None``: the
    object ends)."""
    if text[end] == "}":
        return None
    if text[end] != ",":
        raise ValueError("not compact JSON")
    return end + 1


def _member_start(text: str, i: int, name: str) -> int | None:
    """Where the value of member ``name`` of the compact object at ``i`` starts. Only the
    members before it are parsed (to skip them); it and the ones after it are not."""
    if text[i] != "{":
        raise ValueError("not an object")
    at: int | None = None if text[i + 1] == "}" else i + 1
    while at is not None:
        key, start = _key_at(text, at)
        if key == name:
            return start
        at = _next_member(text, _value_end(text, start))
    return None


def envelope_member(json_text: str, name: str) -> object:
    """The parsed value of a top-level member of a compact JSON object (``None`` if absent),
    parsing only the members up to it (``ValueError`` if the text is not compact JSON)."""
    try:
        start = _member_start(json_text, 0, name)
        return None if start is None else _DECODE(json_text, start)[0]
    except (IndexError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None


def message_chain(messages: Sequence[str], previous: str = "") -> list[ChainLink]:
    """The hash chain of a message list: ``(node, previous node, message hash)`` for each
    message in order (the first's previous node is ``previous``, ``""`` for a list from its
    start). A list extending another shares its nodes."""
    out: list[ChainLink] = []
    for message in messages:
        digest = text_hash(message)
        node = text_hash(f"{previous}:{digest}")
        out.append((node, previous, digest))
        previous = node
    return out


@attrs.define
class SplitMemo:
    """What the previous :func:`split_envelope` of a conversation found, so the next one skips
    the messages it repeats: ``prefix`` is the previous messages array's text without its
    closing ``]``, ``messages`` and ``chain`` its messages and their chain links.

    ``parsed`` and ``hashed`` count the characters of message text the last split parsed and
    hashed (what is new), for tests and benchmarks.
    """

    prefix: str = ""
    messages: tuple[str, ...] = ()
    chain: tuple[ChainLink, ...] = ()
    parsed: int = 0
    hashed: int = 0


@attrs.frozen
class EnvelopeParts:
    """A canonical envelope cut into a small ``skeleton`` and its big, repeated parts.

    ``blobs`` are the cut-out values stored once each by hash (a model request's ``system``
    and ``tools``); ``messages`` are the request's messages (stored as a hash chain, so a
    request repeating the whole history adds only its new messages), ``chain`` their links
    (:func:`message_chain`). ``skeleton`` is canonical JSON
    ``{"holes": [[offset, "blob", hash] | [offset, "messages", count]], "text": ...}``.
    """

    skeleton: str
    blobs: tuple[tuple[str, str], ...]
    messages: tuple[str, ...]
    chain: tuple[ChainLink, ...] = ()


def _messages(text: str, start: int, memo: SplitMemo) -> tuple[int, list[str], int]:
    """The end of the messages array at ``start``, its element texts, and how many of them
    are the memo's (its previous array's text is a prefix of this one, up to an element
    boundary: those are not parsed again)."""
    out: list[str] = []
    at = start + 1
    reused = 0
    prefix = memo.prefix
    if len(prefix) > 1 and text.startswith(prefix, start) and text[start + len(prefix)] in ",]":
        out.extend(memo.messages)
        reused = len(out)
        at = start + len(prefix)
        if text[at] == "]":
            return at + 1, out, reused
        at += 1
    elif text[at] == "]":
        return at + 1, out, reused
    while True:
        e = _value_end(text, at)
        out.append(text[at:e])
        if text[e] == "]":
            return e + 1, out, reused
        if text[e] != ",":
            raise ValueError("not compact JSON")
        at = e + 1


_REQUEST_HOLES: Final = ("system", "tools", "messages")


def _request_holes(
    text: str, memo: SplitMemo
) -> tuple[list[tuple[int, int, str]], tuple[str, ...], tuple[ChainLink, ...]]:
    """The spans to cut out of an envelope (a model request's ``system``, ``tools`` and
    ``messages``) and its messages; none for an envelope without a model request."""
    command = _member_start(text, 0, "command")
    if command is None:
        return [], (), ()
    request = _member_start(text, command, "request")
    if request is None or text[request] != "{":
        return [], (), ()
    holes: list[tuple[int, int, str]] = []
    messages: tuple[str, ...] = ()
    chain: tuple[ChainLink, ...] = ()
    at: int | None = None if text[request + 1] == "}" else request + 1
    while at is not None:
        key, start = _key_at(text, at)
        if key == "messages" and text[start] == "[":
            end, found, reused = _messages(text, start, memo)
            messages = tuple(found)
            new = messages[reused:]
            previous = memo.chain[reused - 1][0] if reused else ""
            chain = (*memo.chain[:reused], *message_chain(new, previous))
            memo.prefix = text[start : end - 1]
            memo.messages, memo.chain = messages, chain
            memo.parsed = memo.hashed = sum(map(len, new))
        else:
            end = _value_end(text, start)
        if key in _REQUEST_HOLES:
            holes.append((start, end, key))
        at = _next_member(text, end)
    return holes, messages, chain


def split_envelope(json_text: str, memo: SplitMemo | None = None) -> EnvelopeParts:
    """Cut a canonical envelope into :class:`EnvelopeParts` (an envelope without a model
    request is all skeleton). :func:`join_envelope` puts it back byte for byte.

    ``memo``: the previous split of the same conversation (updated in place); the messages it
    saw are not parsed or hashed again, so a split costs what is new in the request."""
    scratch = SplitMemo() if memo is None else attrs.evolve(memo)
    try:
        holes, messages, chain = _request_holes(json_text, scratch)
    except (ValueError, IndexError):
        holes, messages, chain = [], (), ()
    else:
        if memo is not None:
            memo.prefix, memo.messages, memo.chain = scratch.prefix, scratch.messages, scratch.chain
            memo.parsed, memo.hashed = scratch.parsed, scratch.hashed
    cut: list[str] = []
    refs: list[list[object]] = []
    blobs: list[tuple[str, str]] = []
    position = 0
    offset = 0
    for start, end, name in holes:
        cut.append(json_text[position:start])
        offset += start - position
        if name == "messages" and json_text[start] == "[":
            refs.append([offset, "messages", len(messages)])
        else:
            value = json_text[start:end]
            digest = text_hash(value)
            blobs.append((digest, value))
            refs.append([offset, "blob", digest])
        position = end
    cut.append(json_text[position:])
    skeleton = json.dumps(
        {"holes": refs, "text": "".join(cut)}, ensure_ascii=False, separators=(",", ":")
    )
    return EnvelopeParts(skeleton, tuple(blobs), messages, chain)


def join_envelope(skeleton: str, blobs: dict[str, str], messages: Sequence[str]) -> str:
    """The envelope JSON a skeleton was cut from, given its blobs by hash and its messages
    (``store_corrupt`` if a part is missing)."""
    try:
        data = json.loads(skeleton)
        text: str = data["text"]
        out: list[str] = []
        position = 0
        for hole in data["holes"]:
            offset = hole[0]
            out.append(text[position:offset])
            if hole[1] == "messages":
                if len(messages) != hole[2]:
                    raise KeyError("messages")
                out.append("[" + ",".join(messages) + "]")
            else:
                out.append(blobs[hole[2]])
            position = offset
        out.append(text[position:])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LashError(
            codes.STORE_CORRUPT, f"a stored envelope skeleton does not join: {exc!r}"
        ) from None
    return "".join(out)


class SplitMemos:
    """The :class:`SplitMemo` of the last split of each of the :data:`SPLIT_MEMOS` most
    recently split sessions (a store keeps one of these)."""

    def __init__(self, keep: int = SPLIT_MEMOS) -> None:
        self._keep = keep
        self._memos: dict[str, SplitMemo] = {}

    def of(self, session_id: str) -> SplitMemo:
        """The session's memo (a fresh one if it had none or it was dropped)."""
        memos = self._memos
        memo = memos.pop(session_id, None)
        if memo is None:
            memo = SplitMemo()
            while len(memos) >= self._keep:
                del memos[next(iter(memos))]
        memos[session_id] = memo
        return memo

    def __len__(self) -> int:
        return len(self._memos)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._memos

    def __getitem__(self, session_id: str) -> SplitMemo:
        """The session's memo, left where it is in the order of use."""
        return self._memos[session_id]


def stored_skeleton(parts: EnvelopeParts) -> str:
    """What a store keeps in an effect row for a split envelope: the last node of its message
    chain (empty without messages), a newline, the skeleton."""
    tail = parts.chain[-1][0] if parts.chain else ""
    return f"{tail}\n{parts.skeleton}"


def skeleton_blob_hashes(stored: str, what: str) -> tuple[str, str, list[str]]:
    """``(message chain tail, skeleton, hashes of its blobs)`` of a :func:`stored_skeleton`
    (``store_corrupt``, naming ``what``, if it does not decode)."""
    tail, _, skeleton = stored.partition("\n")
    try:
        wanted = [h[2] for h in json.loads(skeleton)["holes"] if h[1] == "blob"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LashError(codes.STORE_CORRUPT, f"{what} does not decode: {exc}") from None
    return tail, skeleton, wanted


def join_stored_envelope(
    skeleton: str, blobs: dict[str, str], messages: Sequence[str], digest: str, what: str
) -> str:
    """:func:`join_envelope`, checked against the envelope's hash (``store_corrupt`` naming
    ``what`` when the parts do not hash back)."""
    text = join_envelope(skeleton, blobs, messages)
    if text_hash(text) != digest:
        raise LashError(codes.STORE_CORRUPT, f"{what} does not hash back")
    return text
