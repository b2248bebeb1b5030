"""Requests generated from the contracts' request schemas with hypothesis-jsonschema: valid
ones, and invalid ones that differ from a valid one in a single field.

Valid requests come from the request schemas themselves, narrowed only where an offline
emulator cannot serve what the schema allows: image references are public URLs or real
images from a small pool (a schema-valid ``data:`` URI is almost never a real image, and
``fileData`` would need a download), and a Vertex request is one user turn of text and inline
image parts with a generationConfig from the schema. Every body drawn is checked against the
real request schema. ``cheap=True`` keeps to what costs least on a real API (the live
target).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

import contracts
from contracts.conformance import MISSING
from emulator.core.errors import ApiError
from emulator.providers.vertex.request import normalise_names
from tests.contract.wire import Call
from tests.images import data_uri
from tests.sizes import PRO_SIZES

# Real images of exactly a listed aspect ratio, so "the first input image's ratio" is known.
POOL_RATIOS = {
    (64, 64): "1:1",
    (64, 48): "4:3",
    (48, 64): "3:4",
    (96, 54): "16:9",
    (42, 18): "21:9",
}
POOL: dict[str, str] = {
    data_uri("PNG", size=size, color=color): ratio
    for (size, ratio), color in zip(
        POOL_RATIOS.items(), ("red", "green", "blue", "orange", "purple"), strict=True
    )
}
POOL_BASE64 = {uri.split(",", 1)[1]: ratio for uri, ratio in POOL.items()}
URL_PATTERN = "^https://example\\.com/[a-z0-9]{1,8}\\.(png|jpg)$"
VERTEX_MODELS = ("gemini-3-pro-image", "gemini-3-pro-image-preview")
VERTEX_PARAMS = {"project": "contract-suite", "location": "us-central1"}
VIBEDREAM_MODELS = ("z-image-turbo", "nano-banana-pro-edit")
# Prompts of the properties that download images: the prompt does not shape the output, and
# these trip no moderation rule, so every such job must succeed.
PLAIN_PROMPTS = ("a red bicycle", "a lighthouse at dawn", "a teapot on a table")
MAX_INPUT_IMAGES = 3  # enough to be a list; more only costs decoding time

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


# --------------------------------------------------------------------------- schemas


def _image_reference() -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "pattern": URL_PATTERN}, {"enum": sorted(POOL)}]}


@cache
def vibedream_schema(model: str) -> dict[str, Any]:
    schema = contracts.schema("vibedream", f"request.{model}")
    properties = schema["properties"]
    if "image" in properties:
        properties["image"] = _image_reference()
    if "images" in properties:
        properties["images"] = {
            "anyOf": [
                _image_reference(),
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_INPUT_IMAGES,
                    "items": _image_reference(),
                },
            ]
        }
    return schema


@cache
def aistudio_schema(name: str) -> dict[str, Any]:
    schema = contracts.schema("3daistudio", name)
    if "images" in schema["properties"]:
        images = schema["properties"]["images"]
        images["maxItems"] = MAX_INPUT_IMAGES
        images["items"] = {"enum": sorted(POOL)}
    return schema


@cache
def generation_config_schema() -> dict[str, Any]:
    """request.json's own generationConfig (with imageConfig), narrowed where the model table
    narrows it: every image model answers one candidate (models.json max_candidates)."""
    request = copy.deepcopy(contracts.schema("vertex", "request"))
    defs = request["$defs"]
    defs["generationConfig"]["properties"]["candidateCount"]["maximum"] = 1
    # One schema serves every model; VERTEX_MODELS (Gemini 3 Pro Image) take its size table only.
    image = defs["imageConfig"]["properties"]
    image["aspectRatio"] = {"enum": list(PRO_SIZES)}
    image["imageSize"] = {"enum": list(next(iter(PRO_SIZES.values())))}
    return {"$schema": request["$schema"], "$defs": defs, **defs["generationConfig"]}


def fit_to_contract(body: dict[str, Any], schema: str) -> dict[str, Any]:
    """`body` (drawn from Vertex AI's request.json) less the generationConfig and imageConfig
    fields that `schema` (the Gemini API's request-gemini.json) does not define."""
    if schema == "request" or "generationConfig" not in body:
        return body
    defs = contracts.schema("vertex", schema)["$defs"]
    config = {
        k: v
        for k, v in body["generationConfig"].items()
        if k in defs["generationConfig"]["properties"]
    }
    if "imageConfig" in config:
        known = defs["imageConfig"]["properties"]
        config["imageConfig"] = {k: v for k, v in config["imageConfig"].items() if k in known}
    return {**body, "generationConfig": config}


def vertex_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """One user turn of text and pool images (hypothesis-jsonschema is slow on the contents'
    nested anyOf, and these two part kinds are all the schema allows offline), with a
    generationConfig drawn from the contract's own schema."""
    text_part = st.builds(lambda text: {"text": text}, st.text(max_size=40))
    image_part = st.sampled_from(sorted(POOL_BASE64)).map(
        lambda data: {"inlineData": {"mimeType": "image/png", "data": data}}
    )
    turns = st.lists(text_part | image_part, min_size=1, max_size=MAX_INPUT_IMAGES).map(
        lambda parts: [{"role": "user", "parts": parts}]
    )
    return st.fixed_dictionaries(
        {"contents": turns}, optional={"generationConfig": from_schema(generation_config_schema())}
    )


# --------------------------------------------------------------------------- valid calls


@cache
def bodies(provider: str, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Request bodies from the (narrowed) schema; built once, as building is slow."""
    if provider == "vibedream":
        schema = vibedream_schema(name)
    elif provider == "vertex":
        return vertex_bodies()
    else:
        schema = aistudio_schema(name)
    return from_schema(schema)


def request_schema_name(call: Call) -> str:
    """The contract's request schema for ``call`` (what an invalid mutation must break)."""
    found = contracts.find_operation(call.method, call.path)
    assert found is not None, call.path
    name = found[1].request_schema(found[2])
    assert name is not None, call.path
    return name


def provider_of(call: Call) -> str:
    found = contracts.find_operation(call.method, call.path)
    assert found is not None, call.path
    return found[0]


@st.composite
def valid_calls(
    draw: st.DrawFn, provider: str, *, cheap: bool = False, plain: bool = False
) -> Call:
    """A valid generation request. ``cheap``: the least a real API charges; ``plain``: a
    prompt from PLAIN_PROMPTS (for properties that need the job to succeed)."""
    if provider == "vibedream":
        model = "z-image-turbo" if cheap else draw(st.sampled_from(VIBEDREAM_MODELS))
        body = draw(bodies(provider, model))
        call = Call("POST", f"/api/v1/models/{model}/generate", body)
    elif provider == "vertex":
        call = draw(vertex_calls(cheap=cheap))
    else:
        kind = "generate" if cheap else draw(st.sampled_from(("generate", "edit")))
        body = draw(bodies(provider, f"request.{kind}"))
        if cheap:
            body.update(resolution="1K", num_images=1)
        call = Call("POST", f"/v1/images/gemini/3/pro/{kind}/", body)
    if plain:
        set_prompt(call, draw(st.sampled_from(PLAIN_PROMPTS)))
    body = call.body or {}
    assert contracts.is_valid(provider, request_schema_name(call), body), body
    return call


@st.composite
def vertex_calls(draw: st.DrawFn, *, cheap: bool) -> Call:
    # The generation operations: countTokens and the like generate nothing.
    operations = [
        op for op in contracts.operations("vertex") if op.operation_id.startswith("generateContent")
    ]
    if cheap:  # the gateway is the only real vertex target; 1K is its cheapest image
        operations = [op for op in operations if op.operation_id == "generateContentGateway"]
    operation = draw(st.sampled_from(operations))
    model = "gemini-3-pro-image" if cheap else draw(st.sampled_from(VERTEX_MODELS))
    path = operation.path.format(model=model, **VERTEX_PARAMS)
    body = draw(bodies("vertex", "request"))
    schema = operation.request_schema({}) or "request"
    body = fit_to_contract(body, schema)
    if cheap:
        config = body.setdefault("generationConfig", {})
        config.setdefault("imageConfig", {})["imageSize"] = "1K"
    return Call("POST", path, body)


def set_prompt(call: Call, prompt: str) -> None:
    body = call.body or {}
    if "contents" in body:
        parts = body["contents"][-1]["parts"]
        texts = [part for part in parts if "text" in part]
        if texts:
            texts[0]["text"] = prompt
            for extra in texts[1:]:
                parts.remove(extra)
        else:
            parts.insert(0, {"text": prompt})
    else:
        body["prompt"] = prompt


def with_seed(call: Call, seed: int) -> Call:
    """The same call with a fixed seed, where the model takes one."""
    body = copy.deepcopy(call.body or {})
    if "contents" in body:
        body.setdefault("generationConfig", {})["seed"] = seed
    elif call.path.endswith("/z-image-turbo/generate"):
        body["seed"] = seed
    return Call(call.method, call.path, body, call.fault)


# --------------------------------------------------------------------------- invalid calls


def paths(value: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key and index path below ``value``."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def near_misses(value: object) -> st.SearchStrategy[object]:
    """Values next to ``value`` that a schema is likely to refuse: other case, one more or
    one less, empty, the wrong type."""
    if isinstance(value, bool):
        return st.sampled_from([not value, str(value).lower(), int(value)])
    if isinstance(value, int):
        return st.sampled_from([value + 1, value - 1, -value - 1, 2**31, str(value), value + 0.5])
    if isinstance(value, float):
        return st.sampled_from([value + 1.5, -value - 1, str(value), 1e9])
    if isinstance(value, str):
        return st.sampled_from(
            [value.upper(), value.lower(), value + "x", "", " ", value.replace(":", "/"), 7]
        )
    if isinstance(value, list):
        return st.sampled_from([[], value * 15, "x", [None], {}])
    if isinstance(value, dict):
        return st.sampled_from([{}, [], "x", None])
    return st.sampled_from([0, "", {}])


@st.composite
def invalid_calls(
    draw: st.DrawFn, provider: str, *, cheap: bool = False
) -> tuple[Call, tuple[str | int, ...]]:
    """A valid call with one field changed (or removed) so the schema refuses it, and the
    path of that field."""
    call = draw(valid_calls(provider, cheap=cheap))
    body = copy.deepcopy(call.body or {})
    path = draw(st.sampled_from(list(paths(body))))
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    replacement = draw(st.just(MISSING) | near_misses(parent[path[-1]]) | json_values)
    if replacement is MISSING:
        if isinstance(parent, list):
            parent.pop(path[-1])
        else:
            del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    assume(refused_by_contract(provider, request_schema_name(call), body))
    return Call(call.method, call.path, body), path


def refused_by_contract(provider: str, schema: str, body: Any) -> bool:
    """Whether the contract refuses `body` as the provider reads it: Google reads enum values
    in any case and snake_case names (the emulator's normalise_names), so ["text"] for
    responseModalities is no near miss there."""
    if provider == "vertex":
        try:
            body = normalise_names(copy.deepcopy(body))
        except ApiError:
            return True  # both spellings of one field: refused before the contract
    return not contracts.validator(provider, schema).is_valid(body)
