"""3D AI Studio's wire format (seed 002): submit a generate or edit task, poll its status, read
the wallet. Translation only: credits, rate limits, jobs and assets are the core's."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request

import contracts
from emulator.core.assets import Asset, new_asset_id
from emulator.core.auth import authenticate_bearer
from emulator.core.clock import iso8601
from emulator.core.datauri import decode_image_uris
from emulator.core.durations import Duration
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.faults import settle
from emulator.core.http import JSONResponse, public_base_url, read_json
from emulator.core.images import ImageSpec, request_picture
from emulator.core.jobs import Job, JobStatus
from emulator.core.moderation import Stage
from emulator.core.randomness import seed_from
from emulator.core.recipes import Recipe, register
from emulator.core.runtime import Runtime, runtime
from emulator.core.validation import check
from emulator.core.wallets import Charge
from emulator.providers.aistudio3d.catalog import Model, models

PROVIDER_ID = "3daistudio"
IMAGE_RECIPE = "3daistudio.image"  # the recipe kind of a full image (a thumbnail: it, scaled)
INPUT_FORMATS = ("png", "jpeg", "webp", "gif")
THUMBNAIL_SIDE = 256
# Defaults of the settings a config may override (docs/configuration.md).
DEFAULT_ASSET_TTL = 24 * 3600  # "Results expire after 24 hours."
DEFAULT_QUEUE = Duration(1.0, 5.0)
MODERATION_FAILURE = "Content moderation: the request was flagged. Credits have been refunded."
WIRE_STATUS = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.RUNNING: "IN_PROGRESS",
    JobStatus.SUCCEEDED: "FINISHED",
    JobStatus.FAILED: "FAILED",
}


def asset_ttl(rt: Runtime, model_id: str | None) -> float:
    value = rt.config.setting(PROVIDER_ID, model_id, "asset_ttl")
    return DEFAULT_ASSET_TTL if value is None else value


def authenticate(request: Request, rt: Runtime) -> str:
    """The caller's key fingerprint; jobs are private to the key that made them."""
    return authenticate_bearer(request, rt.keys, PROVIDER_ID)


def submit_endpoint(
    model: Model, schema: str, *, edit: bool
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The route handler for one model's generate (edit False) or edit operation."""

    async def submit_task(request: Request) -> JSONResponse:
        return await submit(request, model, schema, edit=edit)

    return submit_task


async def submit(request: Request, model: Model, schema: str, *, edit: bool) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt)
    decision = rt.admit(
        request,
        provider=PROVIDER_ID,
        route="edit" if edit else "generate",
        model=model.id,
        owner=owner,
        starts_job=True,
        rate_limited=True,
    )
    now = rt.clock.now()
    body = await read_json(request, rt.config.max_body_bytes)
    check(PROVIDER_ID, schema, body)
    params = {**contracts.defaults(PROVIDER_ID, schema), **body}
    # JSON Schema counts 1.0 as an integer, so the count may arrive as a float.
    params["num_images"] = int(params["num_images"])
    # Only an edit takes images; generate ignores an `images` field like any unknown field.
    fields = [(f"images[{i}]", uri) for i, uri in enumerate(params["images"])] if edit else []
    sources = await decode_image_uris(fields, INPUT_FORMATS, rt.images.limiter)
    ratio = params["aspect_ratio"]
    if ratio == "auto":  # the first input image's nearest ratio for edits, 1:1 for generation
        first = sources[0][1] if sources else None
        ratio = model.nearest_ratio(first.width, first.height) if first and first.width else "1:1"
    count = params["num_images"]
    cost = model.credits[params["resolution"]] * count

    verdict = await rt.moderator.screen(params["prompt"], PROVIDER_ID, model.id)
    queue = rt.config.duration(PROVIDER_ID, model.id, "queue_duration") or DEFAULT_QUEUE
    per_image = rt.config.job_duration(PROVIDER_ID, model.id) or model.seconds_per_image
    refused_outright = verdict is not None and verdict.stage is Stage.PROMPT
    job = Job(
        id=rt.rng.uuid4(),
        provider=PROVIDER_ID,
        model=model.id,
        owner=owner,
        created_at=now,
        queue_seconds=0.0 if refused_outright else queue.draw(rt.rng),
        run_seconds=0.0 if refused_outright else sum(per_image.draw(rt.rng) for _ in range(count)),
        params={"thumbnails": []},
        failure=MODERATION_FAILURE if verdict else None,
    )
    settle(job, decision.fate, MODERATION_FAILURE)
    # What the pictures need, without megabytes of base64 kept until the first download.
    shown = {key: value for key, value in params.items() if key != "images"}  # may be unknown
    shown["image_count"] = len(sources)
    shown["image_digests"] = [hashlib.sha256(data).hexdigest()[:16] for data, _ in sources]
    width, height = model.dimensions(ratio, params["resolution"])
    # Only the first input shows; the recipes keep its small stand-in for the output's size,
    # not megabytes of input (a thumbnail resamples it).
    stand_in = await rt.images.stand_in(sources[0][0], width, height) if sources else None
    add_outputs(rt, model, job, shown, (width, height), ratio, stand_in)
    # Charged with the task (402, nothing queued, when the balance is short); a task that will
    # fail refunds when it fails.
    rt.store.put_job(
        job,
        Charge(
            PROVIDER_ID,
            owner,
            cost,
            default=rt.config.wallet_balance(PROVIDER_ID),
            refund_at=job.finishes_at if job.failure else None,
        ),
    )
    return JSONResponse({"task_id": job.id, "created_at": iso8601(now, "seconds")})


def add_outputs(
    rt: Runtime,
    model: Model,
    job: Job,
    params: Mapping[str, Any],
    size: tuple[int, int],
    ratio: str,
    source: bytes | None,
) -> None:
    """One full image and one thumbnail per requested image, described now, rendered lazily.
    `source` is the first input's stand-in for `size` (images.source_stand_in)."""
    ttl = asset_ttl(rt, model.id)
    fmt = params["output_format"]
    width, height = size
    base_seed = seed_from(params)  # the images of one task differ by their index
    for index in range(params["num_images"]):
        full = Asset(
            id=new_asset_id(),
            filename=f"img_{index + 1:03d}.{fmt}",
            recipe=image_recipe(model, params, width, height, ratio, source, base_seed + index),
            available_at=job.finishes_at,
            expires_at=job.finishes_at + ttl if ttl else None,
        )
        thumbnail = Asset(
            id=new_asset_id(),
            filename=f"img_{index + 1:03d}_thumbnail.{fmt}",
            # The full picture's recipe and the thumbnail's size: data, not the full Asset.
            recipe=full.recipe.scaled(THUMBNAIL_SIDE),
            available_at=full.available_at,
            expires_at=full.expires_at,
        )
        rt.store.put_asset(full, job)
        rt.store.put_asset(thumbnail, job)
        job.outputs.append(full.id)
        job.params["thumbnails"].append(thumbnail.id)


async def get_status(request: Request) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt)
    task_id = request.path_params["task_id"]
    job = rt.store.get_job(task_id)  # first: on a shared store it reads the clock with it
    now = rt.clock.now()
    rt.admit(
        request, provider=PROVIDER_ID, route="status", model=job.model if job else None, owner=owner
    )
    ttl = asset_ttl(rt, job.model if job else None)
    if (
        job is None
        or job.provider != PROVIDER_ID
        or job.owner != owner
        or (ttl and now >= job.finishes_at + ttl)  # "Results expire after 24 hours."
    ):
        raise ApiError(ErrorKind.NOT_FOUND, f"Generation request '{task_id}' not found.")
    state = job.state_at(now)
    body: dict[str, Any] = {
        "status": WIRE_STATUS[state.status],
        "progress": int(state.progress),
        "results": [],
    }
    if state.status is JobStatus.SUCCEEDED:
        base = public_base_url(request)
        body["results"] = [
            result(rt, base, full_id, thumbnail_id)
            for full_id, thumbnail_id in zip(job.outputs, job.params["thumbnails"], strict=True)
        ]
    elif state.status is JobStatus.FAILED:
        body["failure_reason"] = job.failure
    return JSONResponse(body)


def result(rt: Runtime, base_url: str, full_id: str, thumbnail_id: str) -> dict[str, str]:
    full_url = rt.store.get_asset(full_id).url(base_url)
    return {
        "asset_url": full_url,
        "asset": full_url,
        "asset_type": "IMAGE",
        "thumbnail": rt.store.get_asset(thumbnail_id).url(base_url),
    }


async def get_wallet(request: Request) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt)
    rt.admit(request, provider=PROVIDER_ID, route="wallet", model=None, owner=owner)
    balance = rt.wallets.balance(
        PROVIDER_ID, owner, rt.config.wallet_balance(PROVIDER_ID), rt.clock.now()
    )
    return JSONResponse({"balance": str(balance)})


def image_recipe(
    model: Model,
    params: Mapping[str, Any],
    width: int,
    height: int,
    ratio: str,
    source: bytes | None,
    seed: int,
) -> Recipe:
    """A full image's picture as data: image_spec's arguments, the model by its id."""
    return Recipe(
        IMAGE_RECIPE,
        {
            "model": model.id,
            "params": params,
            "width": width,
            "height": height,
            "ratio": ratio,
            "source": source,
            "seed": seed,
        },
    )


def build_image(recipe: Mapping[str, Any]) -> ImageSpec:
    return image_spec(
        models()[recipe["model"]],
        recipe["params"],
        recipe["width"],
        recipe["height"],
        recipe["ratio"],
        recipe["source"],
        recipe["seed"],
    )


def image_spec(
    model: Model,
    params: Mapping[str, Any],
    width: int,
    height: int,
    ratio: str,
    source: bytes | None,
    seed: int,
) -> ImageSpec:
    count = params["image_count"]
    return request_picture(
        provider=PROVIDER_ID,
        model=model.id,
        model_label=f"{model.name} ({PROVIDER_ID})",
        prompt=params["prompt"],
        width=width,
        height=height,
        format=params["output_format"],
        seed=seed,
        size_detail=f"{ratio}, {params['resolution']}",
        edit_note=f"edit of {count} image(s)" if count else None,
        extra_metadata=(("aspect_ratio", ratio), ("resolution", params["resolution"])),
        source=source,
    )


register(IMAGE_RECIPE, build_image)
