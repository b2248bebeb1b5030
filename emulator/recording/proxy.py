"""The recording proxy: an ASGI app that forwards every request to a real provider (an
upstream) and answers with what the upstream answered, while each exchange is recorded.

- Routing: a request's path names its provider and, for ``vertex``, its surface, with the
  emulator's own tables (``emulator.providers.error_shape_for_path``). The upstream is the one
  given for the surface (``gateway``, ``gemini``, ``vertex-ai``: see ``UPSTREAM_KEYS``), else
  the one given for the provider, else the first upstream given (an unknown path, a provider
  not recorded: still proxied, recorded with provider and operation null).
- Forwarding: method, base path + path, query (``?key=`` too: forwarded, never written), body
  and headers minus the hop-by-hop ones (Host becomes the upstream's). The answer's status,
  headers (hop-by-hop dropped) and raw bytes are passed on as they arrive, chunk by chunk,
  with no buffering (a stream reaches the client as the upstream sends it); the bytes are
  teed into the recording.
- ``record_downloads``: output URLs in JSON answers (emulator/recording/downloads.py) are
  rewritten to pass through the proxy; the recording keeps the upstream's original answer and
  the original URL of each download.
- An upstream that refuses the connection (or breaks it) is answered 502, one that does not
  answer in time 504, in the provider's own error shape (a plain JSON error on an unknown
  path); the failure is recorded with a ``note``.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.types import Message, Receive, Scope, Send

from emulator.core.errors import ApiError, ErrorKind
from emulator.providers import PROVIDERS, error_shape_for_path
from emulator.providers.vertex.surfaces import GATEWAY, GEMINI_API, VERTEX_AI, Surface
from emulator.recording.downloads import DOWNLOAD_PREFIX, Rewrites, output_urls_rewritten
from emulator.recording.har import Timings
from emulator.recording.writer import Exchange, SessionWriter

__all__ = ["UPSTREAM_KEYS", "RecordingProxy", "Upstream"]

log = logging.getLogger("imagegen_emulator.record")

# --upstream keys beyond the provider ids: the vertex provider's surfaces, reached at different
# hosts (a gateway and Google's API in one session). The Vertex AI surface is `vertex-ai`,
# since `vertex` is the provider's key (all three surfaces).
SURFACE_KEYS: Mapping[str, Surface] = {
    "gateway": GATEWAY,
    "gemini": GEMINI_API,
    "vertex-ai": VERTEX_AI,
}
UPSTREAM_KEYS: tuple[str, ...] = (*(provider.id for provider in PROVIDERS), *SURFACE_KEYS)
# An error shape's path prefixes -> the surface key answering them.
_SURFACE_OF_PREFIXES = {surface.path_prefixes: key for key, surface in SURFACE_KEYS.items()}

# RFC 9110 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_REQUEST_DROPPED = HOP_BY_HOP | {"host", "content-length"}
# Records one exchange: (status, response headers, body as received, first byte at, note).
Record = Callable[[int, list[tuple[str, str]], bytes, float | None, str | None], None]
_DECOMPRESSORS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 0}


@dataclass(frozen=True)
class Upstream:
    """Where one key's requests go: ``base_url`` may carry a path (a gateway under /ai)."""

    key: str
    base_url: str

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def prefix(self) -> str:
        return httpx.URL(self.base).path.rstrip("/")


def _route_keys(path: str) -> tuple[str, ...]:
    """The upstream keys that may serve a path, most specific first (surface, provider)."""
    found = error_shape_for_path(path)
    if found is None:
        return ()
    provider, shape = found
    surface = _SURFACE_OF_PREFIXES.get(shape.path_prefixes)
    return (surface, provider.id) if surface else (provider.id,)


def _error_response(path: str, kind: ErrorKind, message: str) -> tuple[int, list[Any], bytes]:
    """(status, raw headers, body) of an error in the shape of the provider owning ``path``."""
    found = error_shape_for_path(path)
    error = ApiError(kind, message)
    if found is None:
        status = 502 if kind is ErrorKind.BAD_GATEWAY else 504
        body = json.dumps({"error": {"code": status, "message": message}}).encode()
        headers = [(b"content-type", b"application/json")]
        return status, headers, body
    response = found[1].render(error)
    return response.status_code, list(response.raw_headers), bytes(response.body)


def _decoded(body: bytes, encoding: str) -> bytes:
    """A body without its Content-Encoding, for the recording; as received when unknown."""
    wbits = _DECOMPRESSORS.get(encoding.strip().lower())
    if wbits is None:
        return body
    try:
        return zlib.decompress(body, wbits)
    except zlib.error:
        return body


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


class RecordingProxy:
    """``RecordingProxy(upstreams, writer)`` is the ASGI app; ``timeout`` is seconds for the
    upstream to connect and to send each piece of its answer."""

    def __init__(
        self,
        upstreams: Sequence[Upstream],
        writer: SessionWriter,
        *,
        timeout: float = 300.0,
        record_downloads: bool = False,
    ) -> None:
        if not upstreams:
            raise ValueError("a recording proxy needs at least one upstream")
        self.upstreams = {upstream.key: upstream for upstream in upstreams}
        self.default = upstreams[0]
        self.writer = writer
        self.record_downloads = record_downloads
        self.rewrites = Rewrites(upstream.base for upstream in upstreams)
        # The transport alone, not an httpx.AsyncClient: the client's own machinery (cookies,
        # auth, redirects, default headers) costs a third of a millisecond a request here and
        # does nothing a proxy wants. The transport keeps the pooled connections, and answers
        # with the raw bytes as received (no decoding): they are passed on as they are.
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            trust_env=False,
        )
        self.timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}

    def upstream_for(self, path: str) -> Upstream:
        for key in _route_keys(path):
            if key in self.upstreams:
                return self.upstreams[key]
        return self.default

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._exchange(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------------ one exchange

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, clock = datetime.now(UTC), time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        body = await _read_body(receive)
        prefix = ""
        if path.startswith(DOWNLOAD_PREFIX):
            target = self.rewrites.original(raw_path, query)
            if target is None:
                await _send_whole(send, *_not_rewritten())
                return
        else:
            upstream = self.upstream_for(path)
            prefix = upstream.prefix
            target = upstream.base + raw_path + (f"?{query}" if query else "")
        headers = [
            (_text(name), _text(value))
            for name, value in scope["headers"]
            if _text(name).lower() not in _REQUEST_DROPPED
        ]
        # Only the client's headers, plus Host and Content-Length (httpx.Request adds them).
        request = httpx.Request(
            method,
            target,
            headers=headers,
            content=body if body else None,
            extensions={"timeout": self.timeouts},
        )
        sent_headers = [(_text(k), _text(v)) for k, v in request.headers.raw]
        request_body = body if body or method not in ("GET", "HEAD", "DELETE") else None

        def record(
            status: int,
            response_headers: list[tuple[str, str]],
            response_body: bytes,
            first_byte: float | None,
            note: str | None = None,
        ) -> None:
            elapsed = (time.perf_counter() - clock) * 1000
            # The path only: a query may carry the key.
            log.info("%s %s -> %d (%.1f ms)", method, path, status, elapsed)
            self.writer.add(
                Exchange(
                    method,
                    target,
                    sent_headers,
                    request_body,
                    status,
                    response_headers,
                    response_body,
                    Timings(
                        started,
                        elapsed,
                        None if first_byte is None else (first_byte - clock) * 1000,
                    ),
                    prefix=prefix,
                    note=note,
                )
            )

        try:
            response = await self.transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            await self._failed(send, path, ErrorKind.GATEWAY_TIMEOUT, exc, record)
            return
        except httpx.TransportError as exc:
            await self._failed(send, path, ErrorKind.BAD_GATEWAY, exc, record)
            return
        first_byte = time.perf_counter()
        try:
            await self._relay(scope, send, response, path, first_byte, record)
        finally:
            await response.aclose()

    async def _relay(
        self,
        scope: Scope,
        send: Send,
        response: httpx.Response,
        path: str,
        first_byte: float,
        record: Record,
    ) -> None:
        received = [(_text(k), _text(v)) for k, v in response.headers.raw]
        passed = [(k, v) for k, v in response.headers.raw if _text(k).lower() not in HOP_BY_HOP]
        encoding = response.headers.get("content-encoding", "identity")
        provider = _route_keys(path)[-1:] or ("",)
        if self.record_downloads and _is_json(response) and provider[0]:
            # The client gets the rewritten URLs; the recording keeps the upstream's answer.
            try:
                raw = b"".join([chunk async for chunk in response.stream])
            except httpx.TransportError as exc:  # nothing sent yet: still a 502/504
                kind = (
                    ErrorKind.GATEWAY_TIMEOUT
                    if isinstance(exc, httpx.TimeoutException)
                    else ErrorKind.BAD_GATEWAY
                )
                await self._failed(send, path, kind, exc, record)
                return
            original = _decoded(raw, encoding)
            rewritten = self._rewritten(scope, provider[0], original)
            if rewritten is None:
                await _send_whole(send, response.status_code, passed, raw)
            else:
                kept = [
                    (k, v)
                    for k, v in passed
                    if _text(k).lower() not in ("content-length", "content-encoding")
                ]
                kept.append((b"content-length", str(len(rewritten)).encode()))
                await _send_whole(send, response.status_code, kept, rewritten)
            record(response.status_code, received, original, first_byte, None)
            return
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": passed}
        )
        chunks: list[bytes] = []
        note = None
        try:
            async for chunk in response.stream:
                chunks.append(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.TransportError as exc:
            # Too late for a 502/504: the status is sent. The answer is left unfinished, so
            # uvicorn closes the connection and the client sees it cut, as from the upstream.
            note = f"the answer was cut: {_cause(exc)}"
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        record(
            response.status_code, received, _decoded(b"".join(chunks), encoding), first_byte, note
        )

    def _rewritten(self, scope: Scope, provider: str, original: bytes) -> bytes | None:
        try:
            body = json.loads(original)
        except ValueError:
            return None
        base = _proxy_base(scope)
        changed = output_urls_rewritten(
            provider, body, lambda url: self.rewrites.rewrite(url, base)
        )
        if changed is body:
            return None
        return json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode()

    async def _failed(
        self, send: Send, path: str, kind: ErrorKind, exc: Exception, record: Record
    ) -> None:
        cause = _cause(exc)
        message = (
            f"The upstream did not answer in time ({cause})."
            if kind is ErrorKind.GATEWAY_TIMEOUT
            else f"The upstream could not be reached ({cause})."
        )
        status, headers, body = _error_response(path, kind, message)
        await _send_whole(send, status, headers, body)
        record(status, [(_text(k), _text(v)) for k, v in headers], body, None, cause)


def _cause(exc: Exception) -> str:
    """What went wrong, in words without the URL (which may hold a key)."""
    names = {
        httpx.ConnectError: "connection refused or failed",
        httpx.ConnectTimeout: "connect timeout",
        httpx.ReadTimeout: "read timeout",
        httpx.WriteTimeout: "write timeout",
        httpx.PoolTimeout: "pool timeout",
        httpx.RemoteProtocolError: "connection closed by the upstream",
        httpx.ReadError: "read error",
        httpx.WriteError: "write error",
    }
    return next((text for kind, text in names.items() if type(exc) is kind), type(exc).__name__)


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "").lower()


def _proxy_base(scope: Scope) -> str:
    """The proxy's own base URL as the client reached it."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _not_rewritten() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    message = (
        "This download URL was not handed out by this recording proxy: it forwards none other."
    )
    body = json.dumps({"error": {"code": 404, "message": message}}).encode()
    return 404, [(b"content-type", b"application/json")], body


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _send_whole(send: Send, status: int, headers: list[Any], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
