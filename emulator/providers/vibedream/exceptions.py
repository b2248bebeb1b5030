"""vibedream's error body: the one place to change once a real error response is recorded.

The provider publishes no error shape for 400/401/402/404/429, so every error is
`{"error": "<message>", "code": "<code>", "field": "<parameter>"?}`
(contracts/vibedream/error.json),
`error` being a string like the prediction's own `error` field.
"""

from __future__ import annotations

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse

CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "invalid_request",
    ErrorKind.UNAUTHENTICATED: "unauthorized",
    ErrorKind.INSUFFICIENT_CREDITS: "insufficient_credits",
    ErrorKind.PERMISSION_DENIED: "forbidden",
    ErrorKind.NOT_FOUND: "not_found",
    ErrorKind.CONFLICT: "conflict",
    ErrorKind.METHOD_NOT_ALLOWED: "method_not_allowed",
    ErrorKind.PAYLOAD_TOO_LARGE: "payload_too_large",
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    ErrorKind.RATE_LIMITED: "rate_limited",
    ErrorKind.INTERNAL: "internal_error",
    ErrorKind.BAD_GATEWAY: "bad_gateway",
    ErrorKind.UNAVAILABLE: "service_unavailable",
    ErrorKind.GATEWAY_TIMEOUT: "gateway_timeout",
}


def render_error(error: ApiError) -> JSONResponse:
    body: dict[str, str] = {"error": error.message, "code": CODES[error.kind]}
    if error.field:
        body["field"] = error.field
    return JSONResponse(body, status_code=error.status, headers=error.headers)
