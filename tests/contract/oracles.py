"""What a request asks for, worked out from the request and the documents alone (never from
the emulator's own tables): the output's format, size and count, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import contracts
from contracts.budget import PRICES, vertex_cost_cents
from tests.contract.strategies import POOL, POOL_BASE64, provider_of, request_schema_name
from tests.contract.wire import Call
from tests.sizes import PRO_SIZES

CENT = Decimal("0.01")
# Tokens of the reply text an answer may need besides the image's (a generous bound).
TEXT_ALLOWANCE = 1000


@dataclass(frozen=True)
class Asked:
    format: str  # png, jpeg, webp
    size: tuple[int, int]
    count: int


def asked(call: Call) -> Asked:
    provider = provider_of(call)
    body = call.body or {}
    params = {**contracts.defaults(provider, request_schema_name(call)), **body}
    if provider == "vibedream":
        if call.path.endswith("/z-image-turbo/generate"):
            width, height = (int(side) for side in params["size"].split("*"))
            return Asked(params["output_format"], (width, height), 1)
        size = PRO_SIZES[params["aspect_ratio"]][params["resolution"].upper()]
        return Asked(params["output_format"], size, 1)
    if provider == "3daistudio":
        ratio = params["aspect_ratio"]
        if ratio == "auto":  # edits follow their first image, generation is square
            ratio = POOL[params["images"][0]] if call.path.endswith("/edit/") else "1:1"
        return Asked(
            params["output_format"], PRO_SIZES[ratio][params["resolution"]], params["num_images"]
        )
    config = body.get("generationConfig", {})
    image = config.get("imageConfig", {})
    inline = [
        part["inlineData"]["data"] for part in body["contents"][-1]["parts"] if "inlineData" in part
    ]
    ratio = image.get("aspectRatio") or (POOL_BASE64[inline[0]] if inline else "1:1")
    mime = image.get("outputMimeType") or image.get("imageOutputOptions", {}).get("mimeType")
    fmt = (mime or default_mime(call.path)).removeprefix("image/")
    return Asked(fmt, PRO_SIZES[ratio][image.get("imageSize", "1K")], 1)


def default_mime(path: str) -> str:
    """DESIGN 3.2: the Gemini API answers Gemini 3 Pro Image in JPEG by default, Vertex (and
    the gateway) in PNG."""
    gemini_api = path.startswith(("/v1beta/models/", "/v1/models/"))
    model = path.rpartition("/models/")[2].partition(":")[0]
    return "image/jpeg" if gemini_api and model.startswith("gemini-3-pro-image") else "image/png"


def may_lack_image(call: Call, answer: dict[str, Any]) -> bool:
    """Whether a Vertex answer may come without an image: IMAGE is not among the
    responseModalities, or maxOutputTokens leaves no room for it (finishReason MAX_TOKENS)."""
    config = (call.body or {}).get("generationConfig", {})
    modalities = config.get("responseModalities")
    if modalities is not None and "IMAGE" not in modalities:
        return True
    limit = config.get("maxOutputTokens")
    size = config.get("imageConfig", {}).get("imageSize", "1K")
    room = PRICES["vertex"]["gemini-3-pro-image"]["output_image_tokens"][size] + TEXT_ALLOWANCE
    finish = answer["candidates"][0]["finishReason"]
    return finish == "MAX_TOKENS" and limit is not None and limit < room


def charge(call: Call, answer: dict[str, Any]) -> Decimal:
    """What an accepted call is charged, in the wallet's unit, from the price list: vibedream
    as its answer's costCents, 3D AI Studio per image, Vertex by its answer's tokens (a wallet
    keeps cents to two places)."""
    provider = provider_of(call)
    if provider == "vibedream":
        return Decimal(answer["costCents"])
    if provider == "3daistudio":
        body = {**contracts.defaults(provider, request_schema_name(call)), **(call.body or {})}
        model = call.path.removeprefix("/v1/images/").rstrip("/").rpartition("/")[0]
        per_image = PRICES["3daistudio"][model]["credits"][body["resolution"]]
        return Decimal(per_image * body["num_images"])
    cents = vertex_cost_cents(call.model, answer["usageMetadata"])
    return cents.quantize(CENT, rounding=ROUND_HALF_EVEN)
