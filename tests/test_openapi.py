"""The OpenAPI 3.1 document: valid, complete (every operation of every operations.json, every
provider route the emulator serves), self-contained, generated from the contracts' files, and
served by the emulator at /openapi.json with the emulator as its server."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Match, Route
from starlette.testclient import TestClient

import contracts
from contracts import Operation
from contracts.openapi import DEFAULT_SERVER, Sources, build, main, package_sources
from emulator import create_app
from emulator.providers import error_shape_for_path
from emulator.providers.vertex.catalog import surface_models
from emulator.providers.vibedream.catalog import models as vibedream_models
from tests.conftest import LiveServer, emulator_config

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Routes the emulator serves that are not a provider's: its own files and API, and this.
EMULATOR_OWN = ("/_emulator", "/assets/", "/openapi.json")
DOCUMENT_URI = "urn:imagegen-emulator:openapi"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contracts.openapi_document()


def operations_of(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def fill(template: str) -> str:
    """A concrete path for a template: every {parameter} becomes a sample segment."""
    return PARAM.sub("sample-1", template)


def without_servers(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: without_servers(value) for key, value in node.items() if key != "servers"}
    if isinstance(node, list):
        return [without_servers(item) for item in node]
    return node


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key not in ("examples", "enum", "const", "default"):
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def document_validator(document: dict[str, Any], component: str) -> Draft202012Validator:
    """Validates against a component schema as the document holds it (refs rewritten)."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource(DOCUMENT_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/components/schemas/{component}"}, registry=registry
    )


def provider_routes() -> list[Route]:
    app = create_app(emulator_config())
    found = []
    for route in app.routes:
        assert isinstance(route, Route), route
        if error_shape_for_path(route.path) is None:
            assert route.path.startswith(EMULATOR_OWN), f"{route.path} belongs to nobody"
            continue
        found.append(route)
    return found


def matches(route: Route, method: str, path: str) -> bool:
    scope = {"type": "http", "method": method.upper(), "path": path, "root_path": ""}
    return route.matches(scope)[0] is Match.FULL


# --------------------------------------------------------------------------- the document


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_validation_can_fail(document: dict[str, Any]) -> None:
    # The check above must be able to fail: an operation losing its path parameter does.
    broken = copy.deepcopy(document)
    del broken["paths"]["/api/v1/predictions/{id}"]["get"]["parameters"]
    with pytest.raises(Exception, match="Path parameter 'id'"):
        validate(broken, cls=OpenAPIV31SpecValidator)


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = list(refs(document))
    assert len(found) > 40
    for ref in found:
        assert ref.startswith("#/components/"), ref
        assert isinstance(resolve(document, ref), dict), ref
    # No trace of the files' own addressing is left for a tool to trip over.
    text = json.dumps(document["components"]["schemas"])
    assert "imagegen-emulator.dev" not in text
    assert '"$defs"' not in text
    assert '"$id"' not in text


def test_every_operation_appears(document: dict[str, Any]) -> None:
    by_origin: dict[tuple[str, str], list[tuple[str, str, dict[str, Any]]]] = {}
    for path, method, operation in operations_of(document):
        origin = operation["x-contract"]
        by_origin.setdefault((origin["provider"], origin["operationId"]), []).append(
            (path, method, operation)
        )
    expected = {
        (provider, op.operation_id): op
        for provider in contracts.providers()
        for op in contracts.operations(provider)
    }
    assert set(by_origin) == set(expected)
    for (provider, _), op in expected.items():
        entries = by_origin[(provider, op.operation_id)]
        if op.request_param is None:
            assert [(path, method) for path, method, _ in entries] == [(op.path, op.method.lower())]
        else:
            assert {path for path, _, _ in entries} == {
                op.path.replace("{" + op.request_param + "}", value) for value in op.request_schemas
            }
        for path, method, operation in entries:
            assert method == op.method.lower()
            assert operation["tags"] == [provider]
            assert operation["summary"] and operation["description"]
            assert set(operation["responses"]) == set(op.responses)
            params = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "path"}
            assert set(params) == set(PARAM.findall(path))
            for name, param in params.items():
                assert param["required"] is True
                assert param["description"] == op.parameters[name]
            query = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
            assert set(query) == set(op.query_parameters)
            schema_name = op.request_schema(_path_params(op, path))
            if schema_name is None:
                assert "requestBody" not in operation
            else:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert body == {"$ref": f"#/components/schemas/{provider}.{schema_name}"}
            for status, name in op.responses.items():
                if status.startswith("2"):
                    content = operation["responses"][status]["content"]
                    ref = {"$ref": f"#/components/schemas/{provider}.{name}"}
                    if op.streamed:  # a JSON array of chunks, or events holding one each
                        assert content["application/json"]["schema"] == {
                            "type": "array",
                            "items": ref,
                        }
                        event = content["text/event-stream"]["schema"]
                        assert event["properties"]["data"]["contentSchema"] == ref
                    else:
                        assert content["application/json"]["schema"] == ref


def _path_params(op: Operation, path: str) -> dict[str, str]:
    """The operation's path parameters, read off a document path (literal or template)."""
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(PARAM.split(op.path))
    )
    match = re.fullmatch(regex, path)
    assert match is not None, (op.path, path)
    return match.groupdict()


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations_of(document)]
    assert len(ids) == len(set(ids))
    assert "submitPredictionZImageTurbo" in ids
    assert "submitPredictionNanoBananaProEdit" in ids


def test_vibedream_one_path_per_model(document: dict[str, Any]) -> None:
    # The submit operation becomes one path per model, with the schema the emulator applies to
    # that model: exactly the models the emulator serves.
    served = {model_id: model.request_schema for model_id, model in vibedream_models().items()}
    submit = next(
        op for op in contracts.operations("vibedream") if op.operation_id == "submitPrediction"
    )
    assert submit.request_schemas == served
    for model_id, schema_name in served.items():
        operation = document["paths"][f"/api/v1/models/{model_id}/generate"]["post"]
        assert "parameters" not in operation
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/vibedream.{schema_name}"}


def test_vertex_model_parameter_lists_the_served_models(document: dict[str, Any]) -> None:
    # An enum, so a generator makes it a type and Schemathesis reaches past the 404. Every
    # vertex path names a model but the model lists: exactly the models its surface serves.
    checked = []
    for path, _, operation in operations_of(document):
        if operation["x-contract"]["provider"] != "vertex" or "{model}" not in path:
            continue  # the Files API's paths name no model
        model = next(param for param in operation["parameters"] if param["name"] == "model")
        assert model["schema"]["type"] == "string", path
        surface = "gateway" if path.startswith("/api/v1/publishers/") else "vertex"
        assert set(model["schema"]["enum"]) == set(surface_models(surface)), path
        checked.append(path)
    assert len(checked) >= 20
    # The gateway serves fewer models than Google's paths: the lists are not one copy.
    assert set(surface_models("gateway")) < set(surface_models("vertex"))
    assert set(surface_models("gemini")) == set(surface_models("vertex"))


def test_links_lead_to_the_poll(document: dict[str, Any]) -> None:
    # Each async submit says which operation polls its job, with the id from its answer.
    by_id = {operation["operationId"]: operation for _, _, operation in operations_of(document)}
    followed = {}
    for _, _, operation in operations_of(document):
        for link in operation["responses"]["200"].get("links", {}).values():
            target = by_id[link["operationId"]]
            names = {param["name"] for param in target["parameters"]}
            assert set(link["parameters"]) <= names
            followed[operation["operationId"]] = link["operationId"]
    # One vibedream submit per served model (nano-banana-pro-edit -> ...NanoBananaProEdit).
    camel = {
        m: "".join(w[:1].upper() + w[1:] for w in re.split(r"[^a-z0-9]+", m))
        for m in vibedream_models()
    }
    assert followed == {
        **{f"submitPrediction{name}": "getPrediction" for name in camel.values()},
        # 3D AI Studio: every model's generate and edit (one operation each, by its path).
        **{
            operation.operation_id: "getTaskStatus"
            for operation in contracts.operations("3daistudio")
            if operation.path.startswith("/v1/images/")
        },
    }


def test_every_served_provider_route_is_documented(document: dict[str, Any]) -> None:
    documented = [(path, method) for path, method, _ in operations_of(document)]
    routes = provider_routes()
    assert len(routes) >= 10
    for route in routes:
        for method in sorted(route.methods - {"HEAD"}):
            # 3D AI Studio's paths are also served without their trailing slash (an alias of
            # the documented path, which is what the document lists).
            assert any(
                method.lower() == doc_method
                and (
                    matches(route, method, fill(doc_path))
                    or matches(route, method, fill(doc_path).rstrip("/"))
                )
                for doc_path, doc_method in documented
            ), f"{method} {route.path} is served but not in the document"


def test_every_documented_path_is_served(document: dict[str, Any]) -> None:
    routes = provider_routes()
    for path, method, _ in operations_of(document):
        assert any(matches(route, method, fill(path)) for route in routes), (
            f"{method.upper()} {path} is documented but not served"
        )


def test_route_check_can_fail(document: dict[str, Any]) -> None:
    # The two checks above must be able to fail: an undocumented route is not matched.
    route = Route("/api/v1/models/{model}/cancel", endpoint=lambda request: None, methods=["POST"])
    assert not any(
        matches(route, method, fill(path)) for path, method, _ in operations_of(document)
    )


def test_components_are_the_contract_files(document: dict[str, Any]) -> None:
    # Every schema file is in the document as it is on disk, only its addressing changed.
    schemas = document["components"]["schemas"]
    expected_names = set()
    for provider in contracts.providers():
        for name in contracts.schema_names(provider):
            component = f"{provider}.{name}"
            original = contracts.schema(provider, name)
            text = json.dumps(original)
            text = text.replace('"#/$defs/', f'"#/components/schemas/{component}.')
            # A ref to a sibling file (request.json#/$defs/content) leads to its component.
            for other in contracts.schema_names(provider):
                target = f"#/components/schemas/{provider}.{other}"
                text = text.replace(f'"{other}.json#/$defs/', f'"{target}.')
                text = text.replace(f'"{other}.json#', f'"{target}').replace(
                    f'"{other}.json"', f'"{target}"'
                )
            moved = json.loads(text)
            for keyword in ("$id", "$schema"):
                moved.pop(keyword)
            defs = moved.pop("$defs", {})
            assert schemas[component] == moved, component
            expected_names.add(component)
            for def_name, definition in defs.items():
                assert schemas[f"{component}.{def_name}"] == definition
                expected_names.add(f"{component}.{def_name}")
    assert set(schemas) == expected_names


def test_document_schemas_validate_like_the_contracts(document: dict[str, Any]) -> None:
    # The rewritten refs lead where the originals did: every example passes through the
    # document, and a body the contracts refuse deep in a $defs is refused there too.
    for provider in contracts.providers():
        for name in contracts.schema_names(provider):
            checker = document_validator(document, f"{provider}.{name}")
            for example in contracts.schema(provider, name)["examples"]:
                assert checker.is_valid(example), (provider, name)
    request = contracts.schema("vertex", "request")["examples"][1]
    request["generationConfig"]["imageConfig"]["imageSize"] = "2k"
    assert not contracts.is_valid("vertex", "request", request)
    assert not document_validator(document, "vertex.request").is_valid(request)
    response = contracts.schema("vertex", "response")["examples"][0]
    del response["candidates"][0]["finishReason"]
    assert not document_validator(document, "vertex.response").is_valid(response)


def test_errors_are_named_per_provider(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    assert set(responses) == {
        "vibedream.error",
        "vertex.error-gateway",
        "vertex.error-google",
        "3daistudio.error",
    }
    for name, response in responses.items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{name}"}
        assert response["description"].startswith(name.split(".")[0] + " error: ")
        assert "Retry-After" in response["headers"]
    for _, _, operation in operations_of(document):
        origin = operation["x-contract"]
        op = next(
            op
            for op in contracts.operations(origin["provider"])
            if op.operation_id == origin["operationId"]
        )
        for status in ("4XX", "5XX"):
            expected = f"#/components/responses/{origin['provider']}.{op.responses[status]}"
            assert operation["responses"][status] == {"$ref": expected}
    gateway = document["paths"]["/api/v1/publishers/googleVertexAI/models/{model}:generateContent"]
    gemini = document["paths"]["/v1beta/models/{model}:generateContent"]
    assert gateway["post"]["responses"]["4XX"]["$ref"].endswith("/vertex.error-gateway")
    assert gemini["post"]["responses"]["4XX"]["$ref"].endswith("/vertex.error-google")


def test_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert (schemes["googApiKey"]["type"], schemes["googApiKey"]["in"]) == ("apiKey", "header")
    assert schemes["googApiKey"]["name"] == "x-goog-api-key"
    assert (schemes["googApiKeyQuery"]["in"], schemes["googApiKeyQuery"]["name"]) == (
        "query",
        "key",
    )
    for path, _, operation in operations_of(document):
        names = [name for requirement in operation["security"] for name in requirement]
        if path.startswith(("/v1beta/", "/v1/models", "/v1/files", "/upload/")):
            assert names[0] == "googApiKey"
        elif path.startswith(("/v1beta1/", "/v1/publishers/", "/v1/projects/")):
            assert names[0] == "bearer"
            assert "googApiKey" in names
        else:
            # vibedream, 3D AI Studio and the gateway: a bearer key only.
            assert names == ["bearer"]


def test_servers_default(document: dict[str, Any]) -> None:
    assert document["servers"] == [DEFAULT_SERVER]
    real = set()
    for _, _, operation in operations_of(document):
        assert operation["servers"][0] == DEFAULT_SERVER
        assert len(operation["servers"]) >= 2
        real.update(server["url"] for server in operation["servers"][1:])
    assert {
        "https://api.vibedream.ai",
        "https://api.3daistudio.com",
        "https://generativelanguage.googleapis.com",
        "https://aiplatform.googleapis.com",
        "{gatewayBaseUrl}",
    } == real


def test_servers_given() -> None:
    document = contracts.openapi_document("http://emulator.test:9000/root/")
    emulator = {"url": "http://emulator.test:9000/root", "description": "This emulator"}
    assert document["servers"] == [emulator]
    for _, _, operation in operations_of(document):
        assert operation["servers"][0] == emulator
    assert without_servers(document) == without_servers(contracts.openapi_document())


def test_openapi_document_returns_a_copy() -> None:
    first = contracts.openapi_document()
    first["paths"].clear()
    first["components"]["schemas"]["vibedream.prediction"]["properties"].clear()
    second = contracts.openapi_document()
    assert second["paths"]
    assert second["components"]["schemas"]["vibedream.prediction"]["properties"]
    # ... and the contracts' own schemas are untouched.
    contracts.validate(
        "vibedream", "prediction", contracts.schema("vibedream", "prediction")["examples"][0]
    )


def test_printed_for_a_generator(capsys: pytest.CaptureFixture[str]) -> None:
    # python -m contracts.openapi [SERVER_URL] > openapi.json
    main(["http://127.0.0.1:9999"])
    printed = json.loads(capsys.readouterr().out)
    assert printed == contracts.openapi_document("http://127.0.0.1:9999")
    with pytest.raises(SystemExit, match="usage"):
        main(["a", "b"])


# --------------------------------------------------------------------------- generated


def test_document_follows_its_sources() -> None:
    # Built from what the sources hold: a schema changed, an operation removed and a model
    # added show up in the document, with nothing written to disk.
    sources = package_sources()
    schemas = {provider: dict(named) for provider, named in sources.schemas.items()}
    prediction = copy.deepcopy(dict(schemas["vibedream"]["prediction"]))
    prediction["properties"]["status"]["enum"].append("cancelled")
    schemas["vibedream"]["prediction"] = prediction
    submit, _poll = contracts.operations("vibedream")
    flux = dataclasses.replace(
        submit,
        request_schemas=submit.request_schemas | {"flux-dev": "request.z-image-turbo"},
    )
    operations = dict(sources.operations) | {"vibedream": [flux]}
    document = build(Sources(schemas=schemas, operations=operations))

    status = document["components"]["schemas"]["vibedream.prediction"]["properties"]["status"]
    assert status["enum"][-1] == "cancelled"
    assert "/api/v1/predictions/{id}" not in document["paths"]
    added = document["paths"]["/api/v1/models/flux-dev/generate"]["post"]
    assert added["operationId"] == "submitPredictionFluxDev"
    validate(document, cls=OpenAPIV31SpecValidator)
    # The package's own document is unchanged.
    assert "cancelled" not in json.dumps(contracts.openapi_document()["components"])


def sources_with(provider: str, name: str, schema: dict[str, Any]) -> Sources:
    schema = {"$id": f"https://imagegen-emulator.dev/contracts/{provider}/{name}.json"} | schema
    return Sources(schemas={provider: {name: schema}}, operations={provider: []})


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"$ref": "https://example.com/other.json"}, "points outside the contracts"),
        ({"properties": {"a": {"$id": "https://example.com/a.json"}}}, r"\$id inside"),
        ({"properties": {"a": {"$defs": {"b": {}}}}}, r"\$defs inside"),
    ],
)
def test_unsupported_schemas_are_refused(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(sources_with("p", "thing", schema))


def test_refs_across_files_are_rewritten() -> None:
    base = "https://imagegen-emulator.dev/contracts/p/"
    sources = Sources(
        schemas={
            "p": {
                "a": {"$id": base + "a.json", "$defs": {"x": {"type": "string"}}},
                "b": {
                    "$id": base + "b.json",
                    "properties": {
                        "absolute": {"$ref": base + "a.json#/$defs/x"},
                        "relative": {"$ref": "a.json"},
                        "self": {"$ref": "#"},
                        # A property named like a keyword is still a schema.
                        "enum": {"$ref": "#/properties/self"},
                    },
                },
            }
        },
        operations={"p": []},
    )
    properties = build(sources)["components"]["schemas"]["p.b"]["properties"]
    assert properties == {
        "absolute": {"$ref": "#/components/schemas/p.a.x"},
        "relative": {"$ref": "#/components/schemas/p.a"},
        "self": {"$ref": "#/components/schemas/p.b"},
        "enum": {"$ref": "#/components/schemas/p.b/properties/self"},
    }


def test_duplicate_operations_are_refused() -> None:
    poll = contracts.operations("vibedream")[1]
    sources = package_sources()
    operations = dict(sources.operations) | {"vibedream": [poll, poll]}
    with pytest.raises(ValueError, match="declared twice"):
        build(Sources(schemas=sources.schemas, operations=operations))


def test_unknown_security_scheme_is_refused() -> None:
    poll = dataclasses.replace(
        contracts.operations("vibedream")[1], security="oauth", security_schemes=("oauth",)
    )
    sources = package_sources()
    operations = dict(sources.operations) | {"vibedream": [poll]}
    with pytest.raises(ValueError, match="oauth"):
        build(Sources(schemas=sources.schemas, operations=operations))


# --------------------------------------------------------------------------- served


def test_served_document_is_the_generated_one() -> None:
    app = create_app(emulator_config())
    with TestClient(app, base_url="http://emulator.test:8123", root_path="/behind/proxy") as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    served = answer.json()
    emulator = {"url": "http://emulator.test:8123/behind/proxy", "description": "This emulator"}
    assert served["servers"] == [emulator]
    assert all(operation["servers"][0] == emulator for _, _, operation in operations_of(served))
    assert without_servers(served) == without_servers(contracts.openapi_document())


def test_served_document_needs_no_key() -> None:
    config = emulator_config(api_keys=["the-only-key"], admin_token="admin-secret")
    with TestClient(create_app(config)) as client:
        assert client.get("/openapi.json").status_code == 200
        # ... while the APIs it describes do.
        assert client.get("/api/v1/predictions/abc").status_code == 401


@pytest.mark.live
def test_served_over_a_socket(live_server: LiveServer) -> None:
    served = httpx.get(f"{live_server.base_url}/openapi.json").json()
    assert served["servers"][0]["url"] == live_server.base_url
    validate(served, cls=OpenAPIV31SpecValidator)
