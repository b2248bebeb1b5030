"""Every documented 3D AI Studio parameter rule (seed 002), accepted and refused. Refusals are
400 validation_failed in the provider's error shape, naming the field (the client fixture checks
the shape), and take no credits and queue nothing."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.testclient import TestClient

from emulator import create_app
from tests.conftest import AUTH, check_contract, contract_client, emulator_config
from tests.images import data_uri, encoded

GENERATE = "/v1/images/gemini/3/pro/generate/"
EDIT = "/v1/images/gemini/3/pro/edit/"
WALLET = "/account/user/wallet/"
RATIOS = ["auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16"]
PNG = data_uri("PNG", size=(64, 48))
MINIMAL = {
    GENERATE: {"prompt": "a futuristic cityscape at night, neon lights"},
    EDIT: {"prompt": "Change the wall color to blue", "images": [PNG]},
}
BOTH = [GENERATE, EDIT]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def changed(path: str, change: dict) -> dict:
    """The minimal body with `change` applied; a value of None deletes the field."""
    body = {**MINIMAL[path], **change}
    return {key: value for key, value in body.items() if value is not None}


ACCEPTED = [
    *[(path, {"aspect_ratio": ratio}) for path in BOTH for ratio in RATIOS],
    *[(path, {"resolution": res}) for path in BOTH for res in ("1K", "2K", "4K")],
    *[(path, {"output_format": fmt}) for path in BOTH for fmt in ("png", "jpeg", "webp")],
    *[(path, {"num_images": n}) for path in BOTH for n in (1, 2, 3, 4)],
    # JSON Schema counts 2.0 as an integer; found by schemathesis as a 500.
    *[(path, {"num_images": 2.0}) for path in BOTH],
    *[(path, {"unknown_field": {"is": "tolerated"}, "seed": 7}) for path in BOTH],
    (EDIT, {"images": [PNG] * 14}),
    (EDIT, {"images": [data_uri("JPEG"), data_uri("WEBP"), data_uri("GIF")]}),
    (EDIT, {"images": [PNG], "num_images": 4, "resolution": "4K", "aspect_ratio": "9:16"}),
]

TRUNCATED_PNG = encoded("PNG", size=(64, 48))[:-30]
TRUNCATED_JPEG = encoded("JPEG", size=(64, 48))[:-200]
REFUSED = [
    # (path, change to the minimal body (None deletes), field named in the error)
    *[(path, {"prompt": None}, "prompt") for path in BOTH],
    *[(path, {"prompt": ""}, "prompt") for path in BOTH],
    *[(path, {"prompt": " \n\t "}, "prompt") for path in BOTH],  # blank, as vibedream refuses
    *[(path, {"prompt": 5}, "prompt") for path in BOTH],
    *[(path, {"prompt": ["a cat"]}, "prompt") for path in BOTH],
    *[(path, {"output_format": fmt}, "output_format") for path in BOTH for fmt in ("gif", "PNG")],
    (GENERATE, {"output_format": "jpg"}, "output_format"),
    *[(path, {"aspect_ratio": "1:2"}, "aspect_ratio") for path in BOTH],
    (GENERATE, {"aspect_ratio": "16x9"}, "aspect_ratio"),
    (GENERATE, {"aspect_ratio": "AUTO"}, "aspect_ratio"),
    *[(path, {"resolution": "1k"}, "resolution") for path in BOTH],
    (GENERATE, {"resolution": "2k"}, "resolution"),
    (GENERATE, {"resolution": "8K"}, "resolution"),
    (GENERATE, {"resolution": 1}, "resolution"),
    *[(path, {"num_images": n}, "num_images") for path in BOTH for n in (0, 5, "2", 1.5)],
    (GENERATE, {"num_images": -1}, "num_images"),
    (GENERATE, {"num_images": True}, "num_images"),
    (EDIT, {"images": None}, "images"),
    (EDIT, {"images": []}, "images"),
    (EDIT, {"images": [PNG] * 15}, "images"),
    (EDIT, {"images": PNG}, "images"),  # one URI, not an array
    (EDIT, {"images": [5]}, "images[0]"),
    (EDIT, {"images": ["https://example.com/a.png"]}, "images[0]"),
    (EDIT, {"images": [PNG, "https://example.com/b.png"]}, "images[1]"),
    (EDIT, {"images": ["data:image/png;base64,!!not base64!!"]}, "images[0]"),
    (EDIT, {"images": ["data:image/png;base64,iVBOR..."]}, "images[0]"),  # the seed's placeholder
    (EDIT, {"images": ["data:image/png;base64,"]}, "images[0]"),
    (EDIT, {"images": ["data:image/png;base64," + b64(b"hello, not an image")]}, "images[0]"),
    (EDIT, {"images": [data_uri("PNG", mime="image/jpeg")]}, "images[0]"),
    (EDIT, {"images": [PNG, data_uri("JPEG", mime="image/webp")]}, "images[1]"),
    (EDIT, {"images": ["data:image/png;base64," + b64(TRUNCATED_PNG)]}, "images[0]"),
    (EDIT, {"images": [PNG, "data:image/jpeg;base64," + b64(TRUNCATED_JPEG)]}, "images[1]"),
    (EDIT, {"images": [data_uri("BMP", mime="image/bmp")]}, "images[0]"),
    (EDIT, {"images": ["data:text/plain;base64," + b64(encoded("PNG"))]}, "images[0]"),
]


def label(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@pytest.mark.parametrize(
    ("path", "change"),
    ACCEPTED,
    ids=[f"{p.split('/')[-2]}-{label(c)}" for p, c in ACCEPTED],
)
def test_documented_values_are_accepted(client: TestClient, path: str, change: dict) -> None:
    response = client.post(path, json=changed(path, change), headers=AUTH)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"task_id", "created_at"}


@pytest.mark.parametrize(
    ("path", "change", "field"),
    REFUSED,
    ids=[f"{p.split('/')[-2]}-{f}-{label(c)}" for p, c, f in REFUSED],
)
def test_invalid_values_are_refused_naming_the_field(
    client: TestClient, path: str, change: dict, field: str
) -> None:
    jobs = client.get("/_emulator/health").json()["store"]["jobs"]
    response = client.post(path, json=changed(path, change), headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", field)
    assert error["message"].startswith(field)
    assert client.get(WALLET, headers=AUTH).json() == {"balance": "1000.00"}
    assert client.get("/_emulator/health").json()["store"]["jobs"] == jobs


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"prompt": "a cat",}', "not valid JSON"),
        (b"", "empty"),
        (b"[]", "JSON object"),
        (b'"a cat"', "JSON object"),
        (b"null", "JSON object"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: TestClient, path: str, content: bytes, words: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert words in error["message"]


@pytest.mark.parametrize("path", BOTH)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_declared_as_something_else_than_json_is_refused(
    client: TestClient, path: str, content_type: str
) -> None:
    content = b'{"prompt": "a cat", "images": []}'
    response = client.post(path, content=content, headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert content_type in error["message"]


def test_a_json_body_without_a_content_type_is_read(client: TestClient) -> None:
    response = client.post(GENERATE, content=b'{"prompt": "a cat"}', headers=AUTH)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "task_id", ["550e8400-e29b-41d4-a716-446655440000", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", "x"]
)
@pytest.mark.parametrize("slash", ["/", ""])
def test_an_unknown_task_is_404(client: TestClient, task_id: str, slash: str) -> None:
    response = client.get(f"/v1/generation-request/{task_id}/status{slash}", headers=AUTH)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert task_id in error["message"]


@pytest.fixture
def fast() -> Iterator[TestClient]:
    config = emulator_config(providers={"3daistudio": {"queue_duration": 0, "job_duration": 0}})
    with contract_client(create_app(config)) as client:
        yield client


def only_image(client: TestClient, task_id: str) -> Image.Image:
    body = client.get(f"/v1/generation-request/{task_id}/status/", headers=AUTH).json()
    assert body["status"] == "FINISHED"
    [result] = body["results"]  # num_images defaults to 1
    return Image.open(io.BytesIO(client.get(result["asset_url"]).content))


def test_generate_defaults_png_auto_square_1k_one_image(fast: TestClient) -> None:
    task_id = fast.post(GENERATE, json={"prompt": "a cat"}, headers=AUTH).json()["task_id"]
    image = only_image(fast, task_id)
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    assert fast.get(WALLET, headers=AUTH).json() == {"balance": "950.00"}  # 1K: 50 credits


def test_edit_defaults_png_auto_from_the_input_1k_one_image(fast: TestClient) -> None:
    jpeg_4_3 = data_uri("JPEG", size=(64, 48))
    body = {"prompt": "make it blue", "images": [jpeg_4_3]}
    task_id = fast.post(EDIT, json=body, headers=AUTH).json()["task_id"]
    image = only_image(fast, task_id)
    # PNG, not the input's JPEG; the input's 4:3 at 1K.
    assert (image.format, image.size) == ("PNG", (1200, 896))
    assert fast.get(WALLET, headers=AUTH).json() == {"balance": "950.00"}


@pytest.mark.parametrize("images", [5, "abc", {"a": 1}], ids=["int", "string", "object"])
def test_generate_tolerates_a_stray_images_field(app, images: object) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        client.event_hooks["response"].append(check_contract)
        response = client.post(GENERATE, json={"prompt": "a cat", "images": images}, headers=AUTH)
        assert response.status_code == 200, response.text
