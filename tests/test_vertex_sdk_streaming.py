"""streamGenerateContent over a real socket: the official google-genai SDK's streaming calls on
the Gemini API, the gateway recipe and Vertex express mode; chats that stream an edit; the
async client; and the stream's bytes and timing as they leave the server."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import httpx
import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types
from PIL import Image

from emulator import create_app
from emulator.testing.server import start_server
from tests.conftest import KEY, LiveServer, emulator_config
from tests.test_vertex_sdk import gateway_client, gemini_client, png

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]

PRO = "gemini-3-pro-image-preview"
SSE_EVENT = re.compile(rb"data: ([^\r\n]+)\r\n\r\n")


def vertex_express_client(base_url: str) -> genai.Client:
    """Vertex AI express mode: an API key, the publisher path, no project."""
    return genai.Client(
        vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=base_url)
    )


CLIENTS = {
    "gemini": (gemini_client, PRO),
    "gateway": (gateway_client, "googleVertexAI/gemini-3-pro-image"),
    "vertex-express": (vertex_express_client, PRO),
}


@pytest.fixture(params=list(CLIENTS))
def surface(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[tuple]:
    make, model = CLIENTS[request.param]
    with make(live_server.base_url) as client:
        yield client, model


def image_of(chunks: list[types.GenerateContentResponse]) -> tuple[int, int]:
    images = [
        part.inline_data.data
        for chunk in chunks
        for candidate in chunk.candidates or []
        for part in (candidate.content.parts or [] if candidate.content else [])
        if part.inline_data and not part.thought
    ]
    assert len(images) == 1
    with Image.open(io.BytesIO(images[0])) as opened:
        return opened.size


def test_generate_content_stream(surface: tuple) -> None:
    client, model = surface
    chunks = list(
        client.models.generate_content_stream(
            model=model,
            contents="A lighthouse on a cliff at dawn.",
            config=types.GenerateContentConfig(
                image_config=types.ImageConfig(aspect_ratio="16:9"),
                thinking_config=types.ThinkingConfig(include_thoughts=True),
            ),
        )
    )
    assert len(chunks) == 5  # a thought, two interim images, the text, the image
    assert image_of(chunks) == (1376, 768)
    assert {chunk.response_id for chunk in chunks} == {chunks[0].response_id}
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    usage = last.usage_metadata
    assert usage is not None and usage.total_token_count == (
        (usage.prompt_token_count or 0)
        + (usage.candidates_token_count or 0)
        + (usage.thoughts_token_count or 0)
    )
    first_part = chunks[0].candidates[0].content.parts[0]  # type: ignore[index, union-attr]
    assert first_part.thought is True


def test_chat_streams_two_turns_and_edits_on_the_second(surface: tuple) -> None:
    client, model = surface
    chat = client.chats.create(model=model)
    first = list(chat.send_message_stream("A red bicycle against a white wall."))
    assert image_of(first) == (1024, 1024)
    second = list(chat.send_message_stream("Make the bicycle blue, keep the rest."))
    assert image_of(second) == (1024, 1024)
    usage = second[-1].usage_metadata
    assert usage is not None
    by_modality = {d.modality.value: d.token_count for d in usage.prompt_tokens_details or []}
    assert by_modality["IMAGE"] == 560  # the first turn's image, sent back as the edit's input
    # The SDK keeps one model content per streamed chunk: two turns of two chunks each.
    assert [content.role for content in chat.get_history()] == ["user", "model", "model"] * 2


def test_async_stream_on_the_gemini_api(live_server: LiveServer) -> None:
    async def run() -> list[types.GenerateContentResponse]:
        client = gemini_client(live_server.base_url)
        try:
            stream = await client.aio.models.generate_content_stream(
                model=PRO,
                contents=[
                    types.Part.from_bytes(data=png(1600, 900), mime_type="image/png"),
                    "Add a kite in the sky.",
                ],
            )
            return [chunk async for chunk in stream]
        finally:
            await client.aio.aclose()
            client.close()

    chunks = asyncio.run(run())
    assert image_of(chunks) == (1376, 768)


def test_a_rate_limit_raises_before_any_chunk(surface: tuple) -> None:
    client, model = surface
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"X-Emulator-Fault": "429"})
    )
    with pytest.raises(errors.ClientError) as raised:
        list(client.models.generate_content_stream(model=model, contents="x", config=config))
    assert raised.value.code == 429


# --- the wire, as a socket sees it -----------------------------------------------------------


@contextmanager
def post_stream(
    base_url: str, headers: dict[str, str], **config: object
) -> Iterator[httpx.Response]:
    body = {"contents": [{"parts": [{"text": "A paper boat"}]}], "generationConfig": config}
    url = f"{base_url}/v1beta/models/{PRO}:streamGenerateContent?alt=sse"
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST", url, json=body, headers={"x-goog-api-key": KEY, **headers}
        ) as response,
    ):
        yield response


def test_sse_over_a_socket_is_chunked_events(live_server: LiveServer) -> None:
    with post_stream(live_server.base_url, {}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        raw = response.read()
    events = SSE_EVENT.findall(raw)
    assert b"".join(b"data: " + e + b"\r\n\r\n" for e in events) == raw
    assert json.loads(events[-1])["candidates"][0]["finishReason"] == "STOP"


def test_drop_cuts_the_connection_mid_stream(live_server: LiveServer) -> None:
    thinking = {"thinkingConfig": {"includeThoughts": True}}
    received = b""
    with post_stream(live_server.base_url, {"X-Emulator-Fault": "drop"}, **thinking) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for piece in response.iter_raw():
                received += piece
    events = SSE_EVENT.findall(received)
    assert len(events) == 2  # half of the five chunks, then the cut
    assert all(json.loads(event)["candidates"] for event in events)


@pytest.fixture
def real_clock_server() -> Iterator[str]:
    running = start_server(create_app(emulator_config(clock="real", profile="dev")))
    try:
        yield running.base_url
    finally:
        running.stop()


def test_chunks_are_spread_over_the_latency(real_clock_server: str) -> None:
    thinking = {"thinkingConfig": {"includeThoughts": True}}
    started = time.monotonic()
    arrivals: list[float] = []
    buffer = b""
    with post_stream(real_clock_server, {"X-Emulator-Latency": "2"}, **thinking) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            buffer += piece
            while (found := SSE_EVENT.match(buffer)) is not None:
                arrivals.append(time.monotonic() - started)
                buffer = buffer[found.end() :]
    assert len(arrivals) == 5
    # The first chunk after a quarter of the 2 s, the last at its end: 1.5 s apart (rendering
    # before the first chunk is not part of the latency, so only the spread is asserted).
    assert arrivals[-1] - arrivals[0] >= 1.3
    assert arrivals[-1] >= 1.9
    gaps = [later - earlier for earlier, later in pairwise(arrivals)]
    assert all(gap >= 0.25 for gap in gaps), gaps  # spread out, not a burst at the end
