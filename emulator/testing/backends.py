"""Where a test's emulator runs, and how to reach it: in-process (the app called through an
ASGI transport, no socket) or over HTTP (a uvicorn server). Everything else about the helper is
the same for both, as it drives the emulator through its HTTP admin API (handle.py)."""

from __future__ import annotations

from typing import Protocol

import httpx
from starlette.types import ASGIApp

from emulator.testing.asgi import BlockingASGITransport

IN_PROCESS_BASE_URL = "http://testserver"
# A 4K image takes a moment to render on first download; vertex answers with the image itself.
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class Backend(Protocol):
    base_url: str

    def open_client(self) -> httpx.Client: ...

    def open_async_client(self) -> httpx.AsyncClient: ...


class InProcess:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.base_url = IN_PROCESS_BASE_URL

    def open_client(self) -> httpx.Client:
        return httpx.Client(transport=BlockingASGITransport(self.app), base_url=self.base_url)

    def open_async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=self.base_url
        )


class OverHttp:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def open_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=HTTP_TIMEOUT)

    def open_async_client(self) -> httpx.AsyncClient:
        # No kept-alive connections: a pooled one belongs to the event loop that opened it, and
        # a test may run several loops (asyncio.run twice) with the same client. Nothing then
        # stays open, so the client needs no closing either.
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=HTTP_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
