"""vibedream end to end, in-process: submit, poll through the virtual clock, download.

Every response here is also checked against the contracts by the client fixture."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from starlette.testclient import TestClient

from emulator import create_app
from tests.conftest import AUTH, EPOCH, contract_client, emulator_config

NANO = "/api/v1/models/nano-banana-pro-edit/generate"
TURBO = "/api/v1/models/z-image-turbo/generate"
NANO_BODY = {
    "images": ["https://example.com/image1.jpg"],
    "prompt": "A beautiful sunset over mountains with golden light",
    "aspect_ratio": "1:1",
    "resolution": "1k",
    "output_format": "png",
}


def submit(client: TestClient, path: str, body: dict, headers: dict = AUTH) -> dict:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def poll(client: TestClient, prediction_id: str) -> dict:
    response = client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def test_submit_answers_at_once_with_the_documented_fields(client: TestClient) -> None:
    body = submit(client, NANO, NANO_BODY)
    assert body["status"] == "processing"
    assert body["statusUrl"] == f"http://testserver/api/v1/predictions/{body['id']}"
    assert body["estimatedTime"] == "10-30s"
    assert body["costCents"] == 16
    assert body["createdAt"] == "2025-01-15T12:00:00.000Z"


@pytest.mark.parametrize(
    ("path", "extra", "cost", "eta"),
    [
        (NANO, {"resolution": "1k"}, 16, "10-30s"),
        (NANO, {"resolution": "2k"}, 16, "10-30s"),
        (NANO, {"resolution": "4k"}, 24, "10-30s"),
        (TURBO, {}, 1, "1-3s"),
    ],
)
def test_cost_and_estimated_time_per_model_and_resolution(
    client: TestClient, path: str, extra: dict, cost: int, eta: str
) -> None:
    base = NANO_BODY if path == NANO else {"prompt": "a cat"}
    body = submit(client, path, {**base, **extra})
    assert (body["costCents"], body["estimatedTime"]) == (cost, eta)


def test_lifecycle_processing_then_completed_with_a_downloadable_image(client: TestClient) -> None:
    created = submit(
        client, TURBO, {"prompt": "a red fox", "size": "1280*720", "output_format": "png"}
    )
    first = poll(client, created["id"])
    assert first["status"] == "processing"
    assert first["outputs"] is None and first["completedAt"] is None and first["error"] is None
    assert (first["modelId"], first["modelName"]) == ("z-image-turbo", "Z-Image Turbo")

    advance(client, 3)  # z-image-turbo takes 1-3 s
    done = poll(client, created["id"])
    assert done["status"] == "completed"
    assert done["createdAt"] == created["createdAt"]
    assert done["completedAt"] > done["createdAt"]
    [url] = done["outputs"]
    assert url.startswith("http://testserver/assets/") and url.endswith("-0.png")

    download = client.get(url)
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(download.content))
    assert (image.format, image.size) == ("PNG", (1280, 720))


def test_job_duration_is_within_the_documented_range(client: TestClient) -> None:
    created = submit(client, NANO, NANO_BODY)
    advance(client, 9.9)
    assert poll(client, created["id"])["status"] == "processing"
    advance(client, 20.1)
    assert poll(client, created["id"])["status"] == "completed"


def test_outputs_are_not_downloadable_before_completion(app, client: TestClient) -> None:
    created = submit(client, TURBO, {"prompt": "a red fox"})
    job = app.state.runtime.store.get_job(created["id"])
    asset = app.state.runtime.store.get_asset(job.outputs[0])
    assert client.get(asset.url("http://testserver")).status_code == 404
    advance(client, 3)
    assert client.get(asset.url("http://testserver")).status_code == 200


def test_configured_job_duration_overrides_the_default() -> None:
    config = emulator_config(
        providers={"vibedream": {"models": {"nano-banana-pro-edit": {"job_duration": 0}}}}
    )
    with contract_client(create_app(config)) as client:
        created = submit(client, NANO, NANO_BODY)
        assert poll(client, created["id"])["status"] == "completed"


def test_missing_or_unknown_key_gets_401(app) -> None:
    config = emulator_config(api_keys=["good-key"])
    with contract_client(create_app(config)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic good-key"}):
            response = client.post(TURBO, json={"prompt": "x"}, headers=headers)
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"
        ok = client.post(TURBO, json={"prompt": "x"}, headers={"Authorization": "Bearer good-key"})
        assert ok.status_code == 200


def test_default_config_accepts_any_non_empty_key(client: TestClient) -> None:
    assert (
        client.post(TURBO, json={"prompt": "x"}, headers={"Authorization": "Bearer z"}).status_code
        == 200
    )
    assert (
        client.post(TURBO, json={"prompt": "x"}, headers={"Authorization": "Bearer "}).status_code
        == 401
    )


def test_unknown_model_and_prediction_get_404(client: TestClient) -> None:
    response = client.post(
        "/api/v1/models/no-such-model/generate", json={"prompt": "x"}, headers=AUTH
    )
    assert response.status_code == 404
    assert "no-such-model" in response.json()["error"]
    response = client.get("/api/v1/predictions/550e8400-e29b-41d4-a716-446655440000", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_prediction_is_private_to_the_key_that_made_it(client: TestClient) -> None:
    created = submit(client, TURBO, {"prompt": "x"})
    other = client.get(
        f"/api/v1/predictions/{created['id']}", headers={"Authorization": "Bearer other"}
    )
    assert other.status_code == 404


def test_unknown_paths_and_methods_under_vibedream_answer_in_its_shape(client: TestClient) -> None:
    assert client.get("/api/v1/predictions/", headers=AUTH).status_code == 404
    wrong_method = client.delete("/api/v1/predictions/abc", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"


def test_every_url_follows_the_public_base_url_behind_a_proxy(app) -> None:
    """Behind a proxy (`--root-path /emu`) both URLs an answer names keep the root path: the
    statusUrl of the submit and, once the job is done, the output's download URL (issue 23)."""
    public = "https://imagegen.example.test/emu"
    with TestClient(app, base_url="https://imagegen.example.test", root_path="/emu") as client:
        body = submit(client, TURBO, {"prompt": "x"})
        assert body["statusUrl"] == f"{public}/api/v1/predictions/{body['id']}"
        advance(client, 3)  # z-image-turbo takes 1-3 s
        [output] = poll(client, body["id"])["outputs"]
        assert output.startswith(f"{public}/assets/"), output
        download = client.get(output)
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/jpeg"


def test_an_output_is_gone_at_exactly_its_expiry() -> None:
    """With `asset_ttl`, a download works until the instant the file expires, not at it; the
    dashboard says the same (issue 23: only 3D AI Studio's expiry was tested)."""
    settings = {"vibedream": {"asset_ttl": 60, "job_duration": 2}}
    with contract_client(create_app(emulator_config(providers=settings))) as client:
        created = submit(client, TURBO, {"prompt": "x"})
        advance(client, 2)
        [url] = poll(client, created["id"])["outputs"]
        advance(client, 59.5)
        assert client.get(url).status_code == 200
        advance(client, 0.5)  # exactly 60 s after completion
        assert client.get(url).status_code == 404
        [listed] = client.get("/_emulator/jobs").json()["jobs"]
        assert listed["outputs"][0]["available"] is False


def test_reset_forgets_jobs_and_rewinds_the_clock(client: TestClient) -> None:
    created = submit(client, TURBO, {"prompt": "x"})
    advance(client, 100)
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get(f"/api/v1/predictions/{created['id']}", headers=AUTH).status_code == 404
    assert client.get("/_emulator/clock").json()["epoch"] == EPOCH


def test_prediction_ids_replay_with_the_same_seed() -> None:
    ids = []
    for _ in range(2):
        with contract_client(create_app(emulator_config(seed=99))) as client:
            ids.append([submit(client, TURBO, {"prompt": "x"})["id"] for _ in range(3)])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3
