"""JSON Schema contracts of the emulated providers, and a small API to use them.

Each provider is a sub-folder holding one Draft 2020-12 schema per message (``<name>.json``)
and an ``operations.json`` table of its HTTP operations. The emulator validates requests and
reads defaults from here; the tests validate every response against the same files, so the
emulator and its contract cannot drift apart. The OpenAPI document is generated from these
files too, never hand-kept (``openapi_document()``, built in contracts/openapi.py). A property
may carry an ``errorMessage`` (the ajv-errors convention): it replaces jsonschema's wording when
that property fails, e.g. a blank prompt.

Typical use::

    import contracts

    contracts.validate("vibedream", "request.z-image-turbo", body)   # raises ContractError
    params = contracts.defaults("vibedream", "request.z-image-turbo") | body
    found = contracts.find_operation("GET", "/api/v1/predictions/abc")
    document = contracts.openapi_document("http://127.0.0.1:8000")   # OpenAPI 3.1
"""

from __future__ import annotations

import copy
import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "ContractError",
    "Operation",
    "defaults",
    "error_path",
    "find_operation",
    "is_valid",
    "openapi_document",
    "operations",
    "providers",
    "schema",
    "schema_names",
    "validate",
    "validator",
]

_OPERATIONS_FILE = "operations.json"
# Key of Operation.request_schemas when an operation has one request schema for every call.
_ANY = "*"
# Same rule jsonschema uses for ValidationError.json_path, so our paths read the same.
_PLAIN_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# jsonschema puts repr(instance) in its messages: a multi-megabyte data: URI would otherwise
# end up verbatim in an HTTP error body.
_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = 4
_SHORT.maxdict = 4
_MAX_MESSAGE = 500


class ContractError(ValueError):
    """An instance does not match its contract.

    ``path`` is the JSON path of the offending value (``$.outputs[0]``); for a missing or an
    unexpected property it names that property (``$.prompt``). ``field`` is the same path
    without the ``$.`` prefix (``images[2]``), or None when the whole document is to blame: it
    is what an error body's ``field`` wants. ``keyword`` is the failing schema keyword
    (``required``, ``enum``, ...). ``errors`` holds every jsonschema error, best match first.
    """

    def __init__(
        self, message: str, *, path: str, keyword: str, errors: list[ValidationError]
    ) -> None:
        super().__init__(message)
        self.path = path
        self.keyword = keyword
        self.errors = errors

    @property
    def field(self) -> str | None:
        if self.path == "$":
            return None
        return self.path[2:] if self.path.startswith("$.") else self.path[1:]


# --------------------------------------------------------------------------- loading


@cache
def _index() -> dict[str, dict[str, Traversable]]:
    """Provider -> schema name -> file, scanned once.

    Every public lookup goes through this table, so a name taken from a request (a model id,
    say) can never reach the file system.
    """
    found: dict[str, dict[str, Traversable]] = {}
    for folder in sorted(files(__name__).iterdir(), key=lambda entry: entry.name):
        if not folder.is_dir():
            continue
        schemas = {
            entry.name.removesuffix(".json"): entry
            for entry in folder.iterdir()
            if entry.is_file() and entry.name.endswith(".json") and entry.name != _OPERATIONS_FILE
        }
        if schemas:
            found[folder.name] = dict(sorted(schemas.items()))
    return found


def _file(provider: str, name: str) -> Traversable:
    try:
        return _index()[provider][name]
    except KeyError:
        raise KeyError(f"no contract {name!r} for provider {provider!r}") from None


@cache
def _load(provider: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(_file(provider, name).read_text(encoding="utf-8"))
    return loaded


@cache
def _registry() -> Registry:
    """Every schema of every provider, keyed by its $id, so $ref works across files."""
    resources = []
    for provider, names in _index().items():
        for name in names:
            contents = _load(provider, name)
            resource = Resource.from_contents(contents, default_specification=DRAFT202012)
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources).crawl()


def providers() -> list[str]:
    """Provider ids that have schemas (the sub-folders of this package)."""
    return list(_index())


def schema_names(provider: str) -> list[str]:
    """Names of every schema of a provider (its files, without ``.json``), sorted."""
    try:
        return list(_index()[provider])
    except KeyError:
        raise KeyError(f"unknown provider {provider!r}") from None


def schema(provider: str, name: str) -> dict[str, Any]:
    """The schema ``<provider>/<name>.json`` (name without ``.json``).

    Loaded once; each call returns a deep copy, so a caller that edits it (the OpenAPI builder,
    say) cannot corrupt the validators.
    """
    return copy.deepcopy(_load(provider, name))


@cache
def validator(provider: str, name: str) -> Validator:
    """A cached Draft 2020-12 validator for ``<provider>/<name>.json``."""
    contents = _load(provider, name)
    # Fail loudly on a broken schema rather than validate against something meaningless.
    Draft202012Validator.check_schema(contents)
    return Draft202012Validator(contents, registry=_registry())


@cache
def _compiled(provider: str, name: str) -> Any:
    # Generated Python code: ~15x faster than jsonschema on the hot path. use_default=False, or
    # it would write defaults into the caller's data; formats off, as jsonschema has them off.
    # A copy: fastjsonschema rewrites the $refs of the schema it is given to absolute URIs.
    def compile_schema(detailed_exceptions: bool) -> Any:
        return fastjsonschema.compile(
            _without_annotations(copy.deepcopy(_load(provider, name))),
            use_default=False,
            use_formats=False,
            detailed_exceptions=detailed_exceptions,
            # A $ref to another contract file is read from the package, never fetched.
            handlers={"https": _by_id},
        )

    try:
        return compile_schema(detailed_exceptions=False)
    except KeyError:
        # fastjsonschema (2.22) cannot generate `const` without detailed exceptions; they only
        # cost time when an instance fails.
        return compile_schema(detailed_exceptions=True)


def _by_id(uri: str) -> dict[str, Any]:
    """The contract a cross-file $ref names, for fastjsonschema, which would otherwise fetch
    the $id's URL: a schema refers to another by its file name, resolved against its $id."""
    for provider, names in _index().items():
        for name in names:
            if _load(provider, name)["$id"] == uri:
                return _without_annotations(copy.deepcopy(_load(provider, name)))
    raise KeyError(f"no contract has the $id {uri!r}")


# Draft 2020-12 makes these annotations; fastjsonschema would assert contentEncoding (and
# refuse the providers' own "<base64>" placeholders, which jsonschema accepts).
_ANNOTATIONS = ("contentEncoding", "contentMediaType")
# Keywords whose values are data, not schemas: a "$ref" or a "contentEncoding" in an example
# is left as it is.
_DATA_KEYWORDS = frozenset({"examples", "enum", "const", "default"})
# Keywords whose values map names to schemas: a property may be called "enum".
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})


def _without_annotations(node: Any) -> Any:
    """The schema (edited in place) without the keywords jsonschema does not assert."""
    if isinstance(node, list):
        for item in node:
            _without_annotations(item)
    elif isinstance(node, dict):
        for keyword in _ANNOTATIONS:
            # Only as a keyword: a property may be called "contentEncoding".
            if isinstance(node.get(keyword), str):
                del node[keyword]
        for key, value in node.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                for subschema in value.values():
                    _without_annotations(subschema)
            elif key not in _DATA_KEYWORDS:
                _without_annotations(value)
    return node


def is_valid(provider: str, name: str, instance: object) -> bool:
    """A fast yes/no for hot paths. jsonschema (validator(), validate()) stays the reference:
    call it to explain a False, and treat its verdict as final if the two ever disagree."""
    try:
        _compiled(provider, name)(instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate(provider: str, name: str, instance: object) -> None:
    """Raise ContractError unless ``instance`` matches ``<provider>/<name>.json``."""
    errors = list(validator(provider, name).iter_errors(instance))
    if not errors:
        return
    best = best_match(errors)
    assert best is not None  # errors is not empty
    path = error_path(best)
    rest = [error for error in errors if error is not best]
    raise ContractError(
        f"{path}: {_short_message(best)}",
        path=path,
        keyword=str(best.validator),
        errors=[best, *rest],
    )


def defaults(provider: str, name: str) -> dict[str, object]:
    """The ``default`` of each top-level property that has one, e.g. request parameters."""
    properties = _load(provider, name).get("properties", {})
    return {
        key: copy.deepcopy(spec["default"])
        for key, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec
    }


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def error_path(error: ValidationError) -> str:
    """JSON path of the error; for required/additionalProperties, of the property involved."""
    path = error.json_path
    instance = error.instance
    if not isinstance(instance, dict):
        return path
    if error.validator == "required":
        # jsonschema yields one error per missing property; its message starts with the name.
        missing = [key for key in error.validator_value if key not in instance]
        for key in missing:
            if error.message.startswith(repr(key)):
                return _join(path, key)
    elif error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        for key in instance:
            if key not in known and not any(p.search(key) for p in patterns):
                return _join(path, key)
    return path


def _short_message(error: ValidationError) -> str:
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):
        # A schema may word its own failure (the ajv-errors convention the emulator follows).
        return custom
    message = error.message
    full = repr(error.instance)
    if len(full) > _SHORT.maxstring:
        message = message.replace(full, _SHORT.repr(error.instance))
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of a provider, from its ``operations.json``.

    ``request_schemas`` maps a value of the path parameter ``request_param`` (the model, for
    vibedream) to the request schema's name; an operation with a single request schema has
    ``request_param`` None and the key ``"*"``; one without a body has no entries.
    ``responses`` maps a status code or a class (``"4XX"``) to the response schema's name.
    ``security`` names the preferred security scheme (``bearer``, ``googApiKey``,
    ``googApiKeyQuery``), ``security_schemes`` every scheme accepted, preferred first.
    ``servers`` are the provider's real base URLs for this operation (OpenAPI Server objects).
    ``parameter_schemas`` maps a path parameter to its JSON Schema, when the table gives one
    (the model ids a path accepts, say). ``links`` are OpenAPI Link objects of the success
    response: which operation to call next with what (poll the job this submit started).
    ``query_parameters`` are the query parameters it reads; a ``streamed`` operation answers
    a stream of chunks, each validating against its success schema.
    ``raw_media_types``: media types the body may be sent in as raw bytes instead (an upload's
    chunks, ``application/octet-stream``).
    """

    operation_id: str
    method: str
    path: str
    summary: str
    security: str | None
    request_schemas: dict[str, str]
    request_param: str | None
    responses: dict[str, str]
    description: str = ""
    # Path parameter name -> its description (for the OpenAPI document).
    parameters: dict[str, str] = field(default_factory=dict)
    security_schemes: tuple[str, ...] = ()
    servers: tuple[dict[str, Any], ...] = ()
    parameter_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Query parameter name -> {"description": ..., "schema": {...}}.
    query_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The success response is a stream of `responses["200"]` chunks (SSE or a JSON array).
    streamed: bool = False
    # Media types the request body may also be sent as raw bytes (an upload's chunks).
    raw_media_types: tuple[str, ...] = ()

    def response_schema(self, status: int) -> str | None:
        """Schema name for a response status: the exact code first, then its class."""
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in self.responses:
                return self.responses[key]
        return None

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters of ``path`` when this operation's template matches it."""
        found = _compile(self.path).fullmatch(path)
        return None if found is None else found.groupdict()

    def request_schema(self, path_params: Mapping[str, str] | None = None) -> str | None:
        """Schema name for the request body, given the call's path parameters.

        None when the operation takes no body or the parameter names no known schema (an
        unknown model, say).
        """
        if self.request_param is None:
            return self.request_schemas.get(_ANY)
        value = (path_params or {}).get(self.request_param)
        return None if value is None else self.request_schemas.get(value)


def _parameter_schema(provider: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A path parameter's JSON Schema, as given, or the one a lone ``{"$ref": "<file>.json#/<
    pointer>"}`` names among the provider's schemas, copied in: one list of model ids that
    every operation taking a model shares, so a new model is one entry, not one per path."""
    ref = spec.get("$ref")
    if set(spec) != {"$ref"} or not isinstance(ref, str):
        return dict(spec)
    name, _, pointer = ref.partition("#")
    node: Any = _load(provider, name.removesuffix(".json"))
    for token in pointer.strip("/").split("/") if pointer.strip("/") else ():
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return {key: copy.deepcopy(value) for key, value in node.items() if key != "$comment"}


def _operation(raw: Mapping[str, Any], provider: str) -> Operation:
    request = raw.get("request") or {}
    if "schema" in request:
        request_schemas, request_param = {_ANY: request["schema"]}, None
    else:
        request_schemas = dict(request.get("schemas", {}))
        request_param = request.get("by_path_param")
    # One scheme ("bearer") or the accepted ones, preferred first.
    security = raw.get("security")
    schemes = (security,) if isinstance(security, str) else tuple(security or ())
    # A parameter is its description, or {"description": ..., "schema": {...}}.
    parameters = {
        name: spec if isinstance(spec, str) else spec.get("description", "")
        for name, spec in raw.get("parameters", {}).items()
    }
    parameter_schemas = {
        name: _parameter_schema(provider, spec["schema"])
        for name, spec in raw.get("parameters", {}).items()
        if isinstance(spec, dict) and "schema" in spec
    }
    return Operation(
        operation_id=raw["operationId"],
        method=raw["method"].upper(),
        path=raw["path"],
        summary=raw.get("summary", ""),
        security=schemes[0] if schemes else None,
        request_schemas=request_schemas,
        request_param=request_param,
        responses=dict(raw["responses"]),
        description=raw.get("description", ""),
        parameters=parameters,
        security_schemes=schemes,
        servers=tuple(raw.get("servers", ())),
        parameter_schemas=parameter_schemas,
        links=dict(raw.get("links", {})),
        query_parameters={name: dict(spec) for name, spec in raw.get("query", {}).items()},
        streamed=bool(raw.get("streamed", False)),
        raw_media_types=tuple(request.get("raw", ())),
    )


@cache
def _operations(provider: str) -> tuple[Operation, ...]:
    if provider not in _index():
        raise KeyError(f"unknown provider {provider!r}")
    table = files(__name__) / provider / _OPERATIONS_FILE
    if not table.is_file():
        return ()
    raws = json.loads(table.read_text(encoding="utf-8"))
    return tuple(_operation(raw, provider) for raw in raws)


def operations(provider: str) -> list[Operation]:
    """The operations of a provider, in the order of its ``operations.json``."""
    return list(_operations(provider))


def _compile(template: str) -> re.Pattern[str]:
    """``/a/{id}/b`` -> a regex with one named group per parameter, each one path segment."""
    parts = _PATH_PARAM.split(template)
    # re.split with one group alternates literal text (even) and parameter names (odd).
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(regex)


@cache
def _routes() -> tuple[tuple[str, Operation, re.Pattern[str]], ...]:
    routes = [
        (provider, operation, _compile(operation.path))
        for provider in _index()
        for operation in _operations(provider)
    ]
    # Fewer parameters first, so a literal path wins over a template that also matches it.
    routes.sort(key=lambda route: route[2].groups)
    return tuple(routes)


def find_operation(method: str, path: str) -> tuple[str, Operation, dict[str, str]] | None:
    """Find the operation serving ``method path`` (path without query), across all providers.

    Returns ``(provider, operation, path_params)`` or None.
    """
    method = method.upper()
    for provider, operation, regex in _routes():
        if operation.method != method:
            continue
        match = regex.fullmatch(path)
        if match:
            return provider, operation, match.groupdict()
    return None


# --------------------------------------------------------------------------- OpenAPI


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation, generated from these files (a fresh copy).

    ``server_url`` is the emulator's base URL, listed first in ``servers``; None lists the
    emulator's default local address. See contracts/openapi.py.
    """
    # Imported here: contracts.openapi builds on this module's API.
    from contracts.openapi import openapi_document as build

    return build(server_url)
