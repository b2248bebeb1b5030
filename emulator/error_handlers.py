"""Every error is answered in the shape of the provider that owns the path; never a traceback.

Unknown paths and wrong methods (raised by the router), neutral ApiErrors (raised by handlers
and core services) and unexpected crashes all end here.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from emulator import admin
from emulator.core.errors import STATUS_KIND, ApiError, ErrorKind
from emulator.core.streams import StreamCut
from emulator.providers import error_shape_for_path

log = logging.getLogger("emulator")


def render(request: Request, error: ApiError) -> Response:
    found = error_shape_for_path(request.url.path)
    return (found[1].render if found else admin.render_error)(error)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return render(request, exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = STATUS_KIND.get(exc.status_code, ErrorKind.INVALID_REQUEST)
    messages = {
        ErrorKind.NOT_FOUND: f"No such endpoint: {request.method} {request.url.path}",
        ErrorKind.METHOD_NOT_ALLOWED: f"{request.method} is not allowed on {request.url.path}",
    }
    error = ApiError(kind, messages.get(kind, str(exc.detail)), headers=dict(exc.headers or {}))
    return render(request, error)


async def on_crash(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after answering, so the traceback still reaches the server log. A
    # stream cut by a `drop` fault passes here too under a root path: a fault, not a crash.
    if not isinstance(exc, StreamCut):
        log.error("unexpected error on %s %s: %r", request.method, request.url.path, exc)
    return render(request, ApiError(ErrorKind.INTERNAL, "The emulator hit an unexpected error."))


EXCEPTION_HANDLERS = {
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    Exception: on_crash,
}
