"""The official Google Gen AI SDK (`google-genai`), unmodified, reaches Gemini 3.1 Flash Image
(GA and preview) and Gemini 3.1 Flash Lite Image over a real socket, on the Gemini API and on
Vertex AI (express mode): generation, streaming, countTokens, the model listing, and the
refusals its callers see (a 4K Flash Lite picture, a fourth image for Gemini 2.5 Flash Image)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types
from PIL import Image

from tests.conftest import LiveServer
from tests.test_vertex_sdk import gateway_client, gemini_client, png
from tests.test_vertex_sdk_tokens import express_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]

GA = "gemini-3.1-flash-image"
PREVIEW = "gemini-3.1-flash-image-preview"
LITE = "gemini-3.1-flash-lite-image"


@pytest.fixture(params=["gemini", "express"])
def sdk(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[genai.Client]:
    make = gemini_client if request.param == "gemini" else express_client
    with make(live_server.base_url) as client:
        yield client


def image_size(response: types.GenerateContentResponse) -> tuple[int, int]:
    assert response.candidates and response.candidates[0].content
    [data] = [
        part.inline_data.data
        for part in response.candidates[0].content.parts or []
        if part.inline_data and part.inline_data.data
    ]
    return Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize(
    ("model", "ratio", "size", "expected"),
    [
        (GA, "1:8", "512", (192, 1536)),
        (PREVIEW, "21:9", "512", (792, 168)),
        (LITE, "4:1", "1K", (2048, 512)),
    ],
)
def test_the_sdk_generates_with_the_new_models(
    sdk: genai.Client, model: str, ratio: str, size: str, expected: tuple[int, int]
) -> None:
    response = sdk.models.generate_content(
        model=model,
        contents=[types.Part.from_bytes(data=png(64, 48), mime_type="image/png"), "a kite"],
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size),
        ),
    )
    assert image_size(response) == expected
    assert response.model_version == model
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_tokens_details
    images_in = [d.token_count for d in usage.prompt_tokens_details if d.modality == "IMAGE"]
    assert images_in == [1120]


def test_the_sdk_streams_and_counts(sdk: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio="8:1", image_size="2K"),
    )
    chunks = list(sdk.models.generate_content_stream(model=GA, contents="a ridge", config=config))
    [with_image] = [
        c
        for c in chunks
        if c.candidates and any(p.inline_data for p in (c.candidates[0].content.parts or []))  # type: ignore[union-attr]
    ]
    assert image_size(with_image) == (6144, 768)
    counted = sdk.models.count_tokens(
        model=LITE, contents=[types.Part.from_bytes(data=png(32, 32), mime_type="image/png"), "x"]
    )
    assert counted.total_tokens == 1120 + 1


def test_the_sdk_lists_and_gets_the_new_models(live_server: LiveServer) -> None:
    with gemini_client(live_server.base_url, api_version="v1beta") as client:
        names = [model.name for model in client.models.list()]
        model = client.models.get(model=LITE)
    assert {f"models/{m}" for m in (GA, PREVIEW, LITE)} <= set(names)
    assert model.input_token_limit == 131_072
    assert model.display_name == "Nano Banana 2 Lite"


def test_the_sdk_sees_the_refusals_as_400s(sdk: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as raised:
        sdk.models.generate_content(
            model=LITE,
            contents="a cat",
            config=types.GenerateContentConfig(image_config=types.ImageConfig(image_size="4K")),
        )
    assert raised.value.code == 400 and "512, 1K only" in (raised.value.message or "")
    four = [types.Part.from_bytes(data=png(16, 16), mime_type="image/png")] * 4
    with pytest.raises(errors.ClientError) as raised:
        sdk.models.generate_content(model="gemini-2.5-flash-image", contents=[*four, "mix"])
    assert raised.value.code == 400 and "at most 3 input images" in (raised.value.message or "")


def test_the_gateway_recipe_gets_a_404_for_the_undocumented_models(
    live_server: LiveServer,
) -> None:
    with (
        gateway_client(live_server.base_url) as client,
        pytest.raises(errors.ClientError) as raised,
    ):
        client.models.generate_content(model=f"googleVertexAI/{GA}", contents="a cat")
    assert raised.value.code == 404
