"""Signed await-event keys.

A key names one promise: ``key_id`` is the SHA-256 of the canonical JSON ``[scope, wait]`` and
``signature`` is HMAC-SHA256 under the host's secret over ``[scope, wait, key_id]``. Keys are
bearer capabilities: whoever holds one may resolve it, nobody can forge one.

The secret is an input. :class:`KeySigner` signs with its current secret and also accepts
signatures made with older secrets (rotation).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Final

import attrs

from lash_core import codes
from lash_core.canonical import json_string, sha256_hex, wire_text_of
from lash_core.errors import LashError, LocalProtocolError
from lash_core.scope import ExecutionScope, WaitIdentity, validate_scope, validate_wait
from lash_core.wire import to_wire

__all__ = [
    "PROMISE_KEY_PREFIX",
    "AwaitEventKey",
    "KeySigner",
    "constant_time_eq",
    "derive_key_id",
    "sign_material",
]

PROMISE_KEY_PREFIX: Final = "lash-await-event:"
MIN_SECRET_BYTES: Final = 16


@attrs.frozen
class AwaitEventKey:
    """A signed, unguessable name for one promise."""

    scope: ExecutionScope
    wait: WaitIdentity
    key_id: str
    signature: str

    @property
    def promise_key(self) -> str:
        """``lash-await-event:{key_id}``."""
        return PROMISE_KEY_PREFIX + self.key_id

    @property
    def session_id(self) -> str | None:
        return self.scope.session_id


def _identity_text(scope: ExecutionScope, wait: WaitIdentity) -> str:
    try:
        return wire_text_of([to_wire(scope), to_wire(wait)])
    except LashError as exc:
        raise LashError(codes.AWAIT_EVENT_KEY_HASH, exc.message) from None


def _material_from(identity_text: str, key_id: str) -> bytes:
    # identity_text is "[scope,wait]"; the material is "[scope,wait,\"key_id\"]".
    return f"{identity_text[:-1]},{json_string(key_id)}]".encode()


def _encode(identity_text: str) -> bytes:
    try:
        return identity_text.encode("utf-8")
    except UnicodeEncodeError:
        raise LashError(
            codes.AWAIT_EVENT_KEY_HASH, "a scope or wait string holds a lone surrogate"
        ) from None


def derive_key_id(scope: ExecutionScope, wait: WaitIdentity) -> str:
    """Validate ``scope`` and ``wait`` and return the key id (hex SHA-256 of ``[scope, wait]``)."""
    validate_scope(scope)
    validate_wait(wait)
    return sha256_hex(_encode(_identity_text(scope, wait)))


def sign_material(scope: ExecutionScope, wait: WaitIdentity, key_id: str) -> bytes:
    """The bytes a signature covers: canonical JSON ``[scope, wait, key_id]``.

    A scope, wait or key id that cannot be written (a ``key_id`` that is not a string, a lone
    surrogate) is ``await_event_key_hash``.
    """
    if type(key_id) is not str:
        raise LashError(
            codes.AWAIT_EVENT_KEY_HASH, f"`key_id` must be a str, got {type(key_id).__name__}"
        )
    text = _identity_text(scope, wait)
    try:
        return _material_from(text, key_id)
    except UnicodeEncodeError:
        raise LashError(codes.AWAIT_EVENT_KEY_HASH, "a string holds a lone surrogate") from None


def constant_time_eq(a: str | bytes, b: str | bytes) -> bool:
    """Compare two strings or byte strings in time independent of where they differ.

    Anything else (``None``, say) is never equal: the answer is ``False``.
    """
    if not isinstance(a, str | bytes) or not isinstance(b, str | bytes):
        return False
    ab = a.encode("utf-8", "surrogatepass") if isinstance(a, str) else a
    bb = b.encode("utf-8", "surrogatepass") if isinstance(b, str) else b
    return hmac.compare_digest(ab, bb)


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    if isinstance(value, str):
        return "a str (encode it: secret.encode())"
    if value is None:
        return "None"
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _check_secret(secret: object, argument: str) -> bytes:
    if not isinstance(secret, bytes | bytearray) or len(secret) < MIN_SECRET_BYTES:
        raise LocalProtocolError(
            codes.AWAIT_EVENT_SECRET_INVALID,
            f"`{argument}` must be a signing secret of at least {MIN_SECRET_BYTES} bytes, "
            f"got {_describe(secret)}",
        )
    return bytes(secret)


def _check_previous(previous: object) -> tuple[bytes, ...]:
    if isinstance(previous, bytes | bytearray | str):
        raise LocalProtocolError(
            codes.AWAIT_EVENT_SECRET_INVALID,
            "`previous` must be a sequence of older secrets, not one secret: pass (secret,)",
        )
    if not isinstance(previous, Iterable):
        raise LocalProtocolError(
            codes.AWAIT_EVENT_SECRET_INVALID,
            f"`previous` must be a sequence of older secrets (() for none), "
            f"got {_describe(previous)}",
        )
    return tuple(_check_secret(s, f"previous[{i}]") for i, s in enumerate(previous))


class KeySigner:
    """Mints and verifies keys with a secret given as input.

    ``secret`` is bytes, at least 16 of them (``MIN_SECRET_BYTES``). ``previous`` secrets (a
    sequence of such bytes) are still accepted by :meth:`verify` but never used to sign, so a
    host can rotate its secret without invalidating keys already handed out. Anything else is
    ``await_event_secret_invalid``, naming the argument.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secret: bytes, previous: Iterable[bytes] = ()) -> None:
        self._secrets: tuple[bytes, ...] = (
            _check_secret(secret, "secret"),
            *_check_previous(previous),
        )

    @property
    def rotating(self) -> bool:
        """Whether older secrets are still accepted."""
        return len(self._secrets) > 1

    def sign(self, material: bytes) -> str:
        """Lowercase hex HMAC-SHA256 of ``material`` (bytes) under the current secret."""
        if not isinstance(material, bytes | bytearray):
            raise LocalProtocolError(
                codes.AWAIT_EVENT_KEY_MATERIAL_INVALID,
                f"`material` must be bytes, got {type(material).__name__}",
            )
        return hmac.digest(self._secrets[0], material, "sha256").hex()

    def mint(self, scope: ExecutionScope, wait: WaitIdentity) -> AwaitEventKey:
        """Validate and sign the key for ``(scope, wait)``. Same inputs, same key."""
        validate_scope(scope)
        validate_wait(wait)
        text = _identity_text(scope, wait)
        key_id = hashlib.sha256(_encode(text)).hexdigest()
        signature = hmac.digest(self._secrets[0], _material_from(text, key_id), "sha256").hex()
        return AwaitEventKey(scope, wait, key_id, signature)

    def verify(self, key: AwaitEventKey) -> bool:
        """True if ``key`` carries a signature one of our secrets made over its contents.

        Never raises on a malformed key: anything that cannot be verified is simply false.
        """
        try:
            text = _identity_text(key.scope, key.wait)
            material = _material_from(text, key.key_id)
        except (LashError, UnicodeEncodeError, AttributeError, TypeError):
            return False
        return self._signed(material, key.signature)

    def verified_texts(self, key: AwaitEventKey) -> tuple[str, str] | None:
        """``(scope, wait)`` as canonical JSON (each what ``canonical_json`` writes) when
        ``key`` verifies (as :meth:`verify`), else ``None``; never raises. For a store that
        writes the promise's row: the texts the signature covered, written once."""
        try:
            scope_text = wire_text_of(to_wire(key.scope))
            wait_text = wire_text_of(to_wire(key.wait))
            # [scope, wait] as _identity_text writes it: a list's canonical JSON is its items'.
            material = _material_from(f"[{scope_text},{wait_text}]", key.key_id)
        except (LashError, UnicodeEncodeError, AttributeError, TypeError):
            return None
        if not self._signed(material, key.signature):
            return None
        return scope_text, wait_text

    def _signed(self, material: bytes, presented: object) -> bool:
        """Whether ``presented`` is one of our secrets' signatures of ``material``."""
        if not isinstance(presented, str):
            return False
        presented_bytes = presented.encode("utf-8", "surrogatepass")
        good = False
        for secret in self._secrets:
            # hmac.digest (as sign and mint): one call into OpenSSL, hmac.new's bytes
            expected = hmac.digest(secret, material, "sha256").hex().encode()
            good |= hmac.compare_digest(expected, presented_bytes)
        return good
