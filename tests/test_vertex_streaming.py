"""streamGenerateContent in-process on every Gemini surface: Google's wire framing (SSE and
the streamed JSON array), the chunk sequence of an image model, the same answer as the unary
call, faults before and during the stream, moderation, and the contract of every chunk."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import contracts
from contracts.findings import response_findings
from emulator import create_app
from tests.conftest import KEY, emulator_config

PRO = "gemini-3-pro-image-preview"
FLASH = "gemini-2.5-flash-image"
SSE_EVENT = re.compile(rb"data: ([^\r\n]+)\r\n\r\n")


@dataclass(frozen=True)
class Surface:
    name: str
    model_path: str  # with {model}
    headers: dict[str, str]
    vertex: bool  # Vertex fields: createTime, trafficType, role before parts

    def url(self, method: str, model: str = PRO, query: str = "") -> str:
        return self.model_path.format(model=model) + f":{method}" + query


BEARER = {"Authorization": f"Bearer {KEY}"}
GOOG = {"x-goog-api-key": KEY}
SURFACES = [
    Surface("gateway", "/api/v1/publishers/googleVertexAI/models/{model}", BEARER, True),
    Surface("gemini-v1beta", "/v1beta/models/{model}", GOOG, False),
    Surface("gemini-v1", "/v1/models/{model}", GOOG, False),
    Surface("vertex-v1beta1", "/v1beta1/publishers/google/models/{model}", GOOG, True),
    Surface(
        "vertex-project",
        "/v1/projects/p/locations/us-central1/publishers/google/models/{model}",
        BEARER,
        True,
    ),
]
GEMINI, VERTEX = SURFACES[1], SURFACES[3]


def body(prompt: str = "A lighthouse at dusk", **config: Any) -> dict[str, Any]:
    generation = {"responseModalities": ["TEXT", "IMAGE"], **config}
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": generation,
    }


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(emulator_config()), base_url="http://testserver") as test_client:
        yield test_client


def sse_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    """The chunks of an SSE answer, checking that the body is nothing but whole events."""
    raw = response.content
    events = SSE_EVENT.findall(raw)
    assert b"".join(b"data: " + event + b"\r\n\r\n" for event in events) == raw
    return [json.loads(event) for event in events]


def stream(client: TestClient, surface: Surface, payload: dict, **kwargs: Any) -> httpx.Response:
    query = kwargs.pop("query", "?alt=sse")
    model = kwargs.pop("model", PRO)
    headers = {**surface.headers, **kwargs.pop("headers", {})}
    url = surface.url("streamGenerateContent", model, query)
    return client.post(url, json=payload, headers=headers, **kwargs)


def unary(client: TestClient, surface: Surface, payload: dict, model: str = PRO) -> dict:
    answer = client.post(
        surface.url("generateContent", model), json=payload, headers=surface.headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def parts_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        part
        for chunk in chunks
        for c in chunk.get("candidates", [])
        for part in c["content"].get("parts", [])
    ]


# --- the wire ----------------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_sse_is_data_events_ended_by_crlf_crlf(client: TestClient, surface: Surface) -> None:
    response = stream(client, surface, body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert "content-length" not in response.headers
    chunks = sse_chunks(response)
    assert len(chunks) == 2  # the text, then the image
    for chunk in chunks:
        contracts.validate("vertex", "stream-chunk", chunk)


def test_sse_json_is_one_line_with_googles_separators(client: TestClient) -> None:
    raw = stream(client, GEMINI, body("a <b> & c")).content
    first = SSE_EVENT.findall(raw)[0]
    assert first.startswith(b'{"candidates": [{"content": {"parts": [{"text": ')
    assert b'"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": ' in first
    assert b"\\u003cb\\u003e" in first and b"<" not in first


@pytest.mark.parametrize("query", ["", "?alt=json"])
def test_without_sse_a_pretty_json_array_streamed_element_by_element(
    client: TestClient, query: str
) -> None:
    response = stream(client, VERTEX, body(), query=query)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    raw = response.content
    assert raw.startswith(b'[{\n  "candidates": [\n    {\n      "content": {\n        "role"')
    assert raw.endswith(b"\n}\n]")
    elements = raw[1:-2].split(b"\n,\r\n")
    assert len(elements) == 2
    chunks = [json.loads(element) for element in elements]
    assert json.loads(raw) == chunks
    for chunk in chunks:
        contracts.validate("vertex", "stream-chunk", chunk)


def test_an_unknown_alt_is_googles_400(client: TestClient) -> None:
    response = stream(client, GEMINI, body(), query="?alt=proto3")
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "alt" in response.json()["error"]["message"]


# --- the chunk sequence ------------------------------------------------------------------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_concatenated_chunks_are_the_unary_answer(client: TestClient, surface: Surface) -> None:
    payload = body(imageConfig={"aspectRatio": "16:9"}, seed=7)
    whole = unary(client, surface, payload)
    chunks = sse_chunks(stream(client, surface, payload))
    assert parts_of(chunks) == whole["candidates"][0]["content"]["parts"]
    last = chunks[-1]
    assert last["usageMetadata"] == whole["usageMetadata"]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in c for chunk in chunks[:-1] for c in chunk["candidates"])
    assert {chunk["responseId"] for chunk in chunks} == {chunks[0]["responseId"]}
    assert {chunk["modelVersion"] for chunk in chunks} == {whole["modelVersion"]}
    if surface.vertex:
        assert all("createTime" in chunk for chunk in chunks)
        assert chunks[0]["usageMetadata"] == {"trafficType": "ON_DEMAND"}
        assert list(chunks[0]["candidates"][0]["content"]) == ["role", "parts"]
    else:
        assert not any("createTime" in chunk for chunk in chunks)
        interim = chunks[0]["usageMetadata"]
        assert interim["promptTokenCount"] == whole["usageMetadata"]["promptTokenCount"]
        assert interim["totalTokenCount"] < whole["usageMetadata"]["totalTokenCount"]
        assert chunks[0]["candidates"][0]["index"] == 0
        assert list(chunks[0]["candidates"][0]["content"]) == ["parts", "role"]


def test_the_image_comes_last_with_its_thought_signature(client: TestClient) -> None:
    chunks = sse_chunks(stream(client, GEMINI, body(seed=3)))
    text, image = parts_of(chunks)
    assert "text" in text and "thoughtSignature" in text
    # The Gemini API answers Gemini 3 Pro Image in JPEG unless asked otherwise.
    assert image["inlineData"]["mimeType"] == "image/jpeg"
    assert base64.b64decode(image["inlineData"]["data"]).startswith(b"\xff\xd8\xff")
    assert image["thoughtSignature"]


def test_include_thoughts_streams_thoughts_and_two_interim_images_first(
    client: TestClient,
) -> None:
    payload = body(seed=11, thinkingConfig={"includeThoughts": True})
    chunks = sse_chunks(stream(client, GEMINI, payload))
    parts = parts_of(chunks)
    assert [("text" in p, bool(p.get("thought"))) for p in parts] == [
        (True, True),
        (False, True),
        (False, True),
        (True, False),
        (False, False),
    ]
    drafts = {p["inlineData"]["data"] for p in parts[1:3]}
    assert len(drafts) == 2 and parts[4]["inlineData"]["data"] not in drafts
    assert len(chunks) == len(parts)  # one part a chunk
    # The unary answer shows the same thoughts (Google answers them there too).
    assert unary(client, GEMINI, payload)["candidates"][0]["content"]["parts"] == parts


def test_flash_image_has_no_thoughts_to_show(client: TestClient) -> None:
    payload = body(thinkingConfig={"includeThoughts": True})
    parts = parts_of(sse_chunks(stream(client, GEMINI, payload, model=FLASH)))
    assert not any(part.get("thought") for part in parts)


def test_same_request_and_seed_same_image_bytes_as_unary(client: TestClient) -> None:
    payload = body("a red kite", seed=42)
    unary_image = unary(client, VERTEX, payload)["candidates"][0]["content"]["parts"][-1]
    streamed = parts_of(sse_chunks(stream(client, VERTEX, payload)))[-1]
    assert streamed["inlineData"] == unary_image["inlineData"]


# --- faults and moderation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "google_status"),
    [
        ("429", 429, "RESOURCE_EXHAUSTED"),
        ("503", 503, "UNAVAILABLE"),
        ("401", 401, "UNAUTHENTICATED"),
    ],
)
def test_an_http_fault_is_an_error_before_the_stream(
    client: TestClient, fault: str, status: int, google_status: str
) -> None:
    response = stream(client, GEMINI, body(), headers={"X-Emulator-Fault": fault})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    contracts.validate("vertex", "error-google", response.json())
    assert response.json()["error"]["status"] == google_status


def test_gateway_fault_in_the_gateways_error_shape(client: TestClient) -> None:
    response = stream(client, SURFACES[0], body(), headers={"X-Emulator-Fault": "429"})
    assert response.status_code == 429
    contracts.validate("vertex", "error-gateway", response.json())
    assert response.headers["Retry-After"] == "1"


def test_missing_key_is_refused_before_the_stream(client: TestClient) -> None:
    response = client.post(GEMINI.url("streamGenerateContent", query="?alt=sse"), json=body())
    assert response.status_code == 403  # the Gemini API's answer to no key at all
    contracts.validate("vertex", "error-google", response.json())


def test_drop_cuts_the_stream(client: TestClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, GEMINI, body(), headers={"X-Emulator-Fault": "drop"})


def test_malformed_spoils_exactly_one_event(client: TestClient) -> None:
    payload = body(thinkingConfig={"includeThoughts": True})
    raw = stream(client, GEMINI, payload, headers={"X-Emulator-Fault": "malformed"}).content
    events = SSE_EVENT.findall(raw)
    assert len(events) == 5
    unreadable = []
    for index, event in enumerate(events):
        try:
            json.loads(event)
        except json.JSONDecodeError:
            unreadable.append(index)
    assert unreadable == [2]


def test_blocked_prompt_is_one_chunk_like_the_unary_answer(client: TestClient) -> None:
    payload = body("an nsfw picture of a cat")
    chunks = sse_chunks(stream(client, GEMINI, payload))
    assert len(chunks) == 1
    assert "candidates" not in chunks[0]
    assert chunks[0]["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT"
    whole = unary(client, GEMINI, payload)
    assert chunks[0]["promptFeedback"] == whole["promptFeedback"]
    contracts.validate("vertex", "stream-chunk", chunks[0])


def test_withheld_image_ends_with_image_safety(client: TestClient) -> None:
    chunks = sse_chunks(stream(client, VERTEX, body("a gore scene in a castle")))
    assert chunks[-1]["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    assert not any("inlineData" in part for part in parts_of(chunks))


def test_forced_moderation_fault_blocks_as_unary_does(client: TestClient) -> None:
    faulted = {"X-Emulator-Fault": "moderation"}
    chunks = sse_chunks(stream(client, GEMINI, body(), headers=faulted))
    answer = client.post(
        GEMINI.url("generateContent"), json=body(), headers={**GEMINI.headers, **faulted}
    ).json()
    assert len(chunks) == 1 and "candidates" not in chunks[0]
    assert chunks[0]["promptFeedback"] == answer["promptFeedback"]


def test_the_journal_names_the_stream(client: TestClient) -> None:
    stream(client, GEMINI, body())
    (entry,) = client.get("/_emulator/requests").json()["requests"]
    assert (entry["route"], entry["status"]) == ("streamGenerateContent", 200)


def test_findings_read_each_chunk_of_a_stream(client: TestClient) -> None:
    response = stream(client, VERTEX, body())
    assert response_findings(response) == []
    broken = response.content.replace(b'"responseId": ', b'"responseID": ', 2)  # 2nd chunk too
    spoilt = httpx.Response(200, headers=response.headers, content=broken, request=response.request)
    paths = {finding.path for finding in response_findings(spoilt)}
    assert paths == {"$[0].responseId", "$[1].responseId"}  # each chunk, by its index
    cut = httpx.Response(
        200, headers=response.headers, content=b"data: {", request=response.request
    )
    assert [f.path for f in response_findings(cut)] == ["$"]


def test_a_drop_under_a_root_path_is_a_fault_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    # Under a root path the request goes through Starlette's router, not the fast route table.
    app = create_app(emulator_config())
    with TestClient(app, root_path="/emu", base_url="http://testserver") as proxied:
        headers = {**GEMINI.headers, "X-Emulator-Fault": "drop"}
        url = "/emu" + GEMINI.url("streamGenerateContent", query="?alt=sse")
        with pytest.raises(httpx.RemoteProtocolError):
            proxied.post(url, json=body(), headers=headers)
        assert proxied.post(url, json=body(), headers=GEMINI.headers).status_code == 200
    assert not [r for r in caplog.records if "unexpected error" in r.getMessage()]
