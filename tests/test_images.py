"""Tests for the provider-agnostic renderer, prober and cache in emulator.core.images."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib
from pathlib import Path

import anyio
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from emulator.core import images
from emulator.core.images import (
    MIME_TYPES,
    OUTPUT_FORMATS,
    ImageCache,
    ImageInfo,
    ImageSpec,
    InvalidImage,
    probe,
    render,
)

PROMPT = "a red fox sitting in the snow at sunset, cinematic lighting"
CAPTION = (PROMPT, "test-model-v1", "512x512 png", "seed 42")
METADATA = (("prompt", PROMPT), ("model", "test-model-v1"), ("seed", "42"))
PILLOW_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
EXIF_DESCRIPTION = 0x010E
EXIF_SOFTWARE = 0x0131


def spec(**overrides: object) -> ImageSpec:
    fields: dict[str, object] = {
        "width": 512,
        "height": 512,
        "format": "png",
        "seed": 42,
        "caption": CAPTION,
        "metadata": METADATA,
    }
    fields.update(overrides)
    return ImageSpec(**fields)  # type: ignore[arg-type]


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


def white_pixels(image: Image.Image) -> int:
    """Pixels that are (nearly) white: only caption text can be that bright."""
    r, g, b = image.convert("RGB").split()
    darkest = ImageChops.darker(ImageChops.darker(r, g), b)
    return sum(darkest.histogram()[235:])


def mean_rgb(image: Image.Image) -> tuple[float, float, float]:
    r, g, b = ImageStat.Stat(image.convert("RGB")).mean
    return (r, g, b)


# --- constants -------------------------------------------------------------------------------


# --- rendering: size and format --------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "fmt"),
    [
        (4096, 4096, "png"),
        (1024, 1024, "jpeg"),
        (1024, 1024, "webp"),
        (848, 1264, "png"),
        (848, 1264, "jpeg"),
        (6336, 2688, "png"),
        (300, 7, "webp"),
        (1, 1, "png"),
        (3, 2, "jpeg"),
    ],
)
def test_render_exact_size_and_format(width: int, height: int, fmt: str) -> None:
    data = render(spec(width=width, height=height, format=fmt))
    image = decode(data)
    assert image.size == (width, height)
    assert image.format == PILLOW_NAMES[fmt]
    # The bytes also identify themselves as that format to our own prober.
    assert probe(data, OUTPUT_FORMATS) == ImageInfo(fmt, width, height)


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        spec(format="gif")
    with pytest.raises(ValueError):
        spec(width=0)
    with pytest.raises(ValueError):
        spec(source_weight=1.5)


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_render_is_deterministic(fmt: str) -> None:
    first = render(spec(format=fmt))
    assert render(spec(format=fmt)) == first
    assert render(spec(format=fmt, seed=43)) != first
    assert render(spec(format=fmt, caption=("another prompt",))) != first


def test_seed_chooses_the_colours() -> None:
    corners = set()
    for seed in range(5):
        image = decode(render(spec(seed=seed, caption=()))).convert("RGB")
        corners.add((image.getpixel((0, 0)), image.getpixel((511, 511))))
    assert len(corners) == 5
    # A two-colour gradient: opposite corners differ.
    for top_left, bottom_right in corners:
        assert top_left != bottom_right


def test_global_random_state_does_not_matter() -> None:
    import random

    random.seed(1)
    first = render(spec())
    random.seed(2)
    assert render(spec()) == first


def test_render_is_identical_across_processes() -> None:
    specs = [spec(format=fmt, width=320, height=200) for fmt in OUTPUT_FORMATS]
    here = [hashlib.sha256(render(s)).hexdigest() for s in specs]
    script = (
        "import hashlib\n"
        "from emulator.core.images import ImageSpec, render, OUTPUT_FORMATS\n"
        f"caption = {CAPTION!r}\n"
        f"metadata = {METADATA!r}\n"
        "for fmt in OUTPUT_FORMATS:\n"
        "    s = ImageSpec(320, 200, fmt, 42, caption, metadata)\n"
        "    print(hashlib.sha256(render(s)).hexdigest())\n"
    )
    root = Path(__file__).resolve().parent.parent
    # A different hash seed proves nothing depends on str hashing.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == here


# --- cache keys and scaling ------------------------------------------------------------------


def test_cache_key_covers_every_field() -> None:
    base = spec(source=b"abc")
    key = base.cache_key()
    assert len(key) == 64 and int(key, 16) >= 0
    assert spec(source=b"abc").cache_key() == key
    variants = [
        spec(source=b"abc", width=513),
        spec(source=b"abc", height=513),
        spec(source=b"abc", format="jpeg"),
        spec(source=b"abc", seed=43),
        spec(source=b"abc", caption=CAPTION[:-1]),
        spec(source=b"abc", metadata=METADATA[:-1]),
        spec(source=b"abd"),
        spec(source=None),
        spec(source=b""),
        spec(source=b"abc", source_weight=0.5),
    ]
    keys = {v.cache_key() for v in variants}
    assert key not in keys
    assert len(keys) == len(variants)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((4096, 2048), 256, (256, 128)),
        ((2048, 4096), 256, (128, 256)),
        ((848, 1264), 100, (67, 100)),
        ((6336, 2688), 512, (512, 217)),
        ((10000, 3), 100, (100, 1)),
        ((300, 200), 512, (300, 200)),
    ],
)
def test_scaled_keeps_ratio_within_bounds(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    original = spec(width=size[0], height=size[1])
    small = original.scaled(max_side)
    assert (small.width, small.height) == expected
    # Each side is the original scaled by the same factor, rounded, never below one pixel.
    factor = min(1.0, max_side / max(size))
    assert small.width == max(1, round(size[0] * factor))
    assert small.height == max(1, round(size[1] * factor))
    # Only the size changes, so the thumbnail is the same picture.
    assert (small.seed, small.caption, small.format) == (original.seed, CAPTION, "png")
    assert decode(render(small)).size == expected


# --- metadata --------------------------------------------------------------------------------


def test_png_metadata_text_chunks_and_exif() -> None:
    image = decode(render(spec(format="png")))
    assert isinstance(image, Image.Image)
    text = image.text  # type: ignore[attr-defined]
    assert text["Software"] == "imagegen-emulator"
    for key, value in METADATA:
        assert text[key] == value
    exif = image.getexif()
    assert json.loads(exif[EXIF_DESCRIPTION]) == dict(METADATA)
    assert exif[EXIF_SOFTWARE] == "imagegen-emulator"


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_exif_metadata_for_lossy_formats(fmt: str) -> None:
    exif = decode(render(spec(format=fmt))).getexif()
    description = exif[EXIF_DESCRIPTION]
    assert json.loads(description) == dict(METADATA)
    assert description == json.dumps(dict(METADATA), sort_keys=True)
    assert exif[EXIF_SOFTWARE] == "imagegen-emulator"


def test_non_ascii_and_huge_metadata_survive() -> None:
    huge = "ünïcødé 狐狸 " * 10_000  # far beyond the 64 KiB a JPEG EXIF segment can hold
    metadata = (("prompt", huge), ("model", "m"))
    jpeg = decode(render(spec(format="jpeg", metadata=metadata)))
    described = json.loads(jpeg.getexif()[EXIF_DESCRIPTION])
    assert described["model"] == "m"
    assert huge.startswith(described["prompt"].rstrip("\u2026"))
    png = decode(render(spec(format="png", metadata=metadata)))
    assert png.text["prompt"] == huge  # type: ignore[attr-defined]


# --- what the picture shows ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_caption_is_drawn_large_and_white(fmt: str) -> None:
    plain = decode(render(spec(format=fmt, caption=())))
    captioned = decode(render(spec(format=fmt)))
    # The gradient colours are never near-white; white pixels can only be the caption.
    assert white_pixels(plain) == 0
    assert white_pixels(captioned) > 2000
    # Large: the text block spans a good part of the picture's height and width.
    mask = captioned.convert("L").point(lambda v: 255 if v >= 235 else 0)
    left, top, right, bottom = mask.getbbox()  # type: ignore[misc]
    assert bottom - top > 512 * 0.25
    assert right - left > 512 * 0.5


def test_caption_text_matches_the_prompt() -> None:
    # Different prompts of equal length draw different pixels.
    a = decode(render(spec(caption=("aaaa aaaa",), metadata=())))
    b = decode(render(spec(caption=("wwww wwww",), metadata=())))
    assert white_pixels(a) != white_pixels(b)


def test_long_prompt_is_wrapped_and_cut_with_an_ellipsis() -> None:
    font = ImageFont.load_default(size=40)
    lines = images._wrap("word " * 5000, font, 400)
    assert 1 < len(lines) <= 4
    assert lines[-1].endswith("\u2026")
    assert all(font.getlength(line) <= 400 for line in lines)
    short = images._wrap("a short prompt", font, 400)
    assert short == ["a short prompt"]
    # A single unbreakable word is split between characters instead of overflowing.
    url = images._wrap("https://example.com/" + "x" * 300, font, 400)
    assert all(font.getlength(line) <= 400 for line in url)
    assert url[-1].endswith("\u2026")


def test_huge_prompt_renders_quickly() -> None:
    started = time.perf_counter()
    data = render(spec(caption=("lorem ipsum " * 3000, "model"), width=1024, height=1024))
    assert time.perf_counter() - started < 1.0
    assert white_pixels(decode(data)) > 2000


def test_tiny_images_render_without_caption_errors() -> None:
    for size in [(1, 1), (5, 5), (16, 9), (4, 900)]:
        assert decode(render(spec(width=size[0], height=size[1]))).size == size


# --- edits: a source image shows through -----------------------------------------------------


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_edit_shows_the_source(fmt: str) -> None:
    red = encode(solid((255, 0, 0), (300, 200)), "PNG")
    generated = mean_rgb(decode(render(spec(format=fmt, caption=()))))
    edited = mean_rgb(decode(render(spec(format=fmt, caption=(), source=red))))
    r, g, b = edited
    assert r > 150 and r > g + 80 and r > b + 80
    assert r - generated[0] > 50 or generated[0] > 150  # much redder than the plain render


def test_edit_keeps_the_source_layout_and_caption() -> None:
    # Left half blue, right half yellow: the edit must keep them on the same sides.
    source = Image.new("RGB", (400, 400), (0, 0, 255))
    ImageDraw.Draw(source).rectangle((200, 0, 399, 399), fill=(255, 255, 0))
    data = render(spec(source=encode(source, "JPEG", quality=95), source_weight=0.9))
    image = decode(data).convert("RGB")
    left = image.getpixel((20, 20))
    right = image.getpixel((490, 20))
    assert left[2] > left[0] + 100  # blue
    assert right[0] > right[2] + 100 and right[1] > right[2] + 100  # yellow
    assert white_pixels(image) > 2000  # the caption is still drawn on top


def test_source_weight_controls_how_much_shows() -> None:
    red = encode(solid((255, 0, 0)), "PNG")
    reds = [
        mean_rgb(decode(render(spec(caption=(), source=red, source_weight=w))))[0]
        for w in (0.0, 0.5, 1.0)
    ]
    assert reds[0] < reds[1] < reds[2]
    assert reds[2] > 250


def test_edit_from_every_input_format_and_transparency() -> None:
    green = solid((0, 255, 0), (128, 128))
    for fmt in ("PNG", "JPEG", "GIF", "WEBP"):
        edited = mean_rgb(decode(render(spec(caption=(), source=encode(green, fmt)))))
        assert edited[1] > edited[0] + 60 and edited[1] > edited[2] + 60, fmt
    # A fully transparent source leaves the plain gradient.
    clear = encode(Image.new("RGBA", (64, 64), (255, 0, 0, 0)), "PNG")
    plain = decode(render(spec(caption=())))
    # Equal up to the palette an edit is stored in (254 colours chosen for the picture).
    clear_mean = mean_rgb(decode(render(spec(caption=(), source=clear))))
    assert clear_mean == pytest.approx(mean_rgb(plain), abs=3)


def test_undecodable_source_falls_back_to_the_gradient() -> None:
    plain = render(spec())
    assert render(spec(source=b"definitely not an image")) == plain
    truncated = encode(solid((255, 0, 0), (200, 200)), "PNG")[:60]
    assert render(spec(source=truncated)) == plain


def test_edit_output_is_deterministic() -> None:
    source = encode(solid((10, 200, 90)), "JPEG")
    assert render(spec(source=source, format="webp")) == render(spec(source=source, format="webp"))


# --- probe -----------------------------------------------------------------------------------

ALL_INPUTS = ("png", "jpeg", "gif", "webp")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_probe_accepts_real_images(fmt: str) -> None:
    data = encode(solid((1, 2, 3), (37, 21)), fmt)
    assert probe(data, ALL_INPUTS) == ImageInfo(fmt.lower(), 37, 21)


def test_probe_reports_format_keys_of_mime_types() -> None:
    for data in (render(spec(format=f)) for f in OUTPUT_FORMATS):
        assert probe(data, MIME_TYPES).format in MIME_TYPES


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text",
        b"\x89PNG\r\n\x1a\n",
        b"%PDF-1.4\n" + b"0" * 100,
        encode(solid((1, 2, 3)), "BMP"),
        encode(solid((1, 2, 3)), "TIFF"),
    ],
    ids=["empty", "text", "png-signature-only", "pdf", "bmp", "tiff"],
)
def test_probe_rejects_non_images(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        probe(data, ALL_INPUTS)


def test_probe_rejection_messages_are_readable() -> None:
    with pytest.raises(InvalidImage, match=r"^is not a PNG, JPEG, GIF or WebP image$"):
        probe(b"hello", ALL_INPUTS)
    with pytest.raises(InvalidImage, match=r"^is truncated or corrupt$"):
        data = render(spec())
        probe(data[: len(data) // 2], ALL_INPUTS)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_probe_rejects_truncated_images(fmt: str) -> None:
    data = render(spec(format=fmt, width=256, height=256))
    for cut in (len(data) // 2, len(data) - 30):
        with pytest.raises(InvalidImage, match="truncated or corrupt"):
            probe(data[:cut], ALL_INPUTS)


def test_probe_rejects_truncated_gif() -> None:
    data = encode(decode(render(spec(width=128, height=128))).convert("P"), "GIF")
    with pytest.raises(InvalidImage):
        probe(data[: len(data) // 2], ALL_INPUTS)


def test_probe_rejects_corrupted_png_crc() -> None:
    data = bytearray(render(spec(width=64, height=64, caption=())))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip bits inside the compressed pixels: the CRC no longer matches
    with pytest.raises(InvalidImage):
        probe(bytes(data), ALL_INPUTS)


def test_probe_rejects_formats_not_allowed() -> None:
    gif = encode(solid((1, 2, 3)), "GIF")
    with pytest.raises(InvalidImage, match="GIF"):
        probe(gif, ("png", "jpeg"))
    webp = encode(solid((1, 2, 3)), "WEBP")
    with pytest.raises(InvalidImage):
        probe(webp, ("png",))
    assert probe(webp, ("webp",)).format == "webp"


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    ihdr_chunk = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\0" * 16)
    idat_chunk = struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr_chunk + idat_chunk + iend


def test_probe_rejects_decompression_bomb_error() -> None:
    bomb = _png_header(100_000, 100_000)  # 10 gigapixels claimed by a ~100-byte file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape as a warning either
        with pytest.raises(InvalidImage, match="pixels"):
            probe(bomb, ALL_INPUTS)


def test_probe_rejects_decompression_bomb_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; that must still be rejected.
    data = encode(solid((1, 2, 3), (40, 40)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    filters_before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidImage, match="pixels"):
            probe(data, ALL_INPUTS)
    assert warnings.filters == filters_before  # our guard restored the global filters


def test_probe_heic_and_heif_by_magic_bytes() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    heif = b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert probe(heic, ("png", "heic")) == ImageInfo("heic", 0, 0)
    assert probe(heif, ("heif",)) == ImageInfo("heif", 0, 0)
    with pytest.raises(InvalidImage):
        probe(heic, ALL_INPUTS)
    # An MP4 is also an ISO-BMFF "ftyp" file but not an image.
    with pytest.raises(InvalidImage):
        probe(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64, ("heic", "heif"))


def test_probe_is_thread_safe() -> None:
    data = [encode(solid((i, i, i), (50 + i, 20)), "PNG") for i in range(8)]
    bad = b"not an image"
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                for i, item in enumerate(data):
                    assert probe(item, ALL_INPUTS).width == 50 + i
                with pytest.raises(InvalidImage):
                    probe(bad, ALL_INPUTS)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    filters_before = list(warnings.filters)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert warnings.filters == filters_before


# --- ImageCache ------------------------------------------------------------------------------


class CountingRender:
    """Stands in for images.render: counts calls per spec and can be slowed down or fail."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[ImageSpec] = []
        self.delay = delay
        self.fail = fail
        self.threads: set[int] = set()

    def __call__(self, s: ImageSpec) -> bytes:
        self.calls.append(s)
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("render exploded")
        return f"{s.seed}:".encode() + b"x" * (s.width * 10)


def test_cache_renders_once_for_concurrent_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = CountingRender(delay=0.05)
    monkeypatch.setattr(images, "render", fake)
    cache = ImageCache()
    results: list[bytes] = []

    async def main() -> None:
        async def one() -> None:
            results.append(await cache.get(spec()))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
        # A later request is a cache hit.
        results.append(await cache.get(spec()))

    anyio.run(main)
    assert len(fake.calls) == 1
    assert len(results) == 11 and len(set(results)) == 1
    assert cache.size_bytes == len(results[0])
    # The render ran in a worker thread, not on the event loop's thread.
    assert threading.get_ident() not in fake.threads


def test_cache_get_returns_real_render_output() -> None:
    cache = ImageCache()
    s = spec(width=200, height=100, format="jpeg")
    data = anyio.run(cache.get, s)
    assert data == render(s)
    assert cache.size_bytes == len(data)


def test_cache_does_not_block_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "render", CountingRender(delay=0.2))
    ticks: list[float] = []

    async def main() -> None:
        async def ticker() -> None:
            for _ in range(5):
                ticks.append(time.perf_counter())
                await anyio.sleep(0.02)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await ImageCache().get(spec())

    anyio.run(main)
    assert len(ticks) == 5
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.15


def test_cache_render_error_reaches_all_waiters_and_is_not_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = CountingRender(delay=0.05, fail=True)
    monkeypatch.setattr(images, "render", fake)
    cache = ImageCache()
    outcomes: list[BaseException] = []

    async def main() -> None:
        async def one() -> None:
            try:
                await cache.get(spec())
            except RuntimeError as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)

    anyio.run(main)
    assert len(fake.calls) == 1
    assert len(outcomes) == 5 and all("exploded" in str(e) for e in outcomes)
    assert cache.size_bytes == 0

    fake.fail = False
    assert anyio.run(cache.get, spec()).startswith(b"42:")
    assert len(fake.calls) == 2


def test_cache_survives_the_rendering_caller_being_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = CountingRender(delay=0.1)
    monkeypatch.setattr(images, "render", fake)
    cache = ImageCache()
    got: list[bytes] = []

    async def waiter() -> None:
        got.append(await cache.get(spec()))

    async def cancelled_at_once() -> None:
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as owner:
                tg.start_soon(waiter)  # a second caller joins the in-flight render
                owner.cancel()
                await cache.get(spec())  # cancelled while it owns the render
            assert owner.cancelled_caught

    async def cancelled_mid_render() -> None:
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as owner:
                tg.start_soon(waiter)
                tg.start_soon(_cancel_later, owner)
                await cache.get(spec())

    for scenario in (cancelled_at_once, cancelled_mid_render):
        cache.clear()
        got.clear()
        anyio.run(scenario)
        assert len(got) == 1 and got[0].startswith(b"42:"), scenario.__name__
        assert anyio.run(cache.get, spec()) == got[0]
    assert 2 <= len(fake.calls) <= 3


async def _cancel_later(scope: anyio.CancelScope) -> None:
    await anyio.sleep(0.03)
    scope.cancel()


def test_cache_evicts_least_recently_used_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = CountingRender()
    monkeypatch.setattr(images, "render", fake)
    a, b, c = (spec(seed=s, width=100) for s in (1, 2, 3))  # each ~1003 bytes
    cache = ImageCache(max_bytes=2500)

    async def main() -> None:
        await cache.get(a)
        await cache.get(b)
        await cache.get(a)  # a is now the most recently used
        await cache.get(c)  # over budget: b goes

    anyio.run(main)
    assert cache.size_bytes <= 2500
    assert cache.size_bytes == sum(len(fake(s)) for s in (a, c))
    fake.calls.clear()

    async def again() -> None:
        await cache.get(a)
        await cache.get(c)
        assert fake.calls == []  # both still cached
        await cache.get(b)
        assert fake.calls == [b]  # b had been evicted

    anyio.run(again)


def test_cache_skips_items_larger_than_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = CountingRender()
    monkeypatch.setattr(images, "render", fake)
    cache = ImageCache(max_bytes=500)
    data = anyio.run(cache.get, spec(width=100))
    assert len(data) > 500
    assert cache.size_bytes == 0


def test_cache_clear_empties(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = CountingRender()
    monkeypatch.setattr(images, "render", fake)
    cache = ImageCache()

    async def main() -> None:
        await cache.get(spec(seed=1))
        await cache.get(spec(seed=2))
        assert cache.size_bytes > 0
        cache.clear()
        assert cache.size_bytes == 0
        await cache.get(spec(seed=1))

    anyio.run(main)
    assert [s.seed for s in fake.calls] == [1, 2, 1]


def test_cache_works_under_asyncio_run() -> None:
    import asyncio

    cache = ImageCache()

    async def main() -> tuple[bytes, ...]:
        return tuple(
            await asyncio.gather(*(cache.get(spec(width=64, height=64)) for _ in range(3)))
        )

    results = asyncio.run(main())
    assert len(set(results)) == 1
    assert decode(results[0]).size == (64, 64)
