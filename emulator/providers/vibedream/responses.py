"""vibedream's wire format: submit a generation, then poll the prediction (seeds 000 and 003).

Translation only: requests are checked against the contracts, turned into a core job and an
output asset; job state is read back from the clock and written out in vibedream's shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from emulator.core.assets import Asset, asset_base_url, new_asset_id
from emulator.core.auth import authenticate_bearer
from emulator.core.clock import iso8601
from emulator.core.datauri import decode_image_uris, is_data_uri
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
from emulator.core.wallets import Charge, money
from emulator.providers.vibedream.catalog import Model, Tier, models

PROVIDER_ID = "vibedream"
IMAGE_RECIPE = "vibedream.image"  # the recipe kind of an output file
INPUT_FORMATS = ("jpeg", "png", "gif", "webp")  # "Accepted formats: JPEG, PNG, GIF, WebP."
# seed 000: a moderated prediction ends `failed` with this `error`.
MODERATION_FAILURE = "Your request was flagged by content moderation. Please modify your prompt."
WIRE_STATUS = {
    JobStatus.QUEUED: "processing",
    JobStatus.RUNNING: "processing",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
}


def authenticate(request: Request, rt: Runtime) -> str:
    """The caller's key fingerprint; jobs are private to the key that made them."""
    return authenticate_bearer(request, rt.keys, PROVIDER_ID)


async def submit(request: Request) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt)
    model_id = request.path_params["model"]
    decision = rt.admit(
        request,
        provider=PROVIDER_ID,
        route="submit",
        model=model_id,
        owner=owner,
        starts_job=True,
        rate_limited=True,
    )
    model = models().get(model_id)
    if model is None:
        known = ", ".join(sorted(models()))
        raise ApiError(
            ErrorKind.NOT_FOUND, f"Model '{model_id}' not found. Available models: {known}."
        )
    body = await read_json(request, rt.config.max_body_bytes)
    check(PROVIDER_ID, model.request_schema, body)
    params = {**model.defaults, **body}
    # URLs are taken as given (the emulator is offline); data: URIs must hold real images.
    inline = [(f, ref) for f, ref in model.input_image_fields(params) if is_data_uri(ref)]
    decoded = await decode_image_uris(inline, INPUT_FORMATS, rt.images.limiter)

    documented = documented_params(model, params)
    # What the pictures are, from the table's rules (a 400 for what no rule can size): the
    # first inline input sets the size where the model follows its input.
    width, height = model.dimensions(documented, decoded[0][1] if decoded else None)
    fmt = model.output_format(params)
    count = model.count(params)
    tier = model.tier(params)
    # Only the first input shows; the recipe keeps its small stand-in for the output's size,
    # not megabytes of input.
    stand_in = await rt.images.stand_in(decoded[0][0], width, height) if decoded else None
    now = rt.clock.now()
    duration = rt.config.job_duration(PROVIDER_ID, model.id) or tier.duration
    verdict = await rt.moderator.screen(params.get("prompt", ""), PROVIDER_ID, model.id)
    job = Job(
        id=rt.rng.uuid4(),
        provider=PROVIDER_ID,
        model=model.id,
        owner=owner,
        created_at=now,
        queue_seconds=0.0,
        # A prompt refused outright fails at once; a withheld output fails when it would finish.
        run_seconds=0.0 if verdict and verdict.stage is Stage.PROMPT else duration.draw(rt.rng),
        # Shortened: a job must not keep megabytes of base64 input alive.
        params=documented,
        failure=MODERATION_FAILURE if verdict else None,
    )
    settle(job, decision.fate, MODERATION_FAILURE)
    seed = chosen_seed(model, documented, rt)
    ttl = rt.config.setting(PROVIDER_ID, model.id, "asset_ttl")
    for index in range(count):
        # The outputs of one request differ by their index (seed 000 names the first `-0`).
        asset = Asset(
            id=new_asset_id(),
            filename=f"{int(now * 1000)}-{index}.{fmt}",
            recipe=image_recipe(
                model,
                documented,
                stand_in,
                None if seed is None else seed + index,
                size=(width, height),
                fmt=fmt,
                index=index,
            ),
            available_at=job.finishes_at,
            expires_at=job.finishes_at + ttl if ttl else None,
        )
        job.outputs.append(asset.id)
        rt.store.put_asset(asset, job)
    cost_cents = price_cents(rt, model, tier) * count
    # Charged on submit, with the job (402, nothing stored, when the balance is short); a
    # prediction that fails gives it back.
    rt.store.put_job(
        job,
        Charge(
            PROVIDER_ID,
            owner,
            money(cost_cents),
            default=rt.config.wallet_balance(PROVIDER_ID),
            refund_at=job.finishes_at if job.failure else None,
        ),
    )
    return JSONResponse(
        {
            "id": job.id,
            "status": "processing",
            "statusUrl": f"{public_base_url(request)}/api/v1/predictions/{job.id}",
            "estimatedTime": rt.config.setting(PROVIDER_ID, model.id, "estimated_time")
            or tier.estimated_time,
            "costCents": cost_cents,
            "createdAt": iso8601(now),
        }
    )


def price_cents(rt: Runtime, model: Model, tier: Tier) -> int:
    """The cents of one output: the config's `cost_cents` for the model, else the table's."""
    override = rt.config.setting(PROVIDER_ID, model.id, "cost_cents")
    return tier.cost_cents if override is None else int(override)


async def get_prediction(request: Request) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt)
    job = rt.store.get_job(request.path_params["prediction_id"])
    rt.admit(
        request,
        provider=PROVIDER_ID,
        route="poll",
        model=job.model if job else None,
        owner=owner,
    )
    prediction_id = request.path_params["prediction_id"]
    if job is None or job.provider != PROVIDER_ID or job.owner != owner:
        raise ApiError(ErrorKind.NOT_FOUND, f"Prediction '{prediction_id}' not found.")
    state = job.state_at(rt.clock.now())
    outputs = None
    if state.status is JobStatus.SUCCEEDED:
        base = asset_base_url(request, rt, PROVIDER_ID, job.model)
        outputs = [rt.store.get_asset(asset_id).url(base) for asset_id in job.outputs]
    return JSONResponse(
        {
            "id": job.id,
            "modelId": job.model,
            "modelName": models()[job.model].name,
            "status": WIRE_STATUS[state.status],
            "outputs": outputs,
            "error": job.failure if state.status is JobStatus.FAILED else None,
            "createdAt": iso8601(job.created_at),
            "completedAt": None if state.finished_at is None else iso8601(state.finished_at),
        }
    )


def documented_params(model: Model, params: Mapping[str, Any]) -> dict[str, Any]:
    """The documented parameters, with inline images shortened, for metadata and seeding."""
    return {name: _shorten(params[name]) for name in model.parameters if name in params}


def _shorten(value: Any) -> Any:
    """A `data:` URI as its header, length and digest: a job must not keep megabytes alive."""
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    if isinstance(value, str) and is_data_uri(value):
        digest = hashlib.sha256(value.encode()).hexdigest()[:16]
        return f"{value.split(',', 1)[0]},<{len(value)} chars, sha256 {digest}>"
    return value


def chosen_seed(model: Model, documented: Mapping[str, Any], rt: Runtime) -> int | None:
    """The model's seed, or a draw from the seeded generator for -1 (drawn now, so the order of
    draws follows the order of requests); None for models without a seed."""
    seed = documented.get(model.seed_param) if model.seed_param else None
    if seed is None:
        return None
    return rt.rng.randint(0, 2**31 - 1) if seed == -1 else int(seed)


def image_recipe(
    model: Model,
    params: Mapping[str, Any],
    source: bytes | None,
    seed: int | None,
    *,
    size: tuple[int, int],
    fmt: str,
    index: int = 0,
) -> Recipe:
    """An output's picture as data: image_spec's arguments, the model by its id; `source` is
    the input's stand-in (images.source_stand_in) for the output's size. The size and format
    are kept as chosen at submit (a size may follow an input image the job does not keep)."""
    return Recipe(
        IMAGE_RECIPE,
        {
            "model": model.id,
            "params": params,
            "source": source,
            "seed": seed,
            "size": list(size),
            "format": fmt,
            "index": index,
        },
    )


def build_image(recipe: Mapping[str, Any]) -> ImageSpec:
    model = models()[recipe["model"]]
    params = recipe["params"]
    # A recipe stored before sizes and formats were kept in it: computed as they were then.
    size = recipe.get("size") or model.dimensions(params)
    fmt = recipe.get("format") or model.output_format(params)
    return image_spec(
        model,
        params,
        recipe["source"],
        recipe["seed"],
        size=(size[0], size[1]),
        fmt=fmt,
        index=recipe.get("index", 0),
    )


def image_spec(
    model: Model,
    params: Mapping[str, Any],
    source: bytes | None,
    seed: int | None,
    *,
    size: tuple[int, int],
    fmt: str,
    index: int = 0,
) -> ImageSpec:
    """`params` are the documented parameters (inline images shortened): all a picture needs,
    and small enough to keep until the first download. `seed` None: hash the parameters (plus
    the output's index, so the images of one request differ)."""
    if seed is None:
        seed = seed_from(params) + index
    width, height = size
    references = model.input_images(params)
    edit_note = None
    if references:
        names = ", ".join(
            "inline image" if is_data_uri(ref) else ref.rsplit("/", 1)[-1] for ref in references[:3]
        )
        more = f" +{len(references) - 3} more" if len(references) > 3 else ""
        edit_note = f"edit of {names}{more}"
    source_weight = model.source_weight
    strength = params.get(model.strength_param) if model.strength_param else None
    if strength is not None:
        # strength is how much the reference is transformed: 1 keeps nothing of it (clamped:
        # a type-only model's range is unknown).
        source_weight = 1.0 - min(1.0, max(0.0, float(strength)))
    return request_picture(
        provider=PROVIDER_ID,
        model=model.id,
        model_label=f"{model.name} ({model.id})",
        prompt=params.get("prompt", ""),
        width=width,
        height=height,
        format=fmt,
        seed=seed,
        edit_note=edit_note,
        extra_metadata=(("parameters", json.dumps(params, sort_keys=True)),),
        source=source,
        source_weight=source_weight,
    )


register(IMAGE_RECIPE, build_image)
