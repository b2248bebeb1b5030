"""3D AI Studio's error body: the one place to change once a real error response is recorded.

The provider documents its error codes (validation_failed, invalid_api_key,
insufficient_credits, rate_limited) but not the body, so every error is
`{"error": {"code": "<code>", "message": "<message>", "field": "<parameter>"?}}`
(contracts/3daistudio/error.json).
"""

from __future__ import annotations

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse

CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "validation_failed",
    ErrorKind.UNAUTHENTICATED: "invalid_api_key",
    ErrorKind.INSUFFICIENT_CREDITS: "insufficient_credits",
    ErrorKind.PERMISSION_DENIED: "permission_denied",
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
    body: dict[str, str] = {"code": CODES[error.kind], "message": error.message}
    if error.field:
        body["field"] = error.field
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers)
