"""Replay validation: is a reconstructed envelope the one that was recorded?

A durable host records each effect's canonical envelope (its JSON and hash). When a handler is
replayed, the envelope it rebuilds must hash the same. If it does not, the mismatch is explained
by a structural diff: the JSON paths where the two differ (``command.duration_ms``), their total
count, and the first eight of them in the error's summary and message.
"""

from __future__ import annotations

import json
from typing import Any, Final, TypeAlias

import attrs

from lash_core import codes, wire
from lash_core.canonical import canonical_text_of, sha256_hex
from lash_core.effects.envelope import CanonicalEnvelope
from lash_core.effects.errors import ReplayMismatchSummary
from lash_core.errors import LashError, ReplayMismatchError
from lash_core.wire import omit_if_none

__all__ = [
    "DIFF_VALUE_LIMIT",
    "SUMMARY_PATH_LIMIT",
    "DiffMissing",
    "DiffPresent",
    "DiffSide",
    "DivergentPath",
    "EnvelopeDiff",
    "divergent_paths",
    "envelope_diff",
    "validate_replayed_effect_envelope",
]

SUMMARY_PATH_LIMIT: Final = 8
"""How many divergent paths a summary and message name."""
DIFF_VALUE_LIMIT: Final = 2048
"""Values whose compact JSON is longer than this are left out of a diff (reason
``size_limit``)."""

_ABSENT: Final = object()


def _json_eq(a: Any, b: Any) -> bool:
    """JSON equality: ``1``, ``1.0`` and ``true`` are three different values."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is dict:
        return a.keys() == b.keys() and all(_json_eq(v, b[k]) for k, v in a.items())
    if ta is list:
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _walk(recorded: Any, reconstructed: Any, path: str, out: list[tuple[str, Any, Any]]) -> None:
    if recorded is not _ABSENT and reconstructed is not _ABSENT:
        if _json_eq(recorded, reconstructed):
            return
        if type(recorded) is dict and type(reconstructed) is dict:
            for key in sorted(recorded.keys() | reconstructed.keys()):
                child = f"{path}.{key}" if path else key
                _walk(recorded.get(key, _ABSENT), reconstructed.get(key, _ABSENT), child, out)
            return
        if type(recorded) is list and type(reconstructed) is list:
            for i in range(max(len(recorded), len(reconstructed))):
                _walk(
                    recorded[i] if i < len(recorded) else _ABSENT,
                    reconstructed[i] if i < len(reconstructed) else _ABSENT,
                    f"{path}[{i}]",
                    out,
                )
            return
    out.append((path, recorded, reconstructed))


def divergent_paths(recorded: Any, reconstructed: Any) -> list[str]:
    """Every path where two JSON values differ, in the reference's order (object keys sorted,
    array indices ascending; no recursion below a difference)."""
    out: list[tuple[str, Any, Any]] = []
    _walk(recorded, reconstructed, "", out)
    return [p for p, _, _ in out]


@attrs.frozen
class DiffMissing:
    """The value is absent on this side."""


@attrs.frozen
class DiffPresent:
    """The value is present; small values are included as compact JSON."""

    json_len: int
    json_sha256: str
    value_json: str | None = omit_if_none()
    value_json_omitted_reason: str | None = omit_if_none()


DiffSide: TypeAlias = DiffMissing | DiffPresent
"""One side of a divergent path: ``{"state":"missing"}`` or ``{"state":"present",...}``."""

wire.tagged_union(DiffSide, "state", {"missing": DiffMissing, "present": DiffPresent})


@attrs.frozen
class DivergentPath:
    """One place where the recorded and reconstructed envelopes differ."""

    path: str
    recorded: DiffSide
    reconstructed: DiffSide


@attrs.frozen
class EnvelopeDiff:
    """A full diagnostic diff of two canonical envelopes."""

    recorded_envelope_hash: str
    reconstructed_envelope_hash: str
    divergent_paths: tuple[DivergentPath, ...]


def _side(value: Any) -> DiffSide:
    if value is _ABSENT:
        return DiffMissing()
    text = canonical_text_of(value)
    data = text.encode("utf-8")
    if len(data) > DIFF_VALUE_LIMIT:
        return DiffPresent(len(data), sha256_hex(data), None, "size_limit")
    return DiffPresent(len(data), sha256_hex(data), text, None)


def _check_pair(pair: CanonicalEnvelope, side: str) -> None:
    try:
        actual = sha256_hex(pair.json.encode("utf-8"))
    except UnicodeEncodeError:
        actual = ""
    if actual != pair.hash:
        raise LashError(
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT,
            f"{side} canonical envelope hash {pair.hash} is not the SHA-256 of its json",
        )


def _parse(pair: CanonicalEnvelope, side: str) -> Any:
    try:
        return json.loads(pair.json)
    except (ValueError, RecursionError) as exc:
        raise LashError(
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_DECODE,
            f"{side} canonical envelope json does not parse: {exc}",
        ) from None


def _diff_entries(
    recorded: CanonicalEnvelope, reconstructed: CanonicalEnvelope
) -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    _walk(_parse(recorded, "recorded"), _parse(reconstructed, "reconstructed"), "", out)
    return out


def envelope_diff(recorded: CanonicalEnvelope, reconstructed: CanonicalEnvelope) -> EnvelopeDiff:
    """The diagnostic diff of two canonical envelopes (both sides of every divergent path)."""
    entries = _diff_entries(recorded, reconstructed)
    return EnvelopeDiff(
        recorded.hash,
        reconstructed.hash,
        tuple(DivergentPath(p, _side(a), _side(b)) for p, a, b in entries),
    )


def validate_replayed_effect_envelope(
    recorded: CanonicalEnvelope,
    reconstructed: CanonicalEnvelope,
    mismatch_code: str = codes.RUNTIME_EFFECT_REPLAY_HASH_MISMATCH,
) -> None:
    """Check a reconstructed envelope against the recorded one.

    Returns if the hashes agree. Raises ``runtime_effect_envelope_canonical_hash_invariant``
    when a pair is inconsistent, ``runtime_effect_envelope_canonical_decode`` when a json does
    not parse, and otherwise a :class:`~lash_core.errors.ReplayMismatchError` with
    ``mismatch_code``, a summary (total count, first eight paths) and the reference's message.
    """
    _check_pair(recorded, "recorded")
    _check_pair(reconstructed, "reconstructed")
    if recorded.hash == reconstructed.hash:
        return
    if recorded.json == reconstructed.json:
        raise LashError(
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT,
            "canonical envelopes with identical json have different hashes",
        )
    paths = [p for p, _, _ in _diff_entries(recorded, reconstructed)]
    if not paths:
        raise LashError(
            codes.RUNTIME_EFFECT_ENVELOPE_CANONICAL_HASH_INVARIANT,
            "canonical envelopes differ in hash but not in structure",
        )
    first = tuple(paths[:SUMMARY_PATH_LIMIT])
    summary = ReplayMismatchSummary(divergent_path_count=len(paths), first_divergent_paths=first)
    message = (
        f"recorded runtime effect hash {recorded.hash} did not match reconstructed envelope "
        f"hash {reconstructed.hash}; divergent_path_count={len(paths)}; "
        f"divergent_paths=[{', '.join(first)}]"
    )
    raise ReplayMismatchError(mismatch_code, message, summary)
