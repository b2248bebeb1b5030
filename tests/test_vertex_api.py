"""generateContent end to end, in-process, on the gateway's path (seed 001) and on Google's own
paths: keys, error shapes, output sizes, token counts, field spellings, edits, safety, faults.

Every response here is also checked against the contracts by the client fixture."""

from __future__ import annotations

import base64
import io
import json
import random
import re
from dataclasses import dataclass
from importlib import resources

import httpx
import pytest
from PIL import Image, ImageColor
from starlette.testclient import TestClient

from emulator import create_app
from tests.conftest import KEY, contract_client, emulator_config
from tests.images import encoded
from tests.sizes import PRO_SIZES

GATEWAY = "/api/v1/publishers/googleVertexAI/models/{model}:generateContent"
PRO = "gemini-3-pro-image"
FLASH = "gemini-2.5-flash-image"

# Gemini 2.5 Flash Image, 1K only, copied from issue 3.
FLASH_SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


@dataclass(frozen=True)
class Route:
    """One path and one place to put the key: how a caller reaches generateContent."""

    path: str  # with a {model} placeholder
    key_in: str  # "bearer", "header" (x-goog-api-key) or "query" (?key=)
    shape: str  # "gateway" or "google": which error body the path answers in

    def url(self, model: str = PRO) -> str:
        return self.path.format(model=model)

    def auth(self, key: str | None = KEY) -> dict:
        """Keyword arguments for client.post carrying `key` (None: no key at all)."""
        if key is None:
            return {}
        if self.key_in == "bearer":
            return {"headers": {"Authorization": f"Bearer {key}"}}
        if self.key_in == "header":
            return {"headers": {"x-goog-api-key": key}}
        return {"params": {"key": key}}

    def __str__(self) -> str:
        return f"{self.path.split('/models/')[0]} ({self.key_in})"

    @property
    def gemini_api(self) -> bool:
        return self.path.startswith(("/v1beta/models/", "/v1/models/"))

    def default_mime(self, model: str = PRO) -> str:
        """The Gemini API answers Gemini 3 Pro Image in JPEG unless asked; the rest PNG."""
        return "image/jpeg" if self.gemini_api and model.startswith("gemini-3") else "image/png"


ROUTES = [
    Route(GATEWAY, "bearer", "gateway"),
    Route("/v1beta/models/{model}:generateContent", "header", "google"),
    Route("/v1beta/models/{model}:generateContent", "query", "google"),
    Route("/v1/models/{model}:generateContent", "header", "google"),
    Route("/v1/models/{model}:generateContent", "query", "google"),
    Route("/v1beta1/publishers/google/models/{model}:generateContent", "bearer", "google"),
    Route(
        "/v1/projects/my-project/locations/us-central1/publishers/google/models/"
        "{model}:generateContent",
        "bearer",
        "google",
    ),
    Route(
        "/v1beta1/projects/p-1/locations/global/publishers/google/models/{model}:generateContent",
        "bearer",
        "google",
    ),
]
GATEWAY_ROUTE = ROUTES[0]
GEMINI_ROUTE = ROUTES[1]
VERTEX_ROUTE = ROUTES[6]
ONE_ROUTE_PER_SHAPE = [GATEWAY_ROUTE, GEMINI_ROUTE, VERTEX_ROUTE]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def image_part(size: tuple[int, int] = (64, 48), color: str = "red", fmt: str = "PNG") -> dict:
    return {
        "inlineData": {"mimeType": f"image/{fmt.lower()}", "data": b64(encoded(fmt, size, color))}
    }


def request(*parts: dict | str, **generation_config: object) -> dict:
    """A one-turn request; a str is a text part."""
    body: dict = {
        "contents": [
            {"role": "user", "parts": [{"text": p} if isinstance(p, str) else p for p in parts]}
        ]
    }
    if generation_config:
        body["generationConfig"] = generation_config
    return body


def image_config(**config: str) -> dict:
    return {"imageConfig": config}


def post(
    client: TestClient, body: dict, route: Route = GATEWAY_ROUTE, model: str = PRO, **kwargs
) -> httpx.Response:
    extra = route.auth()
    headers = {**extra.get("headers", {}), **kwargs.pop("headers", {})}
    return client.post(
        route.url(model), json=body, headers=headers, params=extra.get("params"), **kwargs
    )


def generate(
    client: TestClient, body: dict, route: Route = GATEWAY_ROUTE, model: str = PRO
) -> dict:
    response = post(client, body, route, model)
    assert response.status_code == 200, response.text
    return response.json()


def parts_of(answer: dict) -> list[dict]:
    [candidate] = answer["candidates"]
    return candidate["content"]["parts"]


def image_bytes(answer: dict) -> bytes:
    [image] = [part for part in parts_of(answer) if "inlineData" in part]
    data = base64.b64decode(image["inlineData"]["data"], validate=True)
    magic = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff"}
    assert data.startswith(magic[image["inlineData"]["mimeType"]])
    return data


def output_size(answer: dict) -> tuple[int, int]:
    image = Image.open(io.BytesIO(image_bytes(answer)))
    assert image.format in ("PNG", "JPEG")
    return image.size


def mean_colour(answer: dict) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(image_bytes(answer))).convert("RGB")
    return image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))


def error_of(response: httpx.Response, shape: str) -> dict:
    """The error object, after checking it has exactly the fields of the path's shape."""
    error = response.json()["error"]
    if shape == "gateway":
        assert set(error) == {"message", "type", "code"}, error
        assert all(isinstance(error[name], str) for name in error)
    else:
        assert (
            {"code", "message", "status"} <= set(error) <= {"code", "message", "status", "details"}
        )
        assert error["code"] == response.status_code
        assert all("@type" in detail for detail in error.get("details", [])), error
    return error


def by_modality(details: list[dict]) -> dict[str, int]:
    counts = {entry["modality"]: entry["tokenCount"] for entry in details}
    assert len(counts) == len(details), "a modality is counted twice"
    return counts


# ------------------------------------------------------------------------------------------
# Paths, keys, error shapes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_path_and_key_location_answers_with_an_image(
    client: TestClient, route: Route
) -> None:
    answer = generate(client, request("a lighthouse at dawn"), route)
    [candidate] = answer["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["role"] == "model"
    text, image = candidate["content"]["parts"]
    assert text["text"] and "inlineData" not in text
    assert image["inlineData"]["mimeType"] == route.default_mime()
    base64.b64decode(text["thoughtSignature"], validate=True)
    base64.b64decode(image["thoughtSignature"], validate=True)
    assert output_size(answer) == (1024, 1024)
    assert answer["modelVersion"] == "gemini-3-pro-image-preview"
    assert answer["responseId"]


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_only_vertex_paths_send_create_time_and_traffic_type(
    client: TestClient, route: Route
) -> None:
    # The Gemini API does not send them; Vertex AI and the gateway (a Vertex proxy) do.
    vertex_fields = not route.path.startswith(("/v1beta/models/", "/v1/models/"))
    answer = generate(client, request("a lighthouse"), route)
    assert ("createTime" in answer) is vertex_fields
    assert ("trafficType" in answer["usageMetadata"]) is vertex_fields
    if vertex_fields:
        assert re.fullmatch(r"2025-01-15T12:00:00\.\d{6}Z", answer["createTime"])
        assert answer["usageMetadata"]["trafficType"] == "ON_DEMAND"


def refused_with(route: Route, key: str | None) -> tuple[int, str]:
    """(HTTP status, gateway code or Google status) a missing (None, "") or wrong key gets:
    the gateway's 401; the Gemini API's 403 (none) or 400 (a bad key); Vertex AI's 401 for a
    token (tests/test_vertex_keys_and_quotas.py checks the whole bodies)."""
    if route.shape == "gateway":
        return 401, "invalid_api_key"
    if route.key_in == "bearer":
        return 401, "UNAUTHENTICATED"
    return (400, "INVALID_ARGUMENT") if key else (403, "PERMISSION_DENIED")


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_missing_or_unknown_key_is_refused_in_the_path_shape(route: Route) -> None:
    with contract_client(create_app(emulator_config(api_keys=["good-key"]))) as client:
        body = request("a cat")
        for key in (None, "wrong-key", ""):
            kwargs = route.auth(key)
            response = client.post(route.url(), json=body, **kwargs)
            status, code = refused_with(route, key)
            assert response.status_code == status, (key, response.text)
            error = error_of(response, route.shape)
            if route.shape == "gateway":
                assert (error["type"], error["code"]) == ("authentication_error", code)
            else:
                assert error["status"] == code
        ok = client.post(route.url(), json=body, **route.auth("good-key"))
        assert ok.status_code == 200, ok.text


def test_keys_configured_for_vertex_alone_apply_to_every_path() -> None:
    config = emulator_config(providers={"vertex": {"api_keys": ["vertex-key"]}})
    with contract_client(create_app(config)) as client:
        for route in ROUTES:
            assert post_with_key(client, route, "vertex-key").status_code == 200
            refused = post_with_key(client, route, KEY).status_code
            assert refused == refused_with(route, KEY)[0]


def post_with_key(client: TestClient, route: Route, key: str) -> httpx.Response:
    return client.post(route.url(), json=request("a cat"), **route.auth(key))


@pytest.mark.parametrize(
    "misplaced", [{"headers": {"x-goog-api-key": KEY}}, {"params": {"key": KEY}}]
)
def test_the_gateway_reads_its_key_from_the_bearer_header_only(
    client: TestClient, misplaced: dict
) -> None:
    response = client.post(GATEWAY.format(model=PRO), json=request("a cat"), **misplaced)
    assert response.status_code == 401
    assert "Bearer" in error_of(response, "gateway")["message"]


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
def test_unknown_model_gets_404_in_the_path_shape(client: TestClient, route: Route) -> None:
    response = post(client, request("a cat"), route, model="gemini-9-ultra-image")
    assert response.status_code == 404
    error = error_of(response, route.shape)
    assert "gemini-9-ultra-image" in error["message"]
    if route.shape == "gateway":
        assert error["type"] == "not_found_error"
    else:
        assert error["status"] == "NOT_FOUND"


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
@pytest.mark.parametrize(
    ("model", "version"),
    [
        (PRO, "gemini-3-pro-image-preview"),
        ("gemini-3-pro-image-preview", "gemini-3-pro-image-preview"),
        (FLASH, FLASH),
    ],
)
def test_every_model_is_served_on_every_path(
    client: TestClient, route: Route, model: str, version: str
) -> None:
    answer = generate(client, request("a cat"), route, model)
    assert answer["modelVersion"] == version
    assert output_size(answer) == (1024, 1024)


# ------------------------------------------------------------------------------------------
# Output sizes
# ------------------------------------------------------------------------------------------


def test_the_size_tables_are_those_of_the_design() -> None:
    raw = json.loads(resources.files("emulator.data").joinpath("image_sizes.json").read_text())
    pro = {r: {s: tuple(wh) for s, wh in by.items()} for r, by in raw[PRO]["sizes"].items()}
    flash = {r: tuple(by["1K"]) for r, by in raw[FLASH]["sizes"].items()}
    assert pro == PRO_SIZES
    assert flash == FLASH_SIZES
    assert all(list(by) == ["1K"] for by in raw[FLASH]["sizes"].values())


@pytest.mark.parametrize("size", ["1K", "2K"])
@pytest.mark.parametrize("ratio", list(PRO_SIZES))
def test_pro_output_dimensions_follow_ratio_and_size(
    client: TestClient, ratio: str, size: str
) -> None:
    answer = generate(client, request("a cat", **image_config(aspectRatio=ratio, imageSize=size)))
    assert output_size(answer) == PRO_SIZES[ratio][size]


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [("21:9", (6336, 2688)), ("9:16", (3072, 5504))],
)
def test_pro_4k_corners(client: TestClient, ratio: str, expected: tuple[int, int]) -> None:
    answer = generate(client, request("a cat", **image_config(aspectRatio=ratio, imageSize="4K")))
    assert output_size(answer) == expected == PRO_SIZES[ratio]["4K"]


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [("1:1", (1024, 1024)), ("21:9", (1584, 672)), ("2:3", (848, 1264)), ("16:9", (1376, 768))],
)
def test_pro_defaults_to_1k(client: TestClient, ratio: str, expected: tuple[int, int]) -> None:
    answer = generate(client, request("a cat", **image_config(aspectRatio=ratio)))
    assert output_size(answer) == expected


@pytest.mark.parametrize("ratio", list(FLASH_SIZES))
def test_flash_output_dimensions_follow_its_own_table(client: TestClient, ratio: str) -> None:
    explicit = request("a cat", **image_config(aspectRatio=ratio, imageSize="1K"))
    implicit = request("a cat", **image_config(aspectRatio=ratio))
    assert output_size(generate(client, explicit, GEMINI_ROUTE, FLASH)) == FLASH_SIZES[ratio]
    assert output_size(generate(client, implicit, GEMINI_ROUTE, FLASH)) == FLASH_SIZES[ratio]


def test_flash_corner_values(client: TestClient) -> None:
    for ratio, expected in (("21:9", (1536, 672)), ("9:16", (768, 1344)), ("3:4", (864, 1184))):
        body = request("a cat", **image_config(aspectRatio=ratio))
        assert output_size(generate(client, body, GEMINI_ROUTE, FLASH)) == expected


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
@pytest.mark.parametrize("size", ["2K", "4K"])
def test_flash_refuses_sizes_above_1k(client: TestClient, route: Route, size: str) -> None:
    response = post(client, request("a cat", **image_config(imageSize=size)), route, FLASH)
    assert response.status_code == 400, response.text
    message = error_of(response, route.shape)["message"]
    assert message.startswith("generationConfig.imageConfig.imageSize")
    assert size in message


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ([], (1024, 1024)),
        ([(64, 48)], PRO_SIZES["4:3"]["1K"]),
        ([(48, 64)], PRO_SIZES["3:4"]["1K"]),
        ([(160, 90)], PRO_SIZES["16:9"]["1K"]),
        ([(90, 160)], PRO_SIZES["9:16"]["1K"]),
        ([(210, 90)], PRO_SIZES["21:9"]["1K"]),
        ([(120, 80)], PRO_SIZES["3:2"]["1K"]),
        ([(80, 120)], PRO_SIZES["2:3"]["1K"]),
        ([(50, 40)], PRO_SIZES["5:4"]["1K"]),
        ([(40, 50)], PRO_SIZES["4:5"]["1K"]),
        ([(100, 100)], PRO_SIZES["1:1"]["1K"]),
        ([(103, 100)], PRO_SIZES["1:1"]["1K"]),  # nearest listed ratio
        ([(300, 100)], PRO_SIZES["21:9"]["1K"]),  # 3:1 is wider than any: the widest
        ([(170, 100)], PRO_SIZES["16:9"]["1K"]),  # 1.7 is nearest 16:9
        ([(160, 90), (90, 160)], PRO_SIZES["16:9"]["1K"]),  # the first image decides
        ([(90, 160), (160, 90)], PRO_SIZES["9:16"]["1K"]),
    ],
)
def test_without_aspect_ratio_the_output_follows_the_first_input_image(
    client: TestClient, inputs: list[tuple[int, int]], expected: tuple[int, int]
) -> None:
    body = request("make it brighter", *[image_part(size) for size in inputs])
    assert output_size(generate(client, body)) == expected


def test_without_aspect_ratio_flash_follows_the_first_image_in_its_own_table(
    client: TestClient,
) -> None:
    body = request(image_part((160, 90)), "make it brighter")
    assert output_size(generate(client, body, GEMINI_ROUTE, FLASH)) == FLASH_SIZES["16:9"]


def test_an_explicit_aspect_ratio_wins_over_the_input_image(client: TestClient) -> None:
    body = request("x", image_part((160, 90)), **image_config(aspectRatio="9:16", imageSize="2K"))
    assert output_size(generate(client, body)) == PRO_SIZES["9:16"]["2K"]


# ------------------------------------------------------------------------------------------
# Modalities and token counts
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("modalities", [["IMAGE"], ["TEXT", "IMAGE"], ["IMAGE", "TEXT"]])
def test_modalities_with_image_give_an_image(client: TestClient, modalities: list[str]) -> None:
    answer = generate(client, request("a cat", responseModalities=modalities))
    assert output_size(answer) == (1024, 1024)
    assert answer["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("inputs", [0, 1])
def test_text_modality_alone_gives_text_only(client: TestClient, inputs: int) -> None:
    body = request("a cat", *[image_part()] * inputs, responseModalities=["TEXT"])
    answer = generate(client, body)
    parts = parts_of(answer)
    assert parts and all("inlineData" not in part and part.get("text") for part in parts)
    assert answer["candidates"][0]["finishReason"] == "STOP"
    usage = answer["usageMetadata"]
    assert "IMAGE" not in by_modality(usage["candidatesTokensDetails"])
    assert usage["candidatesTokenCount"] == by_modality(usage["candidatesTokensDetails"])["TEXT"]


def assert_usage_adds_up(usage: dict) -> None:
    prompt = by_modality(usage["promptTokensDetails"])
    assert usage["promptTokenCount"] == sum(prompt.values())
    candidates = usage.get("candidatesTokenCount", 0)
    if "candidatesTokensDetails" in usage:
        assert candidates == sum(by_modality(usage["candidatesTokensDetails"]).values())
    thoughts = usage.get("thoughtsTokenCount", 0)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + candidates + thoughts


@pytest.mark.parametrize(
    ("model", "inputs", "size", "image_in", "image_out"),
    [
        (PRO, 0, "1K", 0, 1120),
        (PRO, 1, "1K", 560, 1120),
        (PRO, 3, "2K", 3 * 560, 1120),
        (PRO, 14, "1K", 14 * 560, 1120),
        (PRO, 2, "4K", 2 * 560, 2000),
        ("gemini-3-pro-image-preview", 1, "2K", 560, 1120),
        (FLASH, 0, "1K", 0, 1290),
    ],
)
def test_usage_metadata_adds_up(
    client: TestClient, model: str, inputs: int, size: str, image_in: int, image_out: int
) -> None:
    parts = [image_part((32, 32), color) for color in ["red", "green", "blue"] * 5][:inputs]
    body = request("a watercolour harbour", *parts, **image_config(imageSize=size))
    usage = generate(client, body, GATEWAY_ROUTE, model)["usageMetadata"]
    assert_usage_adds_up(usage)
    assert by_modality(usage["promptTokensDetails"]).get("IMAGE", 0) == image_in
    assert by_modality(usage["candidatesTokensDetails"])["IMAGE"] == image_out
    assert by_modality(usage["promptTokensDetails"])["TEXT"] > 0
    assert by_modality(usage["candidatesTokensDetails"])["TEXT"] > 0


def test_flash_counts_each_input_image_the_same(client: TestClient) -> None:
    def image_tokens(inputs: int) -> int:
        body = request("a cat", *[image_part((32, 32))] * inputs)
        usage = generate(client, body, GATEWAY_ROUTE, FLASH)["usageMetadata"]
        assert_usage_adds_up(usage)
        return by_modality(usage["promptTokensDetails"]).get("IMAGE", 0)

    one = image_tokens(1)
    assert one > 0
    assert image_tokens(3) == 3 * one


def test_text_tokens_are_counted_consistently(client: TestClient) -> None:
    first = generate(client, request("a cat"))
    reply = parts_of(first)[0]["text"]
    reply_tokens = by_modality(first["usageMetadata"]["candidatesTokensDetails"])["TEXT"]
    # The same text costs the same whether it is read (prompt) or written (candidates).
    echoed = generate(client, request(reply))["usageMetadata"]
    assert by_modality(echoed["promptTokensDetails"])["TEXT"] == reply_tokens
    short = by_modality(first["usageMetadata"]["promptTokensDetails"])["TEXT"]
    long = generate(client, request("a cat " * 50))["usageMetadata"]
    assert by_modality(long["promptTokensDetails"])["TEXT"] > 10 * short


# ------------------------------------------------------------------------------------------
# Request handling: part order, spellings, base64
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "order",
    [("text", "image"), ("image", "text"), ("text", "image", "text"), ("image", "image", "text")],
)
def test_text_and_image_parts_in_any_order(client: TestClient, order: tuple[str, ...]) -> None:
    parts = [image_part((160, 90), "blue") if kind == "image" else "make it calm" for kind in order]
    answer = generate(client, request(*parts))
    assert output_size(answer) == PRO_SIZES["16:9"]["1K"]
    assert order.count("image") * 560 == by_modality(
        answer["usageMetadata"]["promptTokensDetails"]
    ).get("IMAGE")


def test_an_input_image_of_some_size_is_read_like_a_small_one(client: TestClient) -> None:
    # Noise does not compress: this PNG is ~170 KB, over the size decoded off the event loop.
    noise = Image.frombytes("RGB", (320, 180), random.Random(3).randbytes(320 * 180 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert len(buffer.getvalue()) > 128 * 1024
    part = {"inlineData": {"mimeType": "image/png", "data": b64(buffer.getvalue())}}
    answer = generate(client, request("sharpen it", part))
    assert output_size(answer) == PRO_SIZES["16:9"]["1K"]


PNG_64x48 = encoded("PNG", (64, 48), "teal")


@pytest.mark.parametrize(
    "part",
    [
        {"inline_data": {"mime_type": "image/png", "data": b64(PNG_64x48)}},
        {"inlineData": {"mime_type": "image/png", "data": b64(PNG_64x48)}},  # the SDK's mix
        {"inline_data": {"mimeType": "image/png", "data": b64(PNG_64x48)}},
    ],
    ids=["snake_case", "inlineData-holding-mime_type", "inline_data-holding-mimeType"],
)
def test_snake_case_field_names_read_as_camel_case(client: TestClient, part: dict) -> None:
    camel = {"inlineData": {"mimeType": "image/png", "data": b64(PNG_64x48)}}
    reference = generate(client, request("a cat", camel))
    answer = generate(client, request("a cat", part))
    assert image_bytes(answer) == image_bytes(reference)
    assert output_size(answer) == PRO_SIZES["4:3"]["1K"]


def test_snake_case_generation_config(client: TestClient) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "a cat"}]}],
        "generation_config": {
            "image_config": {"aspect_ratio": "21:9", "image_size": "2K"},
            "response_modalities": ["TEXT", "IMAGE"],
        },
    }
    assert output_size(generate(client, body)) == PRO_SIZES["21:9"]["2K"]
    body["generation_config"]["response_modalities"] = ["TEXT"]
    assert all("inlineData" not in part for part in parts_of(generate(client, body)))


def base64_variants() -> list[tuple[str, str]]:
    # A PNG whose standard base64 has '+', '/' and padding, so every variant differs.
    data = next(
        png
        for seed in range(200)
        if (png := encoded("PNG", (40 + seed, 30), "orange"))
        and {"+", "/"} <= set(b64(png))
        and b64(png).endswith("=")
    )
    standard = b64(data)
    urlsafe = base64.urlsafe_b64encode(data).decode()
    assert urlsafe != standard
    return [
        ("standard", standard),
        ("url-safe", urlsafe),
        ("standard-unpadded", standard.rstrip("=")),
        ("url-safe-unpadded", urlsafe.rstrip("=")),
    ]


BASE64_VARIANTS = base64_variants()


@pytest.mark.parametrize(("name", "data"), BASE64_VARIANTS, ids=[n for n, _ in BASE64_VARIANTS])
def test_standard_and_url_safe_base64_read_the_same(
    client: TestClient, name: str, data: str
) -> None:
    reference = generate(
        client,
        request("a cat", {"inlineData": {"mimeType": "image/png", "data": BASE64_VARIANTS[0][1]}}),
    )
    answer = generate(
        client, request("a cat", {"inlineData": {"mimeType": "image/png", "data": data}})
    )
    assert image_bytes(answer) == image_bytes(reference)
    assert answer["usageMetadata"] == reference["usageMetadata"]


# ------------------------------------------------------------------------------------------
# Edits, generations, determinism
# ------------------------------------------------------------------------------------------

COLOURS = ["red", "green", "blue", "yellow"]


def distance(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5


def nearest_colour(rgb: tuple[int, int, int]) -> str:
    return min(COLOURS, key=lambda name: distance(rgb, ImageColor.getrgb(name)))


def test_an_edit_derives_from_its_input_image(client: TestClient) -> None:
    generation = generate(client, request("make it dreamy"))
    for colour in COLOURS:
        edit = generate(client, request("make it dreamy", image_part((64, 64), colour)))
        # The input's colour dominates the output: of the inputs tried, it is the nearest...
        assert nearest_colour(mean_colour(edit)) == colour
        # ...and nearer than a generation from the same prompt is.
        rgb = ImageColor.getrgb(colour)
        assert distance(mean_colour(edit), rgb) < distance(mean_colour(generation), rgb)
        assert image_bytes(edit) != image_bytes(generation)


@pytest.mark.parametrize(("first", "second"), [("red", "blue"), ("blue", "red")])
def test_an_edit_of_several_images_derives_from_the_first(
    client: TestClient, first: str, second: str
) -> None:
    body = request("combine", image_part((64, 64), first), image_part((64, 64), second))
    edited = mean_colour(generate(client, body))
    assert distance(edited, ImageColor.getrgb(first)) < distance(edited, ImageColor.getrgb(second))


def test_the_same_request_gives_the_same_image(client: TestClient) -> None:
    body = request("a red fox in snow", image_part((64, 48), "white"))
    first = generate(client, body)
    again = generate(client, body)
    assert image_bytes(first) == image_bytes(again)
    with contract_client(create_app(emulator_config())) as other:
        assert image_bytes(generate(other, body)) == image_bytes(first)


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "a grey fox in snow"},
        {"colour": "black"},
        {"seed": 7},
    ],
)
def test_a_different_request_gives_a_different_image(client: TestClient, change: dict) -> None:
    def body(prompt: str = "a red fox in snow", colour: str = "white", seed=None) -> dict:
        config = {} if seed is None else {"seed": seed}
        return request(prompt, image_part((64, 48), colour), **config)

    assert image_bytes(generate(client, body(**change))) != image_bytes(generate(client, body()))


def test_the_same_seed_gives_the_same_generation(client: TestClient) -> None:
    a = generate(client, request("a cat", seed=42))
    b = generate(client, request("a cat", seed=42))
    c = generate(client, request("a cat", seed=43))
    assert image_bytes(a) == image_bytes(b) != image_bytes(c)


# ------------------------------------------------------------------------------------------
# Safety
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (["an nsfw poster"], "PROHIBITED_CONTENT"),
        (["An NSFW poster"], "PROHIBITED_CONTENT"),
        (["a blocklisted word"], "BLOCKLIST"),
        ([image_part(), "make it nsfw"], "PROHIBITED_CONTENT"),
        (["a calm lake", image_part(), "then make it nsfw"], "PROHIBITED_CONTENT"),
    ],
)
def test_a_blocked_prompt_has_no_candidates_and_a_block_reason(
    client: TestClient, route: Route, parts: list, reason: str
) -> None:
    answer = generate(client, request(*parts), route)
    assert "candidates" not in answer
    assert answer["promptFeedback"]["blockReason"] == reason
    # A readable message on Vertex AI only: the Gemini API's PromptFeedback has no such field.
    assert ("blockReasonMessage" in answer["promptFeedback"]) is not route.gemini_api
    usage = answer["usageMetadata"]
    assert_usage_adds_up(usage)
    assert usage["totalTokenCount"] == usage["promptTokenCount"]


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
@pytest.mark.parametrize("prompt", ["a gore scene", "an unsafe image of a cat", "unsafe-image"])
def test_a_withheld_image_has_image_safety_and_no_image_part(
    client: TestClient, route: Route, prompt: str
) -> None:
    answer = generate(client, request(prompt), route)
    assert "promptFeedback" not in answer
    [candidate] = answer["candidates"]
    assert candidate["finishReason"] == "IMAGE_SAFETY"
    # Nothing shown, not even a text part claiming an image: Google answers `"content": {}`.
    assert candidate["content"] == {}
    assert candidate["finishMessage"].startswith(
        "Unable to show the generated image. The image was filtered out because it violated"
        " Google's [Generative AI Prohibited Use policy]"
    )
    usage = answer["usageMetadata"]
    assert_usage_adds_up(usage)
    assert usage["candidatesTokenCount"] == 0
    assert "candidatesTokensDetails" not in usage


@pytest.mark.parametrize("prompt", ["a gorgeous sunset", "nsfwish", "an unsafe bridge image"])
def test_harmless_prompts_near_the_trigger_words_pass(client: TestClient, prompt: str) -> None:
    assert output_size(generate(client, request(prompt))) == (1024, 1024)


def test_only_what_the_user_wrote_is_moderated(client: TestClient) -> None:
    # A trigger word in an earlier model reply does not block the next request...
    body = request("now make it blue")
    body["contents"][:0] = [
        {"role": "user", "parts": [{"text": "a lighthouse"}]},
        {"role": "model", "parts": [{"text": "here is some gore-free art, no gore at all"}]},
    ]
    answer = generate(client, body)
    assert answer["candidates"][0]["finishReason"] == "STOP"
    # ...but one in the system instruction does.
    body["systemInstruction"] = {"parts": [{"text": "always add gore"}]}
    answer = generate(client, body)
    assert answer["candidates"][0]["finishReason"] == "IMAGE_SAFETY"


# ------------------------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------------------------

FAULTS = [
    # (header, status, gateway type, google status, Retry-After)
    ("rate_limited", 429, "rate_limit_error", "RESOURCE_EXHAUSTED", "1"),
    ("rate_limited; retry-after=7", 429, "rate_limit_error", "RESOURCE_EXHAUSTED", "7"),
    ("unavailable", 503, "server_error", "UNAVAILABLE", "1"),
    ("internal", 500, "server_error", "INTERNAL", None),
]


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_fault_header_gives_429_with_retry_after_in_the_path_shape(
    client: TestClient, route: Route
) -> None:
    response = post(client, request("a cat"), route, headers={"X-Emulator-Fault": "rate_limited"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    error = error_of(response, route.shape)
    if route.shape == "gateway":
        assert error["type"] == "rate_limit_error"
    else:
        assert error["status"] == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("route", ONE_ROUTE_PER_SHAPE, ids=str)
@pytest.mark.parametrize(("fault", "status", "gateway_type", "google_status", "retry"), FAULTS)
def test_injected_faults_answer_in_the_path_shape(
    client: TestClient,
    route: Route,
    fault: str,
    status: int,
    gateway_type: str,
    google_status: str,
    retry: str | None,
) -> None:
    response = post(client, request("a cat"), route, headers={"X-Emulator-Fault": fault})
    assert response.status_code == status
    if retry is not None:
        assert response.headers["Retry-After"] == retry
    error = error_of(response, route.shape)
    assert error["message"]
    if route.shape == "gateway":
        assert error["type"] == gateway_type
    else:
        assert error["status"] == google_status


def test_queued_faults_fail_the_next_requests_then_stop(client: TestClient) -> None:
    queued = client.post(
        "/_emulator/faults", json={"provider": "vertex", "error": "rate_limited", "count": 2}
    )
    assert queued.status_code == 200, queued.text
    first = post(client, request("a cat"), GATEWAY_ROUTE)
    second = post(client, request("a cat"), GEMINI_ROUTE)
    assert (first.status_code, second.status_code) == (429, 429)
    assert error_of(first, "gateway")["type"] == "rate_limit_error"
    assert error_of(second, "google")["status"] == "RESOURCE_EXHAUSTED"
    assert post(client, request("a cat"), GATEWAY_ROUTE).status_code == 200


def test_response_ids_are_unique_per_answer_and_replay_after_reset(client: TestClient) -> None:
    body = request("a lighthouse")
    first, second = (generate(client, body)["responseId"] for _ in range(2))
    assert first != second
    client.post("/_emulator/reset")
    assert generate(client, body)["responseId"] == first
