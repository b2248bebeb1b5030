"""vibedream's catalog beyond the seeds (issue 21): every image model of provider-facts/MODELS.md
section 1.2, documented by example only, served from its table row.

The facts are read out of MODELS.md itself where it is practical (the model list, the example
bodies, the Gemini size tables), so these tests check the emulator against the source rather
than against a copy; read from the repository's verbatim copy (tests/fixtures/provider-facts/)."""

from __future__ import annotations

import base64
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

import contracts
from contracts import budget
from emulator import create_app
from emulator.core import tables
from emulator.providers.vibedream import catalog
from emulator.providers.vibedream.catalog import models
from tests import provider_facts
from tests.conftest import AUTH, KEY, contract_client, emulator_config

# The verbatim copy in the repository (tests/provider_facts.py), so a clean clone runs these too.
MODELS_MD = provider_facts.MODELS_MD
needs_models_md = pytest.mark.skipif(not MODELS_MD.exists(), reason=f"no {MODELS_MD}")
SEEDS = ("nano-banana-pro-edit", "z-image-turbo")
BY_EXAMPLE = sorted(m.id for m in models().values() if m.documented_by_example)

# What each example body must produce: (width, height, format, costCents), written out here
# from MODELS.md section 1 and the assumptions docs/_incoming/models-vibedream.md lists, so a
# changed row shows up as a failing test rather than passing against itself.
EXPECTED: dict[str, tuple[int, int, str, int]] = {
    "nano-banana-edit": (1024, 1024, "png", 5),  # Gemini 2.5 Flash Image 1:1
    "edit-ultra": (4096, 4096, "jpeg", 24),  # Gemini 3 Pro Image 1:1 at 4k; price assumed
    "gpt-image-edit": (1024, 1024, "jpeg", 3),
    "gpt-image-1": (1024, 1024, "png", 3),
    "dall-e-3": (1024, 1024, "png", 9),
    "flux-dev": (1024, 1024, "jpeg", 2),
    "flux-2-pro-edit": (1024, 1024, "jpeg", 7),  # preset "small": assumed 1024x1024
    "flux-2-klein-9b-edit": (1024, 1024, "jpeg", 2),  # size 0: follows the input (a URL)
    "flux-2-turbo": (1024, 1024, "jpeg", 2),
    "seedream-v4-edit": (4096, 4096, "jpeg", 3),
    "seedream-v4.5": (2048, 2048, "jpeg", 5),
    "edit-sequential": (4096, 4096, "jpeg", 4),
    "seedream-v3-1": (512, 512, "jpeg", 3),  # width x height
    "grok-imagine": (1024, 1024, "jpeg", 3),  # 1:1 at about 1 MP: assumed
    "image-upscaler": (2048, 2048, "jpeg", 2),  # 2k long side, square for a URL: assumed
}


def example(model_id: str) -> dict[str, Any]:
    return contracts.schema("vibedream", models()[model_id].request_schema)["examples"][0]


def submit(client: TestClient, model_id: str, body: dict, **headers: str) -> dict:
    response = client.post(
        f"/api/v1/models/{model_id}/generate", json=body, headers={**AUTH, **headers}
    )
    assert response.status_code == 200, response.text
    return response.json()


def finish(client: TestClient, prediction_id: str) -> dict:
    assert client.post("/_emulator/clock/advance", json={"seconds": 600}).status_code == 200
    return client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH).json()


def balance(client: TestClient) -> Decimal:
    answer = client.post("/_emulator/wallets", json={"provider": "vibedream", "key": KEY})
    return Decimal(answer.json()["balance"])


def picture(client: TestClient, url: str) -> Image.Image:
    download = client.get(url)
    assert download.status_code == 200
    return Image.open(io.BytesIO(download.content))


def png_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def client() -> TestClient:
    with contract_client(create_app(emulator_config())) as test_client:
        yield test_client


# ------------------------------------------------------------------ MODELS.md, parsed


def _markdown_rows(lines: list[str]) -> list[list[str]]:
    """The cells of each data row of the first Markdown table in `lines`."""
    rows, started = [], False
    for line in lines:
        if line.startswith("|"):
            started = True
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= {"-", ":"} for cell in cells):
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # without the header


def _section(text: str, start: str, end: str) -> list[str]:
    return text[text.index(start) : text.index(end, text.index(start))].splitlines()


def _value(cell: str) -> Any:
    """An Example cell as JSON: `["..."]`, "text", 0.8, false, `0` (a number, as printed)."""
    cell = cell.strip()
    if cell.startswith("`"):
        cell = cell[1 : cell.index("`", 1)]
    value, _ = json.JSONDecoder().raw_decode(cell)
    return value


def catalog_rows() -> dict[str, list[str]]:
    """Section 1.2's table by model id: heading, estimatedTime, costCents, sources."""
    text = MODELS_MD.read_text()
    rows = _markdown_rows(_section(text, "### 1.2", "### 1.3"))
    return {row[0].strip("`"): row[1:] for row in rows}


def example_bodies() -> dict[str, dict[str, Any]]:
    """Section 1.3's example body per model, from its Param | Example | Type table."""
    lines = _section(MODELS_MD.read_text(), "### 1.3", "### 1.4")
    bodies: dict[str, dict[str, Any]] = {}
    for index, line in enumerate(lines):
        heading = re.match(r"#### `([^`]+)`", line)
        if heading:
            rows = _markdown_rows(lines[index + 1 :])
            bodies[heading[1]] = {row[0].strip("`").strip('"'): _value(row[1]) for row in rows}
    return bodies


def markdown_size_table(heading: str, columns: dict[str, int]) -> dict[tuple[str, str], str]:
    """{(ratio, resolution): "WxH"} from the size table after `heading` in MODELS.md."""
    text = MODELS_MD.read_text()
    rows = _markdown_rows(text[text.index(heading) :].splitlines())
    return {(row[0], name): row[column] for row in rows for name, column in columns.items()}


# ------------------------------------------------------------------ the catalog


@needs_models_md
def test_every_image_model_of_models_md_is_served_with_its_facts() -> None:
    rows = catalog_rows()
    assert set(rows) == set(BY_EXAMPLE), "MODELS.md section 1.2 and models.json disagree"
    for model_id, (heading, eta, cents, _sources) in rows.items():
        model = models()[model_id]
        tier = (
            next(iter(model.tiers.values()))
            if len(model.tiers) == 1
            else model.tier(model.defaults)
        )
        facts = model.facts or {}
        if "NOT FOUND" in heading:
            assert facts["name"] == "assumed", model_id
        else:
            assert (model.name, facts["name"]) == (heading, "stated"), model_id
        quoted = re.match(r'"(~?)([^"]+)"', eta)
        if quoted and not quoted[1]:  # the submit response's own value
            assert (tier.estimated_time, facts["estimated_time"]) == (quoted[2], "stated")
        elif quoted and re.fullmatch(r"\d+-\d+s", quoted[2]):  # the header's: inferred
            assert tier.estimated_time == quoted[2], model_id
            assert facts["estimated_time"].startswith("inferred"), model_id
        else:  # header words or not found: an assumed time the submit contract can hold
            assert facts["estimated_time"].startswith("assumed"), model_id
        price = re.match(r"(\d+) \[([SI])", cents)
        if price:
            assert tier.cost_cents == int(price[1]), model_id
            mark = {"S": "stated", "I": "inferred"}[price[2]]
            assert facts["cost_cents"].startswith(mark), model_id
        else:
            assert facts["cost_cents"].startswith("assumed"), model_id


@needs_models_md
@pytest.mark.parametrize("model_id", BY_EXAMPLE)
def test_the_contract_example_is_the_body_models_md_prints(model_id: str) -> None:
    printed = example_bodies()[model_id]
    ours = example(model_id)
    assert list(ours) == list(printed)  # same fields, in the page's order
    for name, value in printed.items():
        if isinstance(value, str) and value.endswith("…"):  # MODELS.md shortens the prompt
            assert ours[name].startswith(value[:-1])
        else:
            assert ours[name] == value and type(ours[name]) is type(value), name
    contracts.validate("vibedream", models()[model_id].request_schema, printed)


@pytest.mark.parametrize("model_id", BY_EXAMPLE)
def test_a_by_example_contract_checks_types_only(model_id: str) -> None:
    """No range, enum or default is invented: those are the provider's and are not published."""
    model = models()[model_id]
    schema = contracts.schema("vibedream", model.request_schema)
    assert model.ranges == "unknown"
    invented = {"enum", "minimum", "maximum", "default", "maxItems", "const", "maxLength"}
    for name, field in schema["properties"].items():
        assert not invented & set(field), (model_id, name)
    assert schema.get("additionalProperties", True) is True  # unknown fields tolerated


def test_the_seed_models_keep_their_full_tables() -> None:
    for model_id in SEEDS:
        model = models()[model_id]
        assert model.ranges == "documented"
        fields = contracts.schema("vibedream", model.request_schema)["properties"].values()
        assert any("enum" in field for field in fields)


def test_the_openapi_document_and_contract_check_prices_cover_every_model() -> None:
    operation = next(
        op for op in contracts.operations("vibedream") if op.operation_id == "submitPrediction"
    )
    assert operation.request_schemas == {m.id: m.request_schema for m in models().values()}
    for model in models().values():
        price = budget.PRICES["vibedream"][model.id]
        cents = {key: tier.cost_cents for key, tier in model.tiers.items()}
        assert price["cents"] == ({"*": cents["default"]} if "default" in cents else cents)
        assert price.get("count") == model.count_param


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("model_id", BY_EXAMPLE)
def test_the_printed_example_completes_with_its_image_and_price(
    client: TestClient, model_id: str
) -> None:
    width, height, fmt, cents = EXPECTED[model_id]
    model = models()[model_id]
    before = balance(client)
    created = submit(client, model_id, example(model_id))
    assert created["costCents"] == cents
    assert created["estimatedTime"] == model.tier({**model.defaults}).estimated_time
    assert balance(client) == before - cents
    polled = client.get(f"/api/v1/predictions/{created['id']}", headers=AUTH).json()
    assert (polled["status"], polled["outputs"]) == ("processing", None)
    done = finish(client, created["id"])
    assert done["status"] == "completed", done
    assert (done["modelId"], done["modelName"]) == (model_id, model.name)
    assert len(done["outputs"]) == 1 and done["outputs"][0].endswith(f"-0.{fmt}")
    image = picture(client, done["outputs"][0])
    assert (image.size, image.format.lower()) == ((width, height), fmt)


@pytest.mark.parametrize("model_id", BY_EXAMPLE)
def test_a_short_wallet_is_a_402_and_charges_nothing(model_id: str) -> None:
    cents = EXPECTED[model_id][3]
    config = emulator_config(providers={"vibedream": {"wallet_balance": cents - 1}})
    with contract_client(create_app(config)) as client:
        response = client.post(
            f"/api/v1/models/{model_id}/generate", json=example(model_id), headers=AUTH
        )
        assert response.status_code == 402, response.text
        assert response.json()["code"] == "insufficient_credits"
        assert balance(client) == cents - 1


@pytest.mark.parametrize("model_id", BY_EXAMPLE)
def test_a_failed_prediction_is_refunded(client: TestClient, model_id: str) -> None:
    before = balance(client)
    created = submit(client, model_id, example(model_id), **{"X-Emulator-Fault": "moderation"})
    assert balance(client) == before - EXPECTED[model_id][3]
    done = finish(client, created["id"])
    assert done["status"] == "failed" and done["outputs"] is None
    assert balance(client) == before


def test_several_outputs_are_each_charged(client: TestClient) -> None:
    before = balance(client)
    created = submit(client, "flux-dev", {"prompt": "three foxes", "num_images": 3, "seed": 7})
    assert created["costCents"] == 6
    done = finish(client, created["id"])
    assert [url.rsplit("-", 1)[1] for url in done["outputs"]] == ["0.jpeg", "1.jpeg", "2.jpeg"]
    bytes_of = [client.get(url).content for url in done["outputs"]]
    assert len(set(bytes_of)) == 3  # the images of one request differ
    sequential = submit(client, "edit-sequential", {**example("edit-sequential"), "max_images": 2})
    assert sequential["costCents"] == 8
    assert balance(client) == before - 14


@pytest.mark.parametrize(
    ("model_id", "body", "size"),
    [
        ("gpt-image-edit", {"size": "1536*1024"}, (1536, 1024)),
        ("dall-e-3", {"size": "1792x1024"}, (1792, 1024)),
        ("flux-2-klein-9b-edit", {"size": "800*600"}, (800, 600)),
        ("seedream-v3-1", {"width": 640, "height": 360}, (640, 360)),
        ("grok-imagine", {"aspect_ratio": "16:9"}, (1360, 768)),
        ("nano-banana-edit", {"aspect_ratio": "21:9"}, (1536, 672)),
        ("edit-ultra", {"aspect_ratio": "9:16", "resolution": "1k"}, (768, 1376)),
    ],
)
def test_each_size_scheme_reads_its_parameter(
    client: TestClient, model_id: str, body: dict, size: tuple[int, int]
) -> None:
    created = submit(client, model_id, {**example(model_id), **body})
    done = finish(client, created["id"])
    assert picture(client, done["outputs"][0]).size == size


def test_the_models_that_follow_their_input_take_its_ratio(client: TestClient) -> None:
    klein = submit(
        client,
        "flux-2-klein-9b-edit",
        {**example("flux-2-klein-9b-edit"), "images": [png_uri(300, 200)]},
    )
    upscale = submit(
        client,
        "image-upscaler",
        {"image": png_uri(300, 200), "target_resolution": "4k", "output_format": "png"},
    )
    assert picture(client, finish(client, klein["id"])["outputs"][0]).size == (300, 200)
    image = picture(client, finish(client, upscale["id"])["outputs"][0])
    assert (image.size, image.format) == ((4096, 2731), "PNG")


@pytest.mark.parametrize(
    ("model_id", "body", "field"),
    [
        ("flux-dev", {"seed": "random"}, "seed"),  # the example's type is integer
        ("flux-dev", {"prompt": None}, "prompt"),
        ("gpt-image-edit", {"images": []}, "images"),
        ("image-upscaler", {"image": None}, "image"),
        ("dall-e-3", {"size": "1024*1024"}, "size"),  # dall-e-3 writes WxH
        ("seedream-v4.5", {"size": "99999*99999"}, "size"),  # past what the emulator renders
        ("grok-imagine", {"aspect_ratio": "wide"}, "aspect_ratio"),
        ("grok-imagine", {"output_format": "bmp"}, "output_format"),
        ("nano-banana-edit", {"aspect_ratio": "8:1"}, "aspect_ratio"),  # not in its table
        ("edit-ultra", {"resolution": "8k"}, "resolution"),
        ("flux-2-pro-edit", {"size": "huge"}, "size"),
        ("flux-dev", {"num_images": 0}, "num_images"),
        ("image-upscaler", {"target_resolution": "16k"}, "target_resolution"),
        ("seedream-v3-1", {"width": 0}, "width"),  # the side out of range is the one named
        ("seedream-v3-1", {"height": 0}, "height"),
        ("seedream-v3-1", {"height": 99999}, "height"),
        # The page prints this key with spaces and capitals: the error names it so.
        ("edit-sequential", {"Enable Safety Checker": "no"}, "Enable Safety Checker"),
    ],
)
def test_what_no_rule_can_serve_is_a_400_naming_the_field(
    client: TestClient, model_id: str, body: dict, field: str
) -> None:
    before = balance(client)
    response = client.post(
        f"/api/v1/models/{model_id}/generate", json={**example(model_id), **body}, headers=AUTH
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert balance(client) == before


def test_unknown_fields_are_tolerated_as_for_the_seed_models(client: TestClient) -> None:
    for model_id in ("flux-2-turbo", "z-image-turbo"):
        submit(client, model_id, {"prompt": "a fox", "not_a_parameter": [1, 2]})


def test_the_config_overrides_an_assumed_price_and_time() -> None:
    settings = {"models": {"edit-ultra": {"cost_cents": 30, "estimated_time": "20-40s"}}}
    with contract_client(create_app(emulator_config(providers={"vibedream": settings}))) as client:
        created = submit(client, "edit-ultra", example("edit-ultra"))
        assert (created["costCents"], created["estimatedTime"]) == (30, "20-40s")
        assert submit(client, "nano-banana-edit", example("nano-banana-edit"))["costCents"] == 5


def test_no_model_description_endpoint_is_invented(client: TestClient) -> None:
    """vibedream documents no GET /api/v1/models/{model}: the emulator answers none."""
    response = client.get("/api/v1/models/flux-dev", headers=AUTH)
    assert response.status_code in (404, 405)


# ------------------------------------------------------------------ the size tables


@needs_models_md
def test_nano_banana_edit_sizes_cell_by_cell_against_models_md() -> None:
    """Nano Banana is Gemini 2.5 Flash Image: MODELS.md section 3.3's table, at its one size."""
    cells = markdown_size_table("**Size table** (G1", {"1K": 1})
    model = models()["nano-banana-edit"]
    assert len(cells) == 10
    for (ratio, _), printed in cells.items():
        width, height = model.dimensions({**model.defaults, "aspect_ratio": ratio})
        assert f"{width}x{height}" == printed, ratio


@needs_models_md
def test_edit_ultra_sizes_cell_by_cell_against_models_md() -> None:
    """Gemini 3 Pro Image's 1K/2K/4K sizes are 3.1 Flash's columns for its ten ratios
    (MODELS.md section 3.5), read from section 3.2's table."""
    cells = markdown_size_table("| Aspect ratio | 512 resolution", {"1k": 3, "2k": 5, "4k": 7})
    model = models()["edit-ultra"]
    served = 0
    for (ratio, resolution), printed in cells.items():
        params = {**model.defaults, "aspect_ratio": ratio, "resolution": resolution}
        if ratio in ("1:4", "4:1", "1:8", "8:1"):  # Gemini 3 Pro has no extreme ratios
            continue
        width, height = model.dimensions(params)
        assert f"{width}x{height}" == printed, (ratio, resolution)
        served += 1
    assert served == 30


# ------------------------------------------------------------------ a model is a row


def test_adding_a_model_costs_one_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: TestClient
) -> None:
    """A throw-away model added to a temporary copy of models.json, and nothing else: it is
    served end to end (submit, poll, download, price) with no code change."""
    table = json.loads((Path(catalog.__file__).parent / "models.json").read_text())
    table["throwaway-model"] = {
        "name": "Throw-away Model",
        "request_schema": "request.flux-2-turbo",  # an existing contract: a row, not a file
        "ranges": "unknown",
        "output_size": {"kind": "param", "param": "size", "separator": "x"},
        "format_param": None,
        "format_default": "webp",
        "seed_param": "seed",
        "tiers": {"default": {"cost_cents": 11, "estimated_time": "2-4s"}},
        "assumed_defaults": {"size": "640x480", "seed": -1},
    }
    copy = tmp_path / "models.json"
    copy.write_text(json.dumps(table))
    real_read = tables.read_table

    def read_copy(package: str, filename: str = "models.json") -> dict[str, Any]:
        if package == "emulator.providers.vibedream":
            return {k: v for k, v in json.loads(copy.read_text()).items() if k[0] != "$"}
        return real_read(package, filename)

    monkeypatch.setattr(catalog, "read_table", read_copy)
    catalog.models.cache_clear()
    try:
        before = balance(client)
        created = submit(client, "throwaway-model", {"prompt": "a throw-away fox"})
        assert (created["costCents"], created["estimatedTime"]) == (11, "2-4s")
        done = finish(client, created["id"])
        assert (done["status"], done["modelName"]) == ("completed", "Throw-away Model")
        image = picture(client, done["outputs"][0])
        assert (image.size, image.format) == ((640, 480), "WEBP")
        assert balance(client) == before - 11
    finally:
        monkeypatch.undo()
        catalog.models.cache_clear()
    assert "throwaway-model" not in models()
