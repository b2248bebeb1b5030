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

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import contracts
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
        """An entry from its HAR object; raises KeyError/TypeError/ValueError when malformed.

        An entry without ``_imagegen`` (a HAR saved by a browser) is recognised from its URL.
        """
        request, response = raw["request"], raw["response"]
        content = response.get("content") or {}
        post = request.get("postData")
        ours = raw.get("_imagegen")
        method, url, status = (
            str(request["method"]).upper(),
            str(request["url"]),
            response["status"],
        )
        if not isinstance(status, int):
            raise TypeError("response.status is not an integer")
        if ours is None:
            provider, operation, request_contract, response_contract = recognise(
                method, url, status
            )
            elapsed, first_byte, collapsed = float(raw.get("time", 0)), None, None
            note = None
        else:
            provider, operation = ours["provider"], ours["operation"]
            request_contract = ours["contracts"]["request"]
            response_contract = ours["contracts"]["response"]
            elapsed, first_byte = float(ours["elapsed_ms"]), ours.get("first_byte_ms")
            folded = ours.get("collapsed")
            collapsed = (
                None
                if folded is None
                else Collapsed(int(folded["count"]), str(folded["first"]), str(folded["last"]))
            )
            note = None if ours.get("note") is None else str(ours["note"])
        return cls(
            started=str(raw["startedDateTime"]),
            method=method,
            url=url,
            request_headers=_pairs(request.get("headers", [])),
            request_mime=str(post.get("mimeType", "")) if post else "",
            request_text=None if not post else str(post.get("text", "")),
            request_size=int(request.get("bodySize", -1)),
            status=status,
            status_text=str(response.get("statusText", "")),
            response_headers=_pairs(response.get("headers", [])),
            response_mime=str(content.get("mimeType", "")),
            response_text=str(content.get("text", "")),
            response_size=int(content.get("size", -1)),
            elapsed_ms=elapsed,
            first_byte_ms=None if first_byte is None else float(first_byte),
            provider=provider,
            operation=operation,
            request_contract=request_contract,
            response_contract=response_contract,
            collapsed=collapsed,
            http_version=str(request.get("httpVersion", _HTTP_VERSION)),
            note=note,
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


def _pairs(raw: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(header["name"]), str(header["value"])) for header in raw)


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
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        raise RecordingError(f"{target}: cannot be written: {_reason(exc)}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise RecordingError(f"{target}: cannot be written: {_reason(exc)}") from None
        raise
    return target


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def read_har(path: str | os.PathLike[str]) -> list[Entry]:
    """The entries of one HAR file; RecordingError for a missing, corrupt or foreign file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordingError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{source}: cannot be read ({type(exc).__name__})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordingError(
            f"{source}: not a HAR file: invalid JSON at line {exc.lineno} column {exc.colno}"
        ) from None
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
