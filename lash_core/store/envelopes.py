"""Content-addressed envelopes, so storage grows linearly with a conversation.

:func:`split_envelope` cuts a canonical envelope into a small skeleton, its big repeated parts
(a model request's ``system`` and ``tools``, stored once each by hash) and its messages (stored
as a hash chain, :func:`message_chain`, so a request repeating the whole history adds only its
new messages); :func:`join_envelope` puts it back byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Final

import attrs

from lash_core import codes
from lash_core.errors import LashError

__all__ = ["EnvelopeParts", "join_envelope", "message_chain", "split_envelope", "text_hash"]


def text_hash(text: str) -> str:
    """Lowercase hex SHA-256 of ``text``'s UTF-8 bytes (lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_STRUCTURAL: Final = re.compile(r'["{}\[\]]')


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
    """The index after the compact JSON value starting at ``i``."""
    c = text[i]
    if c == '"':
        return _string_end(text, i)
    if c in "{[":
        depth = 0
        search = _STRUCTURAL.search
        while True:
            match = search(text, i)
            if match is None:
                raise ValueError("unbalanced JSON")
            i = match.start()
            c = text[i]
            if c == '"':
                i = _string_end(text, i)
                continue
            depth += 1 if c in "{[" else -1
            i += 1
            if depth == 0:
                return i
    j = i
    while j < len(text) and text[j] not in ",]}":
        j += 1
    return j


def _members(text: str, i: int) -> dict[str, tuple[int, int]]:
    """The members of the compact JSON object at ``i``: key -> (value start, value end)."""
    if text[i] != "{":
        raise ValueError("not an object")
    out: dict[str, tuple[int, int]] = {}
    i += 1
    if text[i] == "}":
        return out
    while True:
        key_end = _string_end(text, i)
        key = json.loads(text[i:key_end])
        if text[key_end] != ":":
            raise ValueError("not compact JSON")
        start = key_end + 1
        end = _value_end(text, start)
        out[key] = (start, end)
        if text[end] == "}":
            return out
        if text[end] != ",":
            raise ValueError("not compact JSON")
        i = end + 1


def _elements(text: str, i: int, end: int) -> list[str]:
    """The element texts of the compact JSON array spanning ``text[i:end]``."""
    if text[i] != "[":
        raise ValueError("not an array")
    out: list[str] = []
    i += 1
    if text[i] == "]":
        return out
    while True:
        e = _value_end(text, i)
        out.append(text[i:e])
        if e >= end - 1:
            return out
        if text[e] != ",":
            raise ValueError("not compact JSON")
        i = e + 1


@attrs.frozen
class EnvelopeParts:
    """A canonical envelope cut into a small ``skeleton`` and its big, repeated parts.

    ``blobs`` are the cut-out values stored once each by hash (a model request's ``system``
    and ``tools``); ``messages`` are the request's messages (stored as a hash chain, so a
    request repeating the whole history adds only its new messages). ``skeleton`` is canonical
    JSON ``{"holes": [[offset, "blob", hash] | [offset, "messages", count]], "text": ...}``.
    """

    skeleton: str
    blobs: tuple[tuple[str, str], ...]
    messages: tuple[str, ...]


def message_chain(messages: Sequence[str]) -> list[tuple[str, str, str]]:
    """The hash chain of a message list: ``(node, previous node, message hash)`` for each
    message in order (the first's previous node is ``""``). A list extending another shares
    its nodes."""
    out: list[tuple[str, str, str]] = []
    previous = ""
    for message in messages:
        digest = text_hash(message)
        node = text_hash(f"{previous}:{digest}")
        out.append((node, previous, digest))
        previous = node
    return out


_REQUEST_HOLES: Final = ("system", "tools", "messages")


def split_envelope(json_text: str) -> EnvelopeParts:
    """Cut a canonical envelope into :class:`EnvelopeParts` (an envelope without a model
    request is all skeleton). :func:`join_envelope` puts it back byte for byte."""
    holes: list[tuple[int, int, str]] = []
    try:
        top = _members(json_text, 0)
        command = top.get("command")
        if command is not None:
            request = _members(json_text, command[0]).get("request")
            if request is not None and json_text[request[0]] == "{":
                members = _members(json_text, request[0])
                for name in _REQUEST_HOLES:
                    if name in members:
                        start, end = members[name]
                        holes.append((start, end, name))
    except (ValueError, IndexError):
        holes = []
    holes.sort()
    cut: list[str] = []
    refs: list[list[object]] = []
    blobs: list[tuple[str, str]] = []
    messages: tuple[str, ...] = ()
    position = 0
    offset = 0
    for start, end, name in holes:
        cut.append(json_text[position:start])
        offset += start - position
        value = json_text[start:end]
        if name == "messages" and value.startswith("["):
            messages = tuple(_elements(json_text, start, end))
            refs.append([offset, "messages", len(messages)])
        else:
            digest = text_hash(value)
            blobs.append((digest, value))
            refs.append([offset, "blob", digest])
        position = end
    cut.append(json_text[position:])
    skeleton = json.dumps(
        {"holes": refs, "text": "".join(cut)}, ensure_ascii=False, separators=(",", ":")
    )
    return EnvelopeParts(skeleton, tuple(blobs), messages)


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
