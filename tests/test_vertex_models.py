"""Google's other image models (issue 21): Gemini 3.1 Flash Image (GA and preview) and Gemini 3.1
Flash Lite Image as rows of the model table, and Gemini 2.5 Flash Image's limit of 3 input
images, on every surface that serves them: generateContent and its stream twin, countTokens,
the model listings and fileData parts. The sizes and token counts are checked against the
provider facts themselves (MODELS.md section 3, copied verbatim in tests/fixtures)."""

from __future__ import annotations

import base64
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import contracts
from contracts import budget
from emulator import create_app
from emulator.core.wallets import money
from emulator.providers.vertex.catalog import models, surface_models
from emulator.providers.vertex.request import normalise_names
from tests.conftest import KEY, contract_client, emulator_config
from tests.images import encoded
from tests.sizes import PRO_SIZES

GA = "gemini-3.1-flash-image"
PREVIEW = "gemini-3.1-flash-image-preview"
LITE = "gemini-3.1-flash-lite-image"
FLASH_31 = (GA, PREVIEW, LITE)
PRO = "gemini-3-pro-image"
FLASH_25 = "gemini-2.5-flash-image"

# MODELS.md section 3 (Google), copied verbatim; the test below checks the copy against the
# source wherever the source is at hand (the helpers' shared folder), so the copy cannot drift.
FACTS = Path(__file__).parent / "fixtures" / "provider-facts" / "MODELS.google.md"
SOURCE = Path("/work/shared/provider-facts/MODELS.md")

GEMINI = "/v1beta/models/{model}"
GOOG = {"x-goog-api-key": KEY}
BEARER = {"Authorization": f"Bearer {KEY}"}
# (model path with {model}, headers): every path of Google's own surfaces.
GOOGLE_PATHS = [
    (GEMINI, GOOG),
    ("/v1/models/{model}", GOOG),
    ("/v1beta1/publishers/google/models/{model}", BEARER),
    ("/v1/publishers/google/models/{model}", BEARER),
    ("/v1beta1/projects/p-1/locations/global/publishers/google/models/{model}", BEARER),
    ("/v1/projects/p/locations/us-central1/publishers/google/models/{model}", BEARER),
]
GATEWAY = ("/api/v1/publishers/googleVertexAI/models/{model}", BEARER)
VERTEX = GOOGLE_PATHS[2]


# --------------------------------------------------------------------------- the source


def facts() -> str:
    return FACTS.read_text(encoding="utf-8")


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header line starts with `header_start`."""
    lines = text[text.index(header_start) :].splitlines()
    rows = []
    for line in lines[2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def flash_31_table() -> tuple[dict[str, dict[str, tuple[int, int]]], dict[str, set[int]]]:
    """MODELS.md 3.2's size and token table: (ratio -> size -> (w, h), size -> tokens seen)."""
    sizes: dict[str, dict[str, tuple[int, int]]] = {}
    tokens: dict[str, set[int]] = {}
    for cells in table_rows(facts(), "| Aspect ratio | 512 resolution"):
        ratio, values = cells[0], cells[1:]
        sizes[ratio] = {}
        for size, pixels, count in zip(
            ("512", "1K", "2K", "4K"), values[::2], values[1::2], strict=True
        ):
            width, height = pixels.split("x")
            sizes[ratio][size] = (int(width), int(height))
            tokens.setdefault(size, set()).add(int(count))
    return sizes, tokens


def flash_25_table() -> dict[str, tuple[int, int]]:
    """MODELS.md 3.3's size table for Gemini 2.5 Flash Image (1K only)."""
    out = {}
    for ratio, pixels, _ in table_rows(facts(), "| Aspect ratio | Resolution | Tokens |"):
        width, height = pixels.split("x")
        out[ratio] = (int(width), int(height))
    return out


def rest_example() -> dict[str, Any]:
    """MODELS.md 3.1's REST example body (G1), as printed."""
    block = re.search(r"```json\n(.*?)```", facts(), re.DOTALL)
    assert block is not None
    return json.loads(block.group(1))


def test_the_copied_facts_are_the_source() -> None:
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} is not on this machine; the copy was checked where it was")
    text = SOURCE.read_text(encoding="utf-8")
    section = text[text.index("## 3. Google Gemini image models") : text.index("## 4. Gaps")]
    assert section == facts()


def test_the_table_parser_reads_what_it_is_given() -> None:
    # The parser must be able to fail: a changed cell changes what it reads.
    sizes, tokens = flash_31_table()
    assert len(sizes) == 14 and sizes["8:1"]["4K"] == (12288, 1536)
    assert tokens == {"512": {747}, "1K": {1120}, "2K": {1680}, "4K": {2520}}
    assert flash_25_table()["21:9"] == (1536, 672)


# --------------------------------------------------------------------------- the tables


def served_sizes(model_id: str) -> dict[str, dict[str, tuple[int, int]]]:
    model = models()[model_id]
    return {r: {s: model.dimensions(r, s) for s in model.resolutions} for r in model.ratios}


@pytest.mark.parametrize("model_id", [GA, PREVIEW])
def test_flash_31_sizes_are_the_published_table_cell_by_cell(model_id: str) -> None:
    published, _ = flash_31_table()
    assert served_sizes(model_id) == published
    assert models()[model_id].ratios == list(published)  # the 14 ratios, in the printed order
    # Kept as printed, though it is not 21:9 (noted in image_sizes.json).
    assert served_sizes(model_id)["21:9"]["512"] == (792, 168)


def test_flash_lite_serves_the_512_and_1k_columns_only() -> None:
    published, _ = flash_31_table()
    assert models()[LITE].resolutions == ["512", "1K"]
    assert served_sizes(LITE) == {
        ratio: {size: cells[size] for size in ("512", "1K")} for ratio, cells in published.items()
    }


def test_the_older_tables_are_unchanged_and_agree_with_the_facts() -> None:
    # Gemini 3 Pro Image's 1K/2K/4K are 3.1 Flash's columns (MODELS.md 3.5); 2.5's its own.
    published, _ = flash_31_table()
    assert served_sizes(PRO) == PRO_SIZES
    assert served_sizes(PRO) == {
        ratio: {size: published[ratio][size] for size in ("1K", "2K", "4K")} for ratio in PRO_SIZES
    }
    assert {ratio: cells["1K"] for ratio, cells in served_sizes(FLASH_25).items()} == (
        flash_25_table()
    )


def test_output_image_tokens_are_the_published_ones() -> None:
    _, tokens = flash_31_table()
    published = {size: next(iter(counts)) for size, counts in tokens.items()}
    assert dict(models()[GA].output_image_tokens) == published
    assert dict(models()[PREVIEW].output_image_tokens) == published
    assert dict(models()[LITE].output_image_tokens) == {"512": 747, "1K": 1120}


def test_the_stated_limits_and_prices() -> None:
    for model_id in (GA, PREVIEW):
        model = models()[model_id]
        # MODELS.md 3.2: 1120 tokens an input image, 14 images, 131,072 input tokens; G2 prices.
        assert (model.input_image_tokens, model.max_input_images) == (1120, 14)
        assert model.input_token_limit == 131_072
        assert dict(model.token_prices) == {"input": 0.5, "output_text": 3.0, "output_image": 60.0}
    assert models()[LITE].token_prices["output_image"] == 30.0  # MODELS.md 3.4
    assert models()[FLASH_25].max_input_images == 3  # MODELS.md 3.3
    assert models()[PRO].max_input_images == 14
    # What Google does not publish is marked so in the table.
    assert {"thoughts_tokens", "surfaces"} <= set(models()[GA].assumed)
    assert {"input_token_limit", "token_prices"} <= set(models()[LITE].assumed)


def test_every_served_resolution_has_a_token_count_and_a_size() -> None:
    for model in models().values():
        assert model.resolutions, model.id
        assert set(model.resolutions) == set(model.output_image_tokens), model.id


# --------------------------------------------------------------------------- requests


@pytest.fixture
def client() -> Any:
    with contract_client(create_app(emulator_config())) as test_client:
        yield test_client


def text_request(prompt: str, *parts: dict, **image_config: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": prompt}, *parts]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }
    if image_config:
        body["generationConfig"]["imageConfig"] = image_config
    return body


def inline(size: tuple[int, int] = (48, 32), color: str = "red") -> dict[str, Any]:
    data = base64.b64encode(encoded("PNG", size, color)).decode()
    return {"inlineData": {"mimeType": "image/png", "data": data}}


def call(
    client: TestClient,
    model: str,
    body: dict[str, Any],
    where: tuple[str, dict[str, str]] = (GEMINI, GOOG),
    method: str = "generateContent",
    query: str = "",
) -> httpx.Response:
    path, headers = where
    if method == "countTokens":  # its request holds the contents alone
        body = {"contents": body["contents"]}
    return client.post(f"{path.format(model=model)}:{method}{query}", json=body, headers=headers)


def answered(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def the_image(answer: dict[str, Any]) -> tuple[str, tuple[int, int]]:
    """(format, size) of the answer's one image, decoded: what a client downloads."""
    [part] = [p for p in answer["candidates"][0]["content"]["parts"] if "inlineData" in p]
    picture = Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"], validate=True)))
    assert picture.format.lower() == part["inlineData"]["mimeType"].removeprefix("image/")
    return picture.format, picture.size


def image_tokens(details: list[dict[str, Any]]) -> int:
    return sum(d["tokenCount"] for d in details if d["modality"] == "IMAGE")


def refusal(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    return str(error["message"])


def cells(model_ids: tuple[str, ...], sizes: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(model, ratio, size) of every cell of MODELS.md's table in these sizes: from the source,
    so a ratio or size missing from the emulator's tables fails rather than goes untested."""
    published, _ = flash_31_table()
    return [(m, ratio, size) for m in model_ids for ratio in published for size in sizes]


# Every 512 and 1K cell of every new model in the default run; the 2K and 4K cells (pictures
# up to 12288 pixels long) in the slow one, and their four extreme corners always.
SMALL_CELLS = cells(FLASH_31, ("512", "1K"))
LARGE_CELLS = cells((GA, PREVIEW), ("2K", "4K"))
CORNERS = [(GA, "1:8", "4K"), (GA, "8:1", "4K"), (PREVIEW, "4:1", "2K"), (PREVIEW, "1:4", "4K")]


def check_cell(client: TestClient, model_id: str, ratio: str, size: str) -> None:
    published, tokens = flash_31_table()
    answer = answered(
        call(client, model_id, text_request("a fox", aspectRatio=ratio, imageSize=size))
    )
    # The Gemini API answers the Gemini 3 image models in JPEG unless asked (models.json).
    assert the_image(answer) == ("JPEG", published[ratio][size])
    assert image_tokens(answer["usageMetadata"]["candidatesTokensDetails"]) in tokens[size]
    assert answer["modelVersion"] == model_id


@pytest.mark.parametrize(("model_id", "ratio", "size"), SMALL_CELLS + CORNERS)
def test_each_cell_is_served_at_its_published_size(
    client: TestClient, model_id: str, ratio: str, size: str
) -> None:
    check_cell(client, model_id, ratio, size)


@pytest.mark.slow
@pytest.mark.parametrize(("model_id", "ratio", "size"), LARGE_CELLS)
def test_each_large_cell_is_served_at_its_published_size(
    client: TestClient, model_id: str, ratio: str, size: str
) -> None:
    check_cell(client, model_id, ratio, size)


def test_the_documented_example_body_is_accepted_as_printed(client: TestClient) -> None:
    # MODELS.md 3.1 (G1): snake_case inline_data, "Image" in mixed case, a 16:9 2K picture.
    body = rest_example()
    part = body["contents"][0]["parts"][1]["inline_data"]
    assert part["data"] == "<b64>"  # a placeholder: a real JPEG in its place
    part["data"] = base64.b64encode(encoded("JPEG", (64, 36), "orange")).decode()
    answer = answered(call(client, PREVIEW, body))
    assert the_image(answer) == ("JPEG", (2752, 1536))
    parts = answer["candidates"][0]["content"]["parts"]
    assert all("text" not in p for p in parts)  # IMAGE alone: no text part
    usage = answer["usageMetadata"]
    assert image_tokens(usage["promptTokensDetails"]) == 1120  # the one input image
    assert image_tokens(usage["candidatesTokensDetails"]) == 1680  # 2K
    # The body as the emulator reads it is the contract's, and the contract holds it.
    read = normalise_names(rest_example())
    contracts.validate("vertex", "request-gemini", read)
    assert read in contracts.schema("vertex", "request-gemini")["examples"]


@pytest.mark.parametrize("model_id", FLASH_31)
@pytest.mark.parametrize("where", GOOGLE_PATHS, ids=lambda w: w[0].split("{")[0])
def test_every_google_path_serves_the_new_models(
    client: TestClient, model_id: str, where: tuple[str, dict[str, str]]
) -> None:
    body = text_request("a lighthouse", aspectRatio="1:8", imageSize="512")
    answer = answered(call(client, model_id, body, where))
    assert the_image(answer)[1] == (192, 1536)
    assert answer["modelVersion"] == model_id
    assert ("createTime" in answer) is (not where[0].startswith(("/v1beta/models", "/v1/models")))


@pytest.mark.parametrize("model_id", FLASH_31)
def test_compute_tokens_serves_the_new_models_on_vertex_ai(
    client: TestClient, model_id: str
) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "a lighthouse at dusk"}]}]}
    [info] = answered(call(client, model_id, body, VERTEX, "computeTokens"))["tokensInfo"]
    assert len(info["tokens"]) == len(info["tokenIds"]) == 5  # 20 characters, 4 a token
    # The Gemini API has no computeTokens, for any model.
    assert call(client, model_id, body, (GEMINI, GOOG), "computeTokens").status_code == 404


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
@pytest.mark.parametrize("model_id", FLASH_31)
def test_the_gateway_does_not_serve_the_undocumented_models(
    client: TestClient, model_id: str, method: str
) -> None:
    # Seed 001 documents gemini-3-pro-image on the gateway; the 3.1 models are not documented
    # there, so the emulator answers them as the gateway answers any model it lacks.
    response = call(client, model_id, text_request("a cat"), GATEWAY, method)
    assert refusal(response, 404).startswith(f"models/{model_id} is not found")
    assert response.json()["error"]["type"] == "not_found_error"
    assert model_id not in surface_models("gateway")


def sse_chunks(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]


@pytest.mark.parametrize("model_id", FLASH_31)
@pytest.mark.parametrize("where", [GOOGLE_PATHS[0], VERTEX], ids=["gemini", "vertex"])
def test_streaming_serves_the_new_models(
    client: TestClient, model_id: str, where: tuple[str, dict[str, str]]
) -> None:
    body = text_request("a harbour", aspectRatio="8:1", imageSize="1K")
    chunks = sse_chunks(call(client, model_id, body, where, "streamGenerateContent", "?alt=sse"))
    [image] = [
        c
        for c in chunks
        if any("inlineData" in p for p in c["candidates"][0]["content"].get("parts", []))
    ]
    assert the_image(image)[1] == (3072, 384)
    assert chunks[-1]["usageMetadata"]["candidatesTokensDetails"][-1] == {
        "modality": "IMAGE",
        "tokenCount": 1120,
    }
    assert {c["modelVersion"] for c in chunks} == {model_id}


# --------------------------------------------------------------------------- what each refuses


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
@pytest.mark.parametrize("where", [GOOGLE_PATHS[0], VERTEX], ids=["gemini", "vertex"])
@pytest.mark.parametrize("size", ["2K", "4K"])
def test_flash_lite_refuses_sizes_above_1k(
    client: TestClient, size: str, where: tuple[str, dict[str, str]], method: str
) -> None:
    response = call(client, LITE, text_request("a cat", imageSize=size), where, method)
    message = refusal(response)
    assert message.startswith("generationConfig.imageConfig.imageSize")
    assert "512, 1K only" in message and repr(size) in message
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("model_id", "config", "field"),
    [
        (PRO, {"imageSize": "512"}, "imageSize"),
        (PRO, {"aspectRatio": "1:8"}, "aspectRatio"),
        (PRO, {"aspectRatio": "4:1"}, "aspectRatio"),
        (FLASH_25, {"imageSize": "512"}, "imageSize"),
        (FLASH_25, {"aspectRatio": "8:1"}, "aspectRatio"),
        (GA, {"aspectRatio": "9:21"}, "aspectRatio"),  # listed by Vertex GA, sizes unpublished
    ],
)
def test_older_models_refuse_what_only_the_31_models_take(
    client: TestClient, model_id: str, config: dict[str, str], field: str
) -> None:
    for where in (GOOGLE_PATHS[0], VERTEX):
        message = refusal(call(client, model_id, text_request("a cat", **config), where))
        assert f"generationConfig.imageConfig.{field}" in message


@pytest.mark.parametrize(
    ("model_id", "source", "ratio"),
    [(GA, (800, 100), "8:1"), (LITE, (100, 400), "1:4"), (PRO, (800, 100), "21:9")],
)
def test_without_a_ratio_the_first_image_picks_the_nearest_the_model_lists(
    client: TestClient, model_id: str, source: tuple[int, int], ratio: str
) -> None:
    answer = answered(call(client, model_id, text_request("brighter", inline(source))))
    assert the_image(answer)[1] == models()[model_id].dimensions(ratio, "1K")


# --------------------------------------------------------------------------- input images


def images_request(count: int) -> dict[str, Any]:
    colours = ["red", "green", "blue", "white", "black"]
    return text_request("combine them", *[inline(color=colours[i % 5]) for i in range(count)])


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
def test_flash_31_takes_14_input_images_and_refuses_15(client: TestClient, method: str) -> None:
    ok = call(client, GA, images_request(14), method=method)
    assert ok.status_code == 200, ok.text
    message = refusal(call(client, GA, images_request(15), method=method))
    assert message == f"contents: at most 14 input images are allowed for {GA}, got 15."


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent", "countTokens"])
@pytest.mark.parametrize(
    "where", [GOOGLE_PATHS[0], VERTEX, GATEWAY], ids=["gemini", "vertex", "gateway"]
)
def test_flash_25_takes_3_input_images_and_refuses_4(
    client: TestClient, where: tuple[str, dict[str, str]], method: str
) -> None:
    if where == GATEWAY and method == "countTokens":
        pytest.skip("the gateway serves no countTokens")
    ok = call(client, FLASH_25, images_request(3), where, method)
    assert ok.status_code == 200, ok.text
    message = refusal(call(client, FLASH_25, images_request(4), where, method))
    assert message == f"contents: at most 3 input images are allowed for {FLASH_25}, got 4."


def upload(client: TestClient, data: bytes) -> str:
    start = client.post(
        "/upload/v1beta/files",
        headers={
            **GOOG,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Type": "image/png",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
        },
        json={"file": {}},
    )
    assert start.status_code == 200, start.text
    done = client.post(
        start.headers["x-goog-upload-url"],
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        content=data,
    )
    assert done.status_code == 200, done.text
    return str(done.json()["file"]["uri"])


def test_file_parts_count_as_input_images(client: TestClient) -> None:
    uri = upload(client, encoded("PNG", (64, 48), "blue"))
    file_part = {"fileData": {"fileUri": uri, "mimeType": "image/png"}}
    # Gemini 3.1 Flash Image: a file is an input image of 1120 tokens, as an inline one.
    answer = answered(call(client, GA, text_request("a watercolour", file_part, inline())))
    assert image_tokens(answer["usageMetadata"]["promptTokensDetails"]) == 2 * 1120
    counted = answered(call(client, GA, text_request("x", file_part), method="countTokens"))
    assert image_tokens(counted["promptTokensDetails"]) == 1120
    # Gemini 2.5 Flash Image: files count towards its 3.
    body = text_request("x", file_part, file_part, inline(), inline())
    assert refusal(call(client, FLASH_25, body)).endswith("got 4.")


@pytest.mark.parametrize("count", [0, 1, 3])
@pytest.mark.parametrize("model_id", FLASH_31)
def test_input_image_tokens_and_count_tokens_agree(
    client: TestClient, model_id: str, count: int
) -> None:
    body = images_request(count)
    usage = answered(call(client, model_id, body))["usageMetadata"]
    counted = answered(call(client, model_id, body, VERTEX, "countTokens"))
    assert image_tokens(usage["promptTokensDetails"]) == 1120 * count
    assert counted["totalTokens"] == usage["promptTokenCount"]


@pytest.mark.parametrize(
    ("model_id", "limit"), [(GA, 131_072), (LITE, 131_072), (PRO, 65_536), (FLASH_25, 32_768)]
)
def test_the_input_token_limit_is_the_models(client: TestClient, model_id: str, limit: int) -> None:
    # About four characters a token: a prompt of exactly the limit passes, one more is a 400.
    at_limit = text_request("x" * (limit * 4 - 40))  # room for the rest of the text
    assert call(client, model_id, at_limit, VERTEX, "countTokens").json()["totalTokens"] <= limit
    assert call(client, model_id, at_limit, VERTEX).status_code == 200
    over = text_request("x" * (limit * 4 + 4))
    message = refusal(call(client, model_id, over, VERTEX))
    assert message.endswith(f"exceeds the maximum number of tokens allowed ({limit}).")


# --------------------------------------------------------------------------- listings


def test_the_model_listings_hold_every_served_model(client: TestClient) -> None:
    listed = answered(client.get("/v1beta/models", headers=GOOG))["models"]
    assert [m["name"] for m in listed] == [f"models/{m}" for m in surface_models("gemini")]
    assert {f"models/{m}" for m in FLASH_31} <= {m["name"] for m in listed}
    published = answered(client.get("/v1beta1/publishers/google/models", headers=BEARER))
    names = [m["name"] for m in published["publisherModels"]]
    assert names == [f"publishers/google/models/{m}" for m in surface_models("vertex")]


@pytest.mark.parametrize(
    ("model_id", "display", "stage"),
    [
        (GA, "Nano Banana 2", "GA"),
        (PREVIEW, "Nano Banana 2", "PUBLIC_PREVIEW"),
        (LITE, "Nano Banana 2 Lite", "GA"),
    ],
)
def test_each_new_model_reads_as_google_describes_it(
    client: TestClient, model_id: str, display: str, stage: str
) -> None:
    for path in ("/v1beta/models/{m}", "/v1/models/{m}"):
        model = answered(client.get(path.format(m=model_id), headers=GOOG))
        assert (model["name"], model["displayName"]) == (f"models/{model_id}", display)
        assert (model["inputTokenLimit"], model["outputTokenLimit"]) == (131_072, 32_768)
    for path in ("/v1beta1/publishers/google/models/{m}", "/v1/publishers/google/models/{m}"):
        publisher = answered(client.get(path.format(m=model_id), headers=BEARER))
        assert publisher["name"] == f"publishers/google/models/{model_id}"
        assert publisher["launchStage"] == stage


# --------------------------------------------------------------------------- what it costs


def balance(client: TestClient) -> Decimal:
    read = client.post("/_emulator/wallets", json={"provider": "vertex", "key": KEY})
    assert read.status_code == 200, read.text
    return Decimal(read.json()["balance"])


def expected_cents(model_id: str, usage: dict[str, Any], prices: dict[str, float]) -> Decimal:
    """Google's list prices (US dollars a million tokens) applied to the answer's counts."""
    image_out = image_tokens(usage.get("candidatesTokensDetails", []))
    text_out = usage["candidatesTokenCount"] - image_out + usage.get("thoughtsTokenCount", 0)
    dollars = (
        Decimal(str(prices["input"])) * usage["promptTokenCount"]
        + Decimal(str(prices["output_text"])) * text_out
        + Decimal(str(prices["output_image"])) * image_out
    ) / 1_000_000
    return money(dollars * 100)


@pytest.mark.parametrize(
    ("model_id", "size", "prices"),
    [
        (GA, "4K", {"input": 0.5, "output_text": 3.0, "output_image": 60.0}),
        (PREVIEW, "512", {"input": 0.5, "output_text": 3.0, "output_image": 60.0}),
        (LITE, "1K", {"input": 0.25, "output_text": 1.5, "output_image": 30.0}),
    ],
)
def test_the_charge_is_the_list_price_of_the_tokens(
    client: TestClient, model_id: str, size: str, prices: dict[str, float]
) -> None:
    before = balance(client)
    usage = answered(call(client, model_id, text_request("a cat", inline(), imageSize=size)))[
        "usageMetadata"
    ]
    charged = before - balance(client)
    assert charged == expected_cents(model_id, usage, prices) > 0
    # G2's "equivalent per image": $0.151 a 4K image, $0.045 a 512 one, $0.0336 a Lite 1K one.
    per_image = {"4K": Decimal("15.12"), "512": Decimal("4.482"), "1K": Decimal("3.36")}[size]
    image_cents = (
        Decimal(str(prices["output_image"]))
        * image_tokens(usage["candidatesTokensDetails"])
        / 10_000
    )
    assert image_cents == per_image


def test_a_configured_price_overrides_the_table() -> None:
    prices = {"input": 0, "output_text": 0, "output_image": 1000}
    config = emulator_config(providers={"vertex": {"models": {GA: {"token_prices": prices}}}})
    with contract_client(create_app(config)) as client:
        before = balance(client)
        answered(call(client, GA, text_request("a cat", imageSize="1K")))
        assert before - balance(client) == Decimal("112.00")  # 1120 tokens at $1000 / 1M


@pytest.mark.parametrize("where", [GOOGLE_PATHS[0], VERTEX], ids=["gemini", "vertex"])
def test_a_short_wallet_is_refused_and_charged_nothing(
    where: tuple[str, dict[str, str]],
) -> None:
    config = emulator_config(providers={"vertex": {"wallet_balance": "5.00"}})
    with contract_client(create_app(config)) as client:
        # Google has no 402: a balance that cannot pay is RESOURCE_EXHAUSTED (exceptions.py).
        response = call(client, GA, text_request("a cat", imageSize="4K"), where)
        refusal(response, 429)
        assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert balance(client) == Decimal("5.00")
        # A 512 Flash Lite picture (about 2.3 cents) fits: it is answered and charged.
        answered(call(client, LITE, text_request("a cat", imageSize="512"), where))
        assert Decimal("2") < balance(client) < Decimal("5.00")


def test_the_gateway_answers_a_short_wallet_with_its_402() -> None:
    config = emulator_config(providers={"vertex": {"wallet_balance": "0.01"}})
    with contract_client(create_app(config)) as client:
        response = call(client, FLASH_25, text_request("a cat"), GATEWAY)
        assert refusal(response, 402).startswith("Not enough credits")


# --------------------------------------------------------------------------- one more model


THROWAWAY = "gemini-0.1-throwaway-image"


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The model table and the size tables read from copies in tmp_path, which the test edits;
    the packaged files are untouched, and the caches are emptied before and after."""
    from importlib import resources

    from emulator.core import sizes, tables
    from emulator.providers.vertex import catalog

    copies = {"emulator.providers.vertex": tmp_path / "vertex", "emulator.data": tmp_path / "data"}
    for package, folder in copies.items():
        folder.mkdir()
        for source in resources.files(package).iterdir():
            if source.is_file() and source.name.endswith((".json", ".toml", ".html")):
                (folder / source.name).write_bytes(source.read_bytes())

    class Files:
        @staticmethod
        def files(package: str) -> Any:
            return copies[package] if package in copies else resources.files(package)

    monkeypatch.setattr(tables, "resources", Files)
    monkeypatch.setattr(sizes, "resources", Files)
    catalog.models.cache_clear()
    sizes._tables.cache_clear()
    yield copies
    catalog.models.cache_clear()
    sizes._tables.cache_clear()


def add_row(path: Path, key: str, row: dict[str, Any]) -> None:
    table = json.loads(path.read_text(encoding="utf-8"))
    table[key] = row
    path.write_text(json.dumps(table, indent=2), encoding="utf-8")


def test_a_new_model_is_one_row_and_served_end_to_end(data_copy: dict[str, Path]) -> None:
    # What adding a model costs: a row in models.json, and a size table when its sizes are
    # new. Nothing else changes; every surface that lists it serves it.
    add_row(
        data_copy["emulator.data"] / "image_sizes.json",
        THROWAWAY,
        {
            "description": "A throw-away table.",
            "sizes": {
                "1:1": {"512": [320, 320], "1K": [640, 640]},
                "16:9": {"512": [512, 288], "1K": [1024, 576]},
            },
        },
    )
    add_row(
        data_copy["emulator.providers.vertex"] / "models.json",
        THROWAWAY,
        {
            "name": "Throw-away Image",
            "model_version": THROWAWAY + "-001",
            "size_table": THROWAWAY,
            "input_token_limit": 5000,
            "input_image_tokens": 100,
            "output_image_tokens": {"512": 200, "1K": 400},
            "thoughts_tokens": [0, 0],
            "token_prices": {"input": 0, "output_text": 0, "output_image": 500.0},
            "gemini_api_model": {"displayName": "Throw-away", "outputTokenLimit": 1000},
            "max_input_images": 2,
            "surfaces": ["gateway", "vertex"],
        },
    )
    with contract_client(create_app(emulator_config())) as client:
        for where in (VERTEX, GATEWAY):
            body = text_request("a kite", inline(), aspectRatio="16:9", imageSize="512")
            answer = answered(call(client, THROWAWAY, body, where))
            assert the_image(answer) == ("PNG", (512, 288))
            assert answer["modelVersion"] == THROWAWAY + "-001"
            usage = answer["usageMetadata"]
            assert image_tokens(usage["promptTokensDetails"]) == 100
            assert image_tokens(usage["candidatesTokensDetails"]) == 200
            streamed = call(client, THROWAWAY, body, where, "streamGenerateContent", "?alt=sse")
            assert sse_chunks(streamed)[-1]["modelVersion"] == THROWAWAY + "-001"
            # Its own limits: two input images, 512 and 1K, its two ratios.
            assert refusal(call(client, THROWAWAY, images_request(3), where)).endswith("got 3.")
            assert "imageSize" in refusal(
                call(client, THROWAWAY, text_request("x", imageSize="2K"), where)
            )
            assert "aspectRatio" in refusal(
                call(client, THROWAWAY, text_request("x", aspectRatio="4:3"), where)
            )
        # Without a ratio, the input image's nearest in its own table.
        answer = answered(call(client, THROWAWAY, text_request("x", inline((300, 160))), VERTEX))
        assert the_image(answer)[1] == (1024, 576)
        counted = answered(call(client, THROWAWAY, images_request(2), VERTEX, "countTokens"))
        assert image_tokens(counted["promptTokensDetails"]) == 200
        # Its price: 400 image tokens at $500 a million are 20 cents.
        before = balance(client)
        answered(call(client, THROWAWAY, text_request("x", imageSize="1K"), VERTEX))
        assert before - balance(client) == Decimal("20.00")
        # Listed and described where it is served, a 404 where it is not (its surfaces row).
        listed = answered(client.get("/v1beta1/publishers/google/models", headers=BEARER))
        assert f"publishers/google/models/{THROWAWAY}" in [
            m["name"] for m in listed["publisherModels"]
        ]
        described = client.get(f"/v1/publishers/google/models/{THROWAWAY}", headers=BEARER)
        assert answered(described)["name"] == f"publishers/google/models/{THROWAWAY}"
        assert call(client, THROWAWAY, text_request("x"), (GEMINI, GOOG)).status_code == 404
        assert client.get(f"/v1beta/models/{THROWAWAY}", headers=GOOG).status_code == 404
        assert THROWAWAY not in [
            m["name"] for m in client.get("/v1beta/models", headers=GOOG).json()["models"]
        ]


def test_the_contract_checks_budget_knows_every_model_at_its_price() -> None:
    # contract-check's price table (contracts/budget.py) cannot import the emulator's: the two
    # must agree, or a check against the real API is budgeted at another model's price.
    for model_id, model in models().items():
        entry = budget.PRICES["vertex"][model_id]
        prices = budget.PRICES["vertex"][entry] if isinstance(entry, str) else entry
        assert prices["dollars_per_million"] == dict(model.token_prices), model_id
        assert prices["input_image_tokens"] == model.input_image_tokens, model_id
        assert prices["output_image_tokens"] == dict(model.output_image_tokens), model_id


@pytest.mark.parametrize(("model_id", "size"), [(GA, "4K"), (PREVIEW, "512"), (LITE, "1K")])
def test_the_budget_estimate_covers_what_the_answer_costs(
    client: TestClient, model_id: str, size: str
) -> None:
    body = text_request("a cat", inline(), imageSize=size)
    path = f"/v1beta/models/{model_id}:generateContent"
    estimate = budget.estimate("vertex", "POST", path, body)
    assert estimate is not None
    usage = answered(call(client, model_id, body))["usageMetadata"]
    assert budget.vertex_cost_cents(model_id, usage) <= estimate.amount
