"""Key minting and verification against the same work written directly with the stdlib.

The baselines start from the scope and wait already held as plain dicts (built outside the
timed loop), so each ratio is what lash's typed path costs on top of the bare JSON, SHA-256 and
HMAC work: validation, unstructuring the attrs values, and building the key record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from benchmarks.catalog import benchmark
from benchmarks.fixtures import SECRET, identity, identity_dicts, signer
from benchmarks.harness import Body, Context, Figure, each, require
from lash_core import AwaitEventKey, ToolCompletion, TurnScope

DISTINCT = 64
"""Distinct (scope, wait) pairs cycled through, so no operation repeats its input back to back."""

MINT_BUDGET = 1.5
VERIFY_BUDGET = 1.5

_SEPARATORS = (",", ":")


def baseline_mint(secret: bytes, scope: dict[str, Any], wait: dict[str, Any]) -> tuple[str, str]:
    """``(key_id, signature)`` computed directly from plain dicts."""
    text = json.dumps([scope, wait], separators=_SEPARATORS, ensure_ascii=False)
    key_id = hashlib.sha256(text.encode()).hexdigest()
    material = json.dumps([scope, wait, key_id], separators=_SEPARATORS, ensure_ascii=False)
    return key_id, hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()


def baseline_verify(
    secret: bytes, scope: dict[str, Any], wait: dict[str, Any], key_id: str, signature: str
) -> bool:
    """Recompute the signature over ``[scope, wait, key_id]`` and compare in constant time."""
    material = json.dumps([scope, wait, key_id], separators=_SEPARATORS, ensure_ascii=False)
    expected = hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _pairs() -> list[tuple[TurnScope, ToolCompletion]]:
    return [identity(i % 8, i) for i in range(DISTINCT)]


def _cycle(items: list[tuple[object, ...]], n: int) -> list[tuple[object, ...]]:
    return [items[i % len(items)] for i in range(n)]


@benchmark("key_mint")
def key_mint(ctx: Context) -> list[Figure]:
    """KeySigner.mint(TurnScope, ToolCompletion) vs json.dumps + sha256 + json.dumps + HMAC."""
    key_signer = signer()
    pairs = _pairs()
    typed: list[tuple[object, ...]] = [(s, w) for s, w in pairs]
    plain: list[tuple[object, ...]] = []
    for scope, wait in pairs:
        sd, wd = identity_dicts(scope, wait)
        key = key_signer.mint(scope, wait)
        require(
            (key.key_id, key.signature) == baseline_mint(SECRET, sd, wd),
            "the mint baseline must compute the same key",
        )
        plain.append((SECRET, sd, wd))

    def subject(n: int) -> Body:
        return each(key_signer.mint, _cycle(typed, n))

    def baseline(n: int) -> Body:
        return each(baseline_mint, _cycle(plain, n))

    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("key_mint", sub, "stdlib json+sha256+hmac", base, budget=MINT_BUDGET)]


@benchmark("key_verify")
def key_verify(ctx: Context) -> list[Figure]:
    """KeySigner.verify(key) vs json.dumps([scope, wait, key_id]) + HMAC + compare_digest."""
    key_signer = signer()
    keys: list[AwaitEventKey] = [key_signer.mint(s, w) for s, w in _pairs()]
    typed: list[tuple[object, ...]] = [(k,) for k in keys]
    plain: list[tuple[object, ...]] = []
    for k in keys:
        if not isinstance(k.scope, TurnScope) or not isinstance(k.wait, ToolCompletion):
            raise TypeError("expected turn-scoped tool-completion keys")
        sd, wd = identity_dicts(k.scope, k.wait)
        require(
            key_signer.verify(k) and baseline_verify(SECRET, sd, wd, k.key_id, k.signature),
            "both verifiers must accept the key",
        )
        plain.append((SECRET, sd, wd, k.key_id, k.signature))

    def subject(n: int) -> Body:
        return each(key_signer.verify, _cycle(typed, n))

    def baseline(n: int) -> Body:
        return each(baseline_verify, _cycle(plain, n))

    sub, base = ctx.compare(subject, baseline)
    return [ctx.figure("key_verify", sub, "stdlib json+hmac+compare", base, budget=VERIFY_BUDGET)]
