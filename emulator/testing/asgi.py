"""A synchronous httpx transport for an ASGI app, so a plain ``httpx.Client`` can call the
emulator in-process.

httpx ships ``ASGITransport`` for its AsyncClient only. This one runs that same transport on an
event loop in a background thread (an anyio blocking portal) and hands the buffered answer back
to the calling thread. Starlette's TestClient does much the same, but recent Starlette builds it
on httpx2, whose responses and exceptions are other classes than httpx's: a test that catches
``httpx.HTTPStatusError`` would miss them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import anyio.from_thread
import httpx
from anyio.from_thread import BlockingPortal
from starlette.types import ASGIApp


class BlockingASGITransport(httpx.BaseTransport):
    """The app runs on the portal's loop; exceptions it raises (the emulator's in-process
    ``drop`` and ``timeout`` faults raise httpx's own) reach the caller unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._portal_context: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The body is read here, in the caller's thread: a sync client's stream may be a
        # plain iterator, which the async transport could not read.
        request.read()
        status, headers, body = self._portal_for_call().call(self._exchange, request)
        return httpx.Response(status, headers=headers, content=body, request=request)

    async def _exchange(self, request: httpx.Request) -> tuple[int, httpx.Headers, bytes]:
        response = await self._transport.handle_async_request(request)
        return response.status_code, response.headers, await response.aread()

    def _portal_for_call(self) -> BlockingPortal:
        # Started on first use: a client that is never used starts no thread.
        if self._portal is None:
            self._portal_context = anyio.from_thread.start_blocking_portal()
            self._portal = self._portal_context.__enter__()
        return self._portal

    def close(self) -> None:
        if self._portal_context is not None:
            context, self._portal_context, self._portal = self._portal_context, None, None
            context.__exit__(None, None, None)
