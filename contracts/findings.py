"""Differences between what a provider answered and what its contract says, and the report
that lists them.

A ``Finding`` is one field that differs: the operation, the HTTP status, the JSON path, what the
contract expects and what came back. ``response_findings`` gives every difference of one
answer (jsonschema's ``iter_errors``: all of them, not only the first), ``image_findings`` those
of a downloaded image against what was asked. ``Report`` collects them with the outcome of each
probe and renders readable text, one line per differing field, grouped by operation.
"""

from __future__ import annotations

import dataclasses
import io
import json
import reprlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from jsonschema.exceptions import ValidationError

import contracts
from contracts import error_path
from contracts.streams import parsed_chunks

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 4
_SHORT.maxdict = 4
_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}
STATUS_PATH = "(status)"  # the path of a finding about the HTTP status itself
BODY_PATH = "$"
IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
Message = Literal["request", "response"]
# Edits a body before it is checked against <provider>/<schema>.json (a recorded body's image
# descriptors become placeholders, contracts/recorded.py).
Prepare = Callable[[str, str, Any], Any]


def contract_file(provider: str | None, schema: str | None = None) -> str:
    """The contract file a finding asks to change: a schema, or the operations table."""
    name = f"{schema}.json" if schema else "operations.json"
    return f"contracts/{provider or '<provider>'}/{name}"


@dataclass(frozen=True)
class Finding:
    """One field that differs from the contract."""

    operation: str  # "getPrediction (GET /api/v1/predictions/{id})", or what was fetched
    status: int | None
    path: str  # JSON path in the body ("$.outputs[0]"), STATUS_PATH, or "$" for all of it
    expected: str
    actual: str
    probe: str = ""
    contract: str = ""  # the file to change to accept it: "contracts/vertex/response.json"
    message: Message = "response"  # which message differs

    def line(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        side = "request " if self.message == "request" else ""
        return f"{side}{status}{self.path}: expected {self.expected}; got {self.actual}"


def shown(value: object) -> str:
    """A value as the report shows it: short, with its JSON type."""
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{_SHORT.repr(value)} ({kind})"


def expectation(error: ValidationError) -> str:
    """What the contract wants, in words, from the failing keyword."""
    keyword, value = error.validator, error.validator_value
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if keyword == "required":
        return "the property, which is required"
    if keyword == "additionalProperties":
        return "no such property (the contract allows no others)"
    if keyword == "type":
        return f"type {' or '.join(value) if isinstance(value, list) else value}"
    if keyword == "enum":
        return f"one of {_SHORT.repr(value)}"
    if keyword == "const":
        return f"exactly {value!r}"
    if keyword == "pattern":
        return f"a string matching {value}"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{keyword} {value}"
    if keyword in ("minItems", "maxItems", "minLength", "maxLength"):
        return f"{keyword} {value}"
    if isinstance(custom, str):
        return custom
    return f"{keyword}: {error.message}"


def observed(error: ValidationError) -> str:
    if error.validator == "required":
        return "nothing (missing)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        path = error_path(error)
        key = path.rsplit(".", 1)[-1] if "." in path else path
        if key in error.instance:
            return shown(error.instance[key])
    return shown(error.instance)


def operation_label(method: str, path: str) -> tuple[str, str, Any] | None:
    """(provider, "operationId (METHOD /path/{param})", Operation) serving ``method path``."""
    # 3D AI Studio's documented paths end in "/"; a target may answer without it.
    found = contracts.find_operation(method, path) or contracts.find_operation(method, path + "/")
    if found is None:
        return None
    provider, operation, _ = found
    return provider, describe(operation), operation


def describe(operation: contracts.Operation) -> str:
    """The report's name for an operation: "operationId (METHOD /path/{param})"."""
    return f"{operation.operation_id} ({operation.method} {operation.path})"


def operation_name(method: str, path: str) -> str:
    """The report's name for the operation serving ``method path`` (a template works too)."""
    label = operation_label(method, path)
    return label[1] if label else f"{method} {path}"


def schema_findings(
    provider: str,
    schema: str,
    body: object,
    *,
    operation: str,
    status: int | None,
    probe: str,
    message: Message = "response",
) -> list[Finding]:
    """Every difference between ``body`` and ``<provider>/<schema>.json``."""
    errors = sorted(
        contracts.validator(provider, schema).iter_errors(body), key=lambda e: list(e.path)
    )
    where = contract_file(provider, schema)
    return [
        Finding(
            operation,
            status,
            error_path(error),
            expectation(error),
            observed(error),
            probe,
            where,
            message,
        )
        for error in errors
    ]


def response_findings(response: httpx.Response, probe: str = "") -> list[Finding]:
    """Every difference between one answer and the contract of its operation and status."""
    request = response.request
    return answer_findings(
        request.method,
        request.url.path,
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
        probe,
    )


def unknown_operation(
    method: str, path: str, status: int | None, probe: str = "", provider: str | None = None
) -> Finding:
    return Finding(
        f"{method} {path}",
        status,
        STATUS_PATH,
        "a path of the contract",
        "a path no operation declares",
        probe,
        contract_file(provider),
    )


def answer_findings(
    method: str,
    path: str,
    status: int,
    content_type: str,
    content: bytes,
    probe: str = "",
    *,
    found: tuple[str, str, Any] | None = None,
    prepare: Prepare | None = None,
) -> list[Finding]:
    """Every difference between an answer (its status, media type and bytes) to ``method
    path`` and the contract of that operation (``found``: an ``operation_label``, else looked
    up from the path) for that status; ``prepare`` edits each body before it is checked."""
    label = found or operation_label(method, path)
    if label is None:
        return [unknown_operation(method, path, status, probe)]
    provider, operation, declared = label
    schema = declared.response_schema(status)
    if schema is None:
        return [
            Finding(
                operation,
                status,
                STATUS_PATH,
                f"a declared status ({', '.join(declared.responses)})",
                str(status),
                probe,
                contract_file(provider),
            )
        ]
    text = content.decode("utf-8", errors="replace")
    kind = content_type or "no content type"
    if declared.streamed and 200 <= status < 300:
        chunks = parsed_chunks(content_type, content)
        if chunks is None:
            expected = "a stream of JSON chunks (SSE data events, or one JSON array)"
            return [
                Finding(
                    operation,
                    status,
                    BODY_PATH,
                    expected,
                    f"{kind}: {shown(text)}",
                    probe,
                    contract_file(provider, schema),
                )
            ]
        return [
            dataclasses.replace(finding, path=f"$[{index}]{finding.path.removeprefix('$')}")
            for index, chunk in enumerate(chunks)
            for finding in schema_findings(
                provider,
                schema,
                prepare(provider, schema, chunk) if prepare else chunk,
                operation=operation,
                status=status,
                probe=probe,
            )
        ]
    try:
        body = json.loads(content)
    except ValueError:
        return [
            Finding(
                operation,
                status,
                BODY_PATH,
                "a JSON body",
                f"{kind}: {shown(text)}",
                probe,
                contract_file(provider, schema),
            )
        ]
    if prepare:
        body = prepare(provider, schema, body)
    return schema_findings(provider, schema, body, operation=operation, status=status, probe=probe)


_NOT_JSON = object()


def json_body(response: httpx.Response) -> Any:
    """The parsed body, or ``_NOT_JSON``."""
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def is_json(value: object) -> bool:
    return value is not _NOT_JSON


def image_findings(
    data: bytes,
    *,
    expected_format: str,
    expected_size: tuple[int, int],
    operation: str,
    where: str,
    probe: str,
    status: int | None = 200,
) -> list[Finding]:
    """Whether ``data`` is an image of the asked format (png, jpeg, webp) and size."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = IMAGE_FORMATS.get(image.format or "", (image.format or "unknown").lower())
            size = image.size
    except (UnidentifiedImageError, OSError):
        return [
            Finding(
                operation,
                status,
                where,
                f"a {expected_format} image",
                f"{len(data)} bytes that are not an image",
                probe,
            )
        ]
    findings = []
    if fmt != expected_format:
        findings.append(Finding(operation, status, where, f"format {expected_format}", fmt, probe))
    if size != expected_size:
        want = f"{expected_size[0]}x{expected_size[1]} pixels"
        findings.append(
            Finding(operation, status, where, want, f"{size[0]}x{size[1]} pixels", probe)
        )
    return findings


# --------------------------------------------------------------------------- the report

Outcome = Literal["ok", "drift", "skipped", "error"]


@dataclass(frozen=True)
class ProbeResult:
    name: str
    outcome: Outcome
    detail: str = ""


@dataclass
class Report:
    """What a contract check found against one provider at one base URL."""

    provider: str
    base_url: str
    findings: list[Finding] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spending: str | None = None
    # What was checked, when not a provider at a URL ("recorded traffic in recordings/"), and
    # what its probes are called ("files": one per HAR file of recorded traffic).
    subject: str = ""
    unit: str = "probes"

    @property
    def conforms(self) -> bool:
        """No field differs and every probe that ran completed."""
        return not self.findings and all(p.outcome in ("ok", "skipped") for p in self.probes)

    def differences(self) -> Iterator[tuple[str, list[tuple[Finding, int]]]]:
        """Findings grouped by operation, in order of appearance; repeats counted once."""
        counts = Counter(
            (f.operation, f.status, f.path, f.expected, f.actual) for f in self.findings
        )
        seen: set[tuple[object, ...]] = set()
        groups: dict[str, list[tuple[Finding, int]]] = {}
        for finding in self.findings:
            key = (
                finding.operation,
                finding.status,
                finding.path,
                finding.expected,
                finding.actual,
            )
            if key in seen:
                continue
            seen.add(key)
            groups.setdefault(finding.operation, []).append((finding, counts[key]))
        yield from groups.items()

    def render(self) -> str:
        lines = [f"contract check: {self.subject or f'{self.provider} at {self.base_url}'}"]
        lines += [f"note: {note}" for note in self.notes]
        differences = list(self.differences())
        if differences:
            lines += ["", "fields that differ from the contract:"]
            for operation, findings in differences:
                lines.append(f"  {operation}")
                for finding, count in findings:
                    repeat = f" (x{count})" if count > 1 else ""
                    probe = f"  [{finding.probe}]" if finding.probe else ""
                    change = f"  -> {finding.contract}" if finding.contract else ""
                    lines.append(f"    {finding.line()}{repeat}{probe}{change}")
        lines += ["", f"{self.unit}:"]
        width = max((len(p.outcome) for p in self.probes), default=0)
        for probe in self.probes:
            detail = f": {probe.detail}" if probe.detail else ""
            lines.append(f"  {probe.outcome:<{width}}  {probe.name}{detail}")
        if self.spending:
            lines += ["", self.spending]
        lines.append("")
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        ran = sum(p.outcome != "skipped" for p in self.probes)
        skipped = len(self.probes) - ran
        tail = f", {skipped} skipped" if skipped else ""
        if self.conforms:
            return f"result: CONFORMS ({ran} {self.unit}{tail}, no field differs)"
        fields = len(list(dict.fromkeys((f.operation, f.path) for f in self.findings)))
        errors = sum(p.outcome == "error" for p in self.probes)
        trouble = f"{fields} field(s) differ" + (f", {errors} probe(s) failed" if errors else "")
        return f"result: DRIFT ({trouble}; {ran} {self.unit}{tail})"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON data (``--format json``): every distinct finding with its count,
        every probe, the notes and the verdict."""
        return {
            "subject": self.subject or f"{self.provider} at {self.base_url}",
            "provider": self.provider,
            "base_url": self.base_url,
            "conforms": self.conforms,
            "verdict": self.verdict(),
            "findings": [
                {**dataclasses.asdict(finding), "count": count}
                for _, findings in self.differences()
                for finding, count in findings
            ],
            "unit": self.unit,
            "probes": [dataclasses.asdict(probe) for probe in self.probes],
            "notes": list(self.notes),
            "spending": self.spending,
        }
