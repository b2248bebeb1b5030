"""The recording format: HAR 1.2 files, one per session, with the emulator's data under
``_imagegen``. Both sides use this module: the recorder writes with :func:`write_har`, the
drift check and the replayer read with :func:`read_recordings`.

An entry is standard HAR (``startedDateTime``, ``time``, ``request``, ``response``,
``timings``, readable by browsers' devtools) plus::

    "_imagegen": {"provider": "vibedream" | null, "operation": "getPrediction" | null,
                  "contracts": {"request": "request.z-image-turbo" | null,
                                "response": "prediction" | null},
                  "elapsed_ms": 812.5, "first_byte_ms": 640.1 | null,
                  "collapsed": null | {"count": 7, "first": iso, "last": iso},
                  "note": "upstream refused the connection"}   (only on an answer the
                                                                recorder made itself)

Bodies are sanitised text (JSON, or a stream's raw text); images in them are descriptors
(emulator/recording/sanitise.py). ``response.content.size`` is the size of the body as it was
received, before sanitising, and ``request.bodySize`` that of the request body as sent.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import contracts
from emulator.recording.atomic import write_atomically
from emulator.recording.sanitise import (
    Redactor,
    filter_headers,
    query_string,
    sanitise_body,
    sanitise_url,
    secrets_in_headers,
    secrets_in_url,
)

__all__ = [
    "CREATOR",
    "HAR_SUFFIX",
    "MAX_HAR_BYTES",
    "Collapsed",
    "Entry",
    "RecordingError",
    "Timings",
    "build_entry",
    "read_har",
    "read_recordings",
    "recognise",
    "write_har",
]

HAR_VERSION = "1.2"
# Larger than any session the recorder writes (images are descriptors): a bigger file is not a
# recording of ours, and reading it whole would take that much memory several times over.
MAX_HAR_BYTES = 256 * 2**20
HAR_SUFFIX = ".har"
CREATOR = "imagegen-emulator"
_HTTP_VERSION = "HTTP/1.1"

Headers = Sequence[tuple[str, str]]


class RecordingError(ValueError):
    """A recording that cannot be read or written; str() is one line naming the file."""


@functools.cache
def _creator_version() -> str:
    try:
        return version(CREATOR)
    except PackageNotFoundError:
        return "0"


@dataclass(frozen=True)
class Timings:
    """When an exchange started, how long it took, and when its first byte came back."""

    started: datetime
    elapsed_ms: float
    first_byte_ms: float | None = None


@dataclass(frozen=True)
class Collapsed:
    """Repeated poll answers folded into one entry: how many, first and last start times."""

    count: int
    first: str
    last: str


@dataclass(frozen=True)
class Entry:
    """One recorded exchange, sanitised. ``request_text`` is None for a request without a
    body; headers are (name, value) pairs in the order they were sent."""

    started: str  # ISO 8601 with offset (HAR startedDateTime)
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_mime: str
    request_text: str | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_mime: str
    response_text: str
    response_size: int
    elapsed_ms: float
    first_byte_ms: float | None
    provider: str | None
    operation: str | None
    request_contract: str | None
    response_contract: str | None
    status_text: str = ""
    request_size: int = -1  # bytes of the request body as sent; -1 unknown
    collapsed: Collapsed | None = None
    http_version: str = _HTTP_VERSION
    # Why the recorder answered itself (an upstream down or too slow: its 502/504); None for
    # an answer the upstream gave.
    note: str | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def request_json(self) -> Any:
        """The request body parsed, or None when there is none or it is not JSON."""
        return _json_or_none(self.request_text)

    def response_json(self) -> Any:
        """The response body parsed, or None when it is not JSON (a stream, text)."""
        return _json_or_none(self.response_text)

    def path_params(self) -> dict[str, str]:
        """The path parameters of the recorded operation ({} when unknown). The URL is the
        upstream's, so a path behind a base path (a gateway mounted under /ai) matches by
        its tail."""
        try:
            operations = contracts.operations(self.provider or "")
        except KeyError:  # no provider, or one this version does not know
            return {}
        found = next((op for op in operations if op.operation_id == self.operation), None)
        if found is None:
            return {}
        segments = self.path.split("/")
        for start in range(1, len(segments)):
            tail = "/".join(["", *segments[start:]]) if start > 1 else self.path
            params = found.match(tail) or found.match(tail + "/")
            if params is not None:
                return params
        return {}

    def to_har(self) -> dict[str, Any]:
        wait = self.first_byte_ms if self.first_byte_ms is not None else self.elapsed_ms
        request: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "httpVersion": self.http_version,
            "cookies": [],
            "headers": _har_headers(self.request_headers),
            "queryString": query_string(self.url),
            "headersSize": -1,
            "bodySize": self.request_size,
        }
        if self.request_text is not None:
            request["postData"] = {"mimeType": self.request_mime, "text": self.request_text}
        return {
            "startedDateTime": self.started,
            "time": self.elapsed_ms,
            "request": request,
            "response": {
                "status": self.status,
                "statusText": self.status_text,
                "httpVersion": self.http_version,
                "cookies": [],
                "headers": _har_headers(self.response_headers),
                "content": {
                    "size": self.response_size,
                    "mimeType": self.response_mime,
                    "text": self.response_text,
                },
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": -1,
            },
            "cache": {},
            "timings": {"send": 0, "wait": wait, "receive": max(0.0, self.elapsed_ms - wait)},
            "_imagegen": {
                "provider": self.provider,
                "operation": self.operation,
                "contracts": {
                    "request": self.request_contract,
                    "response": self.response_contract,
                },
                "elapsed_ms": self.elapsed_ms,
                "first_byte_ms": self.first_byte_ms,
                "collapsed": None
                if self.collapsed is None
                else {
                    "count": self.collapsed.count,
                    "first": self.collapsed.first,
                    "last": self.collapsed.last,
                },
                **({} if self.note is None else {"note": self.note}),
            },
        }

    @classmethod
    def from_har(cls, raw: Mapping[str, Any]) -> Entry:
        """An entry from its HAR object; ValueError naming the field (``request.url``) when it
        is missing or of the wrong type.

        An entry without ``_imagegen`` (a HAR saved by a browser) is recognised from its URL.
        """
        entry = _object(raw, "the entry")
        request = _object(_required(entry, "request", ""), "request")
        method = _string(_required(request, "method", "request"), "request.method").upper()
        url = _string(_required(request, "url", "request"), "request.url")
        response = _object(_required(entry, "response", ""), "response")
        status = _status(_required(response, "status", "response"))
        started = _timestamp(_required(entry, "startedDateTime", ""), "startedDateTime")
        content = _object(response.get("content", {}), "response.content")
        post = request.get("postData")
        post = None if post is None else _object(post, "request.postData")
        ours = entry.get("_imagegen")
        if ours is None:
            provider, operation, request_contract, response_contract = recognise(
                method, url, status
            )
            elapsed, first_byte, collapsed = _number(entry.get("time", 0), "time"), None, None
            note = None
        else:
            ours = _object(ours, "_imagegen")
            provider = _optional_string(_required(ours, "provider", "_imagegen"), "provider")
            operation = _optional_string(_required(ours, "operation", "_imagegen"), "operation")
            named = _object(_required(ours, "contracts", "_imagegen"), "_imagegen.contracts")
            request_contract = _optional_string(
                _required(named, "request", "_imagegen.contracts"), "_imagegen.contracts.request"
            )
            response_contract = _optional_string(
                _required(named, "response", "_imagegen.contracts"),
                "_imagegen.contracts.response",
            )
            elapsed = _number(_required(ours, "elapsed_ms", "_imagegen"), "_imagegen.elapsed_ms")
            first = ours.get("first_byte_ms")
            first_byte = None if first is None else _number(first, "_imagegen.first_byte_ms")
            collapsed = _collapsed(ours.get("collapsed"))
            note = _optional_string(ours.get("note"), "_imagegen.note")
        return cls(
            started=started,
            method=method,
            url=url,
            request_headers=_headers(request.get("headers", []), "request.headers"),
            request_mime=_string(post.get("mimeType", ""), "request.postData.mimeType")
            if post
            else "",
            request_text=None
            if not post
            else _string(post.get("text", ""), "request.postData.text"),
            request_size=_integer(request.get("bodySize", -1), "request.bodySize"),
            status=status,
            status_text=_string(response.get("statusText", ""), "response.statusText"),
            response_headers=_headers(response.get("headers", []), "response.headers"),
            response_mime=_string(content.get("mimeType", ""), "response.content.mimeType"),
            response_text=_string(content.get("text", ""), "response.content.text"),
            response_size=_integer(content.get("size", -1), "response.content.size"),
            elapsed_ms=elapsed,
            first_byte_ms=first_byte,
            provider=provider,
            operation=operation,
            request_contract=request_contract,
            response_contract=response_contract,
            collapsed=collapsed,
            http_version=_string(request.get("httpVersion", _HTTP_VERSION), "request.httpVersion"),
            note=note,
        )


# --------------------------------------------------------------------------- reading fields
# Each names the field it reads in its ValueError, so a malformed entry's error says where.


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not an object")
    return value


def _required(container: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in container:
        raise ValueError(f"missing '{key}'" + (f" in {where}" if where else ""))
    return container[key]


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} is not a string")
    return value


def _optional_string(value: Any, where: str) -> str | None:
    return None if value is None else _string(value, where)


def _number(value: Any, where: str) -> float:
    """Milliseconds: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where} is not a finite number >= 0")
    return float(value)


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} is not an integer")
    return value


def _status(value: Any) -> int:
    """An HTTP status, or 0 (HAR: no response was received)."""
    status = _integer(value, "response.status")
    if status != 0 and not 100 <= status <= 599:
        raise ValueError(f"response.status {status} is not an HTTP status")
    return status


def _timestamp(value: Any, where: str) -> str:
    text = _string(value, where)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where} is not an ISO 8601 date-time") from None
    return text


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where} is not a list")
    pairs = []
    for index, header in enumerate(value):
        at = f"{where}[{index}]"
        header = _object(header, at)
        name = _string(_required(header, "name", at), f"{at}.name")
        pairs.append((name, _string(_required(header, "value", at), f"{at}.value")))
    return tuple(pairs)


def _collapsed(value: Any) -> Collapsed | None:
    if value is None:
        return None
    folded = _object(value, "_imagegen.collapsed")
    count = _integer(_required(folded, "count", "_imagegen.collapsed"), "_imagegen.collapsed.count")
    if count < 1:
        raise ValueError("_imagegen.collapsed.count is not >= 1")
    first = _required(folded, "first", "_imagegen.collapsed")
    last = _required(folded, "last", "_imagegen.collapsed")
    return Collapsed(
        count,
        _timestamp(first, "_imagegen.collapsed.first"),
        _timestamp(last, "_imagegen.collapsed.last"),
    )


def _json_or_none(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _har_headers(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _header(headers: Headers, name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


def recognise(
    method: str, url: str, status: int, prefix: str = ""
) -> tuple[str | None, str | None, str | None, str | None]:
    """(provider, operationId, request schema, response schema) of an exchange, from the
    contracts' operation tables; all None for a path no provider serves. ``prefix`` is a base
    path in front of the provider's own paths (a gateway mounted under ``/ai``), stripped."""
    path = urlsplit(url).path
    if prefix and path.startswith(prefix.rstrip("/") + "/"):
        path = path[len(prefix.rstrip("/")) :]
    found = contracts.find_operation(method, path)
    if found is None:
        return None, None, None, None
    provider, operation, params = found
    return (
        provider,
        operation.operation_id,
        operation.request_schema(params),
        operation.response_schema(status),
    )


def build_entry(
    method: str,
    url: str,
    request_headers: Headers,
    request_body: bytes | None,
    status: int,
    response_headers: Headers,
    response_body: bytes,
    timings: Timings,
    *,
    redactor: Redactor | None = None,
    prefix: str = "",
    note: str | None = None,
) -> Entry:
    """A sanitised entry from one raw exchange.

    The exchange's credentials are added to ``redactor`` (a session's, so later entries mask
    them too) and masked in this entry; headers are allow-listed, ``?key=`` dropped, images
    replaced by descriptors. ``note`` says why the recorder answered itself (Entry.note).
    """
    redactor = redactor if redactor is not None else Redactor()
    redactor.add(secrets_in_headers(request_headers))
    redactor.add(secrets_in_headers(response_headers))
    redactor.add(secrets_in_url(url))
    method = method.upper()
    clean_url = sanitise_url(url)
    provider, operation, request_contract, response_contract = recognise(
        method, clean_url, status, prefix
    )
    request_mime = _header(request_headers, "content-type")
    response_mime = _header(response_headers, "content-type")
    started = timings.started if timings.started.tzinfo else timings.started.replace(tzinfo=UTC)
    try:
        status_text = HTTPStatus(status).phrase
    except ValueError:
        status_text = ""
    entry = Entry(
        started=started.isoformat(timespec="milliseconds"),
        method=method,
        url=clean_url,
        request_headers=tuple(filter_headers(request_headers)),
        request_mime=request_mime,
        request_text=None if request_body is None else sanitise_body(request_body, request_mime),
        request_size=0 if request_body is None else len(request_body),
        status=status,
        status_text=status_text,
        response_headers=tuple(filter_headers(response_headers)),
        response_mime=response_mime,
        response_text=sanitise_body(response_body, response_mime),
        response_size=len(response_body),
        elapsed_ms=float(timings.elapsed_ms),
        first_byte_ms=None if timings.first_byte_ms is None else float(timings.first_byte_ms),
        provider=provider,
        operation=operation,
        request_contract=request_contract,
        response_contract=response_contract,
        note=note,
    )
    return redact(entry, redactor)


def redact(entry: Entry, redactor: Redactor) -> Entry:
    """The entry with every string masked by the redactor."""
    return Entry.from_har(redactor.value(entry.to_har()))


# --------------------------------------------------------------------------- files


def har_document(entries: Iterable[Entry]) -> dict[str, Any]:
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": CREATOR, "version": _creator_version()},
            "entries": [entry.to_har() for entry in entries],
        }
    }


def har_text(entries: Iterable[Entry]) -> str:
    """The HAR document as JSON text, one entry a line: readable in a diff, and written with
    the C JSON encoder (an indented dump is the pure-Python one, about four times slower, and
    a recording session rewrites its file as it grows)."""
    log = har_document(entries)["log"]
    rows = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in log["entries"])
    version, creator = json.dumps(log["version"]), json.dumps(log["creator"])
    return f'{{"log": {{"version": {version}, "creator": {creator}, "entries": [\n{rows}\n]}}}}\n'


def write_har(path: str | os.PathLike[str], entries: Iterable[Entry]) -> Path:
    """Write a session's entries to ``path`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``. A failure leaves no file or the old one, and
    raises RecordingError (a missing folder, no permission, a full disk)."""
    target = Path(path)
    text = har_text(entries)
    try:
        return write_atomically(target, text)
    except OSError as exc:
        raise RecordingError(f"{target}: cannot be written: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def read_har(path: str | os.PathLike[str]) -> list[Entry]:
    """The entries of one HAR file; RecordingError for a missing, huge, corrupt or foreign file,
    its message one line naming the file (and the entry and field when one is malformed)."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_HAR_BYTES:
            raise RecordingError(
                f"{source}: {size} bytes, more than a recording may hold ({MAX_HAR_BYTES})"
            )
        data = source.read_bytes()
    except FileNotFoundError:
        raise RecordingError(f"{source}: no such file") from None
    except OSError as exc:
        raise RecordingError(f"{source}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte order mark, as some HAR tools write, is fine
    except UnicodeDecodeError as exc:
        raise RecordingError(
            f"{source}: not a HAR file: not UTF-8 text (byte {exc.start})"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordingError(
            f"{source}: not a HAR file: invalid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise RecordingError(f"{source}: not a HAR file: JSON nested too deep") from None
    log = document.get("log") if isinstance(document, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise RecordingError(f"{source}: not a HAR file: no log.entries list")
    read = []
    for index, raw in enumerate(entries):
        try:
            read.append(Entry.from_har(raw))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RecordingError(f"{source}: entry {index} is malformed: {detail}") from None
    return read


def read_recordings(path: str | os.PathLike[str]) -> list[Entry]:
    """The entries of a HAR file, or of every ``*.har`` file in a folder (sorted by name).

    RecordingError for a missing path, a folder without recordings, or a file that is not a
    readable HAR file.
    """
    source = Path(path)
    if source.is_dir():
        found = sorted(source.glob(f"*{HAR_SUFFIX}"))
        if not found:
            raise RecordingError(f"{source}: no {HAR_SUFFIX} files in this folder")
        return [entry for file in found for entry in read_har(file)]
    if not source.exists():
        raise RecordingError(f"{source}: no such file or folder")
    return read_har(source)
