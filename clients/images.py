"""Image bytes in and out: what an output file is (format, size, read with Pillow), and how an
input image is put on the wire (a data: URI, or base64 with its MIME type)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

# Pillow's format names -> what the clients report, and the MIME type of each.
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


class NotAnImage(ValueError):
    """Bytes Pillow cannot identify as a PNG, JPEG, WebP or GIF image."""


@dataclass(frozen=True)
class Image:
    """One image: its bytes, format (``png``, ``jpeg``, ``webp``) and size, read from the bytes
    themselves; ``url`` is where it was downloaded from (None when it came inline)."""

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int
    url: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @classmethod
    def from_bytes(cls, data: bytes, url: str | None = None) -> Image:
        """Reads the header only (Pillow decodes lazily), so a 4K image costs microseconds."""
        try:
            with PILImage.open(io.BytesIO(data)) as opened:
                name, (width, height) = opened.format, opened.size
        except (UnidentifiedImageError, OSError) as exc:
            raise NotAnImage(f"not an image Pillow can read: {exc}") from None
        if name not in _FORMATS:
            raise NotAnImage(f"unexpected image format {name}")
        return cls(data, _FORMATS[name], width, height, url)


# What a caller may pass as an input image: bytes, an Image from an earlier result, or a string
# the provider takes as is (a URL or a data: URI).
ImageInput = bytes | Image | str


def _as_image(value: bytes | Image) -> Image:
    return value if isinstance(value, Image) else Image.from_bytes(value)


def inline(value: bytes | Image) -> tuple[str, str]:
    """(MIME type, standard base64) of an image, its type read from its bytes."""
    image = _as_image(value)
    return image.mime_type, base64.b64encode(image.data).decode("ascii")


def data_uri(value: ImageInput) -> str:
    """A string the provider takes as an image: strings as given, bytes as a data: URI."""
    if isinstance(value, str):
        return value
    mime_type, encoded = inline(value)
    return f"data:{mime_type};base64,{encoded}"


def as_list(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """One image or several, as a list (a str or bytes is one image, not a sequence)."""
    if isinstance(images, str | bytes | Image):
        return [images]
    return list(images)


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (Google's JSON uses either)."""
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)
