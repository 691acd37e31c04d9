"""Provider failures as :class:`~lash_core.effects.LlmCallError`: which are worth retrying.

Retryable: a rate limit (429), a request timeout (408), a conflict (409, a lock the provider
asks to retry), any 5xx including Anthropic's 529 *overloaded*, a client timeout, a connection
that failed or dropped, and an error event in the middle of a stream that names an overload, a
rate limit or a server error. Permanent: every other 4xx (400, 401, 403, 404, 413, 422, ...),
since sending the same request again gets the same answer. A success response that cannot
be read is permanent too, unless it is a stream that ended early. The provider's status, error type,
code, message and request id are kept in the error's ``raw`` evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from lash_core import codes
from lash_core.effects import LlmCallError, LlmErrorKind
from lash_core.wire import JsonValue

__all__ = ["classify_http_error", "error_from_exception", "response_invalid"]

_BODY_LIMIT = 2000
"""Characters of a body that is not JSON kept as evidence (an HTML error page, say)."""

_RETRYABLE_TYPES: Mapping[str, LlmErrorKind] = {
    "overloaded_error": LlmErrorKind.SERVER,
    "api_error": LlmErrorKind.SERVER,
    "server_error": LlmErrorKind.SERVER,
    "service_unavailable_error": LlmErrorKind.SERVER,
    "rate_limit_error": LlmErrorKind.RATE_LIMIT,
    "rate_limit_exceeded": LlmErrorKind.RATE_LIMIT,
    "requests": LlmErrorKind.RATE_LIMIT,
    "tokens": LlmErrorKind.RATE_LIMIT,
    "timeout_error": LlmErrorKind.TIMEOUT,
}
_PERMANENT_TYPES: Mapping[str, LlmErrorKind] = {
    "authentication_error": LlmErrorKind.AUTH,
    "permission_error": LlmErrorKind.AUTH,
    "billing_error": LlmErrorKind.AUTH,
    "insufficient_quota": LlmErrorKind.AUTH,
    "invalid_request_error": LlmErrorKind.INVALID_REQUEST,
    "not_found_error": LlmErrorKind.INVALID_REQUEST,
    "request_too_large": LlmErrorKind.INVALID_REQUEST,
}
_OVERFLOW_HINTS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
)


def _fields(body: object) -> tuple[str | None, str | None, str | None]:
    """``(type, code, message)`` of an error body: ``{"error": {...}}`` or the inner object."""
    inner = body
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        inner = body["error"]
    if not isinstance(inner, Mapping):
        return None, None, body if isinstance(body, str) and body else None

    def text(name: str) -> str | None:
        value = inner.get(name)
        return str(value) if value is not None and value != "" else None

    return text("type"), text("code"), text("message")


def _kind_of_status(status: int) -> tuple[LlmErrorKind, bool]:
    if status == 429:
        return LlmErrorKind.RATE_LIMIT, True
    if status == 408:
        return LlmErrorKind.TIMEOUT, True
    if status == 409:
        return LlmErrorKind.SERVER, True
    if status >= 500:
        return LlmErrorKind.SERVER, True
    if status in (401, 402, 403):
        return LlmErrorKind.AUTH, False
    return LlmErrorKind.INVALID_REQUEST, False


def classify_http_error(
    provider: str,
    status: int | None,
    body: object,
    *,
    request_id: str | None = None,
    retry_after: str | None = None,
) -> LlmCallError:
    """The error for an HTTP error ``status`` (``None`` or a 2xx: an error event in a stream,
    classified by its error type) with the provider's error ``body``."""
    error_type, error_code, message = _fields(body)
    if status is not None and status >= 400:
        kind, retryable = _kind_of_status(status)
    elif (found := _RETRYABLE_TYPES.get(error_type or "")) is not None:
        kind, retryable = found, True
    elif (found := _PERMANENT_TYPES.get(error_type or "")) is not None:
        kind, retryable = found, False
    elif (found := _RETRYABLE_TYPES.get(error_code or "")) is not None:
        kind, retryable = found, True
    else:
        # The request was accepted, then the stream broke: the server failed, not the request.
        kind, retryable = LlmErrorKind.SERVER, True
    if not retryable:
        hints = " ".join(filter(None, (error_code, error_type, message))).lower()
        if any(hint in hints for hint in _OVERFLOW_HINTS):
            kind = LlmErrorKind.CONTEXT_OVERFLOW
        elif error_code == "content_filter" or error_type == "content_filter":
            kind = LlmErrorKind.CONTENT_FILTER
    where = f"HTTP {status}" if status is not None and status >= 400 else "error event in stream"
    label = "/".join(dict.fromkeys(filter(None, (error_type, error_code))))
    text = f"{provider}: {where}" + (f" ({label})" if label else "")
    text += f": {message}" if message else ""
    evidence: dict[str, JsonValue] = {"provider": provider}
    if status is not None:
        evidence["status"] = status
    for name, value in (
        ("type", error_type),
        ("code", error_code),
        ("message", message),
        ("request_id", request_id),
        ("retry_after", retry_after),
    ):
        if value is not None:
            evidence[name] = value
    evidence["body"] = _json_body(body)
    return LlmCallError(
        message=text,
        retryable=retryable,
        kind=kind,
        raw=evidence,
        code=codes.PROVIDER_HTTP_ERROR,
    )


def _json_body(body: object) -> JsonValue:
    if isinstance(body, str):
        return body[:_BODY_LIMIT]
    if body is None or isinstance(body, bool | int | float):
        return body
    if isinstance(body, list | Mapping):
        try:
            value: JsonValue = json.loads(json.dumps(body))
        except (TypeError, ValueError):
            return repr(body)[:_BODY_LIMIT]
        return value
    return repr(body)[:_BODY_LIMIT]


def response_invalid(provider: str, detail: str, *, retryable: bool = False) -> LlmCallError:
    """A success response lash cannot read (``retryable``: a stream cut short)."""
    return LlmCallError(
        message=f"{provider}: the response could not be read: {detail}",
        retryable=retryable,
        kind=LlmErrorKind.TRANSPORT if retryable else LlmErrorKind.UNKNOWN,
        raw={"provider": provider, "detail": detail},
        code=codes.PROVIDER_RESPONSE_INVALID,
    )


def _header(exc: Any, name: str) -> str | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


def error_from_exception(provider: str, sdk: ModuleType, exc: Exception) -> LlmCallError | None:
    """The error for an exception the SDK raised (``None``: it is not the SDK's, re-raise it).

    Both SDKs share the classes used here: ``APITimeoutError`` under ``APIConnectionError``,
    ``APIResponseValidationError`` and ``APIStatusError`` under ``APIError``.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return LlmCallError(
            message=f"{provider}: the request timed out: {exc}",
            retryable=True,
            kind=LlmErrorKind.TIMEOUT,
            raw={"provider": provider, "error": type(exc).__name__},
            code=codes.PROVIDER_TIMEOUT,
        )
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        detail = f"{exc}" + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
        return LlmCallError(
            message=f"{provider}: could not reach the server: {detail}",
            retryable=True,
            kind=LlmErrorKind.TRANSPORT,
            raw={"provider": provider, "error": type(exc).__name__, "detail": detail},
            code=codes.PROVIDER_UNREACHABLE,
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return response_invalid(provider, str(exc))
    if isinstance(exc, sdk.APIStatusError):
        request_id = _header(exc, "x-request-id") or _header(exc, "request-id")
        return classify_http_error(
            provider,
            exc.status_code,
            exc.body,
            request_id=request_id,
            retry_after=_header(exc, "retry-after"),
        )
    if isinstance(exc, sdk.APIError):
        body = exc.body if exc.body is not None else {"message": str(exc)}
        return classify_http_error(provider, None, body)
    return None
