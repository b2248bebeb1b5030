"""Output files: described when a job is created, rendered lazily on first download, served at
URLs built from the incoming request's base URL (or a provider's `asset_base_url` setting),
visible only between completion and expiry.
A downloaded file's rendering stays in the image cache until its job leaves the store (or the
cache's byte bound pushes it out first): the store tells the asset to forget it."""

from __future__ import annotations

import os
import sys
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.core.http import JSONResponse, public_base_url
from emulator.core.images import MIME_TYPES, ImageCache, ImageSpec
from emulator.core.recipes import Recipe, build
from emulator.core.runtime import Runtime, runtime

ASSET_PREFIX = "/assets"


# Slots, and the file name interned: every stored job keeps one or more of these (a 3D AI
# Studio task of 4 images keeps 8), so their size is most of a job's (bench/memory_jobs.py).
@dataclass(frozen=True, slots=True)
class Asset:
    id: str  # random and unguessable: one asset's URL says nothing about another's
    # The last path segment, shaped like the provider's own file names: many assets share one
    # (img_001.png), so one copy serves them all.
    filename: str
    # The picture as data (any process renders the same bytes from it). Its spec is built on
    # first download, not at submit: most of a submit's cost otherwise, and many outputs are
    # never fetched.
    recipe: Recipe
    available_at: float  # the job's completion time
    expires_at: float | None = None
    _spec: ImageSpec | None = field(default=None, init=False, repr=False, compare=False)
    # The cache holding the rendering, once downloaded: forget() drops it with the job.
    _cache: ImageCache | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filename", sys.intern(self.filename))

    @property
    def spec(self) -> ImageSpec:
        """The picture's spec, built on first use and kept with the asset."""
        spec = self._spec
        if spec is None:
            spec = build(self.recipe)
            object.__setattr__(self, "_spec", spec)
        return spec

    def rendered_in(self, cache: ImageCache) -> None:
        object.__setattr__(self, "_cache", cache)

    def forget(self) -> None:
        """Its job is gone: drop its rendering from the cache (the memory goes with the job)."""
        if self._cache is not None and self._spec is not None:
            self._cache.discard(self._spec)

    def available(self, now: float) -> bool:
        return now >= self.available_at and (self.expires_at is None or now < self.expires_at)

    def url(self, base_url: str) -> str:
        return f"{base_url}{ASSET_PREFIX}/{self.id}/{self.filename}"


def asset_base_url(request: Request, rt: Runtime, provider: str, model: str | None) -> str:
    """Where a provider's output URLs point: its `asset_base_url` setting (the real file host
    while emulator.testing.intercept answers it in-process), else the URL the request came in
    on."""
    return rt.config.setting(provider, model, "asset_base_url") or public_base_url(request)


ID_BYTES = 18  # 144 random bits, as secrets.token_urlsafe(18)
_POOL_IDS = 256  # ids read from the OS per system call


class _RandomIds:
    """Random ids read from the OS a pool at a time (one getrandom call per submit was a
    measurable share of it); the same os.urandom bytes secrets.token_urlsafe uses."""

    def __init__(self) -> None:
        self._pool = b""
        self._offset = 0

    def next(self) -> str:
        if self._offset >= len(self._pool):
            self._pool, self._offset = os.urandom(ID_BYTES * _POOL_IDS), 0
        start = self._offset
        self._offset = start + ID_BYTES
        return urlsafe_b64encode(self._pool[start : start + ID_BYTES]).decode()


_random_ids = _RandomIds()
new_asset_id = _random_ids.next
# A forked worker must not hand out the ids left in its parent's pool.
os.register_at_fork(after_in_child=_random_ids.__init__)


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
    asset.rendered_in(rt.images)
    return Response(body, media_type=MIME_TYPES[asset.spec.format], headers=headers)


routes = [Route(ASSET_PREFIX + "/{asset_id}/{filename}", download, methods=["GET", "HEAD"])]
