"""The model listings, in-process: the Gemini API's `GET models` and `GET models/{model}` and
Vertex AI's publisher models, paged as Google pages them, in Google's error shape.

Every response here is also checked against the contracts by the client fixture."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.providers.vertex.catalog import models
from emulator.providers.vertex.model_info import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tests.conftest import KEY, emulator_config
from tests.test_vertex_api import PRO, error_of

GOOG = {"x-goog-api-key": KEY}
GEMINI_LISTS = ["/v1beta/models", "/v1/models"]
VERTEX_LIST = "/v1beta1/publishers/google/models"
VERTEX_GETS = ["/v1beta1/publishers/google/models", "/v1/publishers/google/models"]


def get(client: TestClient, path: str, **params: object) -> httpx.Response:
    return client.get(path, headers=GOOG, params=params)


def listed(client: TestClient, path: str, key: str, **params: object) -> list[dict]:
    """Every model of a list, page after page, checking each page's size."""
    found: list[dict] = []
    token: str | None = None
    while True:
        page_params = dict(params, **({"pageToken": token} if token else {}))
        response = get(client, path, **page_params)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page.get(key, []))
        token = page.get("nextPageToken")
        if token is None:
            return found
        assert len(page[key]) == params.get("pageSize", DEFAULT_PAGE_SIZE)


@pytest.mark.parametrize("path", GEMINI_LISTS)
def test_the_gemini_api_lists_every_served_model(client: TestClient, path: str) -> None:
    found = listed(client, path, "models")
    assert [model["name"] for model in found] == [f"models/{model_id}" for model_id in models()]
    for model in found:
        served = models()[model["baseModelId"]]
        assert model["inputTokenLimit"] == served.input_token_limit
        assert "generateContent" in model["supportedGenerationMethods"]
        assert "countTokens" in model["supportedGenerationMethods"]


@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.parametrize("path", [GEMINI_LISTS[0], VERTEX_LIST])
def test_pages_hold_page_size_models_and_chain_to_the_end(
    client: TestClient, path: str, size: int
) -> None:
    key = "models" if path in GEMINI_LISTS else "publisherModels"
    everything = listed(client, path, key)
    assert listed(client, path, key, pageSize=size) == everything
    assert len(everything) == len(models()) > size


@pytest.mark.parametrize("size", [0, MAX_PAGE_SIZE + 1])
def test_no_page_size_and_a_huge_one_are_google_s_default_and_maximum(
    client: TestClient, size: int
) -> None:
    # Fewer models are served than either: one page holds them all, with no next token.
    page = get(client, GEMINI_LISTS[1], pageSize=size).json()
    assert len(page["models"]) == len(models())
    assert "nextPageToken" not in page


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"pageSize": "ten"}, "page_size"),
        ({"pageSize": -1}, "pageSize"),
        ({"pageToken": "not-a-token"}, "pageToken"),
        ({"pageToken": "bW9kZWxzLWFmdGVyOi0x"}, "pageToken"),  # "models-after:-1"
    ],
)
@pytest.mark.parametrize("path", [GEMINI_LISTS[0], VERTEX_LIST])
def test_bad_paging_is_a_400(client: TestClient, path: str, params: dict, named: str) -> None:
    response = get(client, path, **params)
    assert response.status_code == 400
    error = error_of(response, "google")
    assert error["status"] == "INVALID_ARGUMENT"
    assert named in error["message"]


@pytest.mark.parametrize("version", ["v1beta", "v1"])
@pytest.mark.parametrize("model_id", list(models()))
def test_the_gemini_api_describes_each_model(
    client: TestClient, version: str, model_id: str
) -> None:
    response = get(client, f"/{version}/models/{model_id}")
    assert response.status_code == 200, response.text
    model = response.json()
    assert model["name"] == f"models/{model_id}"
    assert model["baseModelId"] == model_id
    assert model["inputTokenLimit"] == models()[model_id].input_token_limit
    # The listing and the single model say the same.
    assert model in get(client, f"/{version}/models").json()["models"]


@pytest.mark.parametrize("path", VERTEX_GETS)
@pytest.mark.parametrize("model_id", list(models()))
def test_vertex_describes_each_publisher_model(
    client: TestClient, path: str, model_id: str
) -> None:
    response = get(client, f"{path}/{model_id}")
    assert response.status_code == 200, response.text
    model = response.json()
    assert model["name"] == f"publishers/google/models/{model_id}"
    assert model["publisherModelTemplate"].endswith(f"/publishers/google/models/{model_id}")
    assert model in listed(client, VERTEX_LIST, "publisherModels")


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/gemini-9-ultra",
        "/v1/models/gemini-9-ultra",
        "/v1beta1/publishers/google/models/gemini-9-ultra",
        "/v1/publishers/google/models/gemini-9-ultra",
    ],
)
def test_an_unknown_model_is_a_404_naming_it(client: TestClient, path: str) -> None:
    response = get(client, path)
    assert response.status_code == 404
    error = error_of(response, "google")
    assert error["status"] == "NOT_FOUND"
    assert path.split("/", 2)[2] in error["message"]


@pytest.mark.parametrize(
    "path",
    [
        # model_garden_service.proto: no list in v1, and neither method under a project.
        "/v1/publishers/google/models",
        f"/v1/projects/p/locations/us-central1/publishers/google/models/{PRO}",
        f"/v1beta1/projects/p/locations/global/publishers/google/models/{PRO}",
        "/v1beta1/projects/p/locations/global/publishers/google/models",
        # The gateway serves generateContent only.
        f"/api/v1/publishers/googleVertexAI/models/{PRO}",
    ],
)
def test_paths_google_does_not_serve_are_404s(client: TestClient, path: str) -> None:
    response = get(client, path)
    assert response.status_code == 404
    shape = "gateway" if path.startswith("/api/") else "google"
    error_of(response, shape)


@pytest.mark.parametrize("path", [*GEMINI_LISTS, f"/v1/models/{PRO}", VERTEX_LIST])
def test_a_missing_key_is_refused_in_googles_shape(open_client, path: str) -> None:
    client = open_client(emulator_config(api_keys=[KEY]))
    response = client.get(path)
    # The Gemini API refuses no key with 403, Vertex AI with 401.
    expected = (401, "UNAUTHENTICATED") if path == VERTEX_LIST else (403, "PERMISSION_DENIED")
    assert (response.status_code, error_of(response, "google")["status"]) == expected
    assert client.get(path, params={"key": KEY}).status_code == 200


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (GEMINI_LISTS[0], "listModels"),
        (VERTEX_LIST, "listModels"),
        (f"/v1beta/models/{PRO}", "getModel"),
    ],
)
def test_faults_apply_and_the_journal_names_the_route(
    client: TestClient, path: str, route: str
) -> None:
    response = client.get(path, headers={**GOOG, "X-Emulator-Fault": "unavailable"})
    assert response.status_code == 503
    assert error_of(response, "google")["status"] == "UNAVAILABLE"
    journal = client.get("/_emulator/requests", params={"route": route}).json()["requests"]
    assert [entry["status"] for entry in journal] == [503]
