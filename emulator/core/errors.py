"""Provider-neutral API errors.

Core services and provider handlers raise `ApiError` with a neutral `ErrorKind`; the provider
that owns the request path renders it in its own wire shape (see each provider's exceptions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNAUTHENTICATED = "unauthenticated"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # the resource to create already exists
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    BAD_GATEWAY = "bad_gateway"
    UNAVAILABLE = "unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"


# The HTTP status each kind is answered with, unless a provider says otherwise.
DEFAULT_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.INSUFFICIENT_CREDITS: 402,
    ErrorKind.PERMISSION_DENIED: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.METHOD_NOT_ALLOWED: 405,
    ErrorKind.PAYLOAD_TOO_LARGE: 413,
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
    ErrorKind.BAD_GATEWAY: 502,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.GATEWAY_TIMEOUT: 504,
}

STATUS_KIND: dict[int, ErrorKind] = {status: kind for kind, status in DEFAULT_STATUS.items()}


@dataclass(frozen=True)
class QuotaBreach:
    """Which limit a 429 raised at admission (a rate limit, or an injected 429 fault) stands
    for, for a provider whose error body names the quota (the Gemini API's QuotaFailure)."""

    model: str | None
    requests: int | None = None  # the configured limit, when there is one
    per_seconds: float | None = None


class ApiError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field
        self.headers = headers or {}
        # Typed detail objects (google.rpc.*, each with an @type) for providers that send them.
        self.details: list[dict[str, Any]] = list(details or [])
        self.quota: QuotaBreach | None = None  # set on a 429 from admission (core/runtime.py)

    @property
    def status(self) -> int:
        return DEFAULT_STATUS[self.kind]
