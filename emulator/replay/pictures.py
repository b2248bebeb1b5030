"""Recorded images made real again: a descriptor ``{"_imagegen_image": {format, width,
height, bytes, sha256, thumbnail}}`` becomes a picture of that size and format, rendered by
the core renderer, its colours seeded by the descriptor's sha256 (the same recorded image
always gives the same bytes).

- Inline, in an answer body: the ``data`` of an ``inlineData`` / ``inline_data`` part becomes
  base64, any other descriptor a ``data:`` URI.
- An output file: the descriptor of its recorded download (the proxy's ``--record-downloads``);
  without one, ``DEFAULT_SIZE`` and the format its URL's extension names (PNG when none does).

A format the renderer does not write (GIF, HEIC, an undecodable image) is rendered as PNG;
a descriptor without a size, or with a side over ``MAX_SIDE`` (no provider makes one; a
corrupt recording must not make the emulator render gigapixels), gets ``DEFAULT_SIZE``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from emulator.core.images import MIME_TYPES, OUTPUT_FORMATS, ImageCache, ImageSpec
from emulator.recording.sanitise import IMAGE_KEY

__all__ = ["DEFAULT_SIZE", "descriptor_of", "render_inline", "spec_for", "spec_for_url"]

DEFAULT_SIZE = (1024, 1024)
MAX_SIDE = 8192
DEFAULT_FORMAT = "png"
INLINE_KEYS = ("inlineData", "inline_data")
MIME_KEYS = ("mimeType", "mime_type")
_EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}


def descriptor_of(value: Any) -> dict[str, Any] | None:
    """The inside of an image descriptor, or None for anything else."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(IMAGE_KEY), dict):
        return value[IMAGE_KEY]
    return None


def spec_for(image: Mapping[str, Any]) -> ImageSpec:
    """The picture standing for a recorded image (the inside of its descriptor)."""
    fmt = image.get("format")
    width, height = image.get("width"), image.get("height")
    if not all(isinstance(side, int) and 0 < side <= MAX_SIDE for side in (width, height)):
        width, height = DEFAULT_SIZE
    digest = str(image.get("sha256") or "0")
    return _spec(
        width,
        height,
        fmt if fmt in OUTPUT_FORMATS else DEFAULT_FORMAT,
        digest,
        f"recorded {fmt or 'file'} {digest[:12]}",
    )


def spec_for_url(url: str) -> ImageSpec:
    """The picture for an output URL whose download was not recorded."""
    extension = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in url else ""
    fmt = _EXTENSIONS.get(extension, DEFAULT_FORMAT)
    return _spec(*DEFAULT_SIZE, fmt, url, "recorded output (download not recorded)")


def _spec(width: int, height: int, fmt: str, identity: str, what: str) -> ImageSpec:
    return ImageSpec(
        width=width,
        height=height,
        format=fmt,
        seed=_seed(identity),
        caption=("replayed", what, f"{width}x{height} {fmt}"),
        metadata=(("replayed", what), ("size", f"{width}x{height}"), ("format", fmt)),
    )


def _seed(identity: str) -> int:
    """A picture seed from a sha256 in hex (or from any text, hashed first)."""
    text = identity.lower()
    if len(text) < 16 or any(c not in "0123456789abcdef" for c in text[:16]):
        text = hashlib.sha256(identity.encode()).hexdigest()
    return int(text[:16], 16) % 2**31


async def render_inline(value: Any, images: ImageCache) -> Any:
    """A copy of a JSON value with every descriptor rendered (see the module docstring)."""
    return await _render(value, images, inline=False)


async def _render(value: Any, images: ImageCache, *, inline: bool) -> Any:
    image = descriptor_of(value)
    if image is not None:
        spec = spec_for(image)
        encoded = base64.b64encode(await images.get(spec)).decode()
        return encoded if inline else f"data:{MIME_TYPES[spec.format]};base64,{encoded}"
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in INLINE_KEYS and isinstance(item, dict):
                result[key] = {
                    name: await _render(field, images, inline=name == "data")
                    for name, field in item.items()
                }
                mime = _rendered_mime(item.get("data"))
                for mime_key in MIME_KEYS:
                    if mime is not None and mime_key in result[key]:
                        result[key][mime_key] = mime
            else:
                result[key] = await _render(item, images, inline=False)
        return result
    if isinstance(value, list):
        return [await _render(item, images, inline=False) for item in value]
    return value


def _rendered_mime(data: Any) -> str | None:
    """The MIME type an inline descriptor is rendered in (its recorded one unless the renderer
    cannot write that format): the part's mimeType must say what the bytes are."""
    image = descriptor_of(data)
    return None if image is None else MIME_TYPES[spec_for(image).format]
