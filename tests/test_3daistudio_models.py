"""3D AI Studio's other image models (issue 21, point 2): Gemini 3.1 Flash, Gemini 2.5 Flash and
Seedream V5 Lite, each a row of emulator/providers/aistudio3d/models.json.

The facts come from the provider-facts file (tests/provider_facts.py parses its copy): every
documented example body is submitted exactly as printed and followed to its files through the
virtual clock; the size tables are checked cell by cell against the printed ones; credits
against the overview table. What the provider does not publish (Seedream's pixel sizes, 3.1
Flash's split of 10-25 credits, the processing times) is the table's assumption, marked there.
Every response is also checked against the contracts by the client fixture."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import contracts
from clients import AIStudio3DClient, EmulatorClock
from contracts.budget import estimate
from emulator import create_app
from emulator.config import Config, ConfigError
from emulator.core import sizes
from emulator.providers.aistudio3d.catalog import AUTO, models
from tests import provider_facts
from tests.conftest import AUTH, KEY, contract_client, emulator_config
from tests.images import data_uri

PROVIDER = "3daistudio"
FLASH31 = "/v1/images/gemini/3.1/flash/"
FLASH25 = "/v1/images/gemini/2.5/flash/"
SEEDREAM = "/v1/images/seedream/v5/lite/"
PLACEHOLDER = "data:image/png;base64,iVBOR..."  # the documents' own shortening of a PNG
PNG_4_3 = data_uri("PNG", size=(64, 48), color="skyblue")
PNG_16_9 = data_uri("PNG", size=(160, 90), color="orange")
PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
NEW_MODELS = ("gemini-3.1-flash", "gemini-2.5-flash", "seedream-v5-lite")
# 3D AI Studio's resolution values -> the keys of Google's 3.1 Flash table (MODELS.md 3.2).
FLASH31_RESOLUTION = {"512px": "512", "1K": "1K", "2K": "2K", "4K": "4K"}


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def make_client(**settings: object) -> TestClient:
    return contract_client(create_app(emulator_config(providers={PROVIDER: settings})))


@pytest.fixture
def fast() -> Iterator[TestClient]:
    """Tasks that finish the moment they are submitted."""
    with make_client(queue_duration=0, job_duration=0) as client:
        yield client


def post(client: TestClient, path: str, body: dict) -> httpx.Response:
    return client.post(path, json=body, headers=AUTH)


def submit(client: TestClient, path: str, body: dict) -> str:
    response = post(client, path, body)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def status(client: TestClient, task_id: str) -> dict:
    response = client.get(f"/v1/generation-request/{task_id}/status/", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def finished(client: TestClient, task_id: str) -> list[dict]:
    body = status(client, task_id)
    assert (body["status"], body["progress"]) == ("FINISHED", 100), body
    return body["results"]


def download(client: TestClient, url: str) -> tuple[Image.Image, bytes]:
    response = client.get(url)
    assert response.status_code == 200, url
    return Image.open(io.BytesIO(response.content)), response.content


def images_of(client: TestClient, path: str, body: dict) -> list[Image.Image]:
    return [
        download(client, r["asset_url"])[0] for r in finished(client, submit(client, path, body))
    ]


def balance(client: TestClient) -> Decimal:
    response = client.get("/account/user/wallet/", headers=AUTH)
    assert response.status_code == 200, response.text
    return Decimal(response.json()["balance"])


def set_wallet(client: TestClient, amount: object) -> None:
    body = {"provider": PROVIDER, "key": KEY, "balance": amount}
    assert client.post("/_emulator/wallets", json=body).status_code == 200


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def error_of(response: httpx.Response, status_code: int) -> dict:
    assert response.status_code == status_code, response.text
    return response.json()["error"]


def job_count(client: TestClient) -> int:
    return client.get("/_emulator/health").json()["store"]["jobs"]


def as_printed(body: dict) -> dict:
    """The documented body with its shortened image ("iVBOR...", not a PNG) swapped for a real
    4:3 PNG; everything else exactly as printed."""
    swap = {"images": [PNG_4_3 if uri == PLACEHOLDER else uri for uri in body.get("images", [])]}
    return {**body, **swap} if "images" in body else dict(body)


def model_at(path: str) -> str:
    """The model id whose row serves this /v1/images/{model path}/{operation}/ path."""
    return next(m.id for m in models().values() if path.startswith(f"/v1/images/{m.path}/"))


# ----------------------------------------------------------------------------------------------
# The documented example bodies
# ----------------------------------------------------------------------------------------------

EXAMPLES = provider_facts.aistudio3d_examples()
# What each documented example must produce: (file format, (width, height) per image, credits).
# The sizes are the printed tables' cells (3.1 Flash and 2.5 Flash: Google's, MODELS.md 3.2 and
# 3.3; edits without a ratio follow the 4:3 input); Seedream's is the model table's assumption.
EXPECTED = {
    f"{FLASH31}generate/": ("png", provider_facts.gemini_31_flash_sizes()["1:1"]["2K"], 18),
    f"{FLASH31}edit/": ("png", provider_facts.gemini_31_flash_sizes()["4:3"]["1K"], 13),
    f"{FLASH25}generate/": ("png", provider_facts.gemini_25_flash_sizes()["16:9"], 4 * 5),
    f"{FLASH25}edit/": ("png", provider_facts.gemini_25_flash_sizes()["4:3"], 5),
    f"{SEEDREAM}generate/": ("png", (2848, 1600), 2 * 10),  # assumed pixels (models.json)
}


def test_every_documented_example_is_found() -> None:
    # The Seedream edit example is cut in the stored page (MODELS.md 2.4): five remain.
    assert sorted(path for path, _ in EXAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize(("path", "body"), EXAMPLES, ids=[path for path, _ in EXAMPLES])
def test_every_documented_example_validates_against_its_models_schema(
    path: str, body: dict
) -> None:
    found = contracts.find_operation("POST", path)
    assert found is not None, path
    provider, operation, params = found
    schema = operation.request_schema(params)
    assert provider == PROVIDER
    assert schema == models()[model_at(path)].schemas[path.rstrip("/").rpartition("/")[2]]
    contracts.validate(PROVIDER, schema, body)  # exactly as printed, placeholder and all
    assert body in contracts.schema(PROVIDER, schema)["examples"]


@pytest.mark.parametrize(("path", "body"), EXAMPLES, ids=[path for path, _ in EXAMPLES])
def test_every_documented_example_runs_to_its_files_on_the_virtual_clock(
    client: TestClient, path: str, body: dict
) -> None:
    fmt, size, credits = EXPECTED[path]
    model = models()[model_at(path)]
    count = body.get("num_images", 1)
    task_id = submit(client, path, as_printed(body))
    assert status(client, task_id) == {"status": "PENDING", "progress": 0, "results": []}
    assert balance(client) == 1000 - credits
    # The model's own time per image (assumed for these models), after at most 5 s queued.
    advance(client, 5 + model.seconds_per_image.low * count - 0.5)
    assert status(client, task_id)["status"] in ("PENDING", "IN_PROGRESS")
    advance(client, model.seconds_per_image.high * count)
    results = finished(client, task_id)
    assert len(results) == count
    for result in results:
        image, _ = download(client, result["asset_url"])
        assert (image.format, image.size) == (PILLOW_FORMAT[fmt], size)
        thumbnail, _ = download(client, result["thumbnail"])
        assert max(thumbnail.size) == 256
    assert balance(client) == 1000 - credits


# ----------------------------------------------------------------------------------------------
# Size tables, cell by cell against the printed ones
# ----------------------------------------------------------------------------------------------


def test_the_31_flash_table_is_googles_cell_by_cell() -> None:
    printed = provider_facts.gemini_31_flash_sizes()
    model = models()["gemini-3.1-flash"]
    assert len(printed) == 14
    assert sizes.table("gemini-3.1-flash-image") == printed  # same ratios, same four columns
    ratios = contracts.schema(PROVIDER, model.schemas["generate"])["properties"]["aspect_ratio"]
    assert set(ratios["enum"]) == {AUTO, *printed}
    for ratio, by_resolution in printed.items():
        for resolution, table_key in FLASH31_RESOLUTION.items():
            asked = model.choose_size({"aspect_ratio": ratio, "resolution": resolution})
            assert model.dimensions(*asked) == by_resolution[table_key], (ratio, resolution)
    assert printed["21:9"]["512"] == (792, 168)  # odd, and kept as printed


@pytest.mark.parametrize("resolution", ["512px", "1K"])
@pytest.mark.parametrize("ratio", list(provider_facts.gemini_31_flash_sizes()))
def test_31_flash_files_have_the_printed_size(
    fast: TestClient, ratio: str, resolution: str
) -> None:
    body = {"prompt": "a lighthouse", "aspect_ratio": ratio, "resolution": resolution}
    [image] = images_of(fast, f"{FLASH31}generate/", body)
    printed = provider_facts.gemini_31_flash_sizes()[ratio][FLASH31_RESOLUTION[resolution]]
    assert (image.format, image.size) == ("PNG", printed)


@pytest.mark.parametrize(("ratio", "resolution"), [("1:8", "2K"), ("4:1", "4K")])
def test_31_flash_large_extreme_files_have_the_printed_size(
    fast: TestClient, ratio: str, resolution: str
) -> None:
    body = {"prompt": "x", "aspect_ratio": ratio, "resolution": resolution, "output_format": "jpeg"}
    [image] = images_of(fast, f"{FLASH31}generate/", body)
    assert (image.format, image.size) == (
        "JPEG",
        provider_facts.gemini_31_flash_sizes()[ratio][resolution],
    )


@pytest.mark.slow
def test_31_flash_largest_cell_8_1_at_4k(fast: TestClient) -> None:
    body = {"prompt": "x", "aspect_ratio": "8:1", "resolution": "4K", "output_format": "webp"}
    [image] = images_of(fast, f"{FLASH31}generate/", body)
    assert (image.format, image.size) == ("WEBP", (12288, 1536))


@pytest.mark.parametrize("ratio", list(provider_facts.gemini_25_flash_sizes()))
def test_25_flash_files_have_the_printed_size(fast: TestClient, ratio: str) -> None:
    [image] = images_of(fast, f"{FLASH25}generate/", {"prompt": "x", "aspect_ratio": ratio})
    assert image.size == provider_facts.gemini_25_flash_sizes()[ratio]
    assert sizes.table("gemini-2.5-flash-image")[ratio] == {"1K": image.size}


@pytest.mark.parametrize(
    ("size", "ratio"), [((64, 48), "4:3"), ((90, 160), "9:16"), ((210, 90), "21:9")]
)
@pytest.mark.parametrize("prefix", [FLASH31, FLASH25])
def test_gemini_flash_edits_follow_the_first_inputs_nearest_ratio(
    fast: TestClient, prefix: str, size: tuple[int, int], ratio: str
) -> None:
    body = {"prompt": "x", "images": [data_uri("PNG", size=size), PNG_16_9]}
    [image] = images_of(fast, f"{prefix}edit/", body)
    printed = (
        provider_facts.gemini_31_flash_sizes()[ratio]["1K"]
        if prefix == FLASH31
        else provider_facts.gemini_25_flash_sizes()[ratio]
    )
    assert image.size == printed


@pytest.mark.parametrize(("size", "ratio"), [((300, 97), "4:1"), ((40, 300), "1:8")])
def test_31_flash_edits_can_follow_the_input_to_an_extreme_ratio(
    fast: TestClient, size: tuple[int, int], ratio: str
) -> None:
    [image] = images_of(
        fast, f"{FLASH31}edit/", {"prompt": "x", "images": [data_uri("PNG", size=size)]}
    )
    assert image.size == provider_facts.gemini_31_flash_sizes()[ratio]["1K"]


def test_31_flash_auto_is_square_for_generation(fast: TestClient) -> None:
    [image] = images_of(fast, f"{FLASH31}generate/", {"prompt": "x", "resolution": "512px"})
    assert image.size == (512, 512)


# Seedream's presets: each the 2K cell of its ratio (assumed, models.json); auto follows the
# first input image, else 1:1.
SEEDREAM_PRESETS = {
    "square_hd": (2048, 2048),
    "square": (2048, 2048),
    "portrait_4_3": (1728, 2304),
    "portrait_16_9": (1600, 2848),
    "landscape_4_3": (2304, 1728),
    "landscape_16_9": (2848, 1600),
    "auto_2K": (2048, 2048),
    "auto_3K": (3072, 3072),
}


def test_every_published_seedream_preset_has_a_size() -> None:
    schema = contracts.schema(PROVIDER, "request.seedream-v5-lite.generate")
    published = [row[0] for row in provider_facts.table_after("| Value | Description |")]
    assert schema["properties"]["image_size"]["enum"] == published == list(SEEDREAM_PRESETS)
    assert schema["properties"]["image_size"]["default"] == "auto_2K"


@pytest.mark.parametrize(("preset", "size"), SEEDREAM_PRESETS.items())
def test_seedream_presets_give_their_sizes(
    fast: TestClient, preset: str, size: tuple[int, int]
) -> None:
    [image] = images_of(fast, f"{SEEDREAM}generate/", {"prompt": "x", "image_size": preset})
    assert (image.format, image.size) == ("PNG", size)


def test_seedream_default_preset_is_auto_2k(fast: TestClient) -> None:
    [image] = images_of(fast, f"{SEEDREAM}generate/", {"prompt": "x"})
    assert image.size == (2048, 2048)


@pytest.mark.parametrize(
    ("field", "preset", "size"),
    [
        ("images", "auto_2K", (2848, 1600)),
        ("image_urls", "auto_2K", (2848, 1600)),
        ("image_urls", "auto_3K", (4096, 2304)),
        ("images", "portrait_4_3", (1728, 2304)),
    ],
)
def test_seedream_edit_takes_images_or_image_urls_and_auto_follows_the_input(
    fast: TestClient, field: str, preset: str, size: tuple[int, int]
) -> None:
    body = {"prompt": "x", field: [PNG_16_9, PNG_4_3], "image_size": preset}
    [image] = images_of(fast, f"{SEEDREAM}edit/", body)
    assert image.size == size


# ----------------------------------------------------------------------------------------------
# Parameters: what each model accepts and refuses
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (f"{FLASH31}generate/", {"resolution": "512"}, "resolution"),  # the wire value is 512px
        (f"{FLASH31}generate/", {"resolution": "0.5K"}, "resolution"),
        (f"{FLASH31}generate/", {"aspect_ratio": "9:21"}, "aspect_ratio"),  # not in its list
        (f"{FLASH31}generate/", {"num_images": 5}, "num_images"),
        (f"{FLASH31}edit/", {"images": [PNG_4_3] * 15}, "images"),
        (f"{FLASH31}edit/", {}, "images"),
        (f"{FLASH25}generate/", {"aspect_ratio": "1:8"}, "aspect_ratio"),  # 3.1 Flash's only
        (f"{FLASH25}generate/", {"num_images": 0}, "num_images"),
        (f"{FLASH25}edit/", {"images": []}, "images"),
        (f"{SEEDREAM}generate/", {"num_images": 7}, "num_images"),
        (f"{SEEDREAM}generate/", {"num_images": 0}, "num_images"),
        (f"{SEEDREAM}generate/", {"seed": -1}, "seed"),  # "0 or higher"
        (f"{SEEDREAM}generate/", {"seed": 1.5}, "seed"),
        (f"{SEEDREAM}generate/", {"image_size": "landscape_21_9"}, "image_size"),
        (f"{SEEDREAM}generate/", {"enable_safety_checker": "no"}, "enable_safety_checker"),
        (f"{SEEDREAM}edit/", {}, "images"),
        (f"{SEEDREAM}edit/", {"image_urls": [PNG_4_3] * 11}, "image_urls"),
        (f"{SEEDREAM}edit/", {"image_urls": ["https://example.com/a.png"]}, "image_urls[0]"),
    ],
)
def test_invalid_parameters_are_refused_before_anything_is_charged(
    client: TestClient, path: str, body: dict, field: str
) -> None:
    jobs = job_count(client)
    error = error_of(post(client, path, {"prompt": "x", **body}), 400)
    assert (error["code"], error["field"]) == ("validation_failed", field)
    assert (balance(client), job_count(client)) == (1000, jobs)


def test_seedream_edit_refuses_images_and_image_urls_together(client: TestClient) -> None:
    body = {"prompt": "x", "images": [PNG_4_3], "image_urls": [PNG_4_3]}
    error = error_of(post(client, f"{SEEDREAM}edit/", body), 400)
    assert error["code"] == "validation_failed"
    assert "not both" in error["message"] and "iVBOR" not in error["message"]


@pytest.mark.parametrize("resolution", ["4K", "512px", "8K", 3])
def test_25_flash_ignores_a_resolution_it_does_not_have(
    client: TestClient, resolution: object
) -> None:
    # No resolution parameter is documented, and unknown fields are tolerated (as on every
    # endpoint of this provider): the flat 5 credits, the 1024 px table.
    task_id = submit(client, f"{FLASH25}generate/", {"prompt": "x", "resolution": resolution})
    advance(client, 200)
    [result] = finished(client, task_id)
    assert download(client, result["asset_url"])[0].size == (1024, 1024)
    assert balance(client) == 995


def test_seedream_ignores_output_format_and_answers_png(fast: TestClient) -> None:
    body = {"prompt": "x", "output_format": "jpeg", "image_size": "square"}
    [image] = images_of(fast, f"{SEEDREAM}generate/", body)
    assert image.format == "PNG"


@pytest.mark.parametrize("count", range(1, 7))
def test_seedream_makes_one_to_six_images(client: TestClient, count: int) -> None:
    task_id = submit(client, f"{SEEDREAM}generate/", {"prompt": "x", "num_images": count})
    assert balance(client) == 1000 - 10 * count
    advance(client, 5 + 30 * count)
    assert len(finished(client, task_id)) == count


# ----------------------------------------------------------------------------------------------
# Seedream: seed and safety checker
# ----------------------------------------------------------------------------------------------


def seedream_bytes(client: TestClient, **body: object) -> list[bytes]:
    task_id = submit(client, f"{SEEDREAM}generate/", {"prompt": "a red kite", **body})
    return [download(client, r["asset_url"])[1] for r in finished(client, task_id)]


def test_the_same_seed_gives_the_same_picture(fast: TestClient) -> None:
    first = seedream_bytes(fast, seed=42, image_size="square", num_images=2)
    assert seedream_bytes(fast, seed=42, image_size="square", num_images=2) == first
    assert first[0] != first[1]  # the images of one task differ
    assert seedream_bytes(fast, seed=43, image_size="square", num_images=2)[0] != first[0]
    # The first image of a seed does not depend on how many are asked for.
    assert seedream_bytes(fast, seed=42, image_size="square")[0] == first[0]


def test_the_same_seed_in_another_emulator_gives_the_same_picture() -> None:
    pictures = []
    for run_seed in (1, 2):
        app = create_app(
            emulator_config(
                seed=run_seed, providers={PROVIDER: {"queue_duration": 0, "job_duration": 0}}
            )
        )
        with contract_client(app) as client:
            pictures.append(seedream_bytes(client, seed=7, image_size="square"))
    assert pictures[0] == pictures[1]


def test_without_a_seed_each_request_is_a_new_picture(fast: TestClient) -> None:
    # "Omit for a random result."
    assert seedream_bytes(fast, image_size="square") != seedream_bytes(fast, image_size="square")


def test_the_seed_is_written_into_the_picture(fast: TestClient) -> None:
    task_id = submit(
        fast, f"{SEEDREAM}generate/", {"prompt": "x", "seed": 1234, "image_size": "square"}
    )
    image, _ = download(fast, finished(fast, task_id)[0]["asset_url"])
    assert image.info.get("seed") == "1234"


@pytest.mark.parametrize(
    ("checker", "outcome"),
    [
        ({}, "FAILED"),
        ({"enable_safety_checker": True}, "FAILED"),
        ({"enable_safety_checker": False}, "FINISHED"),
    ],
)
def test_the_safety_checker_withholds_a_flagged_output_unless_turned_off(
    client: TestClient, checker: dict, outcome: str
) -> None:
    task_id = submit(client, f"{SEEDREAM}generate/", {"prompt": "a gore scene", **checker})
    advance(client, 200)
    assert status(client, task_id)["status"] == outcome
    assert balance(client) == (1000 if outcome == "FAILED" else 990)  # refunded when it fails


def test_a_prompt_refused_outright_is_refused_with_the_checker_off(client: TestClient) -> None:
    body = {"prompt": "something nsfw", "enable_safety_checker": False}
    body_status = status(client, submit(client, f"{SEEDREAM}generate/", body))
    assert body_status["status"] == "FAILED" and "moderation" in body_status["failure_reason"]
    assert balance(client) == 1000


# ----------------------------------------------------------------------------------------------
# Credits, 402 and refunds
# ----------------------------------------------------------------------------------------------


def test_credits_match_the_published_overview() -> None:
    published = provider_facts.aistudio3d_credits()
    for model in models().values():
        cell = published[model.name]
        numbers = [Decimal(n) for n in re.findall(r"\d+", cell)]
        prices = set(model.credits.values())
        if len(numbers) == 1:  # "5 per image": flat
            assert (model.credits_by, prices) == (None, {numbers[0]}), model.id
        else:  # "10-25 per image (varies by resolution)", an en dash
            assert model.credits_by == "resolution", model.id
            assert (min(prices), max(prices)) == (numbers[0], numbers[1]), model.id


@pytest.mark.parametrize(
    ("path", "body", "cost"),
    [
        (f"{FLASH31}generate/", {"resolution": "512px"}, 10),
        (f"{FLASH31}generate/", {}, 13),  # the default resolution, 1K
        (f"{FLASH31}generate/", {"resolution": "2K", "num_images": 3}, 54),
        (f"{FLASH31}generate/", {"resolution": "4K", "num_images": 4}, 100),
        (f"{FLASH31}edit/", {"images": [PNG_4_3] * 3, "resolution": "512px", "num_images": 2}, 20),
        (f"{FLASH25}generate/", {"num_images": 3}, 15),
        (f"{FLASH25}edit/", {"images": [PNG_4_3], "num_images": 4}, 20),
        (f"{SEEDREAM}generate/", {"image_size": "auto_3K", "num_images": 6}, 60),
        (f"{SEEDREAM}edit/", {"image_urls": [PNG_4_3] * 10, "num_images": 2}, 20),
    ],
)
def test_credits_per_image_times_num_images(
    client: TestClient, path: str, body: dict, cost: int
) -> None:
    submit(client, path, {"prompt": "a cat", **body})
    assert balance(client) == 1000 - cost


@pytest.mark.parametrize(
    ("path", "body", "cost"),
    [
        (f"{FLASH31}generate/", {"resolution": "4K", "num_images": 2}, 50),
        (f"{FLASH25}edit/", {"images": [PNG_4_3], "num_images": 4}, 20),
        (f"{SEEDREAM}generate/", {"num_images": 3}, 30),
    ],
)
def test_a_short_wallet_is_refused_with_402_and_an_exact_one_is_enough(
    client: TestClient, path: str, body: dict, cost: int
) -> None:
    set_wallet(client, cost - 0.01)
    jobs = job_count(client)
    error = error_of(post(client, path, {"prompt": "a cat", **body}), 402)
    assert error["code"] == "insufficient_credits"
    assert (balance(client), job_count(client)) == (Decimal(cost) - Decimal("0.01"), jobs)
    set_wallet(client, cost)
    submit(client, path, {"prompt": "a cat", **body})
    assert balance(client) == 0


@pytest.mark.parametrize("model_id", NEW_MODELS)
def test_a_failed_task_refunds_when_it_fails(client: TestClient, model_id: str) -> None:
    model = models()[model_id]
    path = f"/v1/images/{model.path}/generate/"
    task_id = submit(client, path, {"prompt": "a gore scene", "num_images": 2})
    charged = 1000 - balance(client)
    assert charged == 2 * model.credits_per_image({"resolution": "1K", "num_images": 2})
    advance(client, 5)
    assert balance(client) == 1000 - charged  # not before it fails
    advance(client, 300)
    body = status(client, task_id)
    assert (body["status"], body["results"]) == ("FAILED", [])
    assert balance(client) == 1000


@pytest.mark.parametrize("model_id", NEW_MODELS)
def test_a_task_failed_by_an_injected_fault_refunds(client: TestClient, model_id: str) -> None:
    response = client.post(
        f"/v1/images/{models()[model_id].path}/generate/",
        json={"prompt": "x"},
        headers={**AUTH, "X-Emulator-Fault": "job:500"},
    )
    assert response.status_code == 200, response.text
    assert balance(client) < 1000
    advance(client, 300)
    assert status(client, response.json()["task_id"])["status"] == "FAILED"
    assert balance(client) == 1000


def test_the_config_overrides_credits_flat_or_per_tier() -> None:
    with make_client(
        models={"gemini-3.1-flash": {"credits": {"4K": 30}}, "seedream-v5-lite": {"credits": 7}}
    ) as client:
        submit(client, f"{FLASH31}generate/", {"prompt": "x", "resolution": "4K", "num_images": 2})
        assert balance(client) == 940
        submit(client, f"{FLASH31}generate/", {"prompt": "x", "resolution": "1K"})
        assert balance(client) == 927  # the table's 13 for a tier the config leaves alone
        submit(client, f"{SEEDREAM}generate/", {"prompt": "x", "num_images": 3})
        assert balance(client) == 906


@pytest.mark.parametrize("credits", [-1, "ten", {}, {"1K": "x"}])
def test_a_bad_credits_setting_is_refused_on_load(credits: object) -> None:
    with pytest.raises(ConfigError):
        Config.from_mapping(
            {"providers": {PROVIDER: {"models": {"gemini-3.1-flash": {"credits": credits}}}}}
        )


def test_the_config_overrides_the_assumed_time_per_image() -> None:
    with make_client(
        queue_duration=0, models={"seedream-v5-lite": {"job_duration": 100}}
    ) as client:
        task_id = submit(client, f"{SEEDREAM}generate/", {"prompt": "x", "num_images": 2})
        advance(client, 199)
        assert status(client, task_id)["status"] == "IN_PROGRESS"
        advance(client, 1)
        assert status(client, task_id)["status"] == "FINISHED"


# ----------------------------------------------------------------------------------------------
# The model table, the contracts and the OpenAPI document agree
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", list(models()))
@pytest.mark.parametrize("operation", ["generate", "edit"])
def test_every_model_operation_has_its_contract_and_openapi_entry(
    model_id: str, operation: str
) -> None:
    model = models()[model_id]
    path = f"/v1/images/{model.path}/{operation}/"
    found = contracts.find_operation("POST", path)
    assert found is not None, path
    _, contract, params = found
    assert contract.request_schema(params) == model.schemas[operation]
    document = contracts.openapi_document()
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == f"#/components/schemas/{PROVIDER}.{model.schemas[operation]}"
    assert model.name in document["paths"][path]["post"]["summary"]


def test_assumed_fields_are_marked_in_the_table() -> None:
    assert models()["gemini-3-pro"].assumed == ()
    assert set(models()["gemini-3.1-flash"].assumed) == {"credits", "seconds_per_image"}
    assert set(models()["gemini-2.5-flash"].assumed) == {"seconds_per_image"}
    assert set(models()["seedream-v5-lite"].assumed) == {"size", "format", "seconds_per_image"}


# ----------------------------------------------------------------------------------------------
# The reference client and the contract-check budget know the other models
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "action", "options", "expected"),
    [
        (
            "gemini/3.1/flash",
            "generate",
            {"aspect_ratio": "8:1", "resolution": "512px"},
            ("png", (1536, 192), 10),
        ),
        ("gemini/2.5/flash", "edit", {"output_format": "jpeg"}, ("jpeg", (1184, 864), 5)),
        (
            "seedream/v5/lite",
            "generate",
            {"image_size": "portrait_16_9", "seed": 3},
            ("png", (1600, 2848), 10),
        ),
        ("seedream/v5/lite", "edit", {"image_size": "square_hd"}, ("png", (2048, 2048), 10)),
    ],
)
def test_the_reference_client_reaches_every_model_by_its_path(
    model: str, action: str, options: dict, expected: tuple[str, tuple[int, int], int]
) -> None:
    fmt, size, credits = expected
    with contract_client(create_app(emulator_config())) as http:
        clock = EmulatorClock(http)
        client = AIStudio3DClient(
            KEY, http_client=http, sleep=clock.sleep, clock=clock.now, strict=True
        )
        before = client.balance()
        if action == "generate":
            result = client.generate("a red fox", model=model, **options)
        else:
            png = io.BytesIO()
            Image.new("RGB", (64, 48), "teal").save(png, "PNG")
            result = client.edit("make it blue", [png.getvalue()], model=model, **options)
        assert before - client.balance() == credits
    image = Image.open(io.BytesIO(result.image.data))
    assert (image.format, image.size) == (PILLOW_FORMAT[fmt], size)


@pytest.mark.parametrize(
    ("path", "body", "most"),
    [
        (f"{FLASH31}generate/", {"resolution": "512px", "num_images": 2}, 50),  # unsplit: dearest
        (f"{FLASH25}edit/", {"num_images": 4}, 20),
        (f"{SEEDREAM}generate/", {"num_images": 6}, 60),
        ("/v1/images/gemini/3/pro/generate/", {}, 50),
    ],
)
def test_the_contract_check_budget_prices_every_model(path: str, body: dict, most: int) -> None:
    cost = estimate(PROVIDER, "POST", path, body)
    assert cost is not None and cost.amount == most
    charged = models()[model_at(path)].credits_per_image({"resolution": "1K", **body})
    assert charged * body.get("num_images", 1) <= cost.amount  # never spends over the estimate
