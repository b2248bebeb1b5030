"""Issue 17, the answer's shape per surface (raw HTTP, every answer checked by its contract):
index 0 on the Gemini API, the default output format, responseModalities IMAGE alone, a
withheld image, grounding with Google Search, trafficType from Vertex AI's headers, and an
unsigned image part sent back in a model turn."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import contracts
from contracts import ContractError
from emulator import create_app
from emulator.providers.vertex.streaming import chunks_of
from emulator.providers.vertex.surfaces import GATEWAY, GEMINI_API, VERTEX_AI, Surface
from tests.conftest import KEY, contract_client, emulator_config
from tests.test_vertex_streaming import sse_chunks

PRO = "gemini-3-pro-image-preview"
FLASH = "gemini-2.5-flash-image"
HEADERS = {
    "gateway": {"Authorization": f"Bearer {KEY}"},
    "gemini": {"x-goog-api-key": KEY},
    "vertex": {"Authorization": f"Bearer {KEY}"},
}
PATHS = {
    "gateway": "/api/v1/publishers/googleVertexAI/models/{model}:{method}",
    "gemini": "/v1beta/models/{model}:{method}",
    "vertex": "/v1beta1/publishers/google/models/{model}:{method}",
}
SURFACES = (GATEWAY, GEMINI_API, VERTEX_AI)
JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with contract_client(create_app(emulator_config())) as test_client:
        yield test_client


def body(prompt: str = "A lighthouse at dusk", **config: Any) -> dict[str, Any]:
    generation = {"responseModalities": ["TEXT", "IMAGE"], "seed": 7, **config}
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        **generation_of(generation),
    }


def generation_of(config: dict[str, Any]) -> dict[str, Any]:
    tools = config.pop("tools", None)
    out: dict[str, Any] = {"generationConfig": config}
    if tools is not None:
        out["tools"] = tools
    return out


def post(
    client: TestClient,
    surface: Surface,
    payload: dict[str, Any],
    model: str = PRO,
    method: str = "generateContent",
    headers: dict[str, str] | None = None,
    **params: str,
) -> Any:
    url = PATHS[surface.name].format(model=model, method=method)
    response = client.post(
        url, json=payload, headers={**HEADERS[surface.name], **(headers or {})}, params=params
    )
    assert response.status_code == 200, response.text
    return response


def generate(client: TestClient, surface: Surface, payload: dict[str, Any], **kw: Any) -> dict:
    return post(client, surface, payload, **kw).json()


def images_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    parts = answer["candidates"][0]["content"].get("parts", [])
    return [part for part in parts if "inlineData" in part]


# --- row 15: index 0 on the Gemini API, in the unary answer and every chunk ------------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_the_gemini_api_names_candidate_index_zero_vertex_leaves_it_out(
    client: TestClient, surface: Surface
) -> None:
    answer = generate(client, surface, body())
    [candidate] = answer["candidates"]
    assert ("index" in candidate) is (surface is GEMINI_API)
    if surface is GEMINI_API:
        assert candidate["index"] == 0
        chunks = sse_chunks(
            post(client, surface, body(), method="streamGenerateContent", alt="sse")
        )
        assert all(chunk["candidates"][0]["index"] == 0 for chunk in chunks)


def test_chunks_copy_the_index_rather_than_add_it() -> None:
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 1, "totalTokenCount": 2, "promptTokensDetails": []},
        "modelVersion": PRO,
        "responseId": "x",
    }
    [chunk] = chunks_of(answer, GEMINI_API)
    assert "index" not in chunk["candidates"][0]  # the unary candidate had none: none added


# --- row 11: the default output format, per model and surface --------------------------------


@pytest.mark.parametrize(
    ("surface", "model", "mime"),
    [
        (GEMINI_API, PRO, "image/jpeg"),
        (GEMINI_API, "gemini-3-pro-image", "image/jpeg"),
        (GEMINI_API, FLASH, "image/png"),
        (VERTEX_AI, PRO, "image/png"),
        (GATEWAY, PRO, "image/png"),
    ],
    ids=lambda value: getattr(value, "name", value),
)
def test_unasked_output_format_is_the_surfaces_default(
    client: TestClient, surface: Surface, model: str, mime: str
) -> None:
    [image] = images_of(generate(client, surface, body(), model=model))
    assert image["inlineData"]["mimeType"] == mime
    data = base64.b64decode(image["inlineData"]["data"])
    assert data.startswith(JPEG if mime == "image/jpeg" else PNG)


def test_an_asked_format_wins_over_the_surfaces_default(client: TestClient) -> None:
    # The Gemini API has no field to ask a format (row 3: outputMimeType is Vertex's only).
    payload = body(imageConfig={"outputMimeType": "image/jpeg"})
    [image] = images_of(generate(client, VERTEX_AI, payload))
    assert image["inlineData"]["mimeType"] == "image/jpeg"


# --- row 12: responseModalities IMAGE alone: no text part -------------------------------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_image_only_answers_no_text_part_and_counts_no_text(
    client: TestClient, surface: Surface
) -> None:
    answer = generate(client, surface, body(responseModalities=["IMAGE"]))
    parts = answer["candidates"][0]["content"]["parts"]
    assert [("inlineData" in part) for part in parts] == [True]
    assert parts[0]["thoughtSignature"]
    usage = answer["usageMetadata"]
    assert usage["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": 1120}]
    assert usage["candidatesTokenCount"] == 1120
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


def test_text_and_image_answer_a_short_text_part_first(client: TestClient) -> None:
    answer = generate(client, GEMINI_API, body())
    text, image = answer["candidates"][0]["content"]["parts"]
    assert text["text"] and "inlineData" in image
    details = {
        d["modality"]: d["tokenCount"] for d in answer["usageMetadata"]["candidatesTokensDetails"]
    }
    assert set(details) == {"TEXT", "IMAGE"}


# --- row 13: includeThoughts: the first image an app finds is the interim one ---------------


def test_with_thoughts_the_first_image_part_is_an_interim_thought(client: TestClient) -> None:
    answer = generate(client, GEMINI_API, body(thinkingConfig={"includeThoughts": True}))
    images = images_of(answer)
    assert [bool(image.get("thought")) for image in images] == [True, True, False]
    assert "thoughtSignature" in images[-1] and "thoughtSignature" not in images[0]


# --- row 16: a withheld image shows nothing; IMAGE_RECITATION and NO_IMAGE reachable ---------


@pytest.mark.parametrize(
    ("prompt", "reason", "message"),
    [
        ("a gore scene", "IMAGE_SAFETY", "The image was filtered out because it violated"),
        ("a recited image of a comic hero", "IMAGE_RECITATION", None),
        ("an undrawable idea", "NO_IMAGE", None),
    ],
)
@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_a_withheld_image_leaves_nothing_claiming_an_image(
    client: TestClient, surface: Surface, prompt: str, reason: str, message: str | None
) -> None:
    answer = generate(client, surface, body(prompt))
    [candidate] = answer["candidates"]
    assert candidate["finishReason"] == reason
    assert candidate["content"] == {}
    if message is None:
        assert "finishMessage" not in candidate
    else:
        assert message in candidate["finishMessage"]
    usage = answer["usageMetadata"]
    assert usage["candidatesTokenCount"] == 0 and "candidatesTokensDetails" not in usage
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["thoughtsTokenCount"]
    # Streamed, it is one chunk: the unary answer.
    chunks = sse_chunks(
        post(client, surface, body(prompt), method="streamGenerateContent", alt="sse")
    )
    assert [chunk["candidates"] for chunk in chunks] == [answer["candidates"]]


@pytest.mark.parametrize(
    ("category", "reason"), [("recitation", "IMAGE_RECITATION"), ("no_image", "NO_IMAGE")]
)
def test_configured_rules_reach_the_new_finish_reasons(category: str, reason: str) -> None:
    rule = {"word": "teapot", "stage": "output", "category": category}
    config = emulator_config(providers={"vertex": {"moderation": [rule]}})
    with contract_client(create_app(config)) as client:
        answer = generate(client, GEMINI_API, body("a teapot"))
    assert answer["candidates"][0]["finishReason"] == reason


def test_a_seeded_probability_rule_injects_them_like_a_fault() -> None:
    # The moderation rules' own random trigger (seeded: the same run replays) reaches the
    # output-stage reasons, as the fault model's `moderation` reaches the prompt block.
    rule = {"probability": 1.0, "stage": "output", "category": "no_image"}
    config = emulator_config(providers={"vertex": {"moderation": [rule]}})
    with contract_client(create_app(config)) as client:
        for surface in SURFACES:
            answer = generate(client, surface, body("a calm lake"))
            assert answer["candidates"][0]["finishReason"] == "NO_IMAGE"


def test_withheld_with_thoughts_keeps_only_the_thought_summary(client: TestClient) -> None:
    payload = body("a gore scene", thinkingConfig={"includeThoughts": True})
    parts = generate(client, GEMINI_API, payload)["candidates"][0]["content"]["parts"]
    assert all(part.get("thought") for part in parts) and len(parts) == 1


# --- row 17: blockReasonMessage is Vertex AI's only -------------------------------------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_block_reason_message_only_on_vertex_surfaces(client: TestClient, surface: Surface) -> None:
    feedback = generate(client, surface, body("an nsfw poster"))["promptFeedback"]
    assert feedback["blockReason"] == "PROHIBITED_CONTENT"
    assert ("blockReasonMessage" in feedback) is surface.vertex_fields


GEMINI_WRONG: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    (
        "blockReasonMessage",
        lambda b: (
            b.update(promptFeedback={"blockReason": "SAFETY", "blockReasonMessage": "x"})
            or b.pop("candidates")
        ),
    ),
    ("no-index", lambda b: b["candidates"][0].pop("index")),
    ("trafficType", lambda b: b["usageMetadata"].update(trafficType="ON_DEMAND")),
    ("createTime", lambda b: b.update(createTime="2025-11-20T10:00:00.123456Z")),
    (
        "web-domain",
        lambda b: b["candidates"][0]["groundingMetadata"]["groundingChunks"][0]["web"].update(
            domain="example.com"
        ),
    ),
]


@pytest.mark.parametrize(("name", "spoil"), GEMINI_WRONG, ids=[name for name, _ in GEMINI_WRONG])
@pytest.mark.parametrize("schema", ["response-gemini", "stream-chunk-gemini"])
def test_the_gemini_contracts_refuse_vertex_fields(
    schema: str, name: str, spoil: Callable[[dict[str, Any]], None]
) -> None:
    instance = copy.deepcopy(contracts.schema("vertex", schema)["examples"][0])
    contracts.validate("vertex", schema, instance)
    spoil(instance)
    with pytest.raises(ContractError):
        contracts.validate("vertex", schema, instance)
    # The shared contract (Vertex AI and the gateway) takes what only the Gemini API refuses.
    if name != "no-index":
        base = "response" if schema == "response-gemini" else "stream-chunk"
        contracts.validate("vertex", base, instance)


# --- row 14: grounding with Google Search -----------------------------------------------------

SEARCH = [{"googleSearch": {}}]


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_google_search_grounds_the_answer_in_served_placeholder_pages(
    client: TestClient, surface: Surface
) -> None:
    answer = generate(client, surface, body(tools=SEARCH))
    candidate = answer["candidates"][0]
    grounding = candidate["groundingMetadata"]
    assert grounding["webSearchQueries"] == ["A lighthouse at dusk"]
    assert "<div" in grounding["searchEntryPoint"]["renderedContent"]
    text = candidate["content"]["parts"][0]["text"]
    [support] = grounding["groundingSupports"]
    assert support["segment"] == {"endIndex": len(text.encode()), "text": text}
    assert support["groundingChunkIndices"] == [0, 1]
    for chunk in grounding["groundingChunks"]:
        web = chunk["web"]
        assert web["uri"].startswith("http://testserver/assets/grounding-api-redirect/")
        assert ("domain" in web) is surface.vertex_fields
        page = client.get(web["uri"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
def test_grounding_pages_keep_the_root_path_behind_a_proxy(surface: Surface) -> None:
    """The pages a grounded answer cites (its chunks' uris, the search suggestions' links)
    name the public address, root path included, and are served there (issue 23)."""
    public = "https://imagegen.example.test/emu"
    app = create_app(emulator_config())
    with TestClient(app, base_url="https://imagegen.example.test", root_path="/emu") as client:
        grounding = generate(client, surface, body(tools=SEARCH))["candidates"][0][
            "groundingMetadata"
        ]
        uris = [chunk["web"]["uri"] for chunk in grounding["groundingChunks"]]
        pages = f"{public}/assets/grounding-api-redirect/"
        assert uris and all(uri.startswith(pages) for uri in uris), uris
        links = re.findall(r'href="([^"]+)"', grounding["searchEntryPoint"]["renderedContent"])
        assert links and all(link.startswith(f"{public}/assets/") for link in links), links
        assert all(client.get(uri).status_code == 200 for uri in [*uris, *links])


def test_no_search_no_grounding_and_flash_image_takes_no_search(client: TestClient) -> None:
    assert "groundingMetadata" not in generate(client, GEMINI_API, body())["candidates"][0]
    flash = generate(client, GEMINI_API, body(tools=SEARCH), model=FLASH)
    assert "groundingMetadata" not in flash["candidates"][0]


@pytest.mark.parametrize("surface", [GEMINI_API, VERTEX_AI], ids=lambda s: s.name)
def test_grounding_metadata_rides_on_the_last_chunk(client: TestClient, surface: Surface) -> None:
    answer = generate(client, surface, body(tools=SEARCH))
    chunks = sse_chunks(
        post(client, surface, body(tools=SEARCH), method="streamGenerateContent", alt="sse")
    )
    assert [("groundingMetadata" in c["candidates"][0]) for c in chunks] == [False, True]
    assert (
        chunks[-1]["candidates"][0]["groundingMetadata"]
        == answer["candidates"][0]["groundingMetadata"]
    )


# --- row 18: trafficType from Vertex AI's request-type headers --------------------------------


@pytest.mark.parametrize(
    ("headers", "traffic"),
    [
        ({}, "ON_DEMAND"),
        ({"X-Vertex-AI-LLM-Request-Type": "dedicated"}, "PROVISIONED_THROUGHPUT"),
        ({"X-Vertex-AI-LLM-Request-Type": "Dedicated"}, "PROVISIONED_THROUGHPUT"),
        ({"X-Vertex-AI-LLM-Request-Type": "shared"}, "ON_DEMAND"),
        (
            {
                "X-Vertex-AI-LLM-Request-Type": "shared",
                "X-Vertex-AI-LLM-Shared-Request-Type": "priority",
            },
            "ON_DEMAND_PRIORITY",
        ),
        ({"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}, "ON_DEMAND_FLEX"),
    ],
)
def test_vertex_traffic_type_follows_the_request_type_headers(
    client: TestClient, headers: dict[str, str], traffic: str
) -> None:
    answer = generate(client, VERTEX_AI, body(), headers=headers)
    assert answer["usageMetadata"]["trafficType"] == traffic
    chunks = sse_chunks(
        post(client, VERTEX_AI, body(), method="streamGenerateContent", headers=headers, alt="sse")
    )
    assert {chunk["usageMetadata"]["trafficType"] for chunk in chunks} == {traffic}


def test_the_gemini_api_has_no_traffic_type_whatever_the_headers(client: TestClient) -> None:
    headers = {"X-Vertex-AI-LLM-Request-Type": "dedicated"}
    answer = generate(client, GEMINI_API, body(), headers=headers)
    assert "trafficType" not in answer["usageMetadata"]


# --- row 4: an image part of a model turn sent back without its thoughtSignature -------------


def history(signed: bool, model: str = PRO) -> dict[str, Any]:
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG_1x1).decode()}}
    if signed:
        image["thoughtSignature"] = base64.b64encode(b"sig").decode()
    payload = body("make the sky blue")
    payload["contents"][:0] = [
        {"role": "user", "parts": [{"text": "a lighthouse"}]},
        {"role": "model", "parts": [{"text": "Here it is.", "thoughtSignature": "c2ln"}, image]},
    ]
    return payload


PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


def test_the_gemini_api_refuses_an_unsigned_image_in_a_model_turn(client: TestClient) -> None:
    url = PATHS["gemini"].format(model=PRO, method="generateContent")
    response = client.post(url, json=history(signed=False), headers=HEADERS["gemini"])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == (
        "Image part is missing a thought_signature in content position 2, part position 2."
    )
    stream_url = PATHS["gemini"].format(model=PRO, method="streamGenerateContent")
    assert (
        client.post(stream_url, json=history(signed=False), headers=HEADERS["gemini"]).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("surface", "model", "signed"),
    [
        (GEMINI_API, PRO, True),
        (GEMINI_API, FLASH, False),  # Gemini 2.5 signs nothing, so asks nothing back
        (VERTEX_AI, PRO, False),  # Vertex AI documents that it does not refuse it
        (GATEWAY, PRO, False),
    ],
    ids=["gemini-signed", "gemini-flash-unsigned", "vertex-unsigned", "gateway-unsigned"],
)
def test_signed_or_elsewhere_an_image_in_a_model_turn_is_taken(
    client: TestClient, surface: Surface, model: str, signed: bool
) -> None:
    answer = generate(client, surface, history(signed, model), model=model)
    assert answer["candidates"][0]["finishReason"] == "STOP"


# --- row 16 through the fault model: the moderation fault names the verdict ----------------


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.name)
@pytest.mark.parametrize(
    ("category", "reason"),
    [("no_image", "NO_IMAGE"), ("recitation", "IMAGE_RECITATION"), ("safety", "IMAGE_SAFETY")],
)
def test_a_moderation_fault_withholds_the_image_as_it_names(
    client: TestClient, surface: Surface, category: str, reason: str
) -> None:
    fault = {"X-Emulator-Fault": f"moderation; stage=output; category={category}"}
    answer = generate(client, surface, body(), headers=fault)
    candidate = answer["candidates"][0]
    assert candidate["finishReason"] == reason
    assert not images_of(answer)
    assert answer["usageMetadata"].get("candidatesTokenCount", 0) == 0


def test_a_plain_moderation_fault_still_blocks_the_prompt(client: TestClient) -> None:
    answer = generate(client, GEMINI_API, body(), headers={"X-Emulator-Fault": "moderation"})
    assert "candidates" not in answer and answer["promptFeedback"]["blockReason"] == "OTHER"


@pytest.mark.parametrize(
    "value", ["moderation; category=nonsense", "moderation; stage=later", "429; stage=output"]
)
def test_a_bad_moderation_option_is_a_400(client: TestClient, value: str) -> None:
    url = PATHS[GEMINI_API.name].format(model=PRO, method="generateContent")
    headers = {**HEADERS[GEMINI_API.name], "X-Emulator-Fault": value}
    response = client.post(url, json=body(), headers=headers)
    assert response.status_code == 400
    assert "x-emulator-fault" in response.json()["error"]["message"]
