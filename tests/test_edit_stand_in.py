"""An edit's stored recipe holds a small stand-in of its input (images.source_stand_in), not
the input: kilobytes of JSON per job in a shared store instead of megabytes, and the same
pixels, since the renderer only ever uses the softened 1/8-size source (DESIGN.md 2.1)."""

from __future__ import annotations

import base64
import io
import random
from dataclasses import replace
from functools import cache

import pytest
from PIL import Image, ImageDraw, ImageStat
from starlette.testclient import TestClient

from emulator import create_app
from emulator.core.images import ImageSpec, render, source_stand_in
from emulator.core.recipes import build, dumps
from tests.conftest import AUTH, contract_client, emulator_config
from tests.test_asset_recipes import stored_assets

BASE_URL = "http://testserver"


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    image = decode(data)
    return image.mode, image.size, image.tobytes()


def mean_rgb(image: Image.Image) -> list[float]:
    return ImageStat.Stat(image.convert("RGB")).mean


def halves(size: tuple[int, int], noise: float = 0.0) -> Image.Image:
    """Red on the left, blue on the right, optionally under seeded noise (which makes a JPEG
    big): a picture whose layout a rendering must keep."""
    width, height = size
    image = Image.new("RGB", size, (200, 30, 30))
    ImageDraw.Draw(image).rectangle((width // 2, 0, width, height), fill=(30, 60, 220))
    if noise:
        grain = Image.frombytes("RGB", size, random.Random(7).randbytes(width * height * 3))
        image = Image.blend(image, grain, noise)
    return image


@cache
def big_jpeg() -> bytes:
    """A 2048x2048 photo-like JPEG of over 4 MB."""
    data = encode(halves((2048, 2048), noise=0.5), "JPEG", quality=98)
    assert len(data) > 4_000_000
    return data


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def rgba_png() -> bytes:
    image = halves((300, 200)).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize((300, 200)))  # transparent at the top
    return encode(image, "PNG")


def rotated_jpeg() -> bytes:
    """Stored sideways with EXIF orientation 6: shown upright only after transposing."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(halves((320, 180)), "JPEG", quality=95, exif=exif.tobytes())


def transparent_gif() -> bytes:
    image = halves((120, 90)).convert("P")
    return encode(image, "GIF", transparency=0)


SOURCES = {
    "big jpeg": big_jpeg,
    "rgba png": rgba_png,
    "rotated jpeg": rotated_jpeg,
    "transparent gif": transparent_gif,
    "tiny png": lambda: encode(halves((10, 6)), "PNG"),  # smaller than the stand-in: enlarged
}
# Multiples of 8 and not (where the cover box of an exactly 1/8-size image is not the full
# box), down to sizes whose stand-in is a single pixel.
SIZES = [(1024, 1024), (1376, 768), (1023, 1000), (333, 517), (37, 29), (5, 7)]


def edit(width: int, height: int, source: bytes | None, fmt: str = "png") -> ImageSpec:
    return ImageSpec(
        width=width,
        height=height,
        format=fmt,
        seed=42,
        caption=("paint it", "test-model", f"{width}x{height}"),
        source=source,
    )


# ------------------------------------------------------------------------- the stand-in itself


@pytest.mark.parametrize("name", SOURCES)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_rendering_from_the_stand_in_gives_the_inputs_pixels(
    name: str, width: int, height: int
) -> None:
    original = SOURCES[name]()
    stand_in = source_stand_in(original, width, height)
    assert stand_in is not None
    assert pixels(render(edit(width, height, stand_in))) == pixels(
        render(edit(width, height, original))
    )


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_the_stand_in_gives_the_same_pixels_in_lossy_formats(fmt: str) -> None:
    original = big_jpeg()
    stand_in = source_stand_in(original, 1376, 768)
    assert pixels(render(edit(1376, 768, stand_in, fmt))) == pixels(
        render(edit(1376, 768, original, fmt))
    )


def test_the_stand_in_is_a_small_lossless_png_keeping_alpha() -> None:
    stand_in = source_stand_in(big_jpeg(), 1024, 1024)
    assert stand_in is not None and len(stand_in) < 48 * 1024
    image = decode(stand_in)
    assert (image.format, image.mode, image.size) == ("PNG", "RGB", (128, 128))
    transparent = source_stand_in(rgba_png(), 1023, 1000)
    assert transparent is not None
    image = decode(transparent)
    assert (image.mode, image.size) == ("RGBA", (127, 125))
    assert image.getchannel("A").getextrema()[0] < 16  # the transparent top is kept


def test_an_undecodable_input_has_no_stand_in_and_renders_the_gradient() -> None:
    truncated = big_jpeg()[:400]
    plain = pixels(render(edit(512, 512, None)))
    for junk in (b"definitely not an image", truncated):
        assert source_stand_in(junk, 512, 512) is None
        assert pixels(render(edit(512, 512, junk))) == plain  # as before: the gradient


def test_a_thumbnail_from_the_stand_in_still_plainly_shows_the_input() -> None:
    original = big_jpeg()
    full = replace(edit(1376, 768, original), caption=())
    thumbnail = replace(full, source=source_stand_in(original, 1376, 768)).scaled(256)
    assert (thumbnail.width, thumbnail.height) == (256, 143)
    shown = decode(render(thumbnail))
    whole = decode(render(full))
    assert mean_rgb(shown) == pytest.approx(mean_rgb(whole), abs=4)
    assert mean_rgb(shown) == pytest.approx(mean_rgb(decode(render(full.scaled(256)))), abs=4)
    # The layout too: red on the left, blue on the right, as in the input and the full image.
    left = mean_rgb(shown.crop((0, 0, 100, 143)))
    right = mean_rgb(shown.crop((156, 0, 256, 143)))
    assert left[0] > right[0] + 20 and right[2] > left[2] + 20
    assert left == pytest.approx(mean_rgb(whole.crop((0, 0, 537, 768))), abs=6)
    assert right == pytest.approx(mean_rgb(whole.crop((839, 0, 1376, 768))), abs=6)


# ------------------------------------------------------------------------- the providers' jobs


def download(client: TestClient, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.content


def test_a_vibedream_edit_stores_kilobytes_and_renders_as_from_its_input() -> None:
    original = big_jpeg()
    with contract_client(create_app(emulator_config(profile="instant"))) as client:
        created = client.post(
            "/api/v1/models/nano-banana-pro-edit/generate",
            json={"prompt": "paint it", "images": [data_uri(original), data_uri(original)]},
            headers=AUTH,
        )
        assert created.status_code == 200, created.text
        [asset] = stored_assets(client, created.json()["id"])
        stored = download(client, asset.url(BASE_URL))
    assert len(dumps(asset.recipe)) < 64 * 1024  # a 1K output; the input is 4 MB
    assert asset.recipe.params["source"] == source_stand_in(original, 1024, 1024)
    spec = build(asset.recipe)
    assert (spec.width, spec.height) == (1024, 1024)
    assert pixels(stored) == pixels(render(replace(spec, source=original)))


def test_a_3daistudio_edit_stores_kilobytes_for_its_images_and_thumbnails() -> None:
    original = big_jpeg()
    with contract_client(create_app(emulator_config(profile="instant"))) as client:
        created = client.post(
            "/v1/images/gemini/3/pro/edit/",
            json={
                "prompt": "blue",
                "images": [data_uri(original)],
                "aspect_ratio": "16:9",
                "resolution": "1K",
                "num_images": 2,
            },
            headers=AUTH,
        )
        assert created.status_code == 200, created.text
        assets = stored_assets(client, created.json()["task_id"])
        stored = [download(client, asset.url(BASE_URL)) for asset in assets]
    assert len(assets) == 4  # two full images, then their thumbnails
    stand_in = source_stand_in(original, 1376, 768)
    for asset, data in zip(assets, stored, strict=True):
        assert len(dumps(asset.recipe)) < 64 * 1024
        assert asset.recipe.params["source"] == stand_in
        spec = build(asset.recipe)
        if asset.recipe.max_side is None:
            assert (spec.width, spec.height) == (1376, 768)
            assert pixels(data) == pixels(render(replace(spec, source=original)))
        else:
            full = decode(stored[assets.index(asset) - 2])
            assert mean_rgb(decode(data)) == pytest.approx(mean_rgb(full), abs=6)
