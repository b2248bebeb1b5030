"""Every documented vibedream parameter rule, accepted and refused. Refusals are 400s in the
vibedream error shape that name the field (the client fixture checks the shape)."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH
from tests.images import data_uri, encoded

NANO = "/api/v1/models/nano-banana-pro-edit/generate"
TURBO = "/api/v1/models/z-image-turbo/generate"
NANO_MINIMAL = {"images": "https://example.com/a.jpg", "prompt": "a cat"}
TURBO_MINIMAL = {"prompt": "a cat"}
RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "4:5", "5:4", "21:9"]
SIZES = ["512*512", "768*768", "1024*1024", "1024*768", "768*1024", "1280*720", "720*1280"]

ACCEPTED = [
    (NANO, {"images": "https://example.com/a.jpg"}),
    (NANO, {"images": ["https://example.com/a.jpg"]}),
    (NANO, {"images": [f"https://example.com/{i}.png" for i in range(14)]}),
    (NANO, {"images": data_uri("PNG")}),
    (NANO, {"images": [data_uri("JPEG"), data_uri("GIF"), data_uri("WEBP")]}),
    *[(NANO, {"aspect_ratio": ratio}) for ratio in RATIOS],
    *[(NANO, {"resolution": res}) for res in ("1k", "2k", "4k")],
    *[(NANO, {"output_format": fmt}) for fmt in ("png", "jpeg")],
    (NANO, {"unknown_field": {"is": "tolerated"}}),
    *[(TURBO, {"size": size}) for size in SIZES],
    *[(TURBO, {"strength": s}) for s in (0, 0.1, 0.3, 0.6, 0.7, 1, 1.0)],
    *[(TURBO, {"seed": s}) for s in (-1, 0, 42, 2147483647, 7.0)],
    *[(TURBO, {"output_format": fmt}) for fmt in ("jpeg", "png", "webp")],
    (TURBO, {"image": "https://example.com/your-image.jpg"}),
    (TURBO, {"image": data_uri("WEBP")}),
    (TURBO, {"extra": 1}),
]

REFUSED = [
    # (path, change to the minimal body (None deletes), field named in the error)
    (NANO, {"images": None}, "images"),
    (NANO, {"prompt": None}, "prompt"),
    (NANO, {"prompt": ""}, "prompt"),
    (NANO, {"prompt": "   "}, "prompt"),
    (NANO, {"prompt": 5}, "prompt"),
    (NANO, {"images": []}, "images"),
    (NANO, {"images": [f"https://example.com/{i}.png" for i in range(15)]}, "images"),
    (NANO, {"images": [5]}, "images[0]"),
    (NANO, {"images": 5}, "images"),
    (NANO, {"images": ["https://example.com/a.png", "ftp://example.com/b.png"]}, "images[1]"),
    (NANO, {"images": "not a url"}, "images"),
    (NANO, {"aspect_ratio": "1:2"}, "aspect_ratio"),
    (NANO, {"aspect_ratio": "auto"}, "aspect_ratio"),
    (NANO, {"resolution": "8k"}, "resolution"),
    (NANO, {"resolution": "1K"}, "resolution"),
    (NANO, {"output_format": "webp"}, "output_format"),
    (NANO, {"output_format": None}, "output_format"),
    (TURBO, {"prompt": None}, "prompt"),
    (TURBO, {"size": "1000*1000"}, "size"),
    (TURBO, {"size": "1024x1024"}, "size"),
    (TURBO, {"strength": 0.65}, "strength"),
    (TURBO, {"strength": 1.1}, "strength"),
    (TURBO, {"strength": -0.1}, "strength"),
    (TURBO, {"strength": "0.5"}, "strength"),
    (TURBO, {"strength": True}, "strength"),
    (TURBO, {"seed": -2}, "seed"),
    (TURBO, {"seed": 2147483648}, "seed"),
    (TURBO, {"seed": 1.5}, "seed"),
    (TURBO, {"seed": "42"}, "seed"),
    (TURBO, {"output_format": "gif"}, "output_format"),
    (TURBO, {"image": ["https://example.com/a.png"]}, "image"),
]


def body_for(path: str, change: dict) -> dict:
    body = dict(NANO_MINIMAL if path == NANO else TURBO_MINIMAL)
    for key, value in change.items():
        if value is None and key in body:
            del body[key]
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(("path", "change"), ACCEPTED)
def test_documented_values_are_accepted(client: TestClient, path: str, change: dict) -> None:
    response = client.post(path, json=body_for(path, change), headers=AUTH)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "change", "field"), REFUSED)
def test_invalid_values_are_refused_naming_the_field(
    client: TestClient, path: str, change: dict, field: str
) -> None:
    body = body_for(path, change)
    if change.get("output_format", 0) is None:
        body["output_format"] = None  # an explicit null, not an omission
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "invalid_request"
    assert error["field"] == field
    assert error["error"].startswith(field)


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("data:image/png;base64,not-base64!!", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"plain text").decode(), "image"),
        ("data:image/png;base64," + base64.b64encode(encoded("PNG")[:60]).decode(), "truncated"),
        (data_uri("JPEG", mime="image/png"), "declared"),
        (data_uri("BMP", mime="image/bmp"), "image/bmp"),
        ("data:text/plain;base64,aGVsbG8=", "text/plain"),
        ("data:image/png;base64,", "no data"),
    ],
)
def test_data_uris_must_be_real_images_of_the_declared_accepted_type(
    client: TestClient, uri: str, reason: str
) -> None:
    body = {"images": ["https://example.com/a.jpg", uri], "prompt": "x"}
    response = client.post(NANO, json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "images[1]"
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "fragment"),
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b"", {}, 400, "empty"),
        (b"[1, 2]", {}, 400, "JSON object"),
        (b'"text"', {}, 400, "JSON object"),
        (b"\xff\xfe{}", {}, 400, "UTF-8"),
        (
            b"prompt=x",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "application/json",
        ),
        (b"[" * 100_000 + b"]" * 100_000, {}, 400, "nested"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(
    client: TestClient, content: bytes, headers: dict, status: int, fragment: str
) -> None:
    response = client.post(TURBO, content=content, headers={**AUTH, **headers})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_bodies_over_the_limit_get_413(app, client: TestClient) -> None:
    app.state.runtime.config.max_body_bytes = 2048
    response = client.post(TURBO, json={"prompt": "x" * 4096}, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_a_refused_request_stores_nothing(app, client: TestClient) -> None:
    before = app.state.runtime.store.counts()
    client.post(TURBO, json={"prompt": "x", "seed": -5}, headers=AUTH)
    assert app.state.runtime.store.counts() == before


def test_defaults_are_applied_as_documented(app, client: TestClient) -> None:
    nano = client.post(NANO, json=NANO_MINIMAL, headers=AUTH).json()
    turbo = client.post(TURBO, json=TURBO_MINIMAL, headers=AUTH).json()
    store = app.state.runtime.store
    nano_params = store.get_job(nano["id"]).params
    turbo_params = store.get_job(turbo["id"]).params
    assert {k: nano_params[k] for k in ("aspect_ratio", "resolution", "output_format")} == {
        "aspect_ratio": "1:1",
        "resolution": "1k",
        "output_format": "png",
    }
    assert {k: turbo_params[k] for k in ("size", "strength", "seed", "output_format")} == {
        "size": "1024*1024",
        "strength": 0.6,
        "seed": -1,
        "output_format": "jpeg",
    }
