"""Small request helpers shared by every provider: JSON bodies with a size limit, bearer keys,
and the public base URL the client used (so URLs work behind a proxy or a root path)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.types import Scope

from emulator.core.errors import ApiError, ErrorKind

JSON_MEDIA_TYPES = ("application/json",)
# Up to this size a body orjson refused is parsed again by the lenient json module (a BOM, NaN,
# Infinity) and explained in its words; a larger one only as orjson saw it. Re-parsing a large
# body holds the event loop (and the GIL) for its whole length: about 2 ms per MiB.
LENIENT_PARSE_LIMIT = 2**20
_UTF8_BOM = b"\xef\xbb\xbf"
HEADER_TABLE_KEY = "emulator.headers"
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class JSONResponse(StarletteJSONResponse):
    """Starlette's JSONResponse, serialised by orjson: the same compact UTF-8 bytes for the
    payloads we send, in a fraction of the time (a measurable share of every poll)."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or media_type is not None or background is not None:
            super().__init__(content, status_code, headers, media_type, background)
            return
        # Every provider answer: the very headers Starlette builds, without its general path.
        self.status_code = status_code
        self.background = None
        self.body = body = orjson.dumps(content)
        self.raw_headers = [(b"content-length", str(len(body)).encode()), _JSON_CONTENT_TYPE]

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def header(request: Request, name: bytes) -> str | None:
    """A request header by its lower-case name (the first one if repeated, as Starlette's
    `Headers.get`), or None. A provider request reads several headers, and Starlette's
    `Headers` scans the whole list for each: this builds a table once per request instead."""
    return scope_header(request.scope, name)


def scope_header(scope: Scope, name: bytes) -> str | None:
    """`header`, for an ASGI scope (middleware that has no Request): the same table."""
    table = scope.get(HEADER_TABLE_KEY)
    if table is None:
        raw = scope["headers"]
        table = scope[HEADER_TABLE_KEY] = dict(reversed(raw if isinstance(raw, list) else [*raw]))
    value = table.get(name)
    return None if value is None else value.decode("latin-1")


async def read_json(request: Request, max_bytes: int, *, check_media_type: bool = True) -> Any:
    """The parsed JSON body, or an ApiError that says clearly what is wrong with it. Without
    `check_media_type` the body is read as JSON whatever its Content-Type says."""
    media_type = (header(request, b"content-type") or "").split(";")[0].strip().lower()
    if (
        check_media_type
        and media_type
        and media_type not in JSON_MEDIA_TYPES
        and not media_type.endswith("+json")
    ):
        raise ApiError(
            ErrorKind.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type must be application/json, got {media_type}.",
        )
    declared = header(request, b"content-length") or ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    try:
        body = await _read_bounded(request, max_bytes)
    except ClientDisconnect:
        # The client hung up mid-body (or its Content-Length promised more than it sent): a
        # bad request, not a crash. Nobody reads the answer; the journal and the log do.
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "The client closed the connection before sending the whole request body.",
        ) from None
    if len(body) > max_bytes:
        raise _too_large(max_bytes)
    try:
        # The fast parser for the usual body; json explains what is wrong with any other.
        return orjson.loads(body)
    except orjson.JSONDecodeError as refused:
        return _parse_or_explain(body, refused)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body (an upload's bytes), refused past `max_bytes` as read_json refuses it."""
    declared = header(request, b"content-length") or ""
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    try:
        return await _read_bounded(request, max_bytes)
    except ClientDisconnect:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "The client closed the connection before sending the whole request body.",
        ) from None


async def _read_bounded(request: Request, max_bytes: int) -> bytes:
    """The body, refused as soon as it passes `max_bytes` (a chunked body declares no length).
    Read from the ASGI messages directly: Starlette's `Request.stream` is an async generator,
    a measurable share of a submit; the body is read once, here."""
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parse_or_explain(body: bytes, refused: orjson.JSONDecodeError) -> Any:
    """What orjson refused, parsed by json (which also takes a UTF-8 BOM, NaN and Infinity),
    or an ApiError naming the line and column at fault. A body over LENIENT_PARSE_LIMIT is not
    read a second time (json would hold the event loop for the whole body): orjson's own reason
    is given, after dropping a BOM."""
    if not body or body.isspace():
        raise ApiError(ErrorKind.INVALID_REQUEST, "The request body is empty; send a JSON object.")
    if "not valid UTF-8" in refused.msg:
        raise _not_utf8()
    if "surrogate" in refused.msg:
        # json.loads would take "\ud800" and hand on a str that cannot be encoded again.
        raise _not_json(f"{refused.msg} (a lone UTF-16 surrogate)", refused)
    if "depth limit" in refused.msg:
        raise _nested_too_deeply()
    if len(body) > LENIENT_PARSE_LIMIT:
        if not body.startswith(_UTF8_BOM):
            raise _not_json(refused.msg, refused)
        try:
            return orjson.loads(memoryview(body)[len(_UTF8_BOM) :])
        except orjson.JSONDecodeError as without_bom:
            return _parse_or_explain(body[len(_UTF8_BOM) :], without_bom)
    try:
        # JSON on the wire is UTF-8 (RFC 8259); json.loads(bytes) would also guess UTF-16/32.
        parsed = json.loads(body.decode("utf-8-sig"))
        # A lone surrogate behind the NaN that sent us here: refused as orjson refuses it.
        json.dumps(parsed, ensure_ascii=False).encode()
        return parsed
    except UnicodeEncodeError:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "The request body is not valid JSON: it holds a lone UTF-16 surrogate.",
        ) from None
    except UnicodeDecodeError:
        raise _not_utf8() from None
    except json.JSONDecodeError as exc:
        raise _not_json(exc.msg, exc) from None
    except RecursionError:
        raise _nested_too_deeply() from None


def _not_json(reason: str, error: json.JSONDecodeError) -> ApiError:
    return ApiError(
        ErrorKind.INVALID_REQUEST,
        f"The request body is not valid JSON: {reason} at line {error.lineno}"
        f" column {error.colno}.",
    )


def _not_utf8() -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, "The request body is not valid UTF-8.")


def _nested_too_deeply() -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, "The request body is nested too deeply.")


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        ErrorKind.PAYLOAD_TOO_LARGE, f"The request body is larger than {max_bytes} bytes."
    )


def query_params(request: Request, allowed: Sequence[str]) -> QueryParams:
    """The query parameters, or a 400 naming any that is not in `allowed`."""
    params = request.query_params
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"Unknown parameter(s) {', '.join(unknown)}; use {', '.join(allowed)}.",
        )
    return params


def whole_number(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """A query parameter's whole number in low..high, `default` when absent, else a 400."""
    if text is None:
        return default
    # isascii: str.isdigit() also says yes to "²", which int() refuses; and int() refuses
    # more than 4300 digits, so a number longer than `high` is refused unread.
    if (
        not (text.isascii() and text.isdigit())
        or len(text) > len(str(high))
        or not low <= int(text) <= high
    ):
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{name} must be a whole number {low}..{high}.")
    return int(text)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = (header(request, b"authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def public_base_url(request: Request) -> str:
    """scheme://host[:port][/root_path] as the client reached us, without a trailing slash.

    Read straight from the ASGI scope (Starlette's request.base_url builds URL objects, a
    measurable share of a poll); the proxy-headers middleware has already set the scheme.
    """
    scope = request.scope
    host = header(request, b"host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", None)
        host = server_host if port is None else f"{server_host}:{port}"
    return f"{scope['scheme']}://{host}{scope.get('root_path', '')}".rstrip("/")


def route_path(scope: Scope) -> str:
    """The path the routes match: the request's path without the root path (serve
    --root-path) uvicorn puts in front of it, as Starlette's router reads it."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :]
    return path
