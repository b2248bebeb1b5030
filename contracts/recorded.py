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

The HAR reading at the end of this module (``Entry``, ``read_har``, ``read_recordings``,
``RecordingError``) is a stand-in with the API of ``emulator.recording.har``; the check itself
reads entries only through ``RecordedEntry``, which that package's ``Entry`` satisfies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
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
HAR_SUFFIX = ".har"
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


class RecordedEntry(Protocol):
    """What the check reads of a recorded exchange: emulator.recording.har.Entry has it."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def request_mime(self) -> str: ...
    @property
    def request_text(self) -> str | None: ...
    @property
    def response_mime(self) -> str: ...
    @property
    def response_text(self) -> str: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def operation(self) -> str | None: ...
    @property
    def collapsed(self) -> Any: ...  # None, or what has a ``count`` of exchanges


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
    provider: str | None, operation_id: str | None, method: str, path: str
) -> tuple[Label, dict[str, str]] | None:
    """The recorded operation when it still exists and serves this path, else the one the
    contracts route ``method path`` to."""
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
    label: Label, params: Mapping[str, str], entry: RecordedEntry, probe: str
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
    media_type = entry.request_mime
    raw = declared.raw_media_types
    if any(media_type.startswith(kind) for kind in raw):
        return []  # bytes (an upload's chunks): nothing the contract describes
    text = entry.request_text or ""
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


def is_download(entry: RecordedEntry) -> bool:
    """A GET answered with an image, recorded as its descriptor: an output file fetched
    through the recorder (``record --record-downloads``), at a path no operation declares."""
    if entry.method.upper() != "GET" or not 200 <= entry.status < 300:
        return False
    try:
        body = json.loads(entry.response_text)
    except ValueError:
        return False
    return dict(descriptors(body)).keys() == {()}


def entry_findings(entry: RecordedEntry, probe: str = "") -> list[Finding]:
    """Every difference between one recorded exchange and the contracts."""
    method, path, status = entry.method.upper(), urlsplit(entry.url).path, entry.status
    found = _operation(entry.provider, entry.operation, method, path)
    if found is None:
        if is_download(entry):
            return []  # an output file (--record-downloads): no contract describes a file
        return [unknown_operation(method, path, status or None, probe, entry.provider)]
    label, params = found
    findings = []
    if 200 <= status < 300:
        findings = _request_findings(label, params, entry, probe)
    if status == 0:  # HAR: no answer was received
        return findings
    content = entry.response_text.encode("utf-8", errors="replace")
    if not content and label[2].raw_media_types and 200 <= status < 300:
        return findings  # a resumable upload's step (start, chunk, query): headers only
    return findings + answer_findings(
        method,
        path,
        status,
        entry.response_mime,
        content,
        probe,
        found=label,
        prepare=with_placeholders,
    )


# --------------------------------------------------------------------------- a set of files


def exchanges(entry: RecordedEntry) -> int:
    """How many exchanges an entry stands for (the recorder collapses repeated polls)."""
    return entry.collapsed.count if entry.collapsed is not None else 1


def check_recordings(sessions: Mapping[str, Sequence[RecordedEntry]], source: str) -> Report:
    """The drift report of every entry of every session (a HAR file's name and its entries):
    one probe per session."""
    report = Report("recordings", source, subject=f"recorded traffic in {source}", unit="files")
    unanswered = 0
    for name, entries in sessions.items():
        before = len(report.findings)
        for index, entry in enumerate(entries):
            report.findings += entry_findings(entry, f"{name} entry {index}")
            unanswered += entry.status == 0
        total = sum(exchanges(entry) for entry in entries)
        outcome = "drift" if len(report.findings) > before else "ok"
        detail = f"{len(entries)} entries"
        if total != len(entries):
            detail += f" ({total} exchanges)"
        report.probes.append(ProbeResult(name, outcome, detail))
    if unanswered:
        report.notes.append(
            f"{unanswered} of the entries had no answer (status 0): they were not checked"
        )
    return report


# --------------------------------------------------------------------------- a folder of files


def sessions(
    path: str | Path,
    read_har: Callable[[Path], Sequence[RecordedEntry]],
    read_recordings: Callable[[Path], Sequence[RecordedEntry]],
) -> dict[str, Sequence[RecordedEntry]]:
    """Each HAR file's name and entries: those of a folder, or one file. The readers are
    passed in so the command picks them in one import (``read_recordings`` raises the
    errors of a missing path or a folder without recordings)."""
    source = Path(path)
    files = sorted(source.glob(f"*{HAR_SUFFIX}")) if source.is_dir() else []
    if not files:
        return {source.name: read_recordings(source)}
    return {file.name: read_har(file) for file in files}
