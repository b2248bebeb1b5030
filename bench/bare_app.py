"""The baseline of the throughput bench: a bare Starlette app answering a constant small JSON.

It answers `GET /` and, so that both servers can be sent the very same requests, vibedream's
submit and poll paths too (without reading the body). Whatever the emulator costs beyond this is
the emulator's own work."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"status": "ok"}


async def constant(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


def create_bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", constant, methods=["GET"]),
            Route("/api/v1/models/{model}/generate", constant, methods=["POST"]),
            Route("/api/v1/predictions/{prediction_id}", constant, methods=["GET"]),
        ]
    )


app = create_bare_app()
