"""vibedream outputs: exact dimensions for every ratio x resolution and every size, the asked
format and Content-Type, determinism, metadata, and edits that visibly derive from the input."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image, ImageStat
from starlette.testclient import TestClient

from emulator import create_app
from emulator.core import sizes
from tests.conftest import AUTH, contract_client, emulator_config
from tests.images import data_uri

NANO = "/api/v1/models/nano-banana-pro-edit/generate"
TURBO = "/api/v1/models/z-image-turbo/generate"
GEMINI = "gemini-3-pro-image"


def generate(client: TestClient, path: str, body: dict) -> httpx.Response:
    created = client.post(path, json=body, headers=AUTH)
    assert created.status_code == 200, created.text
    client.post("/_emulator/clock/advance", json={"seconds": 60})
    done = client.get(f"/api/v1/predictions/{created.json()['id']}", headers=AUTH).json()
    assert done["status"] == "completed"
    download = client.get(done["outputs"][0])
    assert download.status_code == 200
    return download


def opened(download: httpx.Response) -> Image.Image:
    return Image.open(io.BytesIO(download.content))


@pytest.mark.parametrize("ratio", sizes.ratios(GEMINI))
@pytest.mark.parametrize("resolution", ["1k", "2k", "4k"])
def test_nano_banana_size_follows_the_gemini_table(
    client: TestClient, ratio: str, resolution: str
) -> None:
    body = {
        "images": "https://example.com/a.jpg",
        "prompt": "p",
        "aspect_ratio": ratio,
        "resolution": resolution,
        "output_format": "jpeg",
    }
    image = opened(generate(client, NANO, body))
    assert image.size == sizes.dimensions(GEMINI, ratio, resolution.upper())


def test_the_table_is_the_documented_one() -> None:
    assert sizes.dimensions(GEMINI, "1:1", "4K") == (4096, 4096)
    assert sizes.dimensions(GEMINI, "21:9", "4K") == (6336, 2688)
    assert sizes.dimensions(GEMINI, "2:3", "1K") == (848, 1264)
    assert sizes.dimensions(GEMINI, "9:16", "2K") == (1536, 2752)


@pytest.mark.parametrize(
    "size", ["512*512", "768*768", "1024*1024", "1024*768", "768*1024", "1280*720", "720*1280"]
)
def test_z_image_turbo_size_is_the_size_asked(client: TestClient, size: str) -> None:
    width, height = (int(n) for n in size.split("*"))
    image = opened(generate(client, TURBO, {"prompt": "p", "size": size}))
    assert image.size == (width, height)


@pytest.mark.parametrize(
    ("path", "body", "pillow_format", "content_type"),
    [
        (NANO, {"images": "https://e.com/a.jpg", "prompt": "p"}, "PNG", "image/png"),
        (
            NANO,
            {"images": "https://e.com/a.jpg", "prompt": "p", "output_format": "jpeg"},
            "JPEG",
            "image/jpeg",
        ),
        (TURBO, {"prompt": "p"}, "JPEG", "image/jpeg"),
        (TURBO, {"prompt": "p", "output_format": "png"}, "PNG", "image/png"),
        (TURBO, {"prompt": "p", "output_format": "webp"}, "WEBP", "image/webp"),
    ],
)
def test_format_and_content_type_are_the_ones_asked(
    client: TestClient, path: str, body: dict, pillow_format: str, content_type: str
) -> None:
    download = generate(client, path, body)
    assert download.headers["content-type"] == content_type
    assert opened(download).format == pillow_format
    assert download.request.url.path.endswith("." + pillow_format.lower())


def fresh_download(path: str, body: dict, seed: int = 1234) -> bytes:
    with contract_client(create_app(emulator_config(seed=seed))) as client:
        return generate(client, path, body).content


def test_same_request_and_seed_give_byte_identical_files() -> None:
    body = {"prompt": "a lighthouse", "seed": 7, "output_format": "png"}
    assert fresh_download(TURBO, body) == fresh_download(TURBO, body, seed=99)
    assert fresh_download(TURBO, body) != fresh_download(TURBO, {**body, "seed": 8})
    nano = {"images": "https://e.com/a.jpg", "prompt": "a lighthouse"}
    assert fresh_download(NANO, nano) == fresh_download(NANO, nano, seed=5)


def test_random_seed_replays_with_the_same_emulator_seed() -> None:
    body = {"prompt": "a lighthouse", "seed": -1, "output_format": "png"}
    assert fresh_download(TURBO, body, seed=1) == fresh_download(TURBO, body, seed=1)
    assert fresh_download(TURBO, body, seed=1) != fresh_download(TURBO, body, seed=2)


def test_parameters_are_written_into_the_metadata(client: TestClient) -> None:
    body = {"prompt": "a lighthouse at dusk", "seed": 7, "size": "768*1024", "output_format": "png"}
    image = opened(generate(client, TURBO, body))
    assert image.text["prompt"] == "a lighthouse at dusk"
    assert image.text["model"] == "z-image-turbo"
    assert image.text["seed"] == "7"
    assert json.loads(image.text["parameters"]) == {
        "prompt": "a lighthouse at dusk",
        "seed": 7,
        "size": "768*1024",
        "output_format": "png",
        "strength": 0.6,
    }
    jpeg = opened(generate(client, TURBO, {**body, "output_format": "jpeg"}))
    description = json.loads(jpeg.getexif()[0x010E])
    assert description["prompt"] == "a lighthouse at dusk"


def test_an_edit_of_an_inline_image_visibly_derives_from_it(client: TestClient) -> None:
    source = data_uri("PNG", size=(300, 200), color="#00c000")
    edited = opened(generate(client, NANO, {"images": [source], "prompt": "p"})).convert("RGB")
    plain = opened(generate(client, NANO, {"images": "https://e.com/a.png", "prompt": "p"}))
    red, green, blue = ImageStat.Stat(edited).mean
    assert green > red + 40 and green > blue + 40
    r2, g2, b2 = ImageStat.Stat(plain.convert("RGB")).mean
    assert not (g2 > r2 + 40 and g2 > b2 + 40)


def test_strength_sets_how_much_of_the_reference_is_kept(client: TestClient) -> None:
    source = data_uri("PNG", size=(64, 64), color="#0000ff")

    def blueness(strength: float) -> float:
        body = {
            "prompt": "p",
            "image": source,
            "strength": strength,
            "seed": 3,
            "output_format": "png",
        }
        red, green, blue = ImageStat.Stat(opened(generate(client, TURBO, body)).convert("RGB")).mean
        return blue - (red + green) / 2

    assert blueness(0.0) > blueness(0.5) > blueness(1.0)


def test_a_repeated_download_is_served_from_cache(app, client: TestClient) -> None:
    first = generate(client, TURBO, {"prompt": "cached", "seed": 1})
    again = client.get(str(first.request.url))
    assert again.content == first.content
    assert app.state.runtime.images.size_bytes >= len(first.content)
    etag = first.headers["etag"]
    assert client.get(str(first.request.url), headers={"If-None-Match": etag}).status_code == 304
