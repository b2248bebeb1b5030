"""countTokens (Gemini API and Vertex AI) and computeTokens (Vertex AI), in-process: the count
is generateContent's promptTokenCount for the same request, bodies are read and refused as
Google reads them, and the calls go through keys, faults and the journal like generateContent
but start no job and charge nothing.

Every response here is also checked against the contracts by the client fixture."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx
import pytest
from starlette.testclient import TestClient

from emulator import create_app
from emulator.providers.vertex.catalog import models
from tests.conftest import KEY, contract_client, emulator_config
from tests.test_vertex_api import FLASH, PRO, by_modality, error_of, image_part, request


@dataclass(frozen=True)
class ModelPath:
    """One model resource and where the key goes: how a caller reaches its methods."""

    path: str  # with a {model} placeholder
    key_in: str  # "header" (x-goog-api-key), "query" (?key=) or "bearer"
    surface: str  # "gemini" or "vertex"

    def url(self, method: str, model: str = PRO) -> str:
        return f"{self.path.format(model=model)}:{method}"

    def auth(self) -> dict:
        if self.key_in == "query":
            return {"params": {"key": KEY}}
        header = {"header": "x-goog-api-key", "bearer": "Authorization"}[self.key_in]
        value = f"Bearer {KEY}" if self.key_in == "bearer" else KEY
        return {"headers": {header: value}}

    def __str__(self) -> str:
        return f"{self.path.split('/models/')[0]} ({self.key_in})"


GEMINI_PATHS = [
    ModelPath("/v1beta/models/{model}", "header", "gemini"),
    ModelPath("/v1/models/{model}", "query", "gemini"),
]
VERTEX_PATHS = [
    ModelPath("/v1beta1/publishers/google/models/{model}", "header", "vertex"),
    ModelPath("/v1/publishers/google/models/{model}", "query", "vertex"),
    ModelPath(
        "/v1beta1/projects/p-1/locations/global/publishers/google/models/{model}",
        "bearer",
        "vertex",
    ),
    ModelPath(
        "/v1/projects/my-project/locations/us-central1/publishers/google/models/{model}",
        "bearer",
        "vertex",
    ),
]
ALL_PATHS = GEMINI_PATHS + VERTEX_PATHS
GATEWAY = "/api/v1/publishers/googleVertexAI/models/{model}"


def call(
    client: TestClient,
    where: ModelPath,
    method: str,
    body: object,
    model: str = PRO,
    **kwargs: object,
) -> httpx.Response:
    extra = where.auth()
    headers = {**extra.get("headers", {}), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return client.post(
        where.url(method, model),
        json=body,
        headers=headers,
        params=extra.get("params"),
        **kwargs,  # type: ignore[arg-type]
    )


def counted(client: TestClient, where: ModelPath, body: object, model: str = PRO) -> dict:
    response = call(client, where, "countTokens", body, model)
    assert response.status_code == 200, response.text
    return response.json()


def prompt_usage(client: TestClient, where: ModelPath, body: dict, model: str = PRO) -> dict:
    response = call(client, where, "generateContent", body, model)
    assert response.status_code == 200, response.text
    return response.json()["usageMetadata"]


def count_body(where: ModelPath, generate_body: dict) -> dict:
    """The countTokens body that counts what `generate_body` sends: the Gemini API takes the
    whole generateContent request (with its model), Vertex the same fields at the top."""
    if where.surface == "gemini" and "systemInstruction" in generate_body:
        return {"generateContentRequest": {"model": f"models/{PRO}", **generate_body}}
    return generate_body


# ------------------------------------------------------------------------------------------
# The count is generateContent's promptTokenCount
# ------------------------------------------------------------------------------------------

SAMPLES = {
    "text": request("A lighthouse on a cliff at dawn, wide shot, soft light."),
    "text and an image": request("Make the sky orange.", image_part((120, 80))),
    "two images, two turns": {
        "contents": [
            {"role": "user", "parts": [{"text": "Blend these."}, image_part(), image_part()]},
            {"role": "model", "parts": [{"text": "Here they are."}]},
            {"role": "user", "parts": [{"text": "Now brighter, please."}]},
        ]
    },
    "system instruction": {
        **request("A red kite over a beach."),
        "systemInstruction": {"parts": [{"text": "Paint everything in watercolour."}]},
    },
}


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("where", ALL_PATHS, ids=str)
def test_the_count_is_generate_contents_prompt_token_count(
    client: TestClient, where: ModelPath, sample: str
) -> None:
    body = SAMPLES[sample]
    usage = prompt_usage(client, where, body)
    answer = counted(client, where, count_body(where, body))
    assert answer["totalTokens"] == usage["promptTokenCount"]
    assert by_modality(answer["promptTokensDetails"]) == by_modality(usage["promptTokensDetails"])


@pytest.mark.parametrize(("model", "per_image"), [(PRO, 560), (FLASH, 258)])
def test_an_inline_image_counts_the_models_input_image_tokens(
    client: TestClient, model: str, per_image: int
) -> None:
    assert models()[model].input_image_tokens == per_image
    text_only = counted(client, GEMINI_PATHS[0], request("Add a hat."), model)
    with_images = counted(
        client, GEMINI_PATHS[0], request("Add a hat.", image_part(), image_part()), model
    )
    assert with_images["totalTokens"] - text_only["totalTokens"] == 2 * per_image
    assert by_modality(with_images["promptTokensDetails"])["IMAGE"] == 2 * per_image


def test_text_counts_about_four_characters_a_token(client: TestClient) -> None:
    short, longer = "a" * 8, "a" * 9
    assert counted(client, GEMINI_PATHS[0], request(short))["totalTokens"] == 2
    assert counted(client, GEMINI_PATHS[0], request(longer))["totalTokens"] == 3


def test_thought_parts_sent_back_are_not_counted(client: TestClient) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "A fox."}]},
            {"role": "model", "parts": [{"text": "x" * 400, "thought": True}]},
            {"role": "user", "parts": [{"text": "Now at night."}]},
        ]
    }
    without = {"contents": [body["contents"][0], body["contents"][2]]}
    assert counted(client, VERTEX_PATHS[0], body) == counted(client, VERTEX_PATHS[0], without)


def test_a_prompt_over_the_input_limit_is_counted_not_refused(client: TestClient) -> None:
    # What countTokens is for: finding out before generateContent refuses it.
    limit = models()[PRO].input_token_limit
    body = request("w" * (4 * limit + 40))
    refused = call(client, GEMINI_PATHS[0], "generateContent", body)
    assert refused.status_code == 400
    assert "exceeds the maximum number of tokens" in error_of(refused, "google")["message"]
    assert counted(client, GEMINI_PATHS[0], body)["totalTokens"] == limit + 10


@pytest.mark.parametrize("where", VERTEX_PATHS, ids=str)
def test_vertex_adds_billable_characters_without_white_space(
    client: TestClient, where: ModelPath
) -> None:
    body = {
        **request("A  red\tkite ", image_part()),
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    answer = counted(client, where, body)
    # "Be brief." and "A  red\tkite ": 8 and 8 characters that are not white space.
    assert answer["totalBillableCharacters"] == 16


@pytest.mark.parametrize("where", GEMINI_PATHS, ids=str)
def test_the_gemini_api_answers_its_own_fields_only(client: TestClient, where: ModelPath) -> None:
    answer = counted(client, where, request("A blue door."))
    assert set(answer) == {"totalTokens", "promptTokensDetails"}


def test_a_gemini_body_without_contents_counts_nothing(client: TestClient) -> None:
    # CountTokensRequest.contents is optional in generative_service.proto.
    answer = counted(client, GEMINI_PATHS[0], {})
    assert answer["totalTokens"] == 0


def test_snake_case_names_count_the_same(client: TestClient) -> None:
    image = image_part()["inlineData"]
    camel = {
        "generateContentRequest": {
            "model": f"models/{PRO}",
            "contents": [{"parts": [{"text": "A boat."}, {"inlineData": image}]}],
            "systemInstruction": {"parts": [{"text": "Oil paint."}]},
        }
    }
    snake = {
        "generate_content_request": {
            "model": f"models/{PRO}",
            "contents": [
                {
                    "parts": [
                        {"text": "A boat."},
                        {"inline_data": {"mime_type": image["mimeType"], "data": image["data"]}},
                    ]
                }
            ],
            "system_instruction": {"parts": [{"text": "Oil paint."}]},
        }
    }
    assert counted(client, GEMINI_PATHS[0], snake) == counted(client, GEMINI_PATHS[0], camel)


# ------------------------------------------------------------------------------------------
# Bodies Google refuses
# ------------------------------------------------------------------------------------------

TEXT = {"parts": [{"text": "A cat."}]}
REFUSED = [
    (GEMINI_PATHS[0], {"contents": [TEXT], "bogus": 1}, "bogus"),
    (GEMINI_PATHS[0], {"contents": [{"parts": TEXT["parts"], "colour": "red"}]}, "colour"),
    (
        GEMINI_PATHS[0],
        {"contents": [TEXT], "generateContentRequest": {"model": "models/x", "contents": [TEXT]}},
        "either contents or generateContentRequest",
    ),
    (GEMINI_PATHS[0], {"generateContentRequest": {"contents": [TEXT]}}, "model"),
    (GEMINI_PATHS[0], {"generateContentRequest": {"model": "models/x"}}, "contents"),
    # The Gemini API's CountTokensRequest has no systemInstruction: it goes in a
    # generateContentRequest there.
    (GEMINI_PATHS[1], {"contents": [TEXT], "systemInstruction": TEXT}, "systemInstruction"),
    (VERTEX_PATHS[0], {"contents": [TEXT], "generateContentRequest": {}}, "generateContentReq"),
    (VERTEX_PATHS[0], {"contents": [TEXT], "safetySettings": []}, "safetySettings"),
    (VERTEX_PATHS[0], {}, "contents"),
    (VERTEX_PATHS[0], {"contents": []}, "contents"),
    (VERTEX_PATHS[2], {"contents": [{"role": "robot", "parts": TEXT["parts"]}]}, "role"),
    (
        VERTEX_PATHS[3],
        {"contents": [TEXT], "generationConfig": {"imageConfig": {"imageSize": "9K"}}},
        "imageSize",
    ),
    (
        VERTEX_PATHS[1],
        {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "bm9wZQ=="}}]}]},
        "inlineData.data",
    ),
    (
        GEMINI_PATHS[0],
        {"contents": [{"parts": [{"inlineData": {"mimeType": "text/plain", "data": "eA=="}}]}]},
        "mimeType",
    ),
]


@pytest.mark.parametrize(("where", "body", "named"), REFUSED)
def test_refused_bodies_are_400s_that_name_the_field(
    client: TestClient, where: ModelPath, body: dict, named: str
) -> None:
    response = call(client, where, "countTokens", body)
    assert response.status_code == 400, response.text
    error = error_of(response, "google")
    assert error["status"] == "INVALID_ARGUMENT"
    assert named in error["message"]


def test_an_image_generate_content_refuses_is_refused_by_count_tokens_too(
    client: TestClient,
) -> None:
    body = request("x", {"inlineData": {"mimeType": "image/png", "data": "bm9wZQ=="}})
    counted_error = call(client, GEMINI_PATHS[0], "countTokens", body).json()["error"]
    generated_error = call(client, GEMINI_PATHS[0], "generateContent", body).json()["error"]
    assert counted_error == generated_error


@pytest.mark.parametrize("where", [GEMINI_PATHS[0], VERTEX_PATHS[0]], ids=str)
def test_a_body_that_is_not_json_is_a_400(client: TestClient, where: ModelPath) -> None:
    extra = where.auth()
    response = client.post(
        where.url("countTokens"),
        content=b"{not json",
        headers={**extra.get("headers", {}), "Content-Type": "application/json"},
        params=extra.get("params"),
    )
    assert response.status_code == 400
    assert error_of(response, "google")["status"] == "INVALID_ARGUMENT"


# ------------------------------------------------------------------------------------------
# Models, keys, faults, the journal, wallets
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ALL_PATHS, ids=str)
@pytest.mark.parametrize("method", ["countTokens", "computeTokens"])
def test_an_unknown_model_is_a_404_in_googles_shape(
    client: TestClient, where: ModelPath, method: str
) -> None:
    response = call(client, where, method, request("a cat"), model="gemini-9-ultra")
    assert response.status_code == 404
    error = error_of(response, "google")
    assert error["status"] == "NOT_FOUND"
    if method == "countTokens" or where.surface == "vertex":
        # The model is named as the surface names it.
        prefix = "models/" if where.surface == "gemini" else "publishers/google/models/"
        assert f"{prefix}gemini-9-ultra" in error["message"]


@pytest.mark.parametrize("where", GEMINI_PATHS, ids=str)
def test_the_gemini_api_has_no_compute_tokens(client: TestClient, where: ModelPath) -> None:
    response = call(client, where, "computeTokens", request("a cat"))
    assert response.status_code == 404
    assert error_of(response, "google")["status"] == "NOT_FOUND"


@pytest.mark.parametrize("method", ["countTokens", "computeTokens"])
def test_the_gateway_serves_neither(client: TestClient, method: str) -> None:
    response = client.post(
        f"{GATEWAY.format(model=PRO)}:{method}",
        json=request("a cat"),
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 404
    assert error_of(response, "gateway")["code"] == "not_found"


# Each method where it is served.
SERVED = [
    (GEMINI_PATHS[0], "countTokens"),
    (VERTEX_PATHS[2], "countTokens"),
    (VERTEX_PATHS[0], "computeTokens"),
]


@pytest.mark.parametrize(("where", "method"), SERVED, ids=str)
def test_a_missing_or_wrong_key_is_refused(open_client, where: ModelPath, method: str) -> None:
    client = open_client(emulator_config(api_keys=[KEY]))
    missing = client.post(where.url(method), json=request("a cat"))
    # No key: the Gemini API's 403, Vertex AI's 401. A bad API key: 400 on both.
    gemini = where in GEMINI_PATHS
    expected = (403, "PERMISSION_DENIED") if gemini else (401, "UNAUTHENTICATED")
    assert (missing.status_code, error_of(missing, "google")["status"]) == expected
    wrong = client.post(
        where.url(method), json=request("a cat"), headers={"x-goog-api-key": "not-the-key"}
    )
    assert wrong.status_code == 400
    assert "not valid" in error_of(wrong, "google")["message"]


@pytest.mark.parametrize(("where", "method"), SERVED, ids=str)
def test_the_fault_header_applies_and_the_journal_names_the_method(
    client: TestClient, where: ModelPath, method: str
) -> None:
    limited = call(
        client, where, method, request("a cat"), headers={"X-Emulator-Fault": "rate_limited"}
    )
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]
    assert error_of(limited, "google")["status"] == "RESOURCE_EXHAUSTED"
    unavailable = call(
        client, where, method, request("a cat"), headers={"X-Emulator-Fault": "unavailable"}
    )
    assert unavailable.status_code == 503
    journal = client.get("/_emulator/requests", params={"provider": "vertex"}).json()
    entries = [entry for entry in journal["requests"] if entry["route"] == method]
    assert sorted(entry["status"] for entry in entries) == [429, 503]
    assert {entry["model"] for entry in entries} == {PRO}


def test_counting_charges_nothing_and_is_journaled(client: TestClient) -> None:
    prompt_usage(client, VERTEX_PATHS[0], request("a cat"))  # opens the key's wallet
    wallets = client.get("/_emulator/wallets").json()
    assert wallets["wallets"]
    journaled = client.get("/_emulator/requests").json()["requests"]
    for _ in range(3):
        counted(client, VERTEX_PATHS[0], request("a dog", image_part()))
        counted(client, GEMINI_PATHS[0], request("a dog", image_part()))
        assert call(client, VERTEX_PATHS[1], "computeTokens", request("a dog")).status_code == 200
    assert client.get("/_emulator/wallets").json() == wallets
    assert len(client.get("/_emulator/requests").json()["requests"]) == len(journaled) + 9


# ------------------------------------------------------------------------------------------
# computeTokens
# ------------------------------------------------------------------------------------------


def computed(client: TestClient, where: ModelPath, body: dict) -> list[dict]:
    response = call(client, where, "computeTokens", body)
    assert response.status_code == 200, response.text
    return response.json()["tokensInfo"]


def decoded(info: dict) -> list[bytes]:
    return [base64.b64decode(token, validate=True) for token in info["tokens"]]


@pytest.mark.parametrize("where", VERTEX_PATHS, ids=str)
def test_compute_tokens_lists_the_tokens_count_tokens_counts(
    client: TestClient, where: ModelPath
) -> None:
    text = "A lighthouse on a cliff at dawn — wide shot, soft light."
    [info] = computed(client, where, request(text))
    assert b"".join(decoded(info)).decode() == text
    assert len(info["tokens"]) == len(info["tokenIds"])
    assert len(info["tokens"]) == counted(client, where, request(text))["totalTokens"]
    assert info["role"] == "user"
    # int64 ids are decimal strings in JSON.
    assert all(token_id.isdigit() for token_id in info["tokenIds"])


def test_compute_tokens_is_one_entry_per_content_with_its_role(client: TestClient) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "First."}, image_part(), {"text": "Second."}]},
            {"role": "model", "parts": [{"text": "Done."}]},
            {"parts": [{"text": "Again"}]},
        ]
    }
    infos = computed(client, VERTEX_PATHS[0], body)
    assert [info.get("role") for info in infos] == ["user", "model", None]
    # The text parts of a turn, joined as the counts join them; an image has no text tokens.
    assert [b"".join(decoded(info)).decode() for info in infos] == [
        "First.\nSecond.",
        "Done.",
        "Again",
    ]


def test_token_ids_are_stable_and_follow_the_text(client: TestClient) -> None:
    body = request("abcdabcdwxyz")
    [first] = computed(client, VERTEX_PATHS[0], body)
    with contract_client(create_app(emulator_config(seed=999))) as other:
        [again] = computed(other, VERTEX_PATHS[1], body)
    assert first == again
    same, repeated, different = first["tokenIds"]
    assert same == repeated and same != different


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"contents": [TEXT], "systemInstruction": TEXT}, "systemInstruction"),
        ({"contents": [{"parts": [{"text": "a"}], "extra": 1}]}, "extra"),
    ],
)
def test_compute_tokens_refuses_fields_it_does_not_have(
    client: TestClient, body: dict, named: str
) -> None:
    response = call(client, VERTEX_PATHS[0], "computeTokens", body)
    assert response.status_code == 400
    assert named in error_of(response, "google")["message"]
