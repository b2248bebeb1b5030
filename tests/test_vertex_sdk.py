"""The official Google Gen AI SDK (`google-genai`), unmodified, against the emulator over a real
socket: the gateway path (Vertex mode, DESIGN.md 3.2 recipe) and Google's Gemini API path."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types
from PIL import Image

from tests.conftest import KEY, LiveServer

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]

GATEWAY_MODEL = "googleVertexAI/gemini-3-pro-image"
GEMINI_MODEL = "gemini-3-pro-image-preview"
FLASH_MODEL = "gemini-2.5-flash-image"
# google-genai 3.4.0 does not retry by default: with HttpOptions.retry_options unset its tenacity
# policy is stop_after_attempt(1) (`_api_client.retry_args(None)`); the 5-attempt policy that
# retries 408/429/5xx applies only once retry_options is given. The 429 tests rely on that
# default and prove it (one queued fault of two is consumed); one test opts in to retries.


@dataclass
class Surface:
    name: str
    client: genai.Client
    model: str


def gateway_client(base_url: str, **options: object) -> genai.Client:
    """DESIGN.md 3.2: Vertex mode with the gateway's /api/v1 prefix as a collection base."""
    return genai.Client(
        vertexai=True,
        http_options=types.HttpOptions(
            base_url=base_url + "/api/v1",
            base_url_resource_scope="COLLECTION",
            headers={"Authorization": f"Bearer {KEY}"},
            **options,
        ),
    )


def gemini_client(base_url: str, **options: object) -> genai.Client:
    """Gemini API mode: /{api_version}/models/{model}:generateContent, key in x-goog-api-key."""
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url, **options))


@pytest.fixture
def gateway(live_server: LiveServer) -> Iterator[genai.Client]:
    with gateway_client(live_server.base_url) as client:
        yield client


@pytest.fixture(params=["gateway", "gemini"])
def surface(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[Surface]:
    if request.param == "gateway":
        with gateway_client(live_server.base_url) as client:
            yield Surface("gateway", client, GATEWAY_MODEL)
    else:
        with gemini_client(live_server.base_url) as client:
            yield Surface("gemini", client, GEMINI_MODEL)


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def parts_of(response: types.GenerateContentResponse) -> list[types.Part]:
    assert response.candidates, response
    content = response.candidates[0].content
    assert content is not None and content.parts, response.candidates[0]
    return content.parts


def texts(response: types.GenerateContentResponse) -> list[str]:
    return [part.text for part in parts_of(response) if part.text]


def image_size(response: types.GenerateContentResponse) -> tuple[int, int]:
    """The one output image, read back through Part.as_image(): in this SDK a
    google.genai.types.Image holding the bytes (not a PIL image), opened here with Pillow."""
    images = [part.as_image() for part in parts_of(response) if part.inline_data]
    assert len(images) == 1, parts_of(response)
    image = images[0]
    assert isinstance(image, types.Image)
    # PNG on the gateway and Vertex AI; the Gemini API answers Gemini 3 Pro Image in JPEG.
    assert image.mime_type in ("image/png", "image/jpeg")
    assert image.image_bytes
    assert image.image_bytes.startswith(b"\x89PNG" if image.mime_type == "image/png" else b"\xff")
    with Image.open(io.BytesIO(image.image_bytes)) as opened:
        return opened.size


def assert_usage_adds_up(response: types.GenerateContentResponse) -> types.UsageMetadata:
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + (usage.thoughts_token_count or 0)
    )
    return usage


def modality_tokens(details: list[types.ModalityTokenCount] | None) -> dict[str, int]:
    return {str(d.modality.value): d.token_count or 0 for d in details or [] if d.modality}


def queue_rate_limit(base_url: str, count: int) -> None:
    answer = httpx.post(
        f"{base_url}/_emulator/faults",
        json={"provider": "vertex", "error": "rate_limited", "count": count, "retry_after": 1},
    )
    assert answer.status_code == 200, answer.text


def pending_faults(base_url: str) -> list[str]:
    return httpx.get(f"{base_url}/_emulator/faults").json()["pending"].get("vertex", [])


# --- edits and generations, on both surfaces ---------------------------------------------------


def test_edit_follows_the_input_images_ratio(surface: Surface) -> None:
    response = surface.client.models.generate_content(
        model=surface.model,
        contents=[
            types.Part.from_bytes(data=png(1600, 900), mime_type="image/png"),
            "Make the sky a warm sunset orange.",
        ],
    )
    assert image_size(response) == (1376, 768)  # 16:9 at the default 1K
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == "gemini-3-pro-image-preview"
    usage = assert_usage_adds_up(response)
    assert modality_tokens(usage.prompt_tokens_details)["IMAGE"] == 560
    assert modality_tokens(usage.candidates_tokens_details)["IMAGE"] == 1120


def test_generation_with_ratio_and_size(surface: Surface) -> None:
    response = surface.client.models.generate_content(
        model=surface.model,
        contents="A lighthouse on a cliff at dawn, wide shot.",
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
        ),
    )
    assert image_size(response) == (2752, 1536)
    assert texts(response), "the TEXT part is missing"
    assert response.response_id
    usage = assert_usage_adds_up(response)
    assert usage.thoughts_token_count
    assert "IMAGE" not in modality_tokens(usage.prompt_tokens_details)
    assert modality_tokens(usage.candidates_tokens_details)["IMAGE"] == 1120


def test_flash_image_edit_on_the_gemini_api_v1beta(live_server: LiveServer) -> None:
    # google-genai 3.4.0 defaults the Gemini API to /v1/ (older releases to /v1beta/): pin v1beta.
    with gemini_client(live_server.base_url, api_version="v1beta") as client:
        response = client.models.generate_content(
            model=FLASH_MODEL,
            contents=[
                types.Part.from_bytes(data=png(1600, 900), mime_type="image/png"),
                "Add a small red kite in the sky.",
            ],
            config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
        )
    assert image_size(response) == (1344, 768)  # 16:9 in the Gemini 2.5 Flash Image table
    assert response.model_version == FLASH_MODEL
    usage = assert_usage_adds_up(response)
    assert modality_tokens(usage.prompt_tokens_details)["IMAGE"] == 258
    assert modality_tokens(usage.candidates_tokens_details)["IMAGE"] == 1290


# --- safety: HTTP 200 with the block in the body -------------------------------------------


def test_blocked_prompt_reads_as_prompt_feedback(surface: Surface) -> None:
    response = surface.client.models.generate_content(
        model=surface.model, contents="an nsfw picture of a cat"
    )
    assert not response.candidates
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    # Vertex AI only: the Gemini API's PromptFeedback has no blockReasonMessage.
    assert bool(response.prompt_feedback.block_reason_message) is (surface.name != "gemini")


def test_withheld_image_reads_as_image_safety(surface: Surface) -> None:
    response = surface.client.models.generate_content(
        model=surface.model, contents="a gore scene in a castle"
    )
    assert response.candidates
    assert response.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    content = response.candidates[0].content
    assert not any(part.inline_data for part in (content.parts or [] if content else []))


# --- errors ----------------------------------------------------------------------------------


def test_queued_rate_limit_raises_client_error_without_a_retry(
    surface: Surface, live_server: LiveServer
) -> None:
    # Two faults queued, the SDK's default policy makes one attempt: one fault stays pending.
    queue_rate_limit(live_server.base_url, count=2)
    with pytest.raises(errors.ClientError) as raised:
        surface.client.models.generate_content(model=surface.model, contents="a red apple")
    error = raised.value
    assert error.code == 429
    assert error.response is not None
    assert error.response.headers["Retry-After"] == "1"
    if surface.name == "gemini":  # Google's own shape; the gateway answers in its own
        assert error.status == "RESOURCE_EXHAUSTED"
    assert pending_faults(live_server.base_url) == ["429"]


def test_rate_limit_from_the_request_header(surface: Surface) -> None:
    with pytest.raises(errors.ClientError) as raised:
        surface.client.models.generate_content(
            model=surface.model,
            contents="a red apple",
            config=types.GenerateContentConfig(
                http_options=types.HttpOptions(headers={"X-Emulator-Fault": "rate_limited"})
            ),
        )
    assert raised.value.code == 429


def test_sdk_retry_options_ride_out_a_rate_limit(live_server: LiveServer) -> None:
    retries = types.HttpRetryOptions(attempts=2, initial_delay=0.01, max_delay=0.05, jitter=0)
    queue_rate_limit(live_server.base_url, count=1)
    with gemini_client(live_server.base_url, retry_options=retries) as client:
        response = client.models.generate_content(model=GEMINI_MODEL, contents="a red apple")
    assert image_size(response) == (1024, 1024)
    assert pending_faults(live_server.base_url) == []


def test_invalid_image_size_raises_client_error_400(surface: Surface) -> None:
    with pytest.raises(errors.ClientError) as raised:
        surface.client.models.generate_content(
            model=surface.model,
            contents="a red apple",
            config=types.GenerateContentConfig(image_config=types.ImageConfig(image_size="2k")),
        )
    assert raised.value.code == 400
    assert "imageSize" in (raised.value.message or "")
    if surface.name == "gemini":
        assert raised.value.status == "INVALID_ARGUMENT"


# --- the async client ------------------------------------------------------------------------


def test_async_client_generates_on_the_gateway(live_server: LiveServer) -> None:
    async def generate() -> types.GenerateContentResponse:
        client = gateway_client(live_server.base_url)
        try:
            return await client.aio.models.generate_content(
                model=GATEWAY_MODEL,
                contents="A paper boat on a pond.",
                config=types.GenerateContentConfig(
                    image_config=types.ImageConfig(aspect_ratio="3:2", image_size="1K")
                ),
            )
        finally:
            await client.aio.aclose()
            client.close()

    response = asyncio.run(generate())
    assert image_size(response) == (1264, 848)
    assert_usage_adds_up(response)
