"""Shared inputs: a secret, realistic scopes and waits, their plain-dict forms, key pools."""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

from lash_core import (
    AwaitEventKey,
    EffectEnvelope,
    EffectKind,
    KeySigner,
    ToolCompletion,
    TurnScope,
)
from lash_core.effects import EffectSubject, Invocation, InvocationScope, Replay, SleepCommand

__all__ = ["SECRET", "KeyPool", "identity", "identity_dicts", "signer", "sleep_envelope"]

SECRET = b"lash-benchmark-secret-0123456789abcdef"


def signer() -> KeySigner:
    return KeySigner(SECRET)


@functools.cache
def sleep_envelope(duration_ms: int) -> EffectEnvelope:
    """A validated sleep effect of ``duration_ms`` (built once per duration)."""
    invocation = Invocation(
        scope=InvocationScope.for_turn("sess_bench", "turn_bench", 0, 0),
        subject=EffectSubject("e", EffectKind.SLEEP),
        replay=Replay("k"),
    )
    return EffectEnvelope.build(invocation, SleepCommand(duration_ms))


def _ulid_like(kind: str, n: int) -> str:
    """26 deterministic base-32 characters, shaped like a ULID (letters and digits mixed)."""
    digest = hashlib.sha256(f"{kind}:{n}".encode()).digest()
    return base64.b32encode(digest).decode()[:26]


def identity(session: int, index: int) -> tuple[TurnScope, ToolCompletion]:
    """A turn scope and tool-completion wait with ids shaped like real ones."""
    scope = TurnScope(
        session_id=f"sess_{_ulid_like('session', session)}",
        turn_id=f"turn_{_ulid_like('turn', index // 4)}",
    )
    wait = ToolCompletion(tool_call_id=f"toolu_{_ulid_like('call', index).lower()}")
    return scope, wait


def identity_dicts(scope: TurnScope, wait: ToolCompletion) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same scope and wait as plain dicts in wire order (what a hand-written host holds)."""
    return (
        {"type": "turn", "session_id": scope.session_id, "turn_id": scope.turn_id},
        {"type": "tool_completion", "tool_call_id": wait.tool_call_id},
    )


class KeyPool:
    """Keys minted on demand, spread over ``sessions`` sessions; grows, never shrinks."""

    def __init__(self, key_signer: KeySigner, *, sessions: int, prefix: int = 0) -> None:
        self._signer = key_signer
        self._sessions = sessions
        self._prefix = prefix
        self._keys: list[AwaitEventKey] = []

    def take(self, count: int) -> list[AwaitEventKey]:
        """The first ``count`` keys of the pool (minted now if missing; call outside timing)."""
        while len(self._keys) < count:
            i = len(self._keys)
            scope, wait = identity(self._prefix + i % self._sessions, i)
            self._keys.append(self._signer.mint(scope, wait))
        return self._keys[:count]
