"""Which web pages may call the emulator from a browser: CORS, through Starlette's own
CORSMiddleware, set up to answer as Google's generativelanguage.googleapis.com answers.

What Google answers (probed on the live API by two unrelated public projects, whose notes
agree, September 2026; Google documents none of it): a preflight gets 200 with
`Access-Control-Allow-Origin` echoing the page's origin (not `*`),
`Access-Control-Allow-Methods: DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT`,
`Access-Control-Allow-Headers` echoing the headers asked for (`x-goog-api-key,content-type`)
and `Access-Control-Max-Age: 3600`, and no `Access-Control-Allow-Credentials`; an actual
response, a 400 included, carries the echoed origin, and Google's front end sends
`Vary: Origin` on every answer. The other providers publish nothing on CORS: they get the
same policy, so a browser app works against every provider route.

Provider routes are open to any origin by default (`[cors] allowed_origins`); the admin API
is open to none unless `[admin] allowed_origins` names some. One middleware instance serves
both of the app's request paths (routing.py's table and Starlette's router): it wraps the
dispatch between them, so a preflight or a header cannot differ between the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.core.http import scope_header

ANY_ORIGIN = "*"
# Google's list, in its order (Starlette joins it with ", ").
ALLOWED_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
PREFLIGHT_MAX_AGE = 3600  # seconds, as Google's preflights say
# Response headers a page's script must be able to read (a browser hides every other one but
# the CORS-safelisted few): the 429/503 wait, and the Files API's resumable upload protocol,
# whose URL and status the browser SDK reads from the response headers
# (googleapis/js-genai src/_api_client.ts, src/cross/_cross_uploader.ts).
EXPOSED_HEADERS = (
    "Retry-After",
    "X-Goog-Upload-URL",
    "X-Goog-Upload-Status",
    "X-Goog-Upload-Chunk-Granularity",
    "X-Goog-Upload-Size-Received",
)


class CorsPolicy:
    """An ASGI app behind Starlette's CORSMiddleware for some origins ("*": any), or the app
    as it is when there are none: no CORS headers, and a preflight is answered as any other
    OPTIONS request (a 405, or the admin API's 401), so a browser refuses the call.

    A request without an Origin header (no browser asked, or a same-origin GET) skips the
    middleware, which would only add `Vary: Origin` to its answer, for ~4 us less on every
    server-to-server request; `vary_on_origin` adds exactly that (tests/test_cors.py compares
    both with the middleware's own answers)."""

    __slots__ = ("app", "middleware")

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.middleware = cors_middleware(app, allowed_origins) if allowed_origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware is None:
            await self.app(scope, receive, send)
        elif scope_header(scope, b"origin") is not None:
            await self.middleware(scope, receive, send)
        else:
            await self.app(scope, receive, vary_on_origin(send))


def cors_middleware(app: ASGIApp, allowed_origins: Sequence[str]) -> CORSMiddleware:
    any_origin = ANY_ORIGIN in allowed_origins
    return CORSMiddleware(
        app,
        # Google echoes the origin rather than sending "*": a pattern matching every origin
        # makes Starlette echo it too (allow_origins=["*"] would answer "*").
        allow_origins=() if any_origin else tuple(allowed_origins),
        allow_origin_regex=".*" if any_origin else None,
        allow_methods=ALLOWED_METHODS,
        allow_headers=["*"],  # echo what the preflight asks for, as Google does
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )


def vary_on_origin(send: Send) -> Send:
    """`send`, adding Origin to the response's Vary as CORSMiddleware does for a request
    without an Origin: the answer would differ for one with it, so a cache must not reuse
    it (an output file is cached for a day)."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", [])
            if any(name == b"vary" for name, _ in headers):
                vary = MutableHeaders(scope=message)  # merged into one, as the middleware does
                vary["Vary"] = ", ".join([*vary.getlist("Vary"), "Origin"])
            else:
                message["headers"] = [*headers, (b"vary", b"Origin")]
        await send(message)

    return send_varying
