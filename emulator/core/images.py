"""Provider-agnostic image rendering, probing and caching.

Every generated picture is a diagonal two-colour gradient (colours chosen by the seed) with
the caption drawn on it, so a human looking at an emulator response can see what was asked
for. Nothing here knows about any provider: callers build an :class:`ImageSpec` and get bytes.

Speed matters more than beauty here (a 4096x4096 PNG must render in well under 250 ms), which
explains the palette-mode tricks in :func:`_gradient`.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import json
import os
import random
import threading
import warnings
from collections import OrderedDict
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cached_property

import anyio
import anyio.to_thread
from PIL import Image, ImageDraw, ImageFont, ImageOps, PngImagePlugin

__all__ = [
    "MIME_TYPES",
    "OUTPUT_FORMATS",
    "ImageCache",
    "ImageInfo",
    "ImageSpec",
    "InvalidImage",
    "probe",
    "render",
    "source_stand_in",
]

MIME_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
}

FORMAT_BY_MIME: dict[str, str] = {mime: fmt for fmt, mime in MIME_TYPES.items()}

# Pillow encoder and options per output format, chosen for speed: PNG level 1 is ~4x faster
# than the default at 4K (the flat gradient compresses anyway); WebP method 0 is its fastest.
_ENCODERS: dict[str, tuple[str, dict[str, int]]] = {
    "png": ("PNG", {"compress_level": 1}),
    "jpeg": ("JPEG", {"quality": 85}),
    "webp": ("WEBP", {"quality": 80, "method": 0}),
}

OUTPUT_FORMATS = tuple(_ENCODERS)

SOFTWARE = "imagegen-emulator"

# Bumped whenever the drawing changes, so cache keys (and any ETag built on them) change too.
_RENDER_VERSION = 2

# Palette indices reserved for the caption; the gradient uses the remaining 254 entries.
_WHITE = 0
_BLACK = 1
_FIRST_GRADIENT_INDEX = 2

# Below this font size text is an unreadable smudge, so tiny thumbnails carry no caption.
_MIN_FONT_PX = 6
# An edit shows its source softened to 1/8 of the output size, then scaled back up.
_SOURCE_SOFTENING = 8
# The prompt gets at most this many lines; longer prompts end with an ellipsis.
_MAX_PROMPT_LINES = 4
# No more of a caption line than this is ever laid out: four lines of the smallest legible
# font across the widest image hold fewer. It keeps a 10 MB prompt as cheap as a short one,
# and below Pillow's limit on the text it measures (1,000,000 characters, else a ValueError).
_MAX_CAPTION_CHARS = 10_000
_ELLIPSIS = "\u2026"

# A JPEG APP1 segment holds at most 65533 bytes; keep the EXIF description well under it.
_EXIF_TEXT_LIMIT = 60_000
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131

# Pillow format names we are willing to decode, mapped to our lower-case keys. MPO is what
# Pillow calls a JPEG carrying extra (multi-picture) frames, which cameras produce.
_PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "GIF": "gif", "WEBP": "webp"}
_DECODERS = ["PNG", "JPEG", "GIF", "WEBP"]

# HEIC/HEIF have no decoder here: they are recognised by their ISO-BMFF "ftyp" brand only.
_HEIF_BRANDS = {b"heic": "heic", b"heix": "heic", b"mif1": "heif", b"heif": "heif"}
# HEIC is HEIF with HEVC inside: either MIME type may label either brand.
_FAMILY = {"heic": "heif"}

# warnings.catch_warnings() swaps process-global state, so concurrent uses from worker threads
# must not interleave (or the filters would be left altered for the whole process).
_WARNINGS_LOCK = threading.Lock()

_FORMAT_NAMES = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "webp": "WebP",
    "heic": "HEIC",
    "heif": "HEIF",
}


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines a rendered image; equal specs give byte-identical output."""

    width: int
    height: int
    format: str
    seed: int
    caption: tuple[str, ...]
    metadata: tuple[tuple[str, str], ...] = ()
    source: bytes | None = None
    source_weight: float = 0.6
    # The encoder's quality, 0 to 100 (JPEG and WebP); None: the format's default (_ENCODERS).
    quality: int | None = None

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"image size must be at least 1x1, got {self.width}x{self.height}")
        if self.format not in OUTPUT_FORMATS:
            raise ValueError(f"format must be one of {OUTPUT_FORMATS}, got {self.format!r}")
        if not 0.0 <= self.source_weight <= 1.0:
            raise ValueError(f"source_weight must be within 0..1, got {self.source_weight}")
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise ValueError(f"quality must be within 0..100, got {self.quality}")
        # Callers often hold lists; tuples keep the spec hashable and the key well-defined.
        object.__setattr__(self, "caption", tuple(str(line) for line in self.caption))
        object.__setattr__(self, "metadata", tuple((str(k), str(v)) for k, v in self.metadata))

    def cache_key(self) -> str:
        """A stable sha256 hex digest over every field (and the renderer version)."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        # cached_property writes the instance __dict__ directly, so it works on a frozen class.
        source_digest = None if self.source is None else hashlib.sha256(self.source).hexdigest()
        payload = json.dumps(
            [
                _RENDER_VERSION,
                self.width,
                self.height,
                self.format,
                self.seed,
                list(self.caption),
                [list(pair) for pair in self.metadata],
                source_digest,
                float(self.source_weight).hex(),
                # Only when set: the keys of every picture without a quality stay as they were.
                *([] if self.quality is None else [self.quality]),
            ],
            ensure_ascii=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def scaled(self, max_side: int) -> ImageSpec:
        """The same picture fitted within max_side on its longer side (never enlarged)."""
        if max_side < 1:
            raise ValueError(f"max_side must be at least 1, got {max_side}")
        longest = max(self.width, self.height)
        if longest <= max_side:
            return self
        width = max(1, round(self.width * max_side / longest))
        height = max(1, round(self.height * max_side / longest))
        return replace(self, width=width, height=height)


def request_picture(
    *,
    provider: str,
    model: str,
    model_label: str,
    prompt: str,
    width: int,
    height: int,
    format: str,
    seed: int,
    size_detail: str = "",
    edit_note: str | None = None,
    extra_metadata: tuple[tuple[str, str], ...] = (),
    source: bytes | None = None,
    source_weight: float = 0.6,
    quality: int | None = None,
) -> ImageSpec:
    """The picture of one generation request, the same for every provider: the caption shows
    what was asked (prompt, model, size, seed, what it edits) and the metadata repeats it, then
    the provider's own parameters."""
    size = f"{width}x{height} {format}" + (f" ({size_detail})" if size_detail else "")
    caption = [prompt or "(no prompt)", model_label, size, f"seed {seed}"]
    if edit_note:
        caption.append(edit_note)
    metadata = (
        ("provider", provider),
        ("model", model),
        ("prompt", prompt),
        ("size", f"{width}x{height}"),
        ("format", format),
        ("seed", str(seed)),
        *extra_metadata,
    )
    return ImageSpec(
        width=width,
        height=height,
        format=format,
        seed=seed,
        caption=tuple(caption),
        metadata=metadata,
        source=source,
        source_weight=source_weight,
        quality=quality,
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render(spec: ImageSpec) -> bytes:
    """Encode the picture described by spec. Pure, deterministic, CPU only."""
    width, height = spec.width, spec.height
    colour_a, colour_b = _colours(spec.seed)
    image = _gradient(width, height, colour_a, colour_b)

    source = _decode_source(spec.source, width, height) if spec.source is not None else None
    if source is not None:
        image = _blend_source(image.convert("RGB"), source, spec.source_weight)
        if spec.format == "png":
            # Back to a palette: a true-colour PNG takes ~15x longer to encode, and the blend of
            # a gradient and a softened source loses little in 256 colours.
            image = _to_palette(image)

    _draw_caption(image, spec.caption)

    if spec.format != "png" and image.mode != "RGB":
        # JPEG and WebP cannot store a palette; only they pay for the conversion.
        image = image.convert("RGB")

    out = io.BytesIO()
    pillow_format, options = _ENCODERS[spec.format]
    if spec.quality is not None and "quality" in options:  # PNG is lossless: no quality
        options = {**options, "quality": spec.quality}
    if spec.format == "png":  # only PNG has text chunks, on top of the EXIF every format gets
        options = {**options, "pnginfo": _png_info(spec.metadata)}
    image.save(out, pillow_format, exif=_exif_bytes(spec.metadata), **options)
    return out.getvalue()


def _png_info(metadata: tuple[tuple[str, str], ...]) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", SOFTWARE)
    for key, value in metadata:
        info.add_text(_png_key(key), value)
    return info


def _colours(seed: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two clearly different, medium-dark colours, so white caption text always stands out."""
    rng = random.Random(seed)  # a private generator: global random state must not matter
    hue = rng.random()
    second_hue = (hue + rng.uniform(0.25, 0.5)) % 1.0
    colours = []
    for h in (hue, second_hue):
        r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(0.55, 0.9), rng.uniform(0.4, 0.78))
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours[0], colours[1]


def _gradient(
    width: int, height: int, colour_a: tuple[int, int, int], colour_b: tuple[int, int, int]
) -> Image.Image:
    """A top-left to bottom-right gradient as a palette image.

    Pixel (x, y) gets palette index ramp[x + y], so every row is a slice of one ramp and the
    whole buffer is built by a single bytes.join: no per-pixel Python, no resize.
    """
    steps = 256 - _FIRST_GRADIENT_INDEX
    length = width + height - 1
    span = max(1, length - 1)
    ramp = bytes(_FIRST_GRADIENT_INDEX + (i * (steps - 1)) // span for i in range(length))
    data = b"".join([ramp[y : y + width] for y in range(height)])
    image = Image.frombytes("P", (width, height), data)

    palette = [255, 255, 255, 0, 0, 0]  # _WHITE, _BLACK
    for i in range(steps):
        t = i / (steps - 1)
        palette.extend(round(a + (b - a) * t) for a, b in zip(colour_a, colour_b, strict=True))
    image.putpalette(palette)
    return image


@contextmanager
def _pillow_guard() -> Iterator[None]:
    """Turn Pillow's decompression-bomb warning into an exception and silence other warnings."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def source_stand_in(data: bytes, width: int, height: int) -> bytes | None:
    """The input image as an edit of width x height shows it (softened, 1/8 of the size), as a
    lossless PNG (alpha kept): kept in place of the input, it renders the same pixels at that
    size, and a thumbnail resamples it. None when the input cannot be decoded (the picture is
    then the plain gradient, as it would be from the input)."""
    softened = _softened_source(data, width, height)
    if softened is None:
        return None
    out = io.BytesIO()
    # Level 1: a 1K output's stand-in is ~128x128, so compressing harder saves little.
    softened.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _decode_source(data: bytes, width: int, height: int) -> Image.Image | None:
    """The source image fitted to cover width x height, or None if it cannot be decoded."""
    softened = _softened_source(data, width, height)
    if softened is None:
        return None
    return softened.resize((width, height), Image.Resampling.BILINEAR)


def _softened_source(data: bytes, width: int, height: int) -> Image.Image | None:
    """The source's centred cover crop for width x height at 1/_SOURCE_SOFTENING of that size
    (RGB, or RGBA when it has transparency), or None if it cannot be decoded."""
    try:
        with _pillow_guard():
            src = Image.open(io.BytesIO(data), formats=_DECODERS)
            if src.format == "JPEG":
                # DCT-domain downscaling: decodes at 1/2..1/8 size when the output is smaller.
                # draft() works on stored pixels, so swap the target for EXIF-rotated photos.
                rotated = _exif_orientation(src) in (5, 6, 7, 8)
                src.draft("RGB", (height, width) if rotated else (width, height))
            src.load()
        with suppress(Exception):  # corrupt EXIF should not cost us an otherwise good picture
            ImageOps.exif_transpose(src, in_place=True)  # phone photos are often stored rotated
        has_alpha = src.mode in ("RGBA", "LA", "PA") or "transparency" in src.info
        mode = "RGBA" if has_alpha else "RGB"
        if src.mode != mode:
            src = src.convert(mode)
        small = (max(1, width // _SOURCE_SOFTENING), max(1, height // _SOURCE_SOFTENING))
        if src.size == small:
            # Already softened (a stand-in made for this size): used as it is, so it renders
            # exactly what its input did. A full-box resize to its own size would be a copy,
            # but the cover box crops a fraction of a pixel when a side is not a multiple of 8.
            return src
        # Same centred cover crop as ImageOps.fit, in one resize whose reducing_gap first
        # box-averages big sources down cheaply, to a softened copy at 1/_SOURCE_SOFTENING of
        # the output: still plainly the input picture, and smooth enough to encode fast.
        return src.resize(
            small,
            Image.Resampling.BILINEAR,
            box=_cover_box(src.width, src.height, width, height),
            reducing_gap=2.0,
        )
    except Exception:
        # An undecodable source must not fail the request: fall back to the plain gradient.
        return None


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:
        return 1  # unreadable EXIF: treat as upright


def _cover_box(
    src_width: int, src_height: int, width: int, height: int
) -> tuple[float, float, float, float]:
    """The centred region of the source with the output's aspect ratio, as large as possible."""
    scale = max(width / src_width, height / src_height)
    crop_width, crop_height = width / scale, height / scale
    left, top = (src_width - crop_width) / 2, (src_height - crop_height) / 2
    return (left, top, left + crop_width, top + crop_height)


def _to_palette(image: Image.Image) -> Image.Image:
    """The picture in the gradient's palette layout (index 0 white, 1 black, for the caption)
    plus 254 colours chosen on a 1/8 copy and mapped without dithering: ~8x faster than
    quantising the full image, and as good for smooth pictures."""
    reduced = image.reduce(_SOURCE_SOFTENING) if min(image.size) >= _SOURCE_SOFTENING else image
    colours = reduced.quantize(256 - _FIRST_GRADIENT_INDEX, method=Image.Quantize.FASTOCTREE)
    palette = Image.new("P", (1, 1))
    palette.putpalette([255, 255, 255, 0, 0, 0, *colours.getpalette()[: 3 * 254]])
    return image.quantize(palette=palette, dither=Image.Dither.NONE)


def _blend_source(background: Image.Image, source: Image.Image, weight: float) -> Image.Image:
    """Mix the source into the gradient; transparent source areas keep the plain gradient."""
    if source.mode == "RGBA":
        alpha = source.getchannel("A")
        blended = Image.blend(background, source.convert("RGB"), weight)
        background.paste(blended, (0, 0), alpha)
        return background
    return Image.blend(background, source, weight)


@dataclass(frozen=True)
class _Line:
    text: str
    font: ImageFont.FreeTypeFont
    top: int
    height: int


def _layout(caption: tuple[str, ...], width: int, height: int) -> tuple[list[_Line], int]:
    """Place caption lines, centred; returns the lines and the stroke width."""
    # Proportional to the shorter side so wide and tall images get equally readable text.
    size = round(min(width, height) * 0.075)
    max_width = width * 0.92
    max_height = height * 0.92
    caption = tuple(text[:_MAX_CAPTION_CHARS] for text in caption)
    while size >= _MIN_FONT_PX:
        stroke = max(1, round(size / 14))
        prompt_font = ImageFont.load_default(size=size)
        detail_font = ImageFont.load_default(size=max(_MIN_FONT_PX, round(size * 0.6)))
        usable = max_width - 2 * stroke
        rows: list[tuple[str, ImageFont.FreeTypeFont]] = []
        for index, text in enumerate(caption):
            if index == 0:
                rows.extend((t, prompt_font) for t in _wrap(text, prompt_font, usable))
            elif text.strip():
                rows.append((_ellipsize(" ".join(text.split()), detail_font, usable), detail_font))
        heights = [_line_height(font, stroke) for _, font in rows]
        total = sum(heights)
        if total <= max_height:
            top = (height - total) // 2
            lines = []
            for (text, font), line_height in zip(rows, heights, strict=True):
                lines.append(_Line(text, font, top, line_height))
                top += line_height
            return lines, stroke
        size = int(size * 0.85)  # too tall (many lines on a flat image): shrink and retry
    return [], 0


def _line_height(font: ImageFont.FreeTypeFont, stroke: int) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent + 2 * stroke + round(font.size * 0.1)


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy word wrap to max_width, at most _MAX_PROMPT_LINES, ellipsis if cut short."""
    lines: list[str] = []
    current = ""
    truncated = False
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        # A single word wider than the image (a URL, say) is broken between characters.
        while font.getlength(word) > max_width and len(lines) <= _MAX_PROMPT_LINES:
            cut = _fitting_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
        if len(lines) >= _MAX_PROMPT_LINES:
            truncated = True  # stop measuring: a 30 000-character prompt must stay cheap
            break
    if current and not truncated:
        lines.append(current)
    if truncated or len(lines) > _MAX_PROMPT_LINES:
        lines = lines[:_MAX_PROMPT_LINES]
        lines[-1] = _ellipsize(lines[-1] + _ELLIPSIS, font, max_width)
    return lines


def _fitting_prefix(word: str, font: ImageFont.FreeTypeFont, max_width: float) -> int:
    """Length of the longest prefix of word that fits (at least one character)."""
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(word[:mid]) <= max_width:
            low = mid
        else:
            high = mid - 1
    return low


def _ellipsize(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """text if it fits, else its longest fitting prefix followed by an ellipsis.

    The cut prefers a word boundary, so a prompt ends in "... at sunset…" not "... at sun…".
    """
    if font.getlength(text) <= max_width:
        return text
    body = text.removesuffix(_ELLIPSIS)
    low, high = 0, len(body)
    while low < high:  # longest prefix that fits together with the ellipsis
        mid = (low + high + 1) // 2
        if font.getlength(body[:mid].rstrip() + _ELLIPSIS) <= max_width:
            low = mid
        else:
            high = mid - 1
    prefix = body[:low]
    if low < len(body) and not body[low].isspace() and " " in prefix.strip():
        prefix = prefix[: prefix.rstrip().rfind(" ")]
    return prefix.rstrip().rstrip(",;:") + _ELLIPSIS


# Caption masks: the text is drawn once in greyscale (text 255 over stroke 128 over 0), then
# split into a stroke mask and a text mask by lookup tables.
_HARD_STROKE = [255 if v >= 64 else 0 for v in range(256)]
_HARD_TEXT = [255 if v >= 192 else 0 for v in range(256)]
_SOFT_STROKE = [min(255, v * 2) for v in range(256)]
_SOFT_TEXT = [max(0, min(255, (v - 128) * 2)) for v in range(256)]


def _draw_caption(image: Image.Image, caption: tuple[str, ...]) -> None:
    """Draw the caption in place: white text with a dark outline, centred."""
    width, height = image.size
    lines, stroke = _layout(caption, width, height)
    if not lines:
        return
    widest = max(line.font.getlength(line.text) for line in lines)
    left = max(0, int(width / 2 - widest / 2) - stroke - 2)
    right = min(width, int(width / 2 + widest / 2) + stroke + 3)
    top = lines[0].top
    bottom = min(height, lines[-1].top + lines[-1].height)
    if right <= left or bottom <= top:
        return

    # Pillow blends palette *indices* at antialiased stroke edges, which would paint stray
    # gradient colours around the text; drawing on a greyscale layer and pasting through masks
    # avoids that (hard masks for palette images, soft antialiased ones for RGB).
    layer = Image.new("L", (right - left, bottom - top), 0)
    draw = ImageDraw.Draw(layer)
    centre = width / 2 - left
    for line in lines:
        draw.text(
            (centre, line.top - top + stroke),
            line.text,
            font=line.font,
            fill=255,
            stroke_width=stroke,
            stroke_fill=128,
            anchor="ma",
        )
    box = (left, top)
    if image.mode == "P":
        image.paste(_BLACK, box, layer.point(_HARD_STROKE, "1"))
        image.paste(_WHITE, box, layer.point(_HARD_TEXT, "1"))
    else:
        image.paste((0, 0, 0), box, layer.point(_SOFT_STROKE))
        image.paste((255, 255, 255), box, layer.point(_SOFT_TEXT))


def _png_key(key: str) -> str:
    """A legal PNG text keyword (Latin-1, 1..79 characters) that never makes saving fail."""
    legal = key.encode("latin-1", "replace").decode("latin-1").replace("\0", " ")[:79]
    return legal or "?"


def _exif_bytes(metadata: tuple[tuple[str, str], ...]) -> bytes:
    exif = Image.Exif()
    exif[_EXIF_IMAGE_DESCRIPTION] = _exif_description(metadata)
    exif[_EXIF_SOFTWARE] = SOFTWARE
    return exif.tobytes()


def _exif_description(metadata: tuple[tuple[str, str], ...]) -> str:
    """The metadata as a JSON object (ASCII, since EXIF text is ASCII), small enough for JPEG."""
    # A longer value could never fit: cut first, so a 10 MB prompt is not serialised whole.
    pairs = {k: v if len(v) <= _EXIF_TEXT_LIMIT else v[:_EXIF_TEXT_LIMIT] for k, v in metadata}
    text = json.dumps(pairs, sort_keys=True)
    cap = max((len(v) for v in pairs.values()), default=0)
    while len(text) > _EXIF_TEXT_LIMIT and cap > 0:
        # Halve the longest values until it fits; the PNG text chunks keep the full values.
        cap //= 2
        text = json.dumps(
            {k: v if len(v) <= cap else v[:cap] + _ELLIPSIS for k, v in pairs.items()},
            sort_keys=True,
        )
    return text if len(text) <= _EXIF_TEXT_LIMIT else "{}"


# --------------------------------------------------------------------------------------------
# Probing uploaded images
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    format: str  # a lower-case key of MIME_TYPES
    width: int
    height: int


class InvalidImage(ValueError):
    """Bytes that are not an acceptable image; str() reads as a predicate, e.g. "is truncated
    or corrupt", so callers can write f"{field} {error}"."""


def _describe(formats: Collection[str]) -> str:
    names = [_FORMAT_NAMES.get(f, f.upper()) for f in sorted(formats, key=_format_order)]
    if not names:
        return "no"
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _format_order(name: str) -> int:
    order = list(_FORMAT_NAMES)
    return order.index(name) if name in order else len(order)


def probe(data: bytes, allowed: Collection[str]) -> ImageInfo:
    """Identify a complete, decodable image whose format is in allowed, or raise InvalidImage."""
    allowed = {f.lower() for f in allowed}
    expected = f"is not a {_describe(allowed)} image"
    if not data:
        raise InvalidImage("is empty")

    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        heif_format = _HEIF_BRANDS[data[8:12]]
        if heif_format not in allowed:
            raise InvalidImage(
                f"is a {_FORMAT_NAMES[heif_format]} image, which {_not_accepted(allowed)}"
            )
        return ImageInfo(heif_format, 0, 0)

    try:
        with _pillow_guard():
            image = Image.open(io.BytesIO(data), formats=_DECODERS)
            found = _PILLOW_FORMATS.get(image.format or "")
            if found is None:
                raise InvalidImage(expected)
            if found not in allowed:
                raise InvalidImage(
                    f"is a {_FORMAT_NAMES[found]} image, which {_not_accepted(allowed)}"
                )
            size = image.size
            if found == "png":
                # verify() checks every chunk's CRC through IEND without inflating the pixels:
                # truncation and corruption are caught at a tenth of the cost of decoding.
                image.verify()
                return ImageInfo(found, size[0], size[1])
            if found == "jpeg":
                # Scaled DCT decoding still reads every byte of entropy data, 8x faster.
                image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage("has too many pixels to be decoded safely") from None
    except Image.UnidentifiedImageError:
        raise InvalidImage(expected) from None
    except Exception:
        # OSError (truncated), SyntaxError (bad chunk), ValueError, zlib and struct errors...
        raise InvalidImage("is truncated or corrupt") from None
    return ImageInfo(found, size[0], size[1])


def probe_declared(mime: str, data: bytes, allowed: Collection[str]) -> ImageInfo:
    """probe(), and the bytes must also be of the declared MIME type (a data: URI's type, an
    inlineData mimeType): every provider refuses a PNG labelled image/jpeg the same way."""
    declared = FORMAT_BY_MIME.get(mime.strip().lower())
    if declared not in {f.lower() for f in allowed}:
        raise InvalidImage(f"has type '{mime}', which {_not_accepted(allowed)}")
    info = probe(data, allowed)
    if _FAMILY.get(info.format, info.format) != _FAMILY.get(declared, declared):
        raise InvalidImage(f"is declared as {mime} but holds a {_FORMAT_NAMES[info.format]} image")
    return info


def _not_accepted(allowed: Collection[str]) -> str:
    return f"is not accepted here (expected {_describe(allowed)})"


# --------------------------------------------------------------------------------------------
# Caching
# --------------------------------------------------------------------------------------------


class _Pending:
    """One in-flight render that later callers for the same spec wait on."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: bytes | None = None
        self.error: BaseException | None = None


class ImageCache:
    """Lazily rendered images, kept in an LRU bounded by total encoded bytes."""

    def __init__(self, max_bytes: int = 256 * 2**20, render_threads: int | None = None) -> None:
        self._max_bytes = max_bytes
        # Renders hold the GIL for part of their time; unbounded, four 4K renders at once stall
        # the event loop for tens of ms. One core for rendering leaves the other for requests.
        threads = render_threads or max(1, (os.cpu_count() or 2) - 1)
        self._limiter = anyio.CapacityLimiter(threads)
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._pending: dict[str, _Pending] = {}
        # Renders started before clear() must not repopulate the cache afterwards.
        self._generation = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """The threads image work runs on: these renders, and the decoding of input images
        (a 2 KB WebP may hold 64 megapixels, 256 MB and half a second to decode: on an unbounded
        pool, a burst of them would take every core and gigabytes)."""
        return self._limiter

    async def stand_in(self, data: bytes, width: int, height: int) -> bytes | None:
        """source_stand_in() on the image threads: it decodes the whole input (a 7 MB upload
        takes tens of ms), so never on the event loop."""
        return await anyio.to_thread.run_sync(
            source_stand_in, data, width, height, limiter=self._limiter
        )

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, spec: object) -> bool:
        return isinstance(spec, ImageSpec) and spec.cache_key() in self._items

    def clear(self) -> None:
        self._items.clear()
        self._size = 0
        self._generation += 1

    def discard(self, spec: ImageSpec) -> None:
        """Forget `spec`'s rendering, if cached: its job is gone (a later request for the same
        picture renders it again, byte for byte)."""
        data = self._items.pop(spec.cache_key(), None)
        if data is not None:
            self._size -= len(data)

    async def get(self, spec: ImageSpec) -> bytes:
        key = spec.cache_key()
        while True:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
            pending = self._pending.get(key)
            if pending is None:
                return await self._render(key, spec)
            await pending.done.wait()
            if pending.error is not None:
                raise pending.error
            if pending.result is not None:
                return pending.result
            # The rendering caller was cancelled before finishing: loop and render ourselves.

    async def _render(self, key: str, spec: ImageSpec) -> bytes:
        pending = _Pending()
        self._pending[key] = pending
        generation = self._generation
        # If this caller is cancelled (a BaseException, not caught below) the pending entry ends
        # with neither result nor error, and its waiters retry instead of inheriting the cancel.
        try:
            # Rendering a 4K image takes ~100 ms of CPU: never on the event loop.
            data = await anyio.to_thread.run_sync(render, spec, limiter=self._limiter)
        except Exception as exc:
            pending.error = exc  # shared with every waiter, and not cached
            raise
        else:
            pending.result = data
            if generation == self._generation:
                self._store(key, data)
            return data
        finally:
            del self._pending[key]
            pending.done.set()

    def _store(self, key: str, data: bytes) -> None:
        if len(data) > self._max_bytes:
            return  # would evict everything and still not fit
        self._items[key] = data
        self._size += len(data)
        while self._size > self._max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)
