"""VertexClient.stream and its async twin: chunks as they arrive, checked against the
stream-chunk contract in strict mode; refusals and broken streams as typed errors."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from clients import AsyncVertexClient, VertexClient
from clients.errors import (
    AuthenticationError,
    RateLimitedError,
    SubmitMayHaveSucceededError,
    UnexpectedResponseError,
)
from emulator import create_app
from tests.conftest import KEY, contract_client, emulator_config


def final_image(chunks: list[dict[str, Any]]) -> tuple[int, int]:
    images = [
        part["inlineData"]["data"]
        for chunk in chunks
        for candidate in chunk.get("candidates", [])
        for part in candidate["content"]["parts"]
        if "inlineData" in part and not part.get("thought")
    ]
    assert len(images) == 1
    with Image.open(io.BytesIO(base64.b64decode(images[0]))) as opened:
        return opened.size


def sync_client(**headers: str) -> VertexClient:
    """Over the contract-checking TestClient, unless the answer is spoilt on purpose."""
    app = create_app(emulator_config())
    spoilt = headers.get("X-Emulator-Fault") == "malformed"
    http = TestClient(app, base_url="http://testserver") if spoilt else contract_client(app)
    http.headers.update(headers)
    return VertexClient(KEY, base_url="http://testserver", http_client=http, strict=True)


def test_stream_yields_every_chunk_in_order() -> None:
    with sync_client() as client:
        chunks = list(
            client.stream(
                "A paper boat", aspect_ratio="16:9", thinkingConfig={"includeThoughts": True}
            )
        )
    assert len(chunks) == 5
    assert final_image(chunks) == (1376, 768)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["thought"] is True


def test_stream_edits_an_input_image() -> None:
    source = io.BytesIO()
    Image.new("RGB", (900, 1600), (10, 80, 120)).save(source, format="PNG")
    with sync_client() as client:
        chunks = list(client.stream("Add a moon", source.getvalue()))
    assert final_image(chunks) == (768, 1376)  # follows the input's 9:16


@pytest.mark.parametrize(
    ("fault", "error"), [("429", RateLimitedError), ("401", AuthenticationError)]
)
def test_a_refused_stream_raises_the_typed_error(fault: str, error: type[Exception]) -> None:
    with sync_client(**{"X-Emulator-Fault": fault}) as client, pytest.raises(error):
        list(client.stream("x"))


def test_a_broken_stream_may_have_been_charged() -> None:
    dropped = sync_client(**{"X-Emulator-Fault": "drop"})
    with dropped as client, pytest.raises(SubmitMayHaveSucceededError):
        list(client.stream("x"))


def test_a_corrupt_chunk_is_an_unexpected_response() -> None:
    spoiled = sync_client(**{"X-Emulator-Fault": "malformed"})
    with spoiled as client, pytest.raises(UnexpectedResponseError, match="not JSON"):
        list(client.stream("x"))


def test_async_stream() -> None:
    async def run() -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(emulator_config()))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
            AsyncVertexClient(KEY, http_client=http, strict=True) as client,
        ):
            return [chunk async for chunk in client.stream("A kite", image_size="2K")]

    chunks = asyncio.run(run())
    assert final_image(chunks) == (2048, 2048)
    assert len({chunk["responseId"] for chunk in chunks}) == 1
