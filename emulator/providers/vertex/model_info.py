"""The model listings: the Gemini API's `GET models` / `GET models/{model}` (model_service.proto)
and Vertex AI's publisher models (model_garden_service.proto), for the image models the
emulator serves. What each says of a model is data (models.json); the pages are Google's: a
pageSize (default 50, at most 1000 on the Gemini API) and an opaque pageToken."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse
from emulator.core.runtime import runtime
from emulator.providers.vertex.catalog import Model, surface_models
from emulator.providers.vertex.responses import PROVIDER_ID, authenticate
from emulator.providers.vertex.surfaces import Surface

# model_service.proto, ListModelsRequest.page_size: "If unspecified, at most 50 models will be
# returned per page. This method returns at most 1000 models per page". ListPublisherModels
# documents no numbers ("the standard list page size"): the same ones are used there.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# A page token says where the next page starts; its prefix tells it from any other string.
PAGE_TOKEN_PREFIX = "models-after:"


def gemini_api_model(surface: Surface, model: Model) -> dict[str, Any]:
    """The Gemini API's Model (model.proto)."""
    return {
        "name": surface.resource_name(model.id),
        "inputTokenLimit": model.input_token_limit,
        **model.gemini_api_model,
    }


def publisher_model(surface: Surface, model: Model) -> dict[str, Any]:
    """Vertex AI's PublisherModel (publisher_model.proto), in its basic view."""
    return {
        "name": surface.resource_name(model.id),
        **model.publisher_model,
        "publisherModelTemplate": (
            f"projects/{{project}}/locations/{{location}}/{surface.resource_name(model.id)}"
        ),
    }


# Per surface: how a model reads, and the key its list answer holds the models under.
DESCRIBERS: Mapping[str, tuple[Callable[[Surface, Model], dict[str, Any]], str]] = {
    "gemini": (gemini_api_model, "models"),
    "vertex": (publisher_model, "publisherModels"),
}


def page_size(request: Request) -> int:
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"Invalid value at 'page_size' (TYPE_INT32), \"{raw[:40]}\"",
            field="pageSize",
        ) from None
    if size < 0:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, "pageSize must not be negative.", field="pageSize"
        )
    # 0 is "unspecified" in proto3; more than the maximum is cut to it.
    return min(size, MAX_PAGE_SIZE) if size else DEFAULT_PAGE_SIZE


def page_start(request: Request) -> int:
    token = request.query_params.get("pageToken") or request.query_params.get("page_token")
    if not token:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not decoded.startswith(PAGE_TOKEN_PREFIX):
            raise ValueError(decoded)
        start = int(decoded.removeprefix(PAGE_TOKEN_PREFIX))
        if start < 0:
            raise ValueError(decoded)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "Invalid pageToken: send the nextPageToken of an earlier page as it was.",
            field="pageToken",
        ) from None
    return start


def page_token(start: int) -> str:
    return base64.urlsafe_b64encode(f"{PAGE_TOKEN_PREFIX}{start}".encode()).decode().rstrip("=")


async def list_models(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    rt.admit(request, provider=PROVIDER_ID, route="listModels", model=None, owner=owner)
    describe, key = DESCRIBERS[surface.name]
    start, size = page_start(request), page_size(request)
    served = list(surface_models(surface.name).values())
    answer: dict[str, Any] = {key: [describe(surface, m) for m in served[start : start + size]]}
    if start + size < len(served):
        answer["nextPageToken"] = page_token(start + size)
    return JSONResponse(answer)


async def get_model(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    model_id = request.path_params["model"]
    rt.admit(request, provider=PROVIDER_ID, route="getModel", model=model_id, owner=owner)
    model = surface.served_model(model_id, "GetModel")
    describe, _ = DESCRIBERS[surface.name]
    return JSONResponse(describe(surface, model))
