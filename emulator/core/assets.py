"""Output files: described when a job is created, rendered lazily on first download, served at
URLs built from the incoming request's base URL, visible only between completion and expiry."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.core.http import JSONResponse
from emulator.core.images import MIME_TYPES, ImageSpec
from emulator.core.runtime import runtime

ASSET_PREFIX = "/assets"


@dataclass(frozen=True)
class Asset:
    id: str  # random and unguessable: one asset's URL says nothing about another's
    filename: str  # the last path segment, shaped like the provider's own file names
    # Built on first download, not at submit: most of a submit's cost otherwise, and many
    # outputs are never fetched.
    make_spec: Callable[[], ImageSpec]
    available_at: float  # the job's completion time
    expires_at: float | None = None

    @cached_property
    def spec(self) -> ImageSpec:
        return self.make_spec()

    def available(self, now: float) -> bool:
        return now >= self.available_at and (self.expires_at is None or now < self.expires_at)

    def url(self, base_url: str) -> str:
        return f"{base_url}{ASSET_PREFIX}/{self.id}/{self.filename}"


def new_asset_id() -> str:
    return secrets.token_urlsafe(18)


async def download(request: Request) -> Response:
    rt = runtime(request)
    asset = rt.store.get_asset(request.path_params["asset_id"])
    if (
        asset is None
        or asset.filename != request.path_params["filename"]
        or not asset.available(rt.clock.now())
    ):
        return JSONResponse({"error": "not_found", "message": "No such file."}, status_code=404)
    etag = f'"{asset.spec.cache_key()}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = await rt.images.get(asset.spec)
    return Response(body, media_type=MIME_TYPES[asset.spec.format], headers=headers)


routes = [Route(ASSET_PREFIX + "/{asset_id}/{filename}", download, methods=["GET", "HEAD"])]
