"""Drift in recorded traffic: every exchange of a set of HAR files checked against the contracts,
offline (``imagegen-emulator contract-check --recordings DIR``).

Each entry is matched to its operation (the recorder's ``_imagegen.operation``, else the method
and path); the request body is checked against the operation's request schema when the API
accepted it (a 2xx answer: a request the contract refuses and the API refused too is no drift),
and the answer against the schema of its status, every chunk of a streamed one. The findings
are those of the live check (contracts/findings.py), each naming the contract file to change.

The recorder replaced every inline image by a descriptor ``{"_imagegen_image": {"format",
"width", "height", "bytes", "sha256", "thumbnail"}}``. Before a body is checked each descriptor
becomes a placeholder the contract accepts where it stands: the first of ``PLACEHOLDERS`` (short
base64, then a ``data:image/<format>;base64,`` URI) that the schema does not reject at that
path. A descriptor is never reported as drift; a place that accepts neither is checked with the
base64 one, so the finding shows what the contract wants there.

The HAR reading at the end of this module is a stand-in: see ``read_recordings``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import ValidationError

import contracts
from contracts.findings import (
    Finding,
    ProbeResult,
    Report,
    answer_findings,
    contract_file,
    describe,
    schema_findings,
    shown,
    unknown_operation,
)

IMAGE_KEY = "_imagegen_image"
META_KEY = "_imagegen"
PNG_SIGNATURE_BASE64 = "iVBORw0KGgo="  # the 8 bytes every PNG starts with: valid base64
# What a descriptor may stand for, tried in order: the first the contract accepts there wins.
PLACEHOLDERS: tuple[tuple[str, Callable[[Mapping[str, Any]], str]], ...] = (
    ("base64", lambda image: PNG_SIGNATURE_BASE64),
    (
        "data URI",
        lambda image: (
            f"data:image/{str(image.get('format') or 'png').lower()};base64,{PNG_SIGNATURE_BASE64}"
        ),
    ),
)

Location = tuple[str | int, ...]
Label = tuple[str, str, contracts.Operation]


# --------------------------------------------------------------------------- image descriptors


def descriptors(body: object, where: Location = ()) -> Iterator[tuple[Location, Mapping[str, Any]]]:
    """Where ``body`` holds an image descriptor, and the descriptor."""
    if isinstance(body, dict):
        image = body.get(IMAGE_KEY)
        if len(body) == 1 and isinstance(image, dict):
            yield where, image
            return
        for key, value in body.items():
            yield from descriptors(value, (*where, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from descriptors(value, (*where, index))


def substituted(body: object, values: Mapping[Location, str], where: Location = ()) -> Any:
    """A copy of ``body`` with the value at each location of ``values`` replaced."""
    if where in values:
        return values[where]
    if isinstance(body, dict):
        return {key: substituted(value, values, (*where, key)) for key, value in body.items()}
    if isinstance(body, list):
        return [substituted(value, values, (*where, index)) for index, value in enumerate(body)]
    return body


def _rejected(errors: Iterable[ValidationError]) -> Iterator[Location]:
    """Every location an error (or a sub-error of a oneOf/anyOf) points at."""
    for error in errors:
        yield tuple(error.absolute_path)
        yield from _rejected(error.context or ())


def with_placeholders(provider: str, schema: str, body: object) -> Any:
    """``body`` with each image descriptor replaced by the first placeholder that
    ``<provider>/<schema>.json`` accepts at its location (the module docstring)."""
    images = dict(descriptors(body))
    if not images:
        return body
    validator = contracts.validator(provider, schema)
    tries = [{where: make(image) for where, image in images.items()} for _, make in PLACEHOLDERS]
    refused = [set(_rejected(validator.iter_errors(substituted(body, values)))) for values in tries]
    chosen = {
        where: next(
            (values[where] for values, bad in zip(tries, refused, strict=True) if where not in bad),
            tries[0][where],
        )
        for where in images
    }
    return substituted(body, chosen)


# --------------------------------------------------------------------------- one exchange


def _operation(
    meta: Mapping[str, Any], method: str, path: str
) -> tuple[Label, dict[str, str]] | None:
    """The recorded operation when it still exists and serves this path, else the one the
    contracts route ``method path`` to."""
    provider, operation_id = meta.get("provider"), meta.get("operation")
    if provider in contracts.providers() and operation_id:
        for declared in contracts.operations(provider):
            if declared.operation_id != operation_id or declared.method != method:
                continue
            params = declared.match(path)
            if params is None:
                params = declared.match(path + "/")
            if params is not None:
                return (provider, describe(declared), declared), params
    # 3D AI Studio's documented paths end in "/"; a client may call them without it.
    found = contracts.find_operation(method, path) or contracts.find_operation(method, path + "/")
    if found is None:
        return None
    provider, declared, params = found
    return (provider, describe(declared), declared), params


def _request_findings(
    label: Label, params: Mapping[str, str], request: Mapping[str, Any], probe: str
) -> list[Finding]:
    provider, operation, declared = label
    if not declared.request_schemas:
        return []
    schema = declared.request_schema(params)
    if schema is None:  # a path parameter (the model) that names no request schema
        param = declared.request_param or "?"
        return [
            Finding(
                operation,
                None,
                f"(path parameter {param})",
                f"one of {sorted(declared.request_schemas)}",
                shown(params.get(param)),
                probe,
                contract_file(provider),
                "request",
            )
        ]
    post = request.get("postData") or {}
    media_type = str(post.get("mimeType") or "")
    raw = declared.raw_media_types
    if any(media_type.startswith(kind) for kind in raw):
        return []  # bytes (an upload's chunks): nothing the contract describes
    text = post.get("text") or ""
    try:
        body = json.loads(text) if text.strip() else {}  # an empty body: no fields
    except ValueError:
        if raw:
            return []  # an upload's chunk, whatever its Content-Type says (the SDK's: JSON)
        return [
            Finding(
                operation,
                None,
                "$",
                "a JSON body",
                f"{media_type or 'no content type'}: {shown(text)}",
                probe,
                contract_file(provider, schema),
                "request",
            )
        ]
    if raw and dict(descriptors(body)).keys() == {()}:
        return []  # an uploaded image, recorded as its descriptor
    return schema_findings(
        provider,
        schema,
        with_placeholders(provider, schema, body),
        operation=operation,
        status=None,
        probe=probe,
        message="request",
    )


def _content(response: Mapping[str, Any]) -> tuple[str, bytes]:
    """The answer's media type and bytes (HAR content, text or base64)."""
    content = response.get("content") or {}
    text = content.get("text") or ""
    media_type = str(content.get("mimeType") or "")
    if content.get("encoding") == "base64":
        try:
            return media_type, base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return media_type, text.encode("utf-8", errors="replace")
    return media_type, text.encode("utf-8", errors="replace")


def entry_findings(entry: Mapping[str, Any], probe: str = "") -> list[Finding]:
    """Every difference between one recorded exchange and the contracts."""
    request, response = entry["request"], entry["response"]
    meta = entry.get(META_KEY) or {}
    method = str(request["method"]).upper()
    path = urlsplit(str(request["url"])).path
    status = int(response["status"])
    found = _operation(meta, method, path)
    if found is None:
        return [unknown_operation(method, path, status or None, probe, meta.get("provider"))]
    label, params = found
    findings = _request_findings(label, params, request, probe) if 200 <= status < 300 else []
    if status == 0:  # HAR: no answer was received
        return findings
    media_type, content = _content(response)
    if not content and label[2].raw_media_types and 200 <= status < 300:
        return findings  # a resumable upload's step (start, chunk, query): headers only
    return findings + answer_findings(
        method, path, status, media_type, content, probe, found=label, prepare=with_placeholders
    )


# --------------------------------------------------------------------------- a set of files


@dataclass(frozen=True)
class Recording:
    """One HAR file: its name and its entries (HAR 1.2 entries with ``_imagegen``)."""

    name: str
    entries: Sequence[Mapping[str, Any]]


def exchanges(entry: Mapping[str, Any]) -> int:
    """How many exchanges an entry stands for (the recorder collapses repeated polls)."""
    collapsed = (entry.get(META_KEY) or {}).get("collapsed")
    count = collapsed.get("count") if isinstance(collapsed, dict) else None
    return count if isinstance(count, int) and count > 0 else 1


def check_recordings(recordings: Iterable[Recording], source: str) -> Report:
    """The drift report of every entry of every recording: one probe per file."""
    report = Report("recordings", source, subject=f"recorded traffic in {source}", unit="files")
    unanswered = 0
    for recording in recordings:
        before = len(report.findings)
        for index, entry in enumerate(recording.entries):
            report.findings += entry_findings(entry, f"{recording.name} entry {index}")
            unanswered += int(entry["response"]["status"]) == 0
        total = sum(exchanges(entry) for entry in recording.entries)
        outcome = "drift" if len(report.findings) > before else "ok"
        detail = f"{len(recording.entries)} entries"
        if total != len(recording.entries):
            detail += f" ({total} exchanges)"
        report.probes.append(ProbeResult(recording.name, outcome, detail))
    if unanswered:
        report.notes.append(
            f"{unanswered} of the entries had no answer (status 0): they were not checked"
        )
    return report


# --------------------------------------------------------------------------- reading HAR files
# STAND-IN, to be replaced by emulator.recording.har.read_recordings when issue 18's recording
# package is merged: emulator/commands/contract_check.py imports it from here in one line.


class RecordingError(ValueError):
    """A recordings folder that cannot be checked: missing, empty, or a file that is not HAR."""


_ENTRY_FIELDS: tuple[tuple[str, str, type | tuple[type, ...]], ...] = (
    ("request", "method", str),
    ("request", "url", str),
    ("response", "status", int),
)
_BODIES = (("request", "postData"), ("response", "content"))


def read_recordings(path: str | Path) -> list[Recording]:
    """The HAR files (``*.har``) of a folder, or one file, sorted by name."""
    where = Path(path)
    if where.is_file():
        files = [where]
    elif where.is_dir():
        files = sorted(where.glob("*.har"))
        if not files:
            raise RecordingError(f"no HAR files (*.har) in {where}")
    else:
        raise RecordingError(f"no such folder: {where}")
    return [_read_file(file) for file in files]


def _read_file(file: Path) -> Recording:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"cannot read {file}: {exc.__class__.__name__}") from None
    except json.JSONDecodeError as exc:
        raise RecordingError(
            f"{file} is not JSON (line {exc.lineno}): corrupt or cut short"
        ) from None
    log = data.get("log") if isinstance(data, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        raise RecordingError(f"{file} is not a HAR file (no log.entries)")
    if log.get("version") not in ("1.1", "1.2"):
        raise RecordingError(f"{file}: HAR version {log.get('version')!r}, expected '1.2'")
    for index, entry in enumerate(log["entries"]):
        for part, name, kind in _ENTRY_FIELDS:
            section = entry.get(part) if isinstance(entry, dict) else None
            value = section.get(name) if isinstance(section, dict) else None
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RecordingError(f"{file}: entry {index} has no {part}.{name}")
        for part, body in _BODIES:
            text = (entry[part].get(body) or {}).get("text")
            if text is not None and not isinstance(text, str):
                raise RecordingError(f"{file}: entry {index}: {part}.{body}.text is not text")
    return Recording(file.name, log["entries"])
