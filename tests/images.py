"""Small real images for tests, as bytes and data: URIs."""

from __future__ import annotations

import base64
import io

from PIL import Image


def encoded(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


def data_uri(fmt: str = "PNG", mime: str | None = None, **kwargs: object) -> str:
    payload = base64.b64encode(encoded(fmt, **kwargs)).decode()  # type: ignore[arg-type]
    return f"data:{mime or 'image/' + fmt.lower()};base64,{payload}"
