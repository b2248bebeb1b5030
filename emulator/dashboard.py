"""The web dashboard at /_emulator/ui, and the two admin endpoints only it needs.

- `GET /_emulator/ui`: one self-contained HTML page (data/dashboard.html: inline CSS and
  JavaScript, no external asset, no build step) that polls the admin API. It holds no data, so
  it is served without the admin token; everything it shows comes from admin endpoints that
  do need it (the page sends the token as a Bearer header).
- `GET /_emulator/jobs`: the latest jobs of every provider, newest first, provider-neutral:
  status and progress now, times, key fingerprint, output URLs and thumbnail URLs.
- `GET /_emulator/thumbnails/{asset_id}`: an output scaled down to THUMBNAIL_SIDE pixels,
  rendered once (the image cache) and cacheable for good (its ETag is the picture's own key).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from itertools import islice
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.core.assets import Asset
from emulator.core.clock import iso8601
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse, public_base_url, query_params, whole_number
from emulator.core.images import MIME_TYPES
from emulator.core.jobs import Job, JobStatus
from emulator.core.runtime import runtime
from emulator.core.store import Store

PAGE_FILE = "dashboard.html"
PAGE_PATH = "/ui"  # under the admin prefix
THUMBNAIL_ROUTE = "emulator-thumbnail"
THUMBNAIL_SIDE = 160  # shown at 80 CSS pixels: sharp on a 2x screen, a few ms to render
DEFAULT_JOB_LIMIT = 20
MAX_JOB_LIMIT = 200
JOB_FILTERS = ("provider", "model", "status")


# ------------------------------------------------------------------------------------ the page


@lru_cache(maxsize=1)
def page() -> tuple[bytes, str]:
    """The page's bytes and its Content-Security-Policy.

    The policy allows exactly the page's own inline script and style (by their sha256) and
    same-origin requests: a browser refuses any external asset, and any script that is not
    the page's, even if some data ever slipped into the markup."""
    html = resources.files("emulator.data").joinpath(PAGE_FILE).read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hashes(scripts)}",
            f"style-src {csp_hashes(styles)}",
            "img-src 'self' blob: data:",  # data: the page's empty favicon
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return html.encode(), policy


def csp_hashes(blocks: list[str]) -> str:
    digests = (base64.b64encode(hashlib.sha256(block.encode()).digest()) for block in blocks)
    return " ".join(f"'sha256-{digest.decode()}'" for digest in digests) or "'none'"


async def dashboard(request: Request) -> Response:
    body, policy = page()
    headers = {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


# ------------------------------------------------------------------------------------ the jobs


async def list_jobs(request: Request) -> JSONResponse:
    """The latest jobs, newest first: `limit` (1..200, default 20) and the filters `provider`,
    `model`, `status` (queued, running, succeeded, failed: the job's state now)."""
    rt = runtime(request)
    params = query_params(request, (*JOB_FILTERS, "limit"))
    limit = whole_number(params.get("limit"), "limit", DEFAULT_JOB_LIMIT, 1, MAX_JOB_LIMIT)
    provider, model, status = (params.get(name) for name in JOB_FILTERS)
    if provider is not None and provider not in rt.provider_ids:
        known = ", ".join(rt.provider_ids)
        raise ApiError(ErrorKind.INVALID_REQUEST, f"provider must be one of {known}.")
    if status is not None and status not in set(JobStatus):
        known = ", ".join(JobStatus)
        raise ApiError(ErrorKind.INVALID_REQUEST, f"status must be one of {known}.")

    now, base_url = rt.clock.now(), public_base_url(request)

    def thumbnail_url(asset_id: str) -> str:
        return base_url + request.app.url_path_for(THUMBNAIL_ROUTE, asset_id=asset_id)

    def wanted(job: Job) -> bool:
        return (
            (provider is None or job.provider == provider)
            and (model is None or job.model == model)
            and (status is None or job.state_at(now).status == status)
        )

    chosen = islice(filter(wanted, rt.store.newest_jobs()), limit)
    views = [job_view(job, now, rt.store, base_url, thumbnail_url) for job in chosen]
    return JSONResponse({"jobs": views})


def job_view(
    job: Job,
    now: float,
    store: Store,
    base_url: str,
    thumbnail_url: Callable[[str], str],
) -> dict[str, Any]:
    """What the dashboard shows of a job, the same for every provider. The key is only its
    fingerprint (the job's owner). Outputs are listed once the job succeeded, each with
    whether it can be downloaded now (an output may expire, or be dropped with old jobs)."""
    state = job.state_at(now)
    outputs = []
    if state.status is JobStatus.SUCCEEDED:
        for asset_id in job.outputs:
            asset = store.get_asset(asset_id)
            if asset is not None:
                outputs.append(output_view(asset, now, base_url, thumbnail_url))
    return {
        "id": job.id,
        "provider": job.provider,
        "model": job.model,
        "key_fingerprint": job.owner,
        "status": state.status.value,
        "progress": round(state.progress, 1),
        "created_at": iso8601(job.created_at),
        "started_at": iso8601(job.started_at),
        "finishes_at": iso8601(job.finishes_at),
        "finished_at": None if state.finished_at is None else iso8601(state.finished_at),
        "failure": job.failure if state.status is JobStatus.FAILED else None,
        "outputs": outputs,
    }


def output_view(
    asset: Asset, now: float, base_url: str, thumbnail_url: Callable[[str], str]
) -> dict[str, Any]:
    return {
        "id": asset.id,
        "filename": asset.filename,
        "url": asset.url(base_url),  # the provider's own download URL (no admin token)
        "thumbnail_url": thumbnail_url(asset.id),  # an admin URL: send the admin token
        "available": asset.available(now),
        "expires_at": None if asset.expires_at is None else iso8601(asset.expires_at),
    }


# ------------------------------------------------------------------------------ the thumbnails


async def thumbnail(request: Request) -> Response:
    """An output scaled to fit THUMBNAIL_SIDE, while the output itself can be downloaded.
    Rendering a small picture takes a few ms; the image cache keeps it, and the browser keeps
    it too (immutable: the same URL always shows the same picture)."""
    rt = runtime(request)
    asset = rt.store.get_asset(request.path_params["asset_id"])
    if asset is None or not asset.available(rt.clock.now()):
        raise ApiError(
            ErrorKind.NOT_FOUND,
            "No such output, or it cannot be downloaded now (yet, or any more).",
        )
    spec = asset.spec.scaled(THUMBNAIL_SIDE)
    etag = f'"{spec.cache_key()}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400, immutable"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = await rt.images.get(spec)
    return Response(body, media_type=MIME_TYPES[spec.format], headers=headers)


def routes(prefix: str) -> list[Route]:
    """Mounted by admin.py under its prefix (they are admin routes: same token)."""
    return [
        Route(f"{prefix}{PAGE_PATH}", dashboard, methods=["GET", "HEAD"]),
        Route(f"{prefix}/jobs", list_jobs, methods=["GET"]),
        Route(
            f"{prefix}/thumbnails/{{asset_id}}",
            thumbnail,
            methods=["GET", "HEAD"],
            name=THUMBNAIL_ROUTE,
        ),
    ]
