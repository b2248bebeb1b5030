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


VX_TEXT = {"text": "Edit this image: make the sky more blue"}
VX_IMAGE = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}


# --------------------------------------------------------------------------- the schema files


def test_providers() -> None:
    assert VD in contracts.providers()
    assert VX in contracts.providers()


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_schema_is_valid_draft_2020_12(provider: str, name: str) -> None:
    document = contracts.schema(provider, name)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"https://imagegen-emulator.dev/contracts/{provider}/{name}.json"
    assert document["title"] and document["description"]


@pytest.mark.parametrize(("provider", "name"), all_schemas())
def test_every_property_is_documented(provider: str, name: str) -> None:
    properties = contracts.schema(provider, name).get("properties", {})
    assert properties
    for key, spec in properties.items():
        assert spec.get("title") and spec.get("description"), key
        items = spec.get("items")
        if items:
            assert items.get("title") and items.get("description"), f"{key}[]"


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
        (vx_request(candidateCount=2), "$.generationConfig.candidateCount"),
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
        "candidateCount-2",
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
    assert image_config["imageSize"]["enum"] == ["1K", "2K", "4K"]
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
    ],
    ids=["no-candidates", "feedback-without-block-reason", "no-response-id"],
)
def test_vertex_response_rejected(instance: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as caught:
        contracts.validate(VX, "response", instance)
    assert caught.value.path == path


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
    assert submit.request_schemas == {"nano-banana-pro-edit": NANO, "z-image-turbo": ZIT}
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
    assert submit.request_schema({"model": "flux-dev"}) is None
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
