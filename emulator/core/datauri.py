"""`data:` URIs, the only way an input image reaches the emulator (URLs are never fetched)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Sequence
from urllib.parse import unquote_to_bytes

import anyio
import anyio.to_thread

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.images import ImageInfo, InvalidImage, probe_declared

_DATA_URI = re.compile(r"^data:(?P<mime>[^;,]*)(?P<params>(;[^;,]*)*),(?P<data>.*)$", re.DOTALL)


class InvalidDataUri(ValueError):
    pass


def decode_image_uri(uri: str, allowed: Collection[str]) -> tuple[bytes, ImageInfo]:
    """The image a data: URI holds, verified to be a real image of its declared, allowed type.
    Raises InvalidDataUri or InvalidImage, whose messages follow a field name."""
    mime, data = parse_data_uri(uri)
    return data, probe_declared(mime, data, allowed)


async def decode_image_uris(
    entries: Sequence[tuple[str, str]],
    allowed: Collection[str],
    limiter: anyio.CapacityLimiter | None = None,
) -> list[tuple[bytes, ImageInfo]]:
    """(bytes, info) per (field, data: URI), decoded off the event loop (up to 14 large images
    is CPU work) on the `limiter`'s threads (the image cache's: ImageCache.limiter); a 400
    ApiError naming the first entry that is not a real, allowed image."""

    def decode_all() -> list[tuple[bytes, ImageInfo]]:
        decoded = []
        for field, uri in entries:
            try:
                decoded.append(decode_image_uri(uri, allowed))
            except (InvalidDataUri, InvalidImage) as exc:
                raise ApiError(
                    ErrorKind.INVALID_REQUEST, f"{field}: data URI {exc}.", field=field
                ) from None
        return decoded

    return await anyio.to_thread.run_sync(decode_all, limiter=limiter) if entries else []


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """(media type, decoded bytes). Raises InvalidDataUri with a reason a user can act on."""
    match = _DATA_URI.match(uri)
    if match is None:
        raise InvalidDataUri("is not a valid data: URI (expected data:<type>;base64,<data>)")
    mime = match["mime"].strip().lower() or "text/plain"
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    if "base64" in params:
        return mime, decode_base64(match["data"])
    return mime, unquote_to_bytes(match["data"])


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional, whitespace ignored."""
    try:
        # The common case, strict standard base64, in one C call: megabytes of images pass here.
        decoded = base64.b64decode(text, validate=True)
        if decoded:
            return decoded
    except (binascii.Error, ValueError):
        pass
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise InvalidDataUri("holds no data")
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact.encode("ascii"))
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidDataUri("is not valid base64") from None
