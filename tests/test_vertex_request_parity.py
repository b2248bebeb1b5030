"""Issue 17, the request rows: what Google's generateContent accepts and refuses in a request,
on the three surfaces. Enum values in any case; unknown names anywhere (Google's wording and
google.rpc.BadRequest detail); Vertex AI's own imageConfig fields (unknown on the Gemini API,
honoured on Vertex AI and the gateway, the JPEG quality included); a systemInstruction to
gemini-2.5-flash-image on the Gemini API; candidateCount above 1.

The official SDK over a real socket wherever it sends the case; raw HTTP where it refuses to
(it raises ValueError for Vertex AI's fields in Gemini API mode)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import KEY, LiveServer

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

from tests.test_vertex_sdk import gateway_client, gemini_client  # noqa: E402

PRO = "gemini-3-pro-image"
FLASH = "gemini-2.5-flash-image"
PATHS = {
    "gateway": "/api/v1/publishers/googleVertexAI/models/{model}:generateContent",
    "gemini": "/v1beta/models/{model}:generateContent",
    "vertex": "/v1beta1/publishers/google/models/{model}:generateContent",
}
HEADERS = {
    "gateway": {"Authorization": f"Bearer {KEY}"},
    "gemini": {"x-goog-api-key": KEY},
    "vertex": {"Authorization": f"Bearer {KEY}"},
}
SURFACES = tuple(PATHS)
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def body(text: str = "a lighthouse at dawn", **generation_config: object) -> dict:
    out: dict = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if generation_config:
        out["generationConfig"] = generation_config
    return out


def post(client: TestClient, surface: str, payload: dict, model: str = PRO) -> httpx.Response:
    return client.post(PATHS[surface].format(model=model), json=payload, headers=HEADERS[surface])


def refused(response: httpx.Response, surface: str) -> dict:
    """The error object of a 400, in the surface's own shape."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if surface == "gateway":
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_parameter")
    else:
        assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT"), error
    return error


def image_of(answer: dict) -> tuple[str, bytes]:
    parts = answer["candidates"][0]["content"]["parts"]
    blobs = [part["inlineData"] for part in parts if "inlineData" in part]
    assert len(blobs) == 1, parts
    return blobs[0]["mimeType"], base64.b64decode(blobs[0]["data"])


def luma_quantisation(jpeg: bytes) -> int:
    """The sum of a JPEG's luminance quantisation table: the lower the quality, the larger."""
    with Image.open(io.BytesIO(jpeg)) as opened:
        assert opened.format == "JPEG"
        return sum(opened.quantization[0])


def vertex_client(base_url: str) -> genai.Client:
    """Vertex AI express mode (an API key): /v1beta1/publishers/google/models/{model}."""
    return genai.Client(
        vertexai=True, api_key=KEY, http_options=types.HttpOptions(base_url=base_url)
    )


CLIENTS = {"gateway": gateway_client, "gemini": gemini_client, "vertex": vertex_client}
SDK_MODELS = {"gateway": f"googleVertexAI/{PRO}", "gemini": PRO, "vertex": PRO}


@pytest.fixture
def sdk(request: pytest.FixtureRequest, live_server: LiveServer) -> Iterator[genai.Client]:
    with CLIENTS[request.param](live_server.base_url) as client:
        yield client


def sdk_model(request: pytest.FixtureRequest, model: str = PRO) -> str:
    surface = request.node.callspec.params["sdk"]
    return f"googleVertexAI/{model}" if surface == "gateway" else model


# --- row 1: enum values in any case -------------------------------------------------------


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", SURFACES, indirect=True)
def test_the_cookbooks_title_case_modalities_are_read_as_text_and_image(
    sdk: genai.Client, request: pytest.FixtureRequest
) -> None:
    # The Gemini cookbook's own spelling: response_modalities=['Text', 'Image'].
    response = sdk.models.generate_content(
        model=sdk_model(request),
        contents="A lighthouse at dawn",
        config=types.GenerateContentConfig(response_modalities=["Text", "Image"]),
    )
    assert response.candidates and response.candidates[0].content
    parts = response.candidates[0].content.parts or []
    assert [part for part in parts if part.inline_data], parts
    assert [part for part in parts if part.text], parts


@pytest.mark.parametrize("surface", SURFACES)
def test_enum_values_are_read_in_any_case(client: TestClient, surface: str) -> None:
    answer = post(
        client,
        surface,
        {
            **body(responseModalities=["text"], mediaResolution="media_resolution_low"),
            "safetySettings": [{"category": "harm_category_harassment", "threshold": "Block_None"}],
        },
    )
    assert answer.status_code == 200, answer.text
    # Read as the canonical TEXT: a text-only answer, no image.
    parts = answer.json()["candidates"][0]["content"]["parts"]
    assert parts and not [part for part in parts if "inlineData" in part]


# --- row 2: unknown names anywhere ----------------------------------------------------------


def unknown(name: str, field: str) -> str:
    where = f" at '{field}'" if field else ""
    return f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'


UNKNOWN = [
    ("generationConfig.foo", body(foo=1), "foo", "generation_config"),
    (
        "imageConfig.foo",
        body(imageConfig={"aspectRatio": "1:1", "foo": 1}),
        "foo",
        "generation_config.image_config",
    ),
    (
        "thinkingConfig.foo",
        body(thinkingConfig={"includeThoughts": True, "foo": 1}),
        "foo",
        "generation_config.thinking_config",
    ),
    ("a misspelt generationConfig", {**body(), "generationConfg": {}}, "generationConfg", ""),
    (
        "a part's foo",
        {"contents": [{"role": "user", "parts": [{"text": "x", "foo": 1}]}]},
        "foo",
        "contents[0].parts[0]",
    ),
    # Inside a tool and the tool configuration too (issue 23's sweep; Google refuses these:
    # "Unknown name \"type\" at 'tools[26]': Cannot find field.", github/github-mcp-server#1385).
    ("a tool's foo", {**body(), "tools": [{"googleSearch": {}, "foo": {}}]}, "foo", "tools[0]"),
    ("toolConfig.foo", {**body(), "toolConfig": {"foo": 1}}, "foo", "tool_config"),
]


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize(
    ("case", "payload", "name", "field"), UNKNOWN, ids=[case for case, *_ in UNKNOWN]
)
def test_an_unknown_name_is_googles_400_with_a_bad_request_detail(
    client: TestClient, surface: str, case: str, payload: dict, name: str, field: str
) -> None:
    error = refused(post(client, surface, payload), surface)
    message = unknown(name, field)
    assert error["message"] == message
    if surface == "gateway":
        return  # the gateway's own shape has no details
    # At the top level Google names no field (googleapis/python-genai#425).
    violation = {"field": field, "description": message} if field else {"description": message}
    assert error["details"] == [{"@type": BAD_REQUEST, "fieldViolations": [violation]}]


def test_every_unknown_name_is_listed(client: TestClient) -> None:
    payload = body(foo=1, imageConfig={"bar": 2})
    error = refused(post(client, "gemini", payload), "gemini")
    expected = [
        unknown("foo", "generation_config"),
        unknown("bar", "generation_config.image_config"),
    ]
    assert sorted(error["message"].split("\n")) == sorted(expected)
    violations = error["details"][0]["fieldViolations"]
    assert sorted(v["description"] for v in violations) == sorted(expected)


# Every field of GenerateContentRequest and GenerationConfig both APIs define (the Gemini API's
# generative_service.proto, Vertex AI's content.proto), each with a value Google takes.
COMMON_CONFIG = {
    "candidateCount": 1,
    "stopSequences": ["END"],
    "maxOutputTokens": 8192,
    "temperature": 1.0,
    "topP": 0.95,
    "topK": 40,
    "seed": 7,
    "responseMimeType": "text/plain",
    "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
    "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
    "presencePenalty": 0.0,
    "frequencyPenalty": 0.0,
    "responseLogprobs": False,
    "logprobs": 1,
    "responseModalities": ["TEXT", "IMAGE"],
    "speechConfig": {"languageCode": "en-US"},
    "thinkingConfig": {"includeThoughts": False, "thinkingBudget": 128, "thinkingLevel": "LOW"},
    "mediaResolution": "MEDIA_RESOLUTION_HIGH",
    "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"},
}
EXTRA_CONFIG = {
    "gemini": {"enableEnhancedCivicAnswers": False},
    "vertex": {"audioTimestamp": False, "routingConfig": {}, "modelConfig": {}},
}
EXTRA_IMAGE_CONFIG = {
    "gemini": {},
    "vertex": {
        "personGeneration": "ALLOW_ADULT",
        "prominentPeople": "ALLOW_PROMINENT_PEOPLE",
        "imageOutputOptions": {"mimeType": "image/png", "compressionQuality": 90},
    },
}


# Every field of Tool each API defines (googleapis/googleapis: the Gemini API's
# google/ai/generativelanguage/v1beta/content.proto, Vertex AI's
# google/cloud/aiplatform/v1beta1/tool.proto and v1/tool.proto), with a value Google takes.
COMMON_TOOLS = {
    "functionDeclarations": [{"name": "f", "description": "a function"}],
    "googleSearchRetrieval": {},
    "codeExecution": {},
    "googleSearch": {},
    "computerUse": {"environment": "ENVIRONMENT_BROWSER"},
    "urlContext": {},
    "googleMaps": {},
}
OWN_TOOLS = {
    "gemini": {"fileSearch": {"fileSearchStoreNames": ["fileSearchStores/s"]}},
    "vertex": {
        "retrieval": {"vertexAiSearch": {"datastore": "projects/p/locations/l/datastores/d"}},
        "enterpriseWebSearch": {},
        "parallelAiSearch": {},
        "exaAiSearch": {},
    },
}


@pytest.mark.parametrize("surface", SURFACES)
def test_every_tool_google_defines_is_accepted_and_the_other_apis_are_unknown(
    client: TestClient, surface: str
) -> None:
    api = "gemini" if surface == "gemini" else "vertex"
    other = "vertex" if api == "gemini" else "gemini"
    tools = [{name: value} for name, value in {**COMMON_TOOLS, **OWN_TOOLS[api]}.items()]
    config = {"functionCallingConfig": {"mode": "AUTO"}, "retrievalConfig": {}}
    answer = post(client, surface, {**body(), "tools": tools, "toolConfig": config})
    assert answer.status_code == 200, answer.text
    snake = post(client, surface, {**body(), "tools": [{"url_context": {}}]})
    assert snake.status_code == 200, snake.text  # the proto's own names, as the SDK may send
    for name, value in OWN_TOOLS[other].items():
        error = refused(post(client, surface, {**body(), "tools": [{name: value}]}), surface)
        assert error["message"] == unknown(name, "tools[0]")


@pytest.mark.parametrize("surface", SURFACES)
def test_every_field_google_defines_is_accepted(client: TestClient, surface: str) -> None:
    api = "gemini" if surface == "gemini" else "vertex"
    config = {**COMMON_CONFIG, **EXTRA_CONFIG[api]}
    config["imageConfig"] = {**COMMON_CONFIG["imageConfig"], **EXTRA_IMAGE_CONFIG[api]}
    payload = {
        **body(**config),
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "tools": [],
        "toolConfig": {"functionCallingConfig": {"mode": "auto"}},
        "labels": {"team": "imaging"},
        "cachedContent": "cachedContents/abc",
    }
    answer = post(client, surface, payload)
    assert answer.status_code == 200, answer.text


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", ["gateway", "gemini"], indirect=True)
def test_the_sdks_generation_config_is_accepted(
    sdk: genai.Client, request: pytest.FixtureRequest
) -> None:
    response = sdk.models.generate_content(
        model=sdk_model(request),
        contents="A lighthouse at dawn",
        config=types.GenerateContentConfig(
            system_instruction="be brief",
            temperature=1.0,
            top_p=0.95,
            top_k=40,
            seed=3,
            stop_sequences=["END"],
            max_output_tokens=8192,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            response_modalities=["TEXT", "IMAGE"],
            media_resolution=types.MediaResolution.MEDIA_RESOLUTION_HIGH,
            thinking_config=types.ThinkingConfig(include_thoughts=False),
            image_config=types.ImageConfig(aspect_ratio="1:1", image_size="1K"),
            safety_settings=[
                types.SafetySetting(
                    category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                    threshold=types.HarmBlockThreshold.BLOCK_NONE,
                )
            ],
        ),
    )
    assert response.candidates and response.candidates[0].finish_reason == "STOP"


# --- row 3: Vertex AI's own imageConfig fields --------------------------------------------

VERTEX_ONLY = [
    ("outputMimeType", "image/jpeg"),
    ("outputCompressionQuality", 50),
    ("imageOutputOptions", {"mimeType": "image/jpeg"}),
    ("personGeneration", "ALLOW_ADULT"),
    ("prominentPeople", "ALLOW_PROMINENT_PEOPLE"),
]


@pytest.mark.parametrize(("name", "value"), VERTEX_ONLY, ids=[name for name, _ in VERTEX_ONLY])
def test_vertex_only_image_config_fields_are_unknown_on_the_gemini_api(
    client: TestClient, name: str, value: object
) -> None:
    error = refused(post(client, "gemini", body(imageConfig={name: value})), "gemini")
    assert error["message"] == unknown(name, "generation_config.image_config")
    for surface in ("vertex", "gateway"):
        answer = post(client, surface, body(imageConfig={name: value}))
        assert answer.status_code == 200, (surface, answer.text)


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", ["gemini"], indirect=True)
def test_the_sdk_refuses_vertex_only_fields_for_the_gemini_api(sdk: genai.Client) -> None:
    # Why the Gemini API cases above are raw HTTP: the SDK never sends them there.
    with pytest.raises(ValueError, match="output_mime_type"):
        sdk.models.generate_content(
            model=PRO,
            contents="x",
            config=types.GenerateContentConfig(
                image_config=types.ImageConfig(output_mime_type="image/jpeg")
            ),
        )


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", ["gateway", "vertex"], indirect=True)
def test_the_output_compression_quality_sets_the_jpeg_quality(
    sdk: genai.Client, request: pytest.FixtureRequest
) -> None:
    def jpeg(quality: int) -> bytes:
        response = sdk.models.generate_content(
            model=sdk_model(request),
            contents="A lighthouse at dawn",
            config=types.GenerateContentConfig(
                seed=11,
                image_config=types.ImageConfig(
                    output_mime_type="image/jpeg", output_compression_quality=quality
                ),
            ),
        )
        assert response.candidates and response.candidates[0].content
        blobs = [p.inline_data for p in response.candidates[0].content.parts or [] if p.inline_data]
        assert len(blobs) == 1 and blobs[0].mime_type == "image/jpeg" and blobs[0].data
        return blobs[0].data

    # The SDK sends these as imageOutputOptions {mimeType, compressionQuality} on Vertex AI.
    assert luma_quantisation(jpeg(20)) > luma_quantisation(jpeg(95))


@pytest.mark.parametrize("surface", ["gateway", "vertex"])
def test_the_flat_output_compression_quality_sets_the_jpeg_quality(
    client: TestClient, surface: str
) -> None:
    def jpeg(**image_config: object) -> bytes:
        payload = body(seed=5, imageConfig={"outputMimeType": "image/jpeg", **image_config})
        answer = post(client, surface, payload)
        assert answer.status_code == 200, answer.text
        mime, data = image_of(answer.json())
        assert mime == "image/jpeg"
        return data

    default, low = jpeg(), jpeg(outputCompressionQuality=10)
    assert luma_quantisation(low) > luma_quantisation(default)


# --- row 5: a systemInstruction to gemini-2.5-flash-image on the Gemini API -----------------


@pytest.mark.parametrize(("surface", "model"), [("gemini", FLASH), ("vertex", FLASH)])
def test_developer_instruction_on_flash_image(client: TestClient, surface: str, model: str) -> None:
    payload = {**body(), "systemInstruction": {"parts": [{"text": "be brief"}]}}
    answer = post(client, surface, payload, model)
    if surface == "gemini":
        error = refused(answer, surface)
        assert error["message"] == f"Developer instruction is not enabled for models/{model}"
    else:
        assert answer.status_code == 200, answer.text


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", ["gemini"], indirect=True)
def test_the_sdk_sees_flash_image_refuse_a_system_instruction(sdk: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as raised:
        sdk.models.generate_content(
            model=FLASH,
            contents="A lighthouse",
            config=types.GenerateContentConfig(system_instruction="be brief"),
        )
    assert raised.value.code == 400
    assert raised.value.message == f"Developer instruction is not enabled for models/{FLASH}"
    # Gemini 3 Pro Image takes one.
    response = sdk.models.generate_content(
        model=PRO,
        contents="A lighthouse",
        config=types.GenerateContentConfig(system_instruction="be brief"),
    )
    assert response.candidates


# --- row 6: candidateCount above 1 ----------------------------------------------------------

MULTIPLE = "Multiple candidates is not enabled for this model"


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("model", [PRO, FLASH])
def test_more_than_one_candidate_is_refused(client: TestClient, surface: str, model: str) -> None:
    error = refused(post(client, surface, body(candidateCount=2), model), surface)
    assert error["message"] == MULTIPLE


@pytest.mark.live
@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("sdk", SURFACES, indirect=True)
def test_the_sdk_sees_more_than_one_candidate_refused(
    sdk: genai.Client, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(errors.ClientError) as raised:
        sdk.models.generate_content(
            model=sdk_model(request),
            contents="A lighthouse",
            config=types.GenerateContentConfig(candidate_count=2),
        )
    assert raised.value.code == 400
    assert MULTIPLE in (raised.value.message or str(raised.value))
