"""Issue 17's answer rows through the official SDK (google-genai), unmodified, over a real
socket: the Gemini API, Vertex AI express mode and the gateway."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types
from PIL import Image

from tests.conftest import LiveServer
from tests.test_vertex_sdk import GATEWAY_MODEL, GEMINI_MODEL, gateway_client, gemini_client
from tests.test_vertex_sdk_tokens import express_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]


@pytest.fixture
def gemini(live_server: LiveServer) -> Iterator[genai.Client]:
    with gemini_client(live_server.base_url) as client:
        yield client


@pytest.fixture
def express(live_server: LiveServer) -> Iterator[genai.Client]:
    with express_client(live_server.base_url) as client:
        yield client


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 120, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def unsigned_history() -> list[types.Content]:
    """A multi-turn edit sent by hand: the model's image put back without its signature."""
    return [
        types.Content(role="user", parts=[types.Part.from_text(text="a lighthouse")]),
        types.Content(
            role="model", parts=[types.Part.from_bytes(data=png(), mime_type="image/png")]
        ),
        types.Content(role="user", parts=[types.Part.from_text(text="make the sky blue")]),
    ]


def image_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    assert response.candidates and response.candidates[0].content
    return [part for part in response.candidates[0].content.parts or [] if part.inline_data]


def test_row4_gemini_api_refuses_an_unsigned_model_image(gemini: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        gemini.models.generate_content(model=GEMINI_MODEL, contents=unsigned_history())
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == (
        "Image part is missing a thought_signature in content position 2, part position 1."
    )


def test_row4_vertex_and_the_gateway_take_it(
    express: genai.Client, live_server: LiveServer
) -> None:
    response = express.models.generate_content(model=GEMINI_MODEL, contents=unsigned_history())
    assert image_parts(response)
    with gateway_client(live_server.base_url) as gateway:
        assert image_parts(
            gateway.models.generate_content(model=GATEWAY_MODEL, contents=unsigned_history())
        )


def test_row4_a_chat_sends_the_signature_back_and_is_taken(gemini: genai.Client) -> None:
    chat = gemini.chats.create(model=GEMINI_MODEL)
    assert image_parts(chat.send_message("a lighthouse"))
    assert image_parts(chat.send_message("make the sky blue"))


def test_row11_gemini_api_answers_jpeg_vertex_png(
    gemini: genai.Client, express: genai.Client
) -> None:
    [jpeg] = image_parts(gemini.models.generate_content(model=GEMINI_MODEL, contents="a cat"))
    assert jpeg.inline_data and jpeg.inline_data.mime_type == "image/jpeg"
    assert (jpeg.inline_data.data or b"").startswith(b"\xff\xd8\xff")
    [other] = image_parts(express.models.generate_content(model=GEMINI_MODEL, contents="a cat"))
    assert other.inline_data and other.inline_data.mime_type == "image/png"


def test_row12_image_only_has_no_text(gemini: genai.Client) -> None:
    config = types.GenerateContentConfig(response_modalities=["IMAGE"])
    response = gemini.models.generate_content(model=GEMINI_MODEL, contents="a cat", config=config)
    assert response.text is None
    assert response.candidates and response.candidates[0].content
    assert [bool(part.inline_data) for part in response.candidates[0].content.parts or []] == [True]
    usage = response.usage_metadata
    assert usage and usage.candidates_tokens_details
    assert [d.modality for d in usage.candidates_tokens_details] == [types.MediaModality.IMAGE]
    assert usage.total_token_count == (
        (usage.prompt_token_count or 0)
        + (usage.candidates_token_count or 0)
        + (usage.thoughts_token_count or 0)
    )


def test_row13_the_first_image_an_app_takes_is_the_interim_one(gemini: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True)
    )
    response = gemini.models.generate_content(model=GEMINI_MODEL, contents="a cat", config=config)
    images = image_parts(response)
    assert len(images) == 3
    assert images[0].thought is True and images[-1].thought is not True
    assert images[-1].thought_signature and not images[0].thought_signature


def test_row14_google_search_grounding(
    gemini: genai.Client, express: genai.Client, live_server: LiveServer
) -> None:
    config = types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())])
    for client, vertex in ((gemini, False), (express, True)):
        response = client.models.generate_content(
            model=GEMINI_MODEL, contents="a cat", config=config
        )
        assert response.candidates
        grounding = response.candidates[0].grounding_metadata
        assert grounding and grounding.web_search_queries == ["a cat"]
        assert grounding.search_entry_point and grounding.search_entry_point.rendered_content
        assert grounding.grounding_supports and grounding.grounding_chunks
        for chunk in grounding.grounding_chunks:
            assert chunk.web and chunk.web.uri and chunk.web.title
            assert chunk.web.uri.startswith(
                live_server.base_url + "/assets/grounding-api-redirect/"
            )
            assert (chunk.web.domain is not None) is vertex
            page = httpx.get(chunk.web.uri)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_row15_gemini_api_candidate_index_is_zero(gemini: genai.Client) -> None:
    response = gemini.models.generate_content(model=GEMINI_MODEL, contents="a cat")
    assert response.candidates and response.candidates[0].index == 0


def test_row16_a_withheld_image_reads_as_google_words_it(
    gemini: genai.Client, express: genai.Client
) -> None:
    for client in (gemini, express):
        response = client.models.generate_content(model=GEMINI_MODEL, contents="a gore scene")
        assert response.candidates
        candidate = response.candidates[0]
        assert candidate.finish_reason == types.FinishReason.IMAGE_SAFETY
        assert response.text is None and not (candidate.content and candidate.content.parts)
        assert response.usage_metadata and response.usage_metadata.candidates_token_count == 0
    # google-genai 3.6.1 reads finishMessage on Vertex AI only (models._Candidate_from_mldev
    # leaves it out): the Gemini API's wording is checked on the wire in
    # test_vertex_response_parity.py.
    assert candidate.finish_message and candidate.finish_message.startswith(
        "Unable to show the generated image. The image was filtered out because it violated"
    )
    recited = gemini.models.generate_content(model=GEMINI_MODEL, contents="a recited image")
    assert recited.candidates
    assert recited.candidates[0].finish_reason == types.FinishReason.IMAGE_RECITATION
    none = gemini.models.generate_content(model=GEMINI_MODEL, contents="an undrawable thing")
    assert none.candidates and none.candidates[0].finish_reason == types.FinishReason.NO_IMAGE


def test_row17_block_reason_message_on_vertex_only(
    gemini: genai.Client, express: genai.Client
) -> None:
    blocked = gemini.models.generate_content(model=GEMINI_MODEL, contents="an nsfw cat")
    assert blocked.prompt_feedback and blocked.prompt_feedback.block_reason_message is None
    blocked = express.models.generate_content(model=GEMINI_MODEL, contents="an nsfw cat")
    assert blocked.prompt_feedback and blocked.prompt_feedback.block_reason_message


@pytest.mark.parametrize(
    ("headers", "traffic"),
    [
        ({"X-Vertex-AI-LLM-Request-Type": "dedicated"}, types.TrafficType.PROVISIONED_THROUGHPUT),
        ({"X-Vertex-AI-LLM-Request-Type": "shared"}, types.TrafficType.ON_DEMAND),
    ],
)
def test_row18_traffic_type_from_the_request_type_header(
    live_server: LiveServer, headers: dict[str, str], traffic: types.TrafficType
) -> None:
    with express_client(live_server.base_url, headers=headers) as client:
        response = client.models.generate_content(model=GEMINI_MODEL, contents="a cat")
        assert response.usage_metadata and response.usage_metadata.traffic_type == traffic
        streamed = list(client.models.generate_content_stream(model=GEMINI_MODEL, contents="a cat"))
        assert {
            chunk.usage_metadata.traffic_type for chunk in streamed if chunk.usage_metadata
        } == {traffic}
