"""What a recording may keep: allow-listed headers, no credentials, images as descriptors.

Everything here is a table or a pure function, so the policy reads in one place:

- ``ALLOWED_HEADERS`` / ``ALLOWED_HEADER_PREFIXES``: the only headers written. Every other
  header is dropped; ``SECRET_HEADERS`` are never written whatever the allow-list says, and
  their values (and those of ``SECRET_QUERY_PARAMS``) become secrets of the session.
- ``Redactor``: masks every secret seen in a session, and any extra ``--redact`` regex, as
  ``[REDACTED]`` in every string of an entry (URLs, headers, bodies, error messages).
- ``sanitise_body``: a body as text with every inline image replaced by a descriptor
  ``{"_imagegen_image": {format, width, height, bytes, sha256, thumbnail}}``.
- ``poll_signature``: what consecutive answers of one running job share when they are the same
  answer (ids and timestamps aside); emulator/recording/session.py collapses on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from PIL import Image

from emulator.core.datauri import InvalidDataUri, decode_base64, parse_data_uri
from emulator.core.images import MIME_TYPES, InvalidImage, probe

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_HEADER_PREFIXES",
    "IMAGE_KEY",
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_QUERY_PARAMS",
    "Redactor",
    "describe_image",
    "filter_headers",
    "sanitise_body",
    "sanitise_url",
    "secrets_in_headers",
]

REDACTED = "[REDACTED]"
IMAGE_KEY = "_imagegen_image"

# Headers worth keeping to replay and check a provider: the body's type, the provider's retry
# and rate-limit signals, the resumable-upload protocol, the client's identity (SDK drift) and
# the emulator's own per-request fault headers. content-length and content-encoding are left
# out on purpose: the body written is sanitised and decoded, so they would be wrong.
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "content-type",
        "date",
        "location",
        "retry-after",
        "user-agent",
        "x-goog-api-client",
        "x-request-id",
        "x-vertex-ai-llm-request-type",
        "x-vertex-ai-llm-shared-request-type",
        "x-emulator-fault",
        "x-emulator-latency",
    }
)
ALLOWED_HEADER_PREFIXES = ("x-goog-upload-", "x-ratelimit-", "ratelimit-")

# Credentials: never written, and their values are masked wherever else they appear.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-goog-api-key",
        "x-api-key",
        "api-key",
        "x-emulator-admin-token",
        "cookie",
        "set-cookie",
    }
)
SECRET_QUERY_PARAMS = frozenset({"key", "api_key", "apikey", "access_token"})

# A value shorter than this is not masked across bodies (masking "1" would wreck every body);
# the header or parameter that carried it is dropped all the same.
MIN_SECRET_LENGTH = 4

# Answers of a job still running, by the field that holds the state: only these collapse.
NON_TERMINAL = {
    "status": frozenset({"processing", "PENDING", "IN_PROGRESS", "queued", "QUEUED"}),
    "state": frozenset({"PROCESSING", "STATE_PENDING", "JOB_STATE_RUNNING"}),
}
# Fields ignored when comparing two poll answers (ids and timestamps).
VOLATILE_FIELDS = frozenset(
    {
        "id",
        "task_id",
        "responseId",
        "createdAt",
        "completedAt",
        "created_at",
        "updated_at",
        "createTime",
        "updateTime",
        "timestamp",
    }
)

THUMBNAIL_MAX_CHARS = 4096  # the whole data: URI
# (longest side, JPEG quality), tried in order until the thumbnail fits.
_THUMBNAIL_STEPS = ((128, 70), (96, 60), (64, 50), (48, 40), (32, 30), (16, 20))
_IMAGE_FORMATS = tuple(MIME_TYPES)
# A bare base64 string this long whose bytes start like an image is an image.
_MIN_BARE_BASE64 = 256
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF")
# A data: URI inside a longer text (markdown, an error message).
_EMBEDDED_DATA_URI = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w=.+-]+)*;base64,[A-Za-z0-9+/_=-]+")
_INLINE_KEYS = ("inlineData", "inline_data")
_SSE = "text/event-stream"


# --------------------------------------------------------------------------- headers, URLs


def _allowed(name: str) -> bool:
    lower = name.lower()
    if lower in SECRET_HEADERS:
        return False
    return lower in ALLOWED_HEADERS or lower.startswith(ALLOWED_HEADER_PREFIXES)


def filter_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The allow-listed headers, in order; a URL-valued one (an upload URL) loses its key."""
    return [(name, sanitise_url(value)) for name, value in headers if _allowed(name)]


def secrets_in_headers(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The credentials a request or response carries in its headers."""
    found: set[str] = set()
    for name, value in headers:
        lower = name.lower()
        if lower not in SECRET_HEADERS:
            continue
        found.add(value.strip())
        if lower == "cookie":
            for pair in value.split(";"):
                found.add(pair.partition("=")[2].strip())
            continue
        if lower == "set-cookie":
            # Only the cookie's own value: its attributes (Domain=, Path=) are no secrets.
            found.add(value.split(";")[0].partition("=")[2].strip())
            continue
        scheme, _, credential = value.strip().partition(" ")
        found.add(credential.strip())
        if scheme.lower() == "basic":
            try:
                user_pass = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, ValueError):
                continue
            found.update(user_pass.split(":", 1))
    return found


def secrets_in_url(url: str) -> set[str]:
    query = urlsplit(url).query
    return {value for name, value in parse_qsl(query) if name.lower() in SECRET_QUERY_PARAMS}


def sanitise_url(url: str) -> str:
    """The URL without its credential query parameters (``?key=``); other text is kept."""
    if "?" not in url:
        return url
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name.lower() not in SECRET_QUERY_PARAMS]
    if len(kept) == len(pairs):
        return url  # nothing to drop: the URL stays as it was spelled
    return urlunsplit(parts._replace(query=urlencode(kept)))


def query_string(url: str) -> list[dict[str, str]]:
    """HAR queryString of an already sanitised URL."""
    return [
        {"name": name, "value": value}
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)
    ]


# --------------------------------------------------------------------------- redaction


class Redactor:
    """Masks a session's secrets, and extra regexes, in every string of a JSON-like value.

    A secret is also masked in its URL-encoded and JSON-escaped forms, since it may reach a
    URL or a body text that way.
    """

    def __init__(self, patterns: Sequence[str | re.Pattern[str]] = ()) -> None:
        self._secrets: set[str] = set()
        self._patterns = [re.compile(p) if isinstance(p, str) else p for p in patterns]
        self._regex: re.Pattern[str] | None = None
        self.generation = 0  # moves on whenever a secret is added: what was masked before is stale

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if new:
            self._secrets |= new
            self._regex = None
            self.generation += 1

    @property
    def regexes(self) -> list[re.Pattern[str]]:
        if self._regex is None and self._secrets:
            forms = {
                form
                for secret in self._secrets
                for form in (secret, quote(secret, safe=""), quote_plus(secret), _escaped(secret))
            }
            alternatives = sorted(forms, key=len, reverse=True)
            self._regex = re.compile("|".join(re.escape(form) for form in alternatives))
        return [*([self._regex] if self._regex else []), *self._patterns]

    def text(self, value: str) -> str:
        for regex in self.regexes:
            value = regex.sub(REDACTED, value)
        return value

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string (and key) masked."""
        return _map_strings(value, self.text)


def _escaped(secret: str) -> str:
    return json.dumps(secret)[1:-1]


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {change(key): _map_strings(item, change) for key, item in value.items()}
    return value


# --------------------------------------------------------------------------- images


def describe_image(data: bytes) -> dict[str, Any]:
    """``{"_imagegen_image": {...}}`` for some bytes: format, size and a small JPEG thumbnail
    for a decodable image; format None with just bytes and sha256 otherwise."""
    described: dict[str, Any] = {"format": None}
    try:
        info = probe(data, _IMAGE_FORMATS)
        thumbnail = _thumbnail(data) if info.width else None
    except InvalidImage:
        pass
    else:
        # HEIF is recognised but not decoded: its size is unknown (None), it has no thumbnail.
        width, height = (info.width, info.height) if info.width else (None, None)
        described = {"format": info.format, "width": width, "height": height}
        if thumbnail is not None:
            described["thumbnail"] = thumbnail
    described |= {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # Key order as documented: format, width, height, bytes, sha256, thumbnail.
    order = ("format", "width", "height", "bytes", "sha256", "thumbnail")
    return {IMAGE_KEY: {key: described[key] for key in order if key in described}}


def _thumbnail(data: bytes) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            first = _THUMBNAIL_STEPS[0][0]
            image.draft("RGB", (first, first))  # JPEG: decode at 1/8 scale
            image.thumbnail((first, first), reducing_gap=2.0)
            if image.mode != "RGB":
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
    except Exception:  # a truncated frame Pillow only notices when decoding
        return None
    for side, quality in _THUMBNAIL_STEPS:
        small = image.copy()
        small.thumbnail((side, side))
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=quality)
        uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        if len(uri) <= THUMBNAIL_MAX_CHARS:
            return uri
    return None


def _uri_descriptor(uri: str) -> dict[str, Any]:
    try:
        _, data = parse_data_uri(uri)
    except InvalidDataUri:
        data = uri.encode()
    return describe_image(data)


def _base64_descriptor(text: str) -> dict[str, Any]:
    try:
        data = decode_base64(text)
    except InvalidDataUri:
        data = text.encode()
    return describe_image(data)


def _bare_image(text: str) -> bytes | None:
    """The bytes of a long bare base64 string that holds an image, else None."""
    if len(text) < _MIN_BARE_BASE64 or not _BASE64_TEXT.fullmatch(text):
        return None
    try:
        head = decode_base64(text[:64])
    except InvalidDataUri:
        return None
    if not head.startswith(_IMAGE_MAGIC):
        return None
    try:
        return decode_base64(text)
    except InvalidDataUri:
        return None


def _embedded_summary(match: re.Match[str]) -> str:
    image = _uri_descriptor(match[0])[IMAGE_KEY]
    size = f" {image['width']}x{image['height']}" if "width" in image else ""
    return f"[{IMAGE_KEY} {image['format']}{size} {image['bytes']} bytes sha256={image['sha256']}]"


def replace_images(value: Any) -> Any:
    """A copy of a JSON value with every inline image replaced by its descriptor: the
    ``data`` of ``inlineData`` / ``inline_data``, any ``data:`` URI string, a long bare base64
    image; a data: URI inside a longer text becomes a one-line ``[_imagegen_image ...]``."""
    if isinstance(value, str):
        if value[:5].lower() == "data:":
            return _uri_descriptor(value)
        bare = _bare_image(value)
        if bare is not None:
            return describe_image(bare)
        if "base64," in value:
            return _EMBEDDED_DATA_URI.sub(_embedded_summary, value)
        return value
    if isinstance(value, list):
        return [replace_images(item) for item in value]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key in _INLINE_KEYS and isinstance(item, dict) and isinstance(item.get("data"), str):
                result[key] = {
                    name: _base64_descriptor(field) if name == "data" else replace_images(field)
                    for name, field in item.items()
                }
            else:
                result[key] = replace_images(item)
        return result
    return value


# --------------------------------------------------------------------------- bodies


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sanitise_stream(text: str) -> str:
    """An SSE stream with each event's JSON data sanitised; other lines kept."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith("data:"):
            payload = line[5:].strip()
            try:
                line = "data: " + _dump(replace_images(json.loads(payload)))
            except ValueError:
                line = "data: " + replace_images(payload)
        lines.append(line)
    return "\n".join(lines)


def sanitise_body(data: bytes, mime_type: str) -> str:
    """A body as HAR text, images replaced by descriptors (see the module docstring).

    JSON is re-serialised compactly; an SSE stream keeps its events; other UTF-8 text is kept;
    a raw binary body (an upload's bytes) is written as its descriptor's JSON.
    """
    if not data:
        return ""
    if mime_type.split(";")[0].strip().lower() == _SSE:
        try:
            return _sanitise_stream(data.decode("utf-8"))
        except UnicodeDecodeError:
            return _dump(describe_image(data))
    try:
        return _dump(replace_images(json.loads(data)))
    except (ValueError, RecursionError):
        pass
    if data.startswith(_IMAGE_MAGIC):
        return _dump(describe_image(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _dump(describe_image(data))
    replaced = replace_images(text)
    return replaced if isinstance(replaced, str) else _dump(replaced)


# --------------------------------------------------------------------------- poll collapsing


def _job_state(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return None
    for name, values in NON_TERMINAL.items():
        state = body.get(name)
        if isinstance(state, str) and state in values:
            return name, state
    return None


def _without_volatile(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_volatile(item) for item in value]
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE_FIELDS}
    return value


def poll_signature(method: str, url: str, status: int, body_text: str) -> str | None:
    """What two poll answers share when they are the same answer of a running job; None for
    anything that is not a non-terminal GET answer (those never collapse)."""
    if method.upper() != "GET":
        return None
    try:
        body = json.loads(body_text)
    except ValueError:
        return None
    if _job_state(body) is None:
        return None
    return _dump([url, status, _without_volatile(body)])
