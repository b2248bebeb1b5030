"""The OpenAPI 3.1 document of every emulated operation, generated from the contracts' files.

Nothing here is hand-kept: paths, parameters, security and real servers come from each
provider's ``operations.json``, bodies from its schemas. Each schema becomes
``components/schemas/<provider>.<name>`` and each of its ``$defs`` ``<provider>.<name>.<def>``;
every ``$ref`` (local, or to another file by ``$id``) is rewritten to point there, so the document
is self-contained and readable by tools that know nothing of ``$id``.

An operation whose request schema depends on a path parameter (vibedream's
``/api/v1/models/{model}/generate``) becomes one path per value (``/api/v1/models/z-image-turbo/
generate``), each with its own schema. A ``oneOf`` under the template would not work: the
model is in the path, not the body, so there is nothing for a discriminator to read, and the
request schemas tolerate unknown fields, so a nano-banana-pro-edit body also matches
z-image-turbo's and oneOf rejects it. Separate paths give a code generator one typed method per
model, and give Prism and Schemathesis the exact schema the emulator applies to each path.

Each provider's error schema is a named response (``components/responses/<provider>.<name>``)
used for 4XX and 5XX, so a reader sees which error body which provider sends.
"""

from __future__ import annotations

import copy
import importlib.metadata
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urldefrag, urljoin

import contracts
from contracts import _DATA_KEYWORDS, _PATH_PARAM, _SCHEMA_MAPS, Operation

__all__ = [
    "DEFAULT_SERVER",
    "Sources",
    "build",
    "main",
    "openapi_document",
    "package_sources",
    "with_server",
]

OPENAPI_VERSION = "3.1.0"
_SCHEMA_BASE = "https://imagegen-emulator.dev/contracts/"
_SCHEMAS = "#/components/schemas/"
_RESPONSES = "#/components/responses/"
_JSON = "application/json"
_SSE = "text/event-stream"

# What `imagegen-emulator serve` listens on unless told otherwise; the emulator serving the
# document lists its own address instead.
DEFAULT_SERVER = {
    "url": "http://127.0.0.1:8000",
    "description": "The emulator at its default address (imagegen-emulator serve)",
}
_SERVED_DESCRIPTION = "This emulator"

# The names operations.json uses, as OpenAPI security schemes.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The API key as a bearer token: Authorization: Bearer <key>.",
    },
    "googApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-goog-api-key",
        "description": "A Google API key in the x-goog-api-key header (Gemini API, Vertex AI"
        " express mode).",
    },
    "googApiKeyQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": "A Google API key in the key query parameter (?key=<key>).",
    },
}

PROVIDER_DESCRIPTIONS = {
    "vibedream": "vibedream (seeds 000 and 003): submit a generation, then poll the prediction"
    " until it is completed or failed.",
    "vertex": "A Vertex-AI-compatible gateway (seed 001) and Google's own generateContent paths"
    " (Gemini API, Vertex AI): synchronous; a blocked prompt or image is still HTTP 200.",
    "3daistudio": "3D AI Studio (seed 002): submit a generate or edit task, then poll its status;"
    " credits are charged per image and refunded when a task fails.",
}

_RETRY_AFTER = {
    "description": "Seconds to wait before retrying; sent with 429 (rate limited) and 503.",
    "schema": {"type": "integer", "minimum": 0},
}


@dataclass(frozen=True)
class Sources:
    """What the document is built from: provider -> schema name -> schema, and provider ->
    its operations. ``package_sources()`` reads the contracts package; a test can pass others."""

    schemas: Mapping[str, Mapping[str, Mapping[str, Any]]]
    operations: Mapping[str, Sequence[Operation]]


def package_sources() -> Sources:
    return Sources(
        schemas={
            provider: {
                name: contracts.schema(provider, name) for name in contracts.schema_names(provider)
            }
            for provider in contracts.providers()
        },
        operations={provider: contracts.operations(provider) for provider in contracts.providers()},
    )


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The document for the contracts package, with ``server_url`` (the emulator's base URL)
    as the first server; None lists DEFAULT_SERVER. Built once; each call returns a copy."""
    return with_server(_package_document(), server_url)


@cache
def _package_document() -> dict[str, Any]:
    return build(package_sources())


def with_server(document: Mapping[str, Any], server_url: str | None) -> dict[str, Any]:
    """A copy of ``document`` whose servers start with the emulator at ``server_url``.

    The emulator comes first everywhere: top level, and in each operation's own list, where
    the provider's real base URLs follow it (an operation's servers replace the top level's).
    """
    copied = copy.deepcopy(dict(document))
    if server_url is None:
        emulator = dict(DEFAULT_SERVER)
    else:
        emulator = {"url": server_url.rstrip("/") or "/", "description": _SERVED_DESCRIPTION}
    copied["servers"] = [emulator]
    for path_item in copied["paths"].values():
        for operation in path_item.values():
            operation["servers"] = [dict(emulator), *operation.get("servers", [])]
    return copied


# --------------------------------------------------------------------------- the document


def build(sources: Sources) -> dict[str, Any]:
    """The document for ``sources``, without the emulator's server: with_server adds it."""
    components = _components(sources.schemas)
    used_schemes: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}
    error_responses: dict[str, dict[str, Any]] = {}
    for provider, operations in sources.operations.items():
        for operation in operations:
            for path, operation_object in _operation_objects(provider, operation, sources):
                _add_errors(provider, operation, sources, error_responses)
                path_item = paths.setdefault(path, {})
                method = operation.method.lower()
                if method in path_item:
                    raise ValueError(f"{operation.method} {path} is declared twice")
                path_item[method] = operation_object
                used_schemes.update(operation.security_schemes)
    unknown = used_schemes - set(SECURITY_SCHEMES)
    if unknown:
        raise ValueError(f"unknown security schemes in operations.json: {sorted(unknown)}")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "imagegen-emulator: emulated image-generation APIs",
            "version": _version(),
            "description": (
                "Every operation the emulator serves for vibedream, a Vertex-AI-compatible"
                " gateway (with Google's own generateContent paths) and 3D AI Studio, with the"
                " JSON Schemas (Draft 2020-12) of their requests, answers and errors. Generated"
                " from the contracts package, never hand-kept. Each operation lists the"
                " emulator first and the provider's real base URL after it."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": provider, "description": PROVIDER_DESCRIPTIONS.get(provider, provider)}
            for provider in sources.operations
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": error_responses,
            "securitySchemes": {
                name: dict(scheme)
                for name, scheme in SECURITY_SCHEMES.items()
                if name in used_schemes
            },
        },
    }


def _version() -> str:
    try:
        return importlib.metadata.version("imagegen-emulator")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def _operation_objects(
    provider: str, operation: Operation, sources: Sources
) -> list[tuple[str, dict[str, Any]]]:
    """(path, OpenAPI Operation object) for one operation: one pair, or one per value of the
    path parameter that picks the request schema."""
    if operation.request_param is None:
        body = operation.request_schemas.get("*")
        return [(operation.path, _operation_object(provider, operation, sources, body, None))]
    expanded = []
    for value, schema_name in operation.request_schemas.items():
        path = operation.path.replace("{" + operation.request_param + "}", value)
        expanded.append((path, _operation_object(provider, operation, sources, schema_name, value)))
    return expanded


def _operation_object(
    provider: str,
    operation: Operation,
    sources: Sources,
    request_schema: str | None,
    param_value: str | None,
) -> dict[str, Any]:
    operation_id, summary, description = (
        operation.operation_id,
        operation.summary,
        operation.description,
    )
    if param_value is not None:
        operation_id += _camel(param_value)
        summary = f"{summary} ({param_value})"
        assert request_schema is not None  # request_schemas maps each value to a name
        schema_description = sources.schemas[provider][request_schema].get("description", "")
        description = f"{description}\n\n{schema_description}".strip()
    result: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "tags": [provider],
        "x-contract": {
            "provider": provider,
            "operationId": operation.operation_id,
            "path": operation.path,
        },
    }
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": operation.parameters.get(name, ""),
            "schema": copy.deepcopy(operation.parameter_schemas.get(name, {"type": "string"})),
        }
        for name in _PATH_PARAM.findall(operation.path)
        if name != operation.request_param or param_value is None
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": spec.get("description", ""),
            "schema": copy.deepcopy(spec.get("schema", {"type": "string"})),
        }
        for name, spec in operation.query_parameters.items()
    ]
    if parameters:
        result["parameters"] = parameters
    if request_schema is not None:
        result["requestBody"] = {
            "required": True,
            "description": sources.schemas[provider][request_schema].get("title", ""),
            "content": {
                _JSON: {"schema": {"$ref": _SCHEMAS + _component(provider, request_schema)}},
                # Raw bytes (OpenAPI 3.1: a string schema naming its content's media type).
                **{
                    media: {"schema": {"type": "string", "contentMediaType": media}}
                    for media in operation.raw_media_types
                },
            },
        }
    result["responses"] = _responses(provider, operation, sources)
    if operation.security_schemes:
        # Alternatives: any one of them authenticates the call.
        result["security"] = [{scheme: []} for scheme in operation.security_schemes]
    if operation.servers:
        result["servers"] = [dict(server) for server in operation.servers]
    return result


def _responses(provider: str, operation: Operation, sources: Sources) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema_name in operation.responses.items():
        if _is_error_status(status):
            responses[status] = {"$ref": _RESPONSES + _component(provider, schema_name)}
            continue
        schema = sources.schemas[provider][schema_name]
        ref = {"$ref": _SCHEMAS + _component(provider, schema_name)}
        responses[status] = {
            "description": _describe(schema),
            "content": _streamed_content(ref) if operation.streamed else {_JSON: {"schema": ref}},
        }
        if operation.links:
            # What to call next (poll the job): Schemathesis' stateful tests follow these.
            responses[status]["links"] = copy.deepcopy(operation.links)
    return responses


def _streamed_content(chunk: dict[str, Any]) -> dict[str, Any]:
    """A stream of chunks: a JSON array streamed element by element, or server-sent events
    whose data are chunks (in OpenAPI 3.1 an event stream's schema describes one event)."""
    return {
        _JSON: {"schema": {"type": "array", "items": chunk}},
        _SSE: {
            "schema": {
                "type": "object",
                "description": "One event: data: <chunk JSON>, ended by a blank line.",
                "required": ["data"],
                "properties": {
                    "data": {
                        "type": "string",
                        "contentMediaType": _JSON,
                        "contentSchema": chunk,
                    }
                },
            }
        },
    }


def _add_errors(
    provider: str, operation: Operation, sources: Sources, found: dict[str, dict[str, Any]]
) -> None:
    """One named response per error schema a provider answers with."""
    for status, schema_name in operation.responses.items():
        name = _component(provider, schema_name)
        if not _is_error_status(status) or name in found:
            continue
        schema = sources.schemas[provider][schema_name]
        found[name] = {
            "description": f"{provider} error: {_describe(schema)}",
            "headers": {"Retry-After": copy.deepcopy(_RETRY_AFTER)},
            "content": {_JSON: {"schema": {"$ref": _SCHEMAS + name}}},
        }


def _is_error_status(status: str) -> bool:
    return status[:1] in {"4", "5"}


def _describe(schema: Mapping[str, Any]) -> str:
    """A response's description (OpenAPI requires one): its schema's title and description."""
    parts = [schema.get("title", ""), schema.get("description", "")]
    return ". ".join(part for part in parts if part) or "Response"


def _camel(value: str) -> str:
    """``nano-banana-pro-edit`` -> ``NanoBananaProEdit``, for operation ids."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", value))


# --------------------------------------------------------------------------- schemas


def _component(provider: str, name: str) -> str:
    return f"{provider}.{name}"


def _components(
    schemas: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Every schema and every one of its $defs as a component, refs rewritten."""
    by_id = {
        schema["$id"]: (provider, name)
        for provider, named in schemas.items()
        for name, schema in named.items()
        if "$id" in schema
    }
    components: dict[str, dict[str, Any]] = {}

    def add(key: str, value: dict[str, Any]) -> None:
        if key in components:
            raise ValueError(f"two schemas would both be components/schemas/{key}")
        components[key] = value

    for provider, named in schemas.items():
        for name, original in named.items():
            schema = copy.deepcopy(dict(original))
            own_id = schema.pop("$id", f"{_SCHEMA_BASE}{provider}/{name}.json")
            schema.pop("$schema", None)
            defs = schema.pop("$defs", {})
            rewrite = _ref_rewriter(own_id, by_id, provider, name)
            add(_component(provider, name), _rewrite(schema, rewrite))
            for def_name, definition in defs.items():
                add(f"{_component(provider, name)}.{def_name}", _rewrite(definition, rewrite))
    return components


def _ref_rewriter(
    own_id: str, by_id: Mapping[str, tuple[str, str]], provider: str, name: str
) -> Any:
    def rewrite(ref: str) -> str:
        document, fragment = urldefrag(urljoin(own_id, ref))
        if document == own_id:
            target = (provider, name)
        elif document in by_id:
            target = by_id[document]
        else:
            raise ValueError(f"{provider}/{name}: $ref {ref!r} points outside the contracts")
        base = _component(*target)
        if fragment.startswith("/$defs/"):
            def_name, _, rest = fragment[len("/$defs/") :].partition("/")
            return f"{_SCHEMAS}{base}.{def_name}" + (f"/{rest}" if rest else "")
        return f"{_SCHEMAS}{base}{fragment}"

    return rewrite


def _rewrite(node: Any, rewrite: Any) -> Any:
    """A copy of a schema with every $ref rewritten; refuses what it cannot move safely."""
    if isinstance(node, list):
        return [_rewrite(item, rewrite) for item in node]
    if not isinstance(node, dict):
        return node
    for keyword in ("$id", "$anchor", "$dynamicAnchor", "$defs"):
        if keyword in node:
            # A nested resource or $defs would need its own component: not supported (yet).
            raise ValueError(f"{keyword} inside a schema is not supported by the generator")
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = rewrite(value)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            result[key] = {name: _rewrite(sub, rewrite) for name, sub in value.items()}
        elif key in _DATA_KEYWORDS:
            result[key] = copy.deepcopy(value)
        else:
            result[key] = _rewrite(value, rewrite)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m contracts.openapi [SERVER_URL]``: print the document, for a generator."""
    import json
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        raise SystemExit("usage: python -m contracts.openapi [SERVER_URL] > openapi.json")
    print(json.dumps(openapi_document(args[0] if args else None), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
