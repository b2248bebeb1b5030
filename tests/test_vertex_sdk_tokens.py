"""The official Google Gen AI SDK (`google-genai`), unmodified, over a real socket: count_tokens
(Gemini API and Vertex AI express mode), compute_tokens (Vertex AI), models.get and iterating
models.list() on both, and the SDK's own 404 for an unknown model.

Express mode is `genai.Client(vertexai=True, api_key=...)`: with no project, the SDK calls
`/v1beta1/publishers/google/models/...` (google/genai/_api_client.py, `_build_request`), and
lists base models at `publishers/google/models` (_transformers.py, `t_models_url`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types

from emulator.providers.vertex.catalog import models
from tests.conftest import KEY, LiveServer
from tests.test_vertex_sdk import gemini_client, png

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]

MODEL = "gemini-3-pro-image-preview"
FLASH = "gemini-2.5-flash-image"
PROMPT = "A lighthouse on a cliff at dawn, wide shot."


def express_client(base_url: str, **options: object) -> genai.Client:
    """Vertex AI express mode: an API key, no project or location, the emulator as base URL."""
    return genai.Client(
        vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=base_url, **options)
    )


@pytest.fixture(params=["gemini", "express"])
def client(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[genai.Client]:
    make = gemini_client if request.param == "gemini" else express_client
    with make(live_server.base_url) as sdk:
        yield sdk


@pytest.fixture
def express(live_server: LiveServer) -> Iterator[genai.Client]:
    with express_client(live_server.base_url) as sdk:
        yield sdk


def edit_contents() -> list[types.Part | str]:
    return [types.Part.from_bytes(data=png(160, 90), mime_type="image/png"), PROMPT]


@pytest.mark.parametrize("contents", ["text", "text and an image"])
def test_count_tokens_is_the_prompt_token_count_of_generate_content(
    client: genai.Client, contents: str
) -> None:
    sent = PROMPT if contents == "text" else edit_contents()
    count = client.models.count_tokens(model=MODEL, contents=sent)
    generated = client.models.generate_content(model=MODEL, contents=sent)
    assert generated.usage_metadata is not None
    assert count.total_tokens == generated.usage_metadata.prompt_token_count
    assert count.total_tokens
    if contents != "text":
        assert count.total_tokens > models()[MODEL].input_image_tokens


def test_express_mode_counts_the_system_instruction(express: genai.Client) -> None:
    # Vertex AI only: the SDK refuses system_instruction in count_tokens on the Gemini API.
    instruction = "Paint everything in watercolour, with soft edges and muted colours."
    plain = express.models.count_tokens(model=MODEL, contents=PROMPT)
    steered = express.models.count_tokens(
        model=MODEL,
        contents=PROMPT,
        config=types.CountTokensConfig(system_instruction=instruction),
    )
    generated = express.models.generate_content(
        model=MODEL,
        contents=PROMPT,
        config=types.GenerateContentConfig(system_instruction=instruction),
    )
    assert generated.usage_metadata is not None
    assert steered.total_tokens == generated.usage_metadata.prompt_token_count
    assert (steered.total_tokens or 0) > (plain.total_tokens or 0)


def test_express_mode_computes_the_tokens_it_counts(express: genai.Client) -> None:
    computed = express.models.compute_tokens(model=MODEL, contents=PROMPT)
    count = express.models.count_tokens(model=MODEL, contents=PROMPT)
    assert computed.tokens_info is not None
    [info] = computed.tokens_info
    assert info.role == "user"
    assert info.tokens is not None and info.token_ids is not None
    assert len(info.tokens) == len(info.token_ids) == count.total_tokens
    assert all(isinstance(token_id, int) for token_id in info.token_ids)
    # The SDK decodes the base64 tokens: together they are the prompt.
    assert b"".join(info.tokens).decode() == PROMPT


def test_the_gemini_api_has_no_compute_tokens(live_server: LiveServer) -> None:
    with gemini_client(live_server.base_url) as sdk, pytest.raises(ValueError, match="only"):
        # The SDK itself refuses: compute_tokens is "only supported in the Vertex AI client".
        sdk.models.compute_tokens(model=MODEL, contents=PROMPT)
    answer = httpx.post(
        f"{live_server.base_url}/v1beta/models/{MODEL}:computeTokens",
        headers={"x-goog-api-key": KEY},
        json={"contents": [{"parts": [{"text": PROMPT}]}]},
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("model_id", [MODEL, FLASH])
def test_models_get(client: genai.Client, model_id: str) -> None:
    model = client.models.get(model=model_id)
    assert model.name is not None and model.name.endswith(f"models/{model_id}")
    if client.vertexai:
        assert model.name == f"publishers/google/models/{model_id}"
        assert model.version == models()[model_id].publisher_model["versionId"]
    else:
        assert model.name == f"models/{model_id}"
        assert model.input_token_limit == models()[model_id].input_token_limit
        assert model.output_token_limit
        assert model.display_name
        assert model.supported_actions and "countTokens" in model.supported_actions


def test_iterating_models_list_reaches_every_model(client: genai.Client) -> None:
    # page_size 1: the pager follows nextPageToken across the pages.
    names = [model.name for model in client.models.list(config={"page_size": 1})]
    prefix = "publishers/google/models/" if client.vertexai else "models/"
    assert names == [f"{prefix}{model_id}" for model_id in models()]
    assert [model.name for model in client.models.list()] == names


@pytest.mark.parametrize("call", ["get", "count_tokens"])
def test_an_unknown_model_raises_the_sdks_404(client: genai.Client, call: str) -> None:
    with pytest.raises(errors.ClientError) as raised:
        if call == "get":
            client.models.get(model="gemini-9-ultra")
        else:
            client.models.count_tokens(model="gemini-9-ultra", contents=PROMPT)
    assert raised.value.code == 404
    assert raised.value.status == "NOT_FOUND"
    assert "gemini-9-ultra" in (raised.value.message or "")


def test_async_count_tokens_and_list(live_server: LiveServer) -> None:
    import asyncio

    async def run() -> tuple[int | None, list[str | None]]:
        client = express_client(live_server.base_url)
        try:
            count = await client.aio.models.count_tokens(model=MODEL, contents=PROMPT)
            pager = await client.aio.models.list(config={"page_size": 2})
            names = [model.name async for model in pager]
            return count.total_tokens, names
        finally:
            await client.aio.aclose()
            client.close()

    total, names = asyncio.run(run())
    assert total == -(-len(PROMPT) // 4)
    assert len(names) == len(models())
