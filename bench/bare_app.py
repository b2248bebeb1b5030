"""The baseline of the throughput bench: a bare Starlette app answering a constant small JSON.

It answers `GET /` and, so that both servers can be sent the very same requests, vibedream's
submit and poll paths too (without reading the body). Whatever the emulator costs beyond this is
the emulator's own work. It also streams (`POST /v1beta/models/{model}:streamGenerateContent`):
STREAM_CHUNKS SSE events STREAM_GAP seconds apart, each stamped with the `time.monotonic()` of
its sending, for bench/record_proxy.py to see when a chunk passed through a proxy arrives."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

BODY = {"status": "ok"}
STREAM_CHUNKS = 5
STREAM_GAP = 0.02  # seconds between two chunks


async def constant(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


async def stamped_events() -> AsyncIterator[bytes]:
    for index in range(STREAM_CHUNKS):
        if index:
            await asyncio.sleep(STREAM_GAP)
        # Stamped last thing before the chunk is handed to the server: its sending time.
        yield f"data: {json.dumps({'chunk': index, 'sent': time.monotonic()})}\n\n".encode()


async def stream(request: Request) -> StreamingResponse:
    return StreamingResponse(stamped_events(), media_type="text/event-stream")


def create_bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", constant, methods=["GET"]),
            Route("/api/v1/models/{model}/generate", constant, methods=["POST"]),
            Route("/api/v1/predictions/{prediction_id}", constant, methods=["GET"]),
            Route("/v1beta/models/{model}:streamGenerateContent", stream, methods=["POST"]),
        ]
    )


app = create_bare_app()
