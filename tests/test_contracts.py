"""Contract tests: the schemas accept what the provider documents and reject what it forbids."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

import contracts
from contracts import ContractError

VD = "vibedream"
NANO = "request.nano-banana-pro-edit"
ZIT = "request.z-image-turbo"
# The seed models, then those documented by example only (provider-facts/MODELS.md 1.2).
VD_MODELS = (
    "nano-banana-pro-edit",
    "z-image-turbo",
    *("nano-banana-edit", "edit-ultra", "gpt-image-edit", "gpt-image-1", "dall-e-3"),
    *("flux-dev", "flux-2-pro-edit", "flux-2-klein-9b-edit", "flux-2-turbo"),
    *("seedream-v4-edit", "seedream-v4.5", "edit-sequential", "seedream-v3-1"),
    *("grok-imagine", "image-upscaler"),
)
SEEDS = Path(__file__).parent / "fixtures" / "seeds" / VD
# The provider's documents, when this checkout sits next to them (skipped otherwise).
SEED_DOCUMENTS = {
    "nano-banana-pro-edit": Path("/work/shared/seeds/000_057263a2fd7486ac.txt"),
    "z-image-turbo": Path("/work/shared/seeds/003_3dd371909f215d2b.txt"),
}
SEED_FILES = sorted(SEEDS.glob("*.json"))

VX = "vertex"
VX_SEEDS = Path(__file__).parent / "fixtures" / "seeds" / VX
# Where each vertex fixture was copied from (see its README); the file's stem is its schema.
VX_SEED_DOCUMENTS = {
    "request": Path("/work/shared/seeds/001_e07e0dbe03fb8286.txt"),
    "error-gateway": Path("/work/shared/seeds/001_e07e0dbe03fb8286.txt"),
    "response": Path("/work/shared/DESIGN.md"),
}
VX_SEED_FILES = sorted(VX_SEEDS.glob("*.json"))

TD = "3daistudio"
TD_SEEDS = Path(__file__).parent / "fixtures" / "seeds" / TD
TD_SEED_DOCUMENT = Path("/work/shared/seeds/002_a1a057ab71129629.txt")
# Fixture (see its README) -> the schema it must satisfy.
TD_SEED_SCHEMAS = {
    "generate.request": "request.generate",
    "generate.submit-response": "submit-response",
    "edit.request": "request.edit",
    "edit.submit-response": "submit-response",
    "status.finished": "status",
}
TD_SEED_FILES = sorted(TD_SEEDS.glob("*.json"))

UUID = "550e8400-e29b-41d4-a716-446655440000"
URL = "https://example.com/image1.jpg"
PROMPT = "A beautiful sunset over mountains with golden light"


def all_schemas() -> list[tuple[str, str]]:
    return [
        (provider, path.stem)
        for provider in contracts.providers()
        for path in sorted((Path(contracts.__file__).parent / provider).glob("*.json"))
        if path.name != "operations.json"
    ]


def seed(name: str) -> Any:
    return json.loads((SEEDS / f"{name}.json").read_text())


def nano(**changes: Any) -> dict[str, Any]:
    return {"images": [URL], "prompt": PROMPT} | changes


def zit(**changes: Any) -> dict[str, Any]:
    return {"prompt": PROMPT} | changes


def prediction(status: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": UUID,
        "modelId": "z-image-turbo",
        "modelName": "Z-Image Turbo",
        "status": status,
        "outputs": None,
        "error": None,
        "createdAt": "2025-01-15T12:00:00.000Z",
        "completedAt": None,
    }
    if status == "completed":
        base |= {
            "outputs": [f"https://assets.example/{UUID}/0.png"],
            "completedAt": "2025-01-15T12:00:30.000Z",
        }
    if status == "failed":
        base |= {"error": "Generation failed.", "completedAt": "2025-01-15T12:00:05.000Z"}
    return base | changes


def submit_response(**changes: Any) -> dict[str, Any]:
    return {
        "id": UUID,
        "status": "processing",
        "statusUrl": f"http://127.0.0.1:8000/api/v1/predictions/{UUID}",
        "estimatedTime": "1-3s",
        "costCents": 1,
        "createdAt": "2025-01-15T12:00:00.000Z",
    } | changes


def without(instance: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in instance.items() if k != key}


def vx_seed(name: str) -> Any:
    return json.loads((VX_SEEDS / f"{name}.json").read_text())


def vx_request(**config: Any) -> dict[str, Any]:
    """Seed 001's request example, its generationConfig updated with ``config``."""
    body: dict[str, Any] = vx_seed("request")
    body["generationConfig"] |= config
    return body


def vx_parts(*parts: dict[str, Any]) -> dict[str, Any]:
    """Seed 001's request example with other parts in its one user turn."""
    body: dict[str, Any] = vx_seed("request")
    body["contents"][0]["parts"] = list(parts)
    return body


def vx_withheld(finish_reason: str, *, with_image: bool) -> dict[str, Any]:
    """DESIGN's response example, its candidate finishing with ``finish_reason``."""
    body: dict[str, Any] = vx_seed("response")
    candidate = body["candidates"][0]
    candidate["finishReason"] = finish_reason
    if not with_image:
        candidate["content"] = {}  # nothing shown: Google answers `"content": {}`
    return body


def vx_withheld_with_text(finish_reason: str) -> dict[str, Any]:
    """A withheld image whose answer still has a text part (the emulator's answer before
    issue 17): the text part claims an image that is not there."""
    body = vx_withheld(finish_reason, with_image=True)
    body["candidates"][0]["content"]["parts"] = body["candidates"][0]["content"]["parts"][:1]
    return body


def google_error(code: int, status: str, message: str = "Something went wrong.") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


BLOCKED = {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt was blocked."}
VX_TEXT = {"text": "Edit this image: make the sky more blue"}
VX_IMAGE = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}


# --------------------------------------------------------------------------- the schema files


def test_providers() -> None:
    assert contracts.providers() == [TD, VX, VD]


def test_schema_names() -> None:
    requests = sorted(f"request.{model}" for model in VD_MODELS)
    assert contracts.schema_names(VD) == ["error", "prediction", *requests, "submit-response"]
    assert [(VD, name) for name in contracts.schema_names(VD)] == [
        entry for entry in all_schemas() if entry[0] == VD
    ]
    with pytest.raises(KeyError):
        contracts.schema_names("nope")


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_schema_is_valid_draft_2020_12(provider: str, name: str) -> None:
    document = contracts.schema(provider, name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://imagegen-emulator.dev/contracts/{provider}/{name}.json"
    assert document["title"] and document["description"]


def undocumented(node: object, where: str = "") -> list[str]:
    """Where a field a body can hold (a property, a $defs entry, an array's items, a map's
    values) has no title or description, at any depth; a bare $ref borrows its target's."""
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    children: list[tuple[str, object]] = []
    for keyword in ("properties", "patternProperties", "$defs"):
        children += [(f"{where}/{keyword}/{k}", v) for k, v in node.get(keyword, {}).items()]
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), dict):
            children.append((f"{where}/{keyword}", node[keyword]))
    for path, child in children:
        documented = isinstance(child, dict) and child.get("title") and child.get("description")
        if isinstance(child, dict) and not documented and set(child) != {"$ref"}:
            found.append(path)
        found += undocumented(child, path)
    # Conditional rules (allOf/if/then) only narrow fields documented above.
    return found


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_every_field_is_documented(provider: str, name: str) -> None:
    document = contracts.schema(provider, name)
    assert document.get("properties") or document.get("maxProperties") == 0  # or {}: Empty
    assert undocumented(document) == []


def test_undocumented_finds_a_nested_gap() -> None:
    # The check above must be able to fail: a deep item without a description is found.
    document = contracts.schema(VX, "request")
    del document["$defs"]["generationConfig"]["properties"]["stopSequences"]["items"]["title"]
    assert undocumented(document) == ["/$defs/generationConfig/properties/stopSequences/items"]


# ------------------------------------------------------------------ closed objects (issue 23)

# The objects a contract leaves open (`additionalProperties` not false), each with why: every
# other object a body can hold is closed, and refuses an unknown field. "*": the whole contract.
OPEN_REQUESTS = (
    "a request: unknown fields are tolerated, as the provider does not document refusing them"
)
GOOGLE_GROWS = (
    "Google's generateContent answer (GenerateContentResponse) has fields this contract does not"
    " model (citationMetadata, avgLogprobs, urlContextMetadata, ...) and gains more: a recorded"
    " real answer must not fail on them"
)
NOT_MODELLED = (
    "not modelled: the emulator takes the object and does not use it, so the contract does not"
    " list its fields (Google refuses unknown names inside; see issue 23's report)"
)
NEVER_SENT = "not modelled: the emulator never sends it"
# Each tool's own settings, and the tool configuration's: the emulator uses none of them.
TOOL_SETTINGS = NOT_MODELLED
COMMON_TOOLS = (
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "computerUse",
    "urlContext",
    "googleMaps",
)
VERTEX_TOOLS = ("retrieval", "enterpriseWebSearch", "parallelAiSearch", "exaAiSearch")
OPEN_OBJECTS: dict[tuple[str, str], dict[str, str]] = {
    # Every model's request, on the two providers that tolerate unknown fields.
    **{
        (provider, name): {"*": OPEN_REQUESTS}
        for provider, name in all_schemas()
        if provider in (VD, TD) and name.startswith("request")
    },
    (VX, "response"): {"*": GOOGLE_GROWS},
    (VX, "response-gemini"): {"*": GOOGLE_GROWS},
    (VX, "stream-chunk"): {"*": GOOGLE_GROWS},
    (VX, "stream-chunk-gemini"): {"*": GOOGLE_GROWS},
    (VX, "request"): {
        **{
            f"/properties/tools/items/properties/{tool}": TOOL_SETTINGS
            for tool in (*COMMON_TOOLS, *VERTEX_TOOLS)
        },
        "/properties/toolConfig/properties/functionCallingConfig": TOOL_SETTINGS,
        "/properties/toolConfig/properties/retrievalConfig": TOOL_SETTINGS,
        "/properties/modelArmorConfig": NOT_MODELLED,
        "/$defs/part/properties/mediaResolution": NOT_MODELLED,
        "/$defs/part/properties/partMetadata": "a google.protobuf.Struct: any keys",
        "/$defs/generationConfig/properties/responseSchema": NOT_MODELLED,
        "/$defs/generationConfig/properties/speechConfig": NOT_MODELLED,
        "/$defs/generationConfig/properties/routingConfig": NOT_MODELLED,
        "/$defs/generationConfig/properties/modelConfig": NOT_MODELLED,
    },
    (VX, "request-gemini"): {
        **{
            f"/$defs/tool/properties/{tool}": TOOL_SETTINGS
            for tool in (*COMMON_TOOLS, "fileSearch")
        },
        "/$defs/generationConfig/properties/audioTranscriptionConfig": NOT_MODELLED,
    },
    (VX, "file"): {"/properties/error": NEVER_SENT, "/properties/videoMetadata": NEVER_SENT},
    (VX, "upload-start-request"): {
        "/properties/file/properties/error": "output only: the server sets it",
        "/properties/file/properties/videoMetadata": "output only: the server sets it",
    },
    (VX, "publisher-model"): {
        "/properties/parent": NEVER_SENT,
        "/properties/supportedActions": NEVER_SENT,
        "/properties/predictSchemata": NEVER_SENT,
    },
}


def object_nodes(node: object, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every object schema a body can hold, by JSON pointer: through properties, $defs, items
    and map values, as undocumented() walks them. Conditional rules (allOf/if/then, anyOf)
    only narrow the objects found here, so they are not walked."""
    if not isinstance(node, dict):
        return []
    found = [(where or "/", node)] if "properties" in node or node.get("type") == "object" else []
    for keyword in ("properties", "patternProperties", "$defs"):
        for key, child in node.get(keyword, {}).items():
            found += object_nodes(child, f"{where}/{keyword}/{key}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(node.get(keyword), dict):
            found += object_nodes(node[keyword], f"{where}/{keyword}")
    return found


def is_closed(node: dict[str, Any]) -> bool:
    """No field but the listed ones: additionalProperties false, a typed map, or no fields."""
    extra = node.get("additionalProperties")
    return extra is False or isinstance(extra, dict) or node.get("maxProperties") == 0


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_every_object_is_closed_unless_listed_open_with_a_reason(provider: str, name: str) -> None:
    listed = OPEN_OBJECTS.get((provider, name), {})
    found_open = {
        pointer
        for pointer, node in object_nodes(contracts.schema(provider, name))
        if not is_closed(node)
    }
    if "*" in listed:
        assert found_open, f"{provider}/{name} is listed open but every object is closed"
        return
    assert found_open == set(listed)


def test_the_open_list_names_existing_contracts() -> None:
    assert set(OPEN_OBJECTS) <= set(all_schemas())


def object_locations(instance: object, path: str = "$") -> list[str]:
    """The JSON path of every object in an instance, itself included."""
    found = [path] if isinstance(instance, dict) else []
    if isinstance(instance, dict):
        for key, value in instance.items():
            found += object_locations(value, f"{path}.{key}")
    elif isinstance(instance, list):
        for index, value in enumerate(instance):
            found += object_locations(value, f"{path}[{index}]")
    return found


def with_field_at(instance: Any, path: str, key: str) -> Any:
    changed = copy.deepcopy(instance)
    target = changed
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        target = target[name] if name else target[int(index)]
    target[key] = "unexpected"
    return changed


CLOSED_CONTRACTS = [entry for entry in all_schemas() if "*" not in OPEN_OBJECTS.get(entry, {})]


@pytest.mark.parametrize(("provider", "name"), CLOSED_CONTRACTS)
def test_an_unknown_field_is_refused_in_every_object_of_every_example(
    provider: str, name: str
) -> None:
    """Where the contract is closed, a field it does not name is refused at its exact place, in
    every object of every example (issue 23: results[] once accepted anything)."""
    examples = contracts.schema(provider, name)["examples"]
    checked = 0
    for example in examples:
        for path in object_locations(example):
            instance = with_field_at(example, path, "not_a_documented_field")
            with pytest.raises(ContractError) as caught:
                contracts.validate(provider, name, instance)
            if caught.value.keyword != "maxProperties":  # vertex/empty: {} and nothing else
                assert caught.value.path == f"{path}.not_a_documented_field", path
            checked += 1
    assert checked


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_schema_examples_validate(provider: str, name: str) -> None:
    examples = contracts.schema(provider, name).get("examples", [])
    assert examples
    for example in examples:
        contracts.validate(provider, name, example)


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_registry_resolves_every_id(provider: str, name: str) -> None:
    # Proves a $ref from one file to another resolves, without a network fetch.
    document = contracts.schema(provider, name)
    resolver = contracts.validator(provider, name)._resolver
    assert resolver.lookup(document["$id"]).contents == document


def test_cross_file_ref_resolves() -> None:
    ref = {"$ref": "https://imagegen-emulator.dev/contracts/vibedream/error.json"}
    checker = Draft202012Validator(ref, registry=contracts._registry())
    assert checker.is_valid({"error": "Not found.", "code": "not_found"})
    assert not checker.is_valid({"error": "Not found."})


def test_schema_returns_a_copy() -> None:
    contracts.schema(VD, ZIT)["properties"].clear()
    assert "prompt" in contracts.schema(VD, ZIT)["properties"]
    contracts.validate(VD, ZIT, zit())


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_validating_leaves_the_schema_as_it_is_on_disk(provider: str, name: str) -> None:
    # fastjsonschema rewrites the refs of what it compiles: it must be given a copy.
    on_disk = json.loads((Path(contracts.__file__).parent / provider / f"{name}.json").read_text())
    example = contracts.schema(provider, name)["examples"][0]
    assert contracts.is_valid(provider, name, example)
    contracts.validate(provider, name, example)
    assert contracts.schema(provider, name) == on_disk


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_is_valid_agrees_with_validate(provider: str, name: str) -> None:
    # The fast check works for every schema (responses too), and says no where jsonschema does.
    for example in contracts.schema(provider, name)["examples"]:
        assert contracts.is_valid(provider, name, example)
    for wrong in ({}, [], "x", {"unexpected": {"nested": True}}):
        assert contracts.is_valid(provider, name, wrong) == contracts.validator(
            provider, name
        ).is_valid(wrong)


def test_validator_is_cached() -> None:
    assert contracts.validator(VD, ZIT) is contracts.validator(VD, ZIT)


@pytest.mark.parametrize(
    ("provider", "name"),
    [
        (VD, "nope"),
        ("nope", ZIT),
        (VD, "operations"),
        (VD, "../vibedream/error"),
        (VD, "error.json"),
    ],
)
def test_unknown_contract(provider: str, name: str) -> None:
    with pytest.raises(KeyError):
        contracts.schema(provider, name)
    with pytest.raises(KeyError):
        contracts.validate(provider, name, {})


# --------------------------------------------------------------------------- the seed examples


def seed_schema(path: Path) -> str:
    model, kind = path.stem.split(".")
    if kind == "submit-request":
        return f"request.{model}"
    return "submit-response" if kind == "submit-response" else "prediction"


def test_all_seed_examples_present() -> None:
    kinds = ["submit-request", "submit-response", "prediction-completed", "prediction-failed"]
    expected = {f"{model}.{kind}.json" for model in SEED_DOCUMENTS for kind in kinds}
    assert {path.name for path in SEED_FILES} == expected


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda path: path.stem)
def test_seed_example_validates(path: Path) -> None:
    contracts.validate(VD, seed_schema(path), json.loads(path.read_text()))


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda path: path.stem)
def test_seed_example_is_verbatim(path: Path) -> None:
    document = SEED_DOCUMENTS[path.stem.split(".")[0]]
    if not document.exists():
        pytest.skip(f"seed document {document} not available")
    assert path.read_text().removesuffix("\n") in document.read_text()


# --------------------------------------------------------------------------- vertex seed examples


def test_vertex_all_seed_examples_present() -> None:
    assert {path.stem for path in VX_SEED_FILES} == set(VX_SEED_DOCUMENTS)


@pytest.mark.parametrize("path", VX_SEED_FILES, ids=lambda path: path.stem)
def test_vertex_seed_example_validates(path: Path) -> None:
    contracts.validate(VX, path.stem, json.loads(path.read_text()))


@pytest.mark.parametrize("path", VX_SEED_FILES, ids=lambda path: path.stem)
def test_vertex_seed_example_is_verbatim(path: Path) -> None:
    document = VX_SEED_DOCUMENTS[path.stem]
    if not document.exists():
        pytest.skip(f"seed document {document} not available")
    assert path.read_text().removesuffix("\n") in document.read_text()


@pytest.mark.parametrize("path", VX_SEED_FILES, ids=lambda path: path.stem)
def test_vertex_seed_example_is_first_schema_example(path: Path) -> None:
    # The schema's own examples start with what the provider publishes.
    assert contracts.schema(VX, path.stem)["examples"][0] == json.loads(path.read_text())


def test_vertex_gateway_error_is_not_a_google_error() -> None:
    # The two error shapes of the two kinds of path cannot be mistaken for one another.
    with pytest.raises(ContractError):
        contracts.validate(VX, "error-google", vx_seed("error-gateway"))
    with pytest.raises(ContractError):
        contracts.validate(VX, "error-gateway", contracts.schema(VX, "error-google")["examples"][0])


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (vx_request(imageConfig={"imageSize": "2k"}), "$.generationConfig.imageConfig.imageSize"),
        (vx_request(responseModalities=["text"]), "$.generationConfig.responseModalities[0]"),
        (vx_request(candidateCount=0), "$.generationConfig.candidateCount"),
        (vx_parts(VX_TEXT | VX_IMAGE), "$.contents[0].parts[0]"),
        (vx_seed("request") | {"prompt": "a red fox"}, "$.prompt"),
        (
            vx_parts(VX_TEXT, {"inlineData": {"data": "iVBORw0KGgo="}}),
            "$.contents[0].parts[1].inlineData.mimeType",
        ),
    ],
    ids=[
        "imageSize-2k",
        "modality-text",
        "candidateCount-0",
        "text-and-image",
        "unknown",
        "no-mime",
    ],
)
def test_vertex_request_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VX, "request", instance)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    # The compiled check the emulator runs first agrees.
    assert not contracts.is_valid(VX, "request", instance)


@pytest.mark.parametrize(
    "instance",
    [
        vx_request(),
        vx_request(responseModalities=["IMAGE"]),
        vx_request(candidateCount=1),
        vx_request(imageConfig={"aspectRatio": "16:9", "imageSize": "2K"}),
        vx_parts(VX_IMAGE, VX_TEXT),
        vx_parts(VX_TEXT),
        {"contents": [{"parts": [VX_TEXT]}]},
    ],
)
def test_vertex_request_accepted(instance: dict[str, Any]) -> None:
    contracts.validate(VX, "request", instance)
    assert contracts.is_valid(VX, "request", instance)


def test_vertex_every_image_size_and_ratio_accepted() -> None:
    image_config = contracts.schema(VX, "request")["$defs"]["imageConfig"]["properties"]
    assert image_config["imageSize"]["enum"] == ["512", "1K", "2K", "4K"]
    for size in image_config["imageSize"]["enum"]:
        for ratio in image_config["aspectRatio"]["enum"]:
            contracts.validate(
                VX, "request", vx_request(imageConfig={"aspectRatio": ratio, "imageSize": size})
            )


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (without(vx_seed("response"), "candidates"), "$"),
        (
            without(vx_seed("response"), "candidates") | {"promptFeedback": {}},
            "$.promptFeedback.blockReason",
        ),
        (without(vx_seed("response"), "responseId"), "$.responseId"),
        (vx_seed("response") | {"promptFeedback": BLOCKED}, "$.candidates"),
        (vx_withheld("IMAGE_SAFETY", with_image=True), "$.candidates[0].content.parts[1]"),
        (vx_withheld("NO_IMAGE", with_image=True), "$.candidates[0].content.parts[1]"),
        (vx_withheld_with_text("IMAGE_SAFETY"), "$.candidates[0].content.parts[0]"),
        (vx_withheld_with_text("IMAGE_RECITATION"), "$.candidates[0].content.parts[0]"),
    ],
    ids=[
        "no-candidates",
        "feedback-without-block-reason",
        "no-response-id",
        "blocked-prompt-with-candidates",
        "withheld-image-with-image",
        "no-image-with-image",
        "withheld-image-with-text",
        "recited-image-with-text",
    ],
)
def test_vertex_response_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VX, "response", instance)
    assert caught.value.path == path


@pytest.mark.parametrize(
    "instance",
    [
        vx_withheld("IMAGE_SAFETY", with_image=False),
        vx_withheld("IMAGE_PROHIBITED_CONTENT", with_image=False),
        vx_withheld("STOP", with_image=True),
        without(vx_seed("response"), "candidates") | {"promptFeedback": BLOCKED},
        # Feedback without a block reason (ratings only) goes with a normal answer.
        vx_seed("response") | {"promptFeedback": {"safetyRatings": []}},
    ],
    ids=["image-safety", "image-prohibited", "stop", "blocked-prompt", "ratings-only"],
)
def test_vertex_response_accepted(instance: dict[str, Any]) -> None:
    contracts.validate(VX, "response", instance)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (400, "INVALID_ARGUMENT"),
        (400, "FAILED_PRECONDITION"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (501, "UNIMPLEMENTED"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_vertex_google_error_accepted(code: int, status: str) -> None:
    contracts.validate(VX, "error-google", google_error(code, status))


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (google_error(400, "UNAUTHENTICATED"), "$.error.code"),
        (google_error(429, "INVALID_ARGUMENT"), "$.error.code"),
        (google_error(503, "DEADLINE_EXCEEDED"), "$.error.code"),
        (google_error(501, "NOT_IMPLEMENTED"), "$.error.status"),
        (google_error(302, "NOT_FOUND"), "$.error.code"),
        (google_error(404, "NOT_FOUND", message=""), "$.error.message"),
        ({"error": {"code": 404, "status": "NOT_FOUND"}}, "$.error.message"),
    ],
    ids=[
        "401-as-400",
        "400-as-429",
        "504-as-503",
        "misspelt-status",
        "not-an-error",
        "empty",
        "no-message",
    ],
)
def test_vertex_google_error_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VX, "error-google", instance)
    assert caught.value.path == path


# --------------------------------------------------------------------------- 3daistudio


def td_seed(name: str) -> Any:
    return json.loads((TD_SEEDS / f"{name}.json").read_text())


def td_generate(**changes: Any) -> dict[str, Any]:
    return td_seed("generate.request") | changes


def td_edit(**changes: Any) -> dict[str, Any]:
    return td_seed("edit.request") | changes


def td_status(status: str, **changes: Any) -> dict[str, Any]:
    """A status answer as the emulator sends it in each state (FINISHED: seed 002's)."""
    bodies: dict[str, dict[str, Any]] = {
        "PENDING": {"status": "PENDING", "progress": 0, "results": []},
        "IN_PROGRESS": {"status": "IN_PROGRESS", "progress": 42, "results": []},
        "FINISHED": td_seed("status.finished"),
        "FAILED": {
            "status": "FAILED",
            "progress": 100,
            "results": [],
            "failure_reason": "Content moderation: the request was flagged.",
        },
    }
    return bodies[status] | changes


def td_result(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = td_seed("status.finished")["results"][0]
    return result | changes


def test_3daistudio_all_seed_examples_present() -> None:
    assert {path.stem for path in TD_SEED_FILES} == set(TD_SEED_SCHEMAS)


@pytest.mark.parametrize("path", TD_SEED_FILES, ids=lambda path: path.stem)
def test_3daistudio_seed_example_validates(path: Path) -> None:
    contracts.validate(TD, TD_SEED_SCHEMAS[path.stem], json.loads(path.read_text()))


@pytest.mark.parametrize("path", TD_SEED_FILES, ids=lambda path: path.stem)
def test_3daistudio_seed_example_is_verbatim(path: Path) -> None:
    if not TD_SEED_DOCUMENT.exists():
        pytest.skip(f"seed document {TD_SEED_DOCUMENT} not available")
    assert path.read_text().removesuffix("\n") in TD_SEED_DOCUMENT.read_text()


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("generate.request", "request.generate"),
        ("edit.request", "request.edit"),
        ("generate.submit-response", "submit-response"),
        ("status.finished", "status"),
    ],
)
def test_3daistudio_seed_example_is_first_schema_example(fixture: str, name: str) -> None:
    # The schema's own examples start with what the provider publishes.
    assert contracts.schema(TD, name)["examples"][0] == td_seed(fixture)


@pytest.mark.parametrize(
    ("name", "instance", "path"),
    [
        ("request.generate", without(td_generate(), "prompt"), "$.prompt"),
        ("request.generate", td_generate(prompt=" "), "$.prompt"),
        ("request.generate", td_generate(output_format="gif"), "$.output_format"),
        ("request.generate", td_generate(aspect_ratio="7:3"), "$.aspect_ratio"),
        ("request.generate", td_generate(resolution="2k"), "$.resolution"),
        ("request.generate", td_generate(num_images=0), "$.num_images"),
        ("request.generate", td_generate(num_images=5), "$.num_images"),
        ("request.generate", td_generate(num_images=1.5), "$.num_images"),
        ("request.edit", without(td_edit(), "images"), "$.images"),
        ("request.edit", td_edit(images=[]), "$.images"),
        ("request.edit", td_edit(images=["data:image/png;base64,iVBOR"] * 15), "$.images"),
        ("request.edit", td_edit(images=["https://example.com/a.png"]), "$.images[0]"),
        ("request.edit", td_edit(images="data:image/png;base64,iVBOR"), "$.images"),
    ],
)
def test_3daistudio_request_rejected(name: str, instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(TD, name, instance)
    assert caught.value.path == path
    assert not contracts.is_valid(TD, name, instance)


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("request.generate", {"prompt": "a red fox"}),
        ("request.generate", td_generate(aspect_ratio="auto", resolution="4K", num_images=4)),
        ("request.generate", td_generate(output_format="webp", unknown_parameter=True)),
        ("request.edit", td_edit(images=["data:image/jpeg;base64,/9j/4AAQ"] * 14)),
        ("request.edit", td_edit(aspect_ratio="9:16", num_images=1)),
    ],
)
def test_3daistudio_request_accepted(name: str, instance: dict[str, Any]) -> None:
    contracts.validate(TD, name, instance)


@pytest.mark.parametrize("status", ["PENDING", "IN_PROGRESS", "FINISHED", "FAILED"])
def test_3daistudio_every_status_accepted(status: str) -> None:
    contracts.validate(TD, "status", td_status(status))


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (td_status("FINISHED", results=[]), "$.results"),
        (td_status("FINISHED", results=[td_result()] * 7), "$.results"),
        (td_status("FINISHED", progress=99), "$.progress"),
        (td_status("FINISHED", failure_reason="boom"), "$"),
        (td_status("FAILED", results=[td_result()]), "$.results"),
        (without(td_status("FAILED"), "failure_reason"), "$.failure_reason"),
        (td_status("IN_PROGRESS", progress=100), "$.progress"),
        (td_status("PENDING", results=[td_result()]), "$.results"),
        (td_status("PENDING") | {"status": "DONE"}, "$.status"),
        (without(td_status("PENDING"), "status"), "$.status"),
        (td_status("PENDING", progress=-1), "$.progress"),
        (td_status("FINISHED", results=[td_result(asset_type="VIDEO")]), "$.results[0].asset_type"),
        (
            td_status("FINISHED", results=[td_result(thumbnail="img_001.png")]),
            "$.results[0].thumbnail",
        ),
        (td_status("FINISHED", results=[without(td_result(), "asset")]), "$.results[0].asset"),
        # Every field of a result is required, and a result holds nothing else (issue 23).
        (
            td_status("FINISHED", results=[without(td_result(), "thumbnail")]),
            "$.results[0].thumbnail",
        ),
        (
            td_status("FINISHED", results=[without(td_result(), "asset_url")]),
            "$.results[0].asset_url",
        ),
        (
            td_status("FINISHED", results=[without(td_result(), "asset_type")]),
            "$.results[0].asset_type",
        ),
        (
            td_status("FINISHED", results=[td_result(), td_result(width=1024)]),
            "$.results[1].width",
        ),
        (td_status("PENDING", eta=10), "$.eta"),
    ],
)
def test_3daistudio_status_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(TD, "status", instance)
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("name", "instance", "path"),
    [
        ("submit-response", td_seed("generate.submit-response") | {"task_id": "t1"}, "$.task_id"),
        ("submit-response", without(td_seed("edit.submit-response"), "created_at"), "$.created_at"),
        (
            "submit-response",
            td_seed("generate.submit-response") | {"created_at": "2026-02-25"},
            "$.created_at",
        ),
        ("wallet", {"balance": 150}, "$.balance"),
        ("wallet", {"balance": "150"}, "$.balance"),
        ("wallet", {}, "$.balance"),
        ("error", {"error": {"code": "teapot", "message": "x"}}, "$.error.code"),
        ("error", {"error": {"code": "rate_limited"}}, "$.error.message"),
        (
            "error",
            {"error": {"code": "rate_limited", "message": "x", "status": 429}},
            "$.error.status",
        ),
        ("error", {"code": "rate_limited", "message": "x"}, "$.error"),
    ],
)
def test_3daistudio_answer_rejected(name: str, instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(TD, name, instance)
    assert caught.value.path == path


@pytest.mark.parametrize(
    "code",
    [
        "validation_failed",
        "invalid_api_key",
        "api_key_expired",
        "api_key_revoked",
        "insufficient_credits",
        "rate_limited",
    ],
)
def test_3daistudio_documented_error_codes_accepted(code: str) -> None:
    # Seed 002's table and DESIGN 3.3 name these codes.
    contracts.validate(TD, "error", {"error": {"code": code, "message": "Something is wrong."}})


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("name", "instance", "path"),
    [
        (NANO, without(nano(), "prompt"), "$.prompt"),
        (NANO, without(nano(), "images"), "$.images"),
        (NANO, nano(prompt=""), "$.prompt"),
        (NANO, nano(prompt="  \n\t"), "$.prompt"),
        (NANO, nano(prompt=5), "$.prompt"),
        (NANO, nano(images=[]), "$.images"),
        (NANO, nano(images=[URL] * 15), "$.images"),
        (NANO, nano(images=""), "$.images"),
        (NANO, nano(images="ftp://example.com/a.png"), "$.images"),
        (NANO, nano(images=[URL, URL, "example.com/a.png"]), "$.images[2]"),
        (NANO, nano(images=[URL, 5]), "$.images[1]"),
        (NANO, nano(images={"url": URL}), "$.images"),
        (NANO, nano(resolution="8k"), "$.resolution"),
        (NANO, nano(resolution="1K"), "$.resolution"),
        (NANO, nano(output_format="webp"), "$.output_format"),
        (NANO, nano(aspect_ratio="2:1"), "$.aspect_ratio"),
        (NANO, nano(aspect_ratio="auto"), "$.aspect_ratio"),
        (NANO, [], "$"),
        (ZIT, {}, "$.prompt"),
        (ZIT, zit(prompt=" "), "$.prompt"),
        (ZIT, zit(size="1000*1000"), "$.size"),
        (ZIT, zit(size="1024x1024"), "$.size"),
        (ZIT, zit(strength=0.65), "$.strength"),
        (ZIT, zit(strength=1.1), "$.strength"),
        (ZIT, zit(strength=-0.1), "$.strength"),
        (ZIT, zit(strength="0.5"), "$.strength"),
        (ZIT, zit(strength=True), "$.strength"),
        (ZIT, zit(seed=-2), "$.seed"),
        (ZIT, zit(seed=2147483648), "$.seed"),
        (ZIT, zit(seed=1.5), "$.seed"),
        (ZIT, zit(seed="1"), "$.seed"),
        (ZIT, zit(output_format="gif"), "$.output_format"),
        (ZIT, zit(image="not a url"), "$.image"),
        (ZIT, zit(image=[URL]), "$.image"),
        (ZIT, zit(image="https://"), "$.image"),
    ],
)
def test_request_rejected(name: str, instance: object, path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, name, instance)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        (NANO, nano(images=[URL] * 14)),
        (NANO, nano(images=[URL])),
        (NANO, nano(images=URL)),
        (NANO, nano(images="http://127.0.0.1:8000/files/a.png")),
        (NANO, nano(images=["data:image/png;base64,iVBORw0KGgo=", URL])),
        (NANO, nano(prompt=" x ")),
        (NANO, nano(unknown_parameter=True)),
        (ZIT, zit()),
        (ZIT, zit(image=URL)),
        (ZIT, zit(image="data:image/jpeg;base64,/9j/4AAQ")),
        (ZIT, zit(strength=0)),
        (ZIT, zit(strength=0.0)),
        (ZIT, zit(strength=0.3)),
        (ZIT, zit(strength=0.7)),
        (ZIT, zit(strength=1)),
        (ZIT, zit(strength=1.0)),
        (ZIT, zit(seed=-1)),
        (ZIT, zit(seed=0)),
        (ZIT, zit(seed=2147483647)),
        (ZIT, zit(unknown_parameter=True)),
    ],
)
def test_request_accepted(name: str, instance: object) -> None:
    contracts.validate(VD, name, instance)


@pytest.mark.parametrize("step", range(11))
def test_every_strength_step_accepted(step: int) -> None:
    # Parsed from text, as a JSON body would be: 3/10 gives 0.3, unlike 3 * 0.1.
    contracts.validate(VD, ZIT, zit(strength=json.loads(f"{step / 10}")))


@pytest.mark.parametrize(
    ("name", "key", "base"),
    [
        (NANO, "aspect_ratio", nano()),
        (NANO, "resolution", nano()),
        (NANO, "output_format", nano()),
        (ZIT, "size", zit()),
        (ZIT, "strength", zit()),
        (ZIT, "output_format", zit()),
    ],
)
def test_every_enum_value_accepted(name: str, key: str, base: dict[str, Any]) -> None:
    values = contracts.schema(VD, name)["properties"][key]["enum"]
    assert values
    for value in values:
        contracts.validate(VD, name, base | {key: value})


def test_documented_enums() -> None:
    nano_props = contracts.schema(VD, NANO)["properties"]
    assert nano_props["aspect_ratio"]["enum"] == [
        "1:1",
        "16:9",
        "9:16",
        "4:3",
        "3:4",
        "3:2",
        "2:3",
        "4:5",
        "5:4",
        "21:9",
    ]
    assert nano_props["resolution"]["enum"] == ["1k", "2k", "4k"]
    assert nano_props["output_format"]["enum"] == ["png", "jpeg"]
    zit_props = contracts.schema(VD, ZIT)["properties"]
    assert zit_props["size"]["enum"] == [
        "512*512",
        "768*768",
        "1024*1024",
        "1024*768",
        "768*1024",
        "1280*720",
        "720*1280",
    ]
    assert zit_props["output_format"]["enum"] == ["jpeg", "png", "webp"]


def test_defaults() -> None:
    assert contracts.defaults(VD, NANO) == {
        "aspect_ratio": "1:1",
        "resolution": "1k",
        "output_format": "png",
    }
    assert contracts.defaults(VD, ZIT) == {
        "size": "1024*1024",
        "strength": 0.6,
        "seed": -1,
        "output_format": "jpeg",
    }
    assert contracts.defaults(VD, "prediction") == {}


@pytest.mark.parametrize("name", [NANO, ZIT])
def test_defaults_are_valid_values(name: str) -> None:
    base = nano() if name == NANO else zit()
    contracts.validate(VD, name, contracts.defaults(VD, name) | base)


def test_defaults_return_a_fresh_dict() -> None:
    contracts.defaults(VD, ZIT)["seed"] = 7
    assert contracts.defaults(VD, ZIT)["seed"] == -1


# --------------------------------------------------------------------------- responses


@pytest.mark.parametrize(
    "instance",
    [
        submit_response(),
        submit_response(costCents=0, estimatedTime="10-30s"),
        submit_response(statusUrl=f"https://api.vibedream.ai/api/v1/predictions/{UUID}"),
    ],
)
def test_submit_response_accepted(instance: dict[str, Any]) -> None:
    contracts.validate(VD, "submit-response", instance)


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (submit_response(status="completed"), "$.status"),
        (submit_response(id="not-a-uuid"), "$.id"),
        (submit_response(id=UUID.upper()), "$.id"),
        (submit_response(statusUrl=f"/api/v1/predictions/{UUID}"), "$.statusUrl"),
        (submit_response(estimatedTime="soon"), "$.estimatedTime"),
        (submit_response(estimatedTime=10), "$.estimatedTime"),
        (submit_response(costCents=-1), "$.costCents"),
        (submit_response(costCents=1.5), "$.costCents"),
        (submit_response(createdAt="2025-01-15 12:00:00"), "$.createdAt"),
        (submit_response(createdAt="2025-01-15T12:00:00+00:00"), "$.createdAt"),
        (submit_response(createdAt="2025-13-15T12:00:00.000Z"), "$.createdAt"),
        (submit_response(extra=1), "$.extra"),
        (without(submit_response(), "costCents"), "$.costCents"),
    ],
)
def test_submit_response_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, "submit-response", instance)
    assert caught.value.path == path


@pytest.mark.parametrize(
    "instance",
    [
        prediction("processing"),
        prediction("completed"),
        prediction("completed", outputs=[f"http://127.0.0.1:8000/files/{i}.png" for i in range(4)]),
        prediction("failed"),
        prediction("failed", modelId="seedream-v4.5", modelName="Seedream V4.5"),
    ],
)
def test_prediction_accepted(instance: dict[str, Any]) -> None:
    contracts.validate(VD, "prediction", instance)


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        (prediction("completed", outputs=None), "$.outputs"),
        (prediction("completed", outputs=[]), "$.outputs"),
        (prediction("completed", outputs=["not a url"]), "$.outputs[0]"),
        (prediction("completed", error="boom"), "$.error"),
        (prediction("completed", completedAt=None), "$.completedAt"),
        (prediction("processing", completedAt="2025-01-15T12:00:30.000Z"), "$.completedAt"),
        (prediction("processing", outputs=[URL]), "$.outputs"),
        (prediction("processing", error="boom"), "$.error"),
        (prediction("failed", error=None), "$.error"),
        (prediction("failed", error=""), "$.error"),
        (prediction("failed", outputs=[URL]), "$.outputs"),
        (prediction("failed", completedAt=None), "$.completedAt"),
        (prediction("queued"), "$.status"),
        (prediction("completed", completedAt="2025-01-15T12:00:30Z"), "$.completedAt"),
        (prediction("processing", modelId=""), "$.modelId"),
        (prediction("processing", extra=None), "$.extra"),
        (without(prediction("processing"), "completedAt"), "$.completedAt"),
    ],
)
def test_prediction_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, "prediction", instance)
    assert caught.value.path == path


@pytest.mark.parametrize(
    "instance",
    [
        {"error": "Invalid or missing API key.", "code": "unauthorized"},
        {"error": "$.images[2]: bad URL", "code": "invalid_request", "field": "images[2]"},
        {"error": "Bad size.", "code": "invalid_request", "field": "size"},
        {"error": "Too many requests.", "code": "rate_limited"},
    ],
)
def test_error_accepted(instance: dict[str, Any]) -> None:
    contracts.validate(VD, "error", instance)


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        ({"code": "unauthorized"}, "$.error"),
        ({"error": "x"}, "$.code"),
        ({"error": " ", "code": "unauthorized"}, "$.error"),
        ({"error": "x", "code": "Unauthorized"}, "$.code"),
        ({"error": "x", "code": "invalid-request"}, "$.code"),
        ({"error": "x", "code": 401}, "$.code"),
        ({"error": "x", "code": "invalid_request", "field": "$.size"}, "$.field"),
        ({"error": "x", "code": "invalid_request", "field": ""}, "$.field"),
        ({"error": "x", "code": "unauthorized", "status": 401}, "$.status"),
        ({"error": {"message": "x"}, "code": "unauthorized"}, "$.error"),
    ],
)
def test_error_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, "error", instance)
    assert caught.value.path == path


# --------------------------------------------------------------------------- ContractError


def test_contract_error_names_path_and_reason() -> None:
    instance = prediction("completed", outputs=["ftp://example.com/a.png"])
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, "prediction", instance)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.path == "$.outputs[0]"
    assert error.field == "outputs[0]"
    assert error.keyword == "pattern"
    pattern = error.errors[0].validator_value
    assert str(error) == f"$.outputs[0]: 'ftp://example.com/a.png' does not match {pattern!r}"
    assert error.errors and all(isinstance(e, ValidationError) for e in error.errors)


def test_contract_error_for_missing_property() -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, NANO, {"images": URL})
    assert caught.value.path == "$.prompt"
    assert caught.value.field == "prompt"
    assert caught.value.keyword == "required"
    assert "'prompt' is a required property" in str(caught.value)


def test_contract_error_uses_schema_wording() -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, ZIT, zit(prompt="   "))
    assert str(caught.value) == "$.prompt: must be a string with at least one non-space character."
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, NANO, nano(images=[URL, "ftp://x"]))
    assert str(caught.value) == (
        "$.images[1]: must be an image URL (http:// or https://) or a data: URI."
    )


def test_contract_error_for_whole_document() -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, ZIT, "prompt")
    assert caught.value.path == "$"
    assert caught.value.field is None


def test_contract_error_keeps_every_error() -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, ZIT, zit(seed=-2, size="1*1", strength=2))
    paths = {error.json_path for error in caught.value.errors}
    assert paths == {"$.seed", "$.size", "$.strength"}


def test_contract_error_message_stays_short_for_huge_values() -> None:
    huge = "data:image/png;base64," + "A" * 5_000_000
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, NANO, nano(images=[huge] * 15))
    assert caught.value.path == "$.images"
    assert len(str(caught.value)) < 600


def test_contract_error_field_fits_error_schema() -> None:
    # What the emulator will do with a rejected request: the body must satisfy error.json.
    with pytest.raises(ContractError) as caught:
        contracts.validate(VD, NANO, nano(images=[URL, URL, "nope"]))
    body = {"error": str(caught.value), "code": "invalid_request", "field": caught.value.field}
    contracts.validate(VD, "error", body)
    assert body["field"] == "images[2]"


# --------------------------------------------------------------------------- operations


def test_operations_table() -> None:
    ops = {op.operation_id: op for op in contracts.operations(VD)}
    assert set(ops) == {"submitPrediction", "getPrediction"}
    submit, get = ops["submitPrediction"], ops["getPrediction"]
    assert (submit.method, submit.path, submit.security) == (
        "POST",
        "/api/v1/models/{model}/generate",
        "bearer",
    )
    assert submit.request_param == "model"
    assert submit.request_schemas == {model: f"request.{model}" for model in VD_MODELS}
    assert (get.method, get.path, get.request_param, get.request_schemas) == (
        "GET",
        "/api/v1/predictions/{id}",
        None,
        {},
    )
    assert submit.summary and get.summary


@pytest.mark.parametrize("provider", contracts.providers())
def test_operations_reference_existing_schemas(provider: str) -> None:
    names = {name for p, name in all_schemas() if p == provider}
    for op in contracts.operations(provider):
        assert set(op.request_schemas.values()) <= names, op.operation_id
        assert set(op.responses.values()) <= names, op.operation_id
        assert set(re.findall(r"\{(\w+)\}", op.path)) == set(op.parameters), op.operation_id


def test_operation_security_servers_parameters_and_links() -> None:
    gemini = next(
        op for op in contracts.operations(VX) if op.operation_id == "generateContentGeminiV1beta"
    )
    assert gemini.security == "googApiKey"
    assert gemini.security_schemes == ("googApiKey", "googApiKeyQuery", "bearer")
    assert [server["url"] for server in gemini.servers] == [
        "https://generativelanguage.googleapis.com"
    ]
    assert isinstance(gemini.parameters["model"], str)
    assert "gemini-3-pro-image" in gemini.parameter_schemas["model"]["enum"]
    submit, poll = contracts.operations(VD)
    assert submit.security_schemes == ("bearer",)
    assert submit.links["getPrediction"]["parameters"] == {"id": "$response.body#/id"}
    assert (poll.links, poll.parameter_schemas) == ({}, {})
    assert [server["url"] for server in poll.servers] == ["https://api.vibedream.ai"]


def test_response_schema() -> None:
    submit = next(op for op in contracts.operations(VD) if op.operation_id == "submitPrediction")
    assert submit.response_schema(200) == "submit-response"
    assert submit.response_schema(400) == "error"
    assert submit.response_schema(429) == "error"
    assert submit.response_schema(503) == "error"
    assert submit.response_schema(204) is None
    assert submit.response_schema(302) is None


def test_request_schema() -> None:
    submit = next(op for op in contracts.operations(VD) if op.operation_id == "submitPrediction")
    assert submit.request_schema({"model": "z-image-turbo"}) == ZIT
    assert submit.request_schema({"model": "nano-banana-pro-edit"}) == NANO
    assert submit.request_schema({"model": "flux-dev"}) == "request.flux-dev"
    assert submit.request_schema({"model": "no-such-model"}) is None
    assert submit.request_schema() is None
    get = next(op for op in contracts.operations(VD) if op.operation_id == "getPrediction")
    assert get.request_schema({"id": UUID}) is None


def test_operations_returns_a_copy() -> None:
    contracts.operations(VD).clear()
    assert contracts.operations(VD)


def test_find_operation_submit() -> None:
    found = contracts.find_operation("POST", "/api/v1/models/z-image-turbo/generate")
    assert found is not None
    provider, op, params = found
    assert (provider, op.operation_id) == (VD, "submitPrediction")
    assert params == {"model": "z-image-turbo"}
    assert op.request_schema(params) == ZIT


def test_find_operation_poll() -> None:
    found = contracts.find_operation("get", f"/api/v1/predictions/{UUID}")
    assert found is not None
    provider, op, params = found
    assert (provider, op.operation_id, params) == (VD, "getPrediction", {"id": UUID})
    assert contracts.find_operation("GET", "/api/v1/predictions/abc") is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/unknown"),
        ("GET", "/"),
        ("GET", "/api/v1/predictions/"),
        ("GET", "/api/v1/predictions/a/b"),
        ("GET", f"/api/v1/predictions/{UUID}/"),
        ("POST", "/api/v1/models/z-image-turbo/generate/extra"),
        ("POST", "/api/v1/models//generate"),
        ("GET", "/api/v1/models/z-image-turbo/generate"),
        ("DELETE", f"/api/v1/predictions/{UUID}"),
        ("POST", "/prefix/api/v1/models/z-image-turbo/generate"),
    ],
)
def test_find_operation_unknown(method: str, path: str) -> None:
    assert contracts.find_operation(method, path) is None


def test_path_templates_compile() -> None:
    # Templates of the other providers: a parameter is one segment, literals are escaped.
    regex = contracts._compile("/v1beta/models/{model}:generateContent")
    match = regex.fullmatch("/v1beta/models/gemini-3-pro-image:generateContent")
    assert match is not None
    assert match.groupdict() == {"model": "gemini-3-pro-image"}
    regex = contracts._compile("/v1/generation-request/{task_id}/status/")
    assert regex.fullmatch("/v1/generation-request/t1/status/") is not None
    assert regex.fullmatch("/v1/generation-request/t1/status") is None
    assert contracts._compile("/a.b/{x}").fullmatch("/aXb/1") is None


def test_seed_fixtures_untouched_by_validation() -> None:
    # validate() must not mutate what it is given (the emulator validates live request bodies).
    instance = seed("z-image-turbo.submit-request")
    before = copy.deepcopy(instance)
    contracts.validate(VD, ZIT, instance)
    assert instance == before
