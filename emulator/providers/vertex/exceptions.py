"""The two error bodies of the generateContent paths, each defined in one table.

The gateway's path answers as seed 001 shows: `{"error": {"message", "type", "code"}}`
(contracts/vertex/error-gateway.json). Google's own paths answer as Google does:
`{"error": {"code": <HTTP status>, "message", "status"}}` (contracts/vertex/error-google.json).
"""

from __future__ import annotations

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse

# ErrorKind -> (HTTP status, type, code) on the gateway's path.
GATEWAY_ERRORS: dict[ErrorKind, tuple[int, str, str]] = {
    ErrorKind.INVALID_REQUEST: (400, "invalid_request_error", "invalid_parameter"),
    ErrorKind.UNAUTHENTICATED: (401, "authentication_error", "invalid_api_key"),
    ErrorKind.INSUFFICIENT_CREDITS: (402, "insufficient_quota", "insufficient_balance"),
    ErrorKind.PERMISSION_DENIED: (403, "permission_error", "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found_error", "not_found"),
    ErrorKind.CONFLICT: (409, "invalid_request_error", "conflict"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "invalid_request_error", "method_not_allowed"),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, "invalid_request_error", "payload_too_large"),
    # Issue 3: every invalid request is a 400 on this API, a body that is not JSON included.
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "invalid_request_error", "unsupported_media_type"),
    ErrorKind.RATE_LIMITED: (429, "rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.INTERNAL: (500, "server_error", "internal_error"),
    ErrorKind.BAD_GATEWAY: (502, "server_error", "bad_gateway"),
    ErrorKind.UNAVAILABLE: (503, "server_error", "service_unavailable"),
    ErrorKind.GATEWAY_TIMEOUT: (504, "server_error", "gateway_timeout"),
}

# ErrorKind -> (HTTP status, canonical status) on Google's paths. Google has no 402, 405, 413
# or 415: quota is RESOURCE_EXHAUSTED, a wrong method is NOT_FOUND, and a body it cannot take
# is INVALID_ARGUMENT.
GOOGLE_ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID_REQUEST: (400, "INVALID_ARGUMENT"),
    ErrorKind.UNAUTHENTICATED: (401, "UNAUTHENTICATED"),
    ErrorKind.INSUFFICIENT_CREDITS: (429, "RESOURCE_EXHAUSTED"),
    ErrorKind.PERMISSION_DENIED: (403, "PERMISSION_DENIED"),
    ErrorKind.NOT_FOUND: (404, "NOT_FOUND"),
    # AIP-133: creating a resource whose id is taken is ALREADY_EXISTS.
    ErrorKind.CONFLICT: (409, "ALREADY_EXISTS"),
    ErrorKind.METHOD_NOT_ALLOWED: (404, "NOT_FOUND"),
    ErrorKind.PAYLOAD_TOO_LARGE: (400, "INVALID_ARGUMENT"),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "INVALID_ARGUMENT"),
    ErrorKind.RATE_LIMITED: (429, "RESOURCE_EXHAUSTED"),
    ErrorKind.INTERNAL: (500, "INTERNAL"),
    # Google fronts answer a bad upstream with 502 and, in JSON, the UNAVAILABLE status.
    ErrorKind.BAD_GATEWAY: (502, "UNAVAILABLE"),
    ErrorKind.UNAVAILABLE: (503, "UNAVAILABLE"),
    ErrorKind.GATEWAY_TIMEOUT: (504, "DEADLINE_EXCEEDED"),
}


def render_gateway_error(error: ApiError) -> JSONResponse:
    status, error_type, code = GATEWAY_ERRORS[error.kind]
    body = {"error": {"message": error.message, "type": error_type, "code": code}}
    return JSONResponse(body, status_code=status, headers=error.headers)


def render_google_error(error: ApiError) -> JSONResponse:
    status, canonical = GOOGLE_ERRORS[error.kind]
    body: dict = {"error": {"code": status, "message": error.message, "status": canonical}}
    if error.details:
        body["error"]["details"] = error.details
    return JSONResponse(body, status_code=status, headers=error.headers)
