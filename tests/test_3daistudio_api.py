"""3D AI Studio end to end, in-process (seed 002, DESIGN.md 3.3, issue 4): the paths with and
without their trailing slash, the task lifecycle on the virtual clock, results and their files,
output sizes, credits and the wallet, expiry, the rate limit, keys, faults and determinism.

Every response here is also checked against the contracts by the client fixture."""

from __future__ import annotations

import io
import itertools
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat
from starlette.testclient import TestClient

from emulator import create_app
from tests.conftest import AUTH, EPOCH, KEY, check_contract, contract_client, emulator_config
from tests.images import data_uri
from tests.sizes import PRO_SIZES

PROVIDER = "3daistudio"
GENERATE = "/v1/images/gemini/3/pro/generate/"
EDIT = "/v1/images/gemini/3/pro/edit/"
WALLETS = ("/account/user/wallet/", "/user/wallet/")
DAY = 24 * 3600
OTHER = {"Authorization": "Bearer another-key"}
PNG_4_3 = data_uri("PNG", size=(64, 48), color="skyblue")

PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def status_path(task_id: str, slash: str = "/") -> str:
    return f"/v1/generation-request/{task_id}/status{slash}"


def submit(client: TestClient, path: str, body: dict, headers: dict = AUTH) -> str:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def generate(client: TestClient, **body: object) -> str:
    return submit(client, GENERATE, {"prompt": "a futuristic cityscape at night", **body})


def edit(client: TestClient, images: list[str] | None = None, **body: object) -> str:
    payload = {"prompt": "make the sky blue", "images": images or [PNG_4_3], **body}
    return submit(client, EDIT, payload)


def status(client: TestClient, task_id: str, headers: dict = AUTH) -> dict:
    response = client.get(status_path(task_id), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def balance(client: TestClient, headers: dict = AUTH) -> str:
    response = client.get(WALLETS[0], headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["balance"]


def set_wallet(client: TestClient, key: str, amount: object = None) -> dict:
    body = {"provider": PROVIDER, "key": key}
    if amount is not None:
        body["balance"] = amount
    response = client.post("/_emulator/wallets", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def job_count(client: TestClient) -> int:
    return client.get("/_emulator/health").json()["store"]["jobs"]


def error_of(response: httpx.Response, status_code: int) -> dict:
    assert response.status_code == status_code, response.text
    return response.json()["error"]


def download(client: TestClient, url: str) -> tuple[Image.Image, httpx.Response]:
    response = client.get(url)
    assert response.status_code == 200, url
    return Image.open(io.BytesIO(response.content)), response


def finished(client: TestClient, task_id: str) -> list[dict]:
    body = status(client, task_id)
    assert (body["status"], body["progress"]) == ("FINISHED", 100), body
    return body["results"]


def make_client(**settings: object) -> TestClient:
    return contract_client(create_app(emulator_config(providers={PROVIDER: settings})))


@pytest.fixture
def fast() -> Iterator[TestClient]:
    """Tasks that finish the moment they are submitted."""
    with make_client(queue_duration=0, job_duration=0) as client:
        yield client


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""], ids=["documented", "without-slash"])
def test_every_path_answers_with_and_without_its_trailing_slash(
    fast: TestClient, slash: str
) -> None:
    def no_redirect(response: httpx.Response) -> httpx.Response:
        assert response.status_code == 200, response.text
        assert not response.history and "location" not in response.headers
        return response

    created = no_redirect(
        fast.post(GENERATE.rstrip("/") + slash, json={"prompt": "a cat"}, headers=AUTH)
    ).json()
    assert set(created) == {"task_id", "created_at"}
    edited = no_redirect(
        fast.post(EDIT.rstrip("/") + slash, json={"prompt": "x", "images": [PNG_4_3]}, headers=AUTH)
    ).json()
    for task_id in (created["task_id"], edited["task_id"]):
        body = no_redirect(fast.get(status_path(task_id, slash), headers=AUTH)).json()
        assert body["status"] == "FINISHED"
    for path in WALLETS:
        wallet = no_redirect(fast.get(path.rstrip("/") + slash, headers=AUTH)).json()
        assert wallet == {"balance": "900.00"}


def test_submit_answers_a_task_id_and_the_creation_time(client: TestClient) -> None:
    response = client.post(GENERATE, json={"prompt": "a cat"}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"task_id", "created_at"}
    assert str(uuid.UUID(body["task_id"])) == body["task_id"]
    assert body["created_at"] == "2025-01-15T12:00:00Z"  # the virtual clock's start, EPOCH
    advance(client, 90.5)
    later = client.post(GENERATE, json={"prompt": "a cat"}, headers=AUTH).json()
    assert later["created_at"] == "2025-01-15T12:01:30Z"
    assert later["task_id"] != body["task_id"]


def test_wrong_method_and_unknown_paths_answer_in_the_provider_shape(client: TestClient) -> None:
    assert error_of(client.get(GENERATE, headers=AUTH), 405)["code"] == "method_not_allowed"
    assert error_of(client.delete(status_path("x"), headers=AUTH), 405)["code"] == (
        "method_not_allowed"
    )
    unknown = client.post("/v1/images/gemini/3/pro/upscale/", json={}, headers=AUTH)
    assert error_of(unknown, 404)["code"] == "not_found"


# ----------------------------------------------------------------------------------------------
# Lifecycle on the virtual clock
# ----------------------------------------------------------------------------------------------


def test_lifecycle_pending_then_in_progress_with_rising_progress_then_finished(
    client: TestClient,
) -> None:
    task_id = generate(client)
    seen: list[dict] = []
    for _ in range(120):
        body = status(client, task_id)
        seen.append(body)
        if body["status"] == "FINISHED":
            break
        advance(client, 1)
    statuses = [body["status"] for body in seen]
    runs = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
    assert runs == ["PENDING", "IN_PROGRESS", "FINISHED"]
    # Queued 1-5 s by default, then 40-90 s for the one image: polled once a second.
    assert 1 <= statuses.count("PENDING") <= 5
    assert 41 <= len(seen) - 1 <= 95
    progress = [body["progress"] for body in seen]
    assert progress == sorted(progress)
    assert all(b["progress"] == 0 for b in seen if b["status"] == "PENDING")
    running = [b["progress"] for b in seen if b["status"] == "IN_PROGRESS"]
    assert all(0 <= p <= 99 for p in running)
    # At most 90 s for 100 %: more than a point a second, so every poll sees it rise.
    assert all(a < b for a, b in itertools.pairwise(running))
    assert running[-1] >= 90
    assert seen[-1]["progress"] == 100
    assert all(body["results"] == [] for body in seen[:-1])
    assert all("failure_reason" not in body for body in seen)
    assert len(seen[-1]["results"]) == 1


@pytest.mark.parametrize("count", [1, 2, 3])
def test_default_job_time_is_40_to_90_seconds_per_image(count: int) -> None:
    with make_client(queue_duration=0) as client:
        task_id = generate(client, num_images=count)
        advance(client, 40 * count - 0.5)
        assert status(client, task_id)["status"] == "IN_PROGRESS"
        advance(client, 50 * count + 0.5)
        assert status(client, task_id)["status"] == "FINISHED"


def test_configured_job_duration_is_per_image() -> None:
    with make_client(queue_duration=0, job_duration=10) as client:
        task_id = generate(client, num_images=3)
        advance(client, 15)
        assert status(client, task_id) == {"status": "IN_PROGRESS", "progress": 50, "results": []}
        advance(client, 14)
        assert status(client, task_id)["progress"] == 96
        advance(client, 1)
        assert len(finished(client, task_id)) == 3


def test_configured_queue_duration_holds_the_task_pending() -> None:
    with make_client(queue_duration=7, job_duration=10) as client:
        task_id = generate(client)
        advance(client, 6)
        assert status(client, task_id) == {"status": "PENDING", "progress": 0, "results": []}
        advance(client, 1)
        assert status(client, task_id) == {"status": "IN_PROGRESS", "progress": 0, "results": []}
        advance(client, 5)
        assert status(client, task_id)["progress"] == 50
        advance(client, 5)
        assert status(client, task_id)["status"] == "FINISHED"


# ----------------------------------------------------------------------------------------------
# Results and their files
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_one_result_per_image(fast: TestClient, count: int) -> None:
    results = finished(fast, generate(fast, num_images=count))
    assert len(results) == count
    for result in results:
        assert set(result) == {"asset_url", "asset", "asset_type", "thumbnail"}
        assert result["asset_type"] == "IMAGE"
        assert result["asset"] == result["asset_url"]
        assert result["thumbnail"] != result["asset_url"]
        assert result["asset_url"].startswith("http://testserver/")
    urls = [r["asset_url"] for r in results] + [r["thumbnail"] for r in results]
    assert len(set(urls)) == 2 * count


def test_the_images_of_one_task_differ(fast: TestClient) -> None:
    results = finished(fast, generate(fast, num_images=3))
    contents = {fast.get(r["asset_url"]).content for r in results}
    assert len(contents) == 3


@pytest.mark.parametrize(
    ("fmt", "ratio"),
    [("png", "16:9"), ("jpeg", "9:16"), ("webp", "21:9"), ("png", "1:1"), ("jpeg", "4:5")],
)
def test_downloads_are_real_images_and_thumbnails_of_the_same_picture(
    fast: TestClient, fmt: str, ratio: str
) -> None:
    results = finished(fast, generate(fast, output_format=fmt, aspect_ratio=ratio, num_images=2))
    full, response = download(fast, results[0]["asset_url"])
    assert response.headers["content-type"] == f"image/{fmt}"
    assert (full.format, full.size) == (PILLOW_FORMAT[fmt], PRO_SIZES[ratio]["1K"])
    full.load()

    thumb, response = download(fast, results[0]["thumbnail"])
    assert response.headers["content-type"] == f"image/{fmt}"
    assert thumb.format == PILLOW_FORMAT[fmt]
    width, height = full.size
    assert max(thumb.size) == 256
    if width >= height:
        assert abs(thumb.height - 256 * height / width) <= 1
    else:
        assert abs(thumb.width - 256 * width / height) <= 1

    # The same picture, scaled: close to the full image shrunk, further from the task's other.
    other, _ = download(fast, results[1]["asset_url"])

    # Compared at an eighth of the thumbnail's size, where resampling filters agree.
    small = (thumb.width // 8, thumb.height // 8)

    def distance(image: Image.Image) -> list[float]:
        a, b = (i.convert("RGB").resize(small, Image.Resampling.BOX) for i in (image, thumb))
        return ImageStat.Stat(ImageChops.difference(a, b)).mean

    own, others = distance(full), distance(other)
    assert max(own) < 6, own
    assert sum(own) * 3 < sum(others), (own, others)


def test_files_are_not_downloadable_before_the_task_finishes(app, client: TestClient) -> None:
    task_id = generate(client)
    job = app.state.runtime.store.get_job(task_id)
    urls = [
        app.state.runtime.store.get_asset(asset_id).url("http://testserver")
        for asset_id in [*job.outputs, *job.params["thumbnails"]]
    ]
    advance(client, 30)
    assert [client.get(url).status_code for url in urls] == [404, 404]
    advance(client, 70)
    results = finished(client, task_id)
    assert urls == [results[0]["asset_url"], results[0]["thumbnail"]]
    assert [client.get(url).status_code for url in urls] == [200, 200]


def test_every_result_url_keeps_the_root_path_behind_a_proxy() -> None:
    """Behind a proxy (`--root-path /emu`) the three URLs of a result name the public address,
    root path included, and each one downloads (issue 23)."""
    public = "https://imagegen.example.test/emu"
    timings = {"queue_duration": 0, "job_duration": 0}
    app = create_app(emulator_config(providers={PROVIDER: timings}))
    with TestClient(app, base_url="https://imagegen.example.test", root_path="/emu") as client:
        client.event_hooks["response"].append(check_contract)
        [result] = finished(client, generate(client))
        for name in ("asset_url", "asset", "thumbnail"):
            assert result[name].startswith(f"{public}/assets/"), (name, result[name])
            assert client.get(result[name]).status_code == 200, name


@pytest.mark.parametrize("resolution", ["1K", "2K"])
@pytest.mark.parametrize("ratio", list(PRO_SIZES))
def test_output_dimensions_follow_the_gemini_3_pro_table(
    fast: TestClient, ratio: str, resolution: str
) -> None:
    [result] = finished(fast, generate(fast, aspect_ratio=ratio, resolution=resolution))
    image, _ = download(fast, result["asset_url"])
    assert image.size == PRO_SIZES[ratio][resolution]


@pytest.mark.parametrize("ratio", ["16:9", "2:3"])
def test_4k_output_dimensions(fast: TestClient, ratio: str) -> None:
    [result] = finished(fast, generate(fast, aspect_ratio=ratio, resolution="4K"))
    image, _ = download(fast, result["asset_url"])
    assert image.size == PRO_SIZES[ratio]["4K"]
    thumb, _ = download(fast, result["thumbnail"])
    assert max(thumb.size) == 256


@pytest.mark.parametrize("body", [{}, {"aspect_ratio": "auto"}])
def test_auto_is_square_for_generation(fast: TestClient, body: dict) -> None:
    [result] = finished(fast, generate(fast, **body))
    assert download(fast, result["asset_url"])[0].size == (1024, 1024)


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ((64, 48), "4:3"),
        ((48, 64), "3:4"),
        ((160, 90), "16:9"),
        ((90, 160), "9:16"),
        ((210, 90), "21:9"),
        ((50, 50), "1:1"),
        ((150, 100), "3:2"),
        ((100, 150), "2:3"),
        ((50, 40), "5:4"),
        ((40, 50), "4:5"),
        ((300, 97), "21:9"),  # nearest, not exact
        ((101, 100), "1:1"),
    ],
)
def test_auto_follows_the_input_images_nearest_ratio_for_edits(
    fast: TestClient, size: tuple[int, int], ratio: str
) -> None:
    [result] = finished(fast, edit(fast, [data_uri("PNG", size=size)]))
    assert download(fast, result["asset_url"])[0].size == PRO_SIZES[ratio]["1K"]


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF"])
def test_auto_reads_every_accepted_input_format(fast: TestClient, fmt: str) -> None:
    [result] = finished(fast, edit(fast, [data_uri(fmt, size=(90, 160))]))
    assert download(fast, result["asset_url"])[0].size == PRO_SIZES["9:16"]["1K"]


def test_auto_follows_the_first_input_image_only(fast: TestClient) -> None:
    images = [data_uri("PNG", size=(48, 64)), data_uri("PNG", size=(160, 90))]
    [result] = finished(fast, edit(fast, images))
    assert download(fast, result["asset_url"])[0].size == PRO_SIZES["3:4"]["1K"]


def test_an_explicit_ratio_overrides_the_input_images(fast: TestClient) -> None:
    [result] = finished(fast, edit(fast, [PNG_4_3], aspect_ratio="16:9", output_format="webp"))
    image, _ = download(fast, result["asset_url"])
    assert (image.format, image.size) == ("WEBP", PRO_SIZES["16:9"]["1K"])


def test_auto_is_square_for_generation_even_with_a_stray_images_field(fast: TestClient) -> None:
    task_id = generate(fast, images=[data_uri("PNG", size=(160, 90))])
    [result] = finished(fast, task_id)
    assert download(fast, result["asset_url"])[0].size == (1024, 1024)


# ----------------------------------------------------------------------------------------------
# Credits and the wallet
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "cost"),
    [
        (GENERATE, {"resolution": "1K"}, 50),
        (GENERATE, {"resolution": "2K"}, 50),
        (GENERATE, {"resolution": "4K"}, 80),
        (GENERATE, {}, 50),
        (GENERATE, {"resolution": "1K", "num_images": 4}, 200),
        (GENERATE, {"resolution": "2K", "num_images": 2}, 100),
        (GENERATE, {"resolution": "4K", "num_images": 3}, 240),
        (EDIT, {"images": [PNG_4_3]}, 50),
        (EDIT, {"images": [PNG_4_3] * 3, "num_images": 2}, 100),  # per output, not per input
        (EDIT, {"images": [PNG_4_3], "resolution": "4K", "num_images": 4}, 320),
    ],
)
def test_credits_per_image_by_resolution_times_num_images(
    client: TestClient, path: str, body: dict, cost: int
) -> None:
    assert balance(client) == "1000.00"
    submit(client, path, {"prompt": "a cat", **body})
    assert Decimal(balance(client)) == Decimal(1000 - cost)


def test_both_wallet_paths_answer_the_balance_as_a_string_with_two_decimals(
    client: TestClient,
) -> None:
    generate(client)
    for path in WALLETS:
        response = client.get(path, headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"balance": "950.00"}
        assert re.fullmatch(r"\d+\.\d{2}", response.json()["balance"])
    assert balance(client, OTHER) == "1000.00"  # a wallet per key


def test_configured_starting_balance() -> None:
    with make_client(wallet_balance=150) as client:
        assert balance(client) == "150.00"
        generate(client, resolution="2K")
        assert balance(client) == "100.00"


def test_a_short_balance_is_refused_with_402_before_anything_is_queued(
    client: TestClient,
) -> None:
    set_wallet(client, KEY, 120.5)
    jobs = job_count(client)
    refused = client.post(
        GENERATE, json={"prompt": "a cat", "resolution": "4K", "num_images": 2}, headers=AUTH
    )
    error = error_of(refused, 402)
    assert error["code"] == "insufficient_credits"
    assert "160.00" in error["message"] and "120.50" in error["message"]
    assert (balance(client), job_count(client)) == ("120.50", jobs)
    edit_refused = client.post(
        EDIT, json={"prompt": "x", "images": [PNG_4_3], "num_images": 3}, headers=AUTH
    )
    assert error_of(edit_refused, 402)["code"] == "insufficient_credits"
    assert (balance(client), job_count(client)) == ("120.50", jobs)

    generate(client, num_images=2)
    assert (balance(client), job_count(client)) == ("20.50", jobs + 1)
    again = client.post(GENERATE, json={"prompt": "a cat"}, headers=AUTH)
    assert error_of(again, 402)["code"] == "insufficient_credits"
    assert (balance(client), job_count(client)) == ("20.50", jobs + 1)


def test_a_balance_equal_to_the_cost_is_enough(client: TestClient) -> None:
    set_wallet(client, KEY, 80)
    generate(client, resolution="4K")
    assert balance(client) == "0.00"


def test_a_prompt_refused_by_moderation_fails_at_once_and_refunds_at_once(
    client: TestClient,
) -> None:
    task_id = generate(client, prompt="something nsfw", num_images=2)
    body = status(client, task_id)
    assert body["status"] == "FAILED"
    assert body["results"] == []
    assert "moderation" in body["failure_reason"].lower()
    assert balance(client) == "1000.00"


def test_an_output_withheld_by_moderation_fails_when_the_job_would_finish_and_refunds_then(
    client: TestClient,
) -> None:
    task_id = generate(client, prompt="a gore scene", num_images=2)
    assert status(client, task_id)["status"] == "PENDING"
    assert balance(client) == "900.00"
    advance(client, 30)
    assert status(client, task_id)["status"] == "IN_PROGRESS"
    assert balance(client) == "900.00"
    advance(client, 200)
    body = status(client, task_id)
    assert (body["status"], body["results"]) == ("FAILED", [])
    assert "moderation" in body["failure_reason"].lower()
    assert balance(client) == "1000.00"


def test_a_pending_refund_is_not_spendable_until_the_task_fails(client: TestClient) -> None:
    set_wallet(client, KEY, 50)
    task_id = generate(client, prompt="gore")
    short = client.post(GENERATE, json={"prompt": "x"}, headers=AUTH)
    assert error_of(short, 402)["code"] == "insufficient_credits"
    advance(client, 200)
    assert status(client, task_id)["status"] == "FAILED"
    generate(client)
    assert balance(client) == "0.00"


def test_admin_sets_and_reads_a_keys_balance(client: TestClient) -> None:
    answer = set_wallet(client, KEY, 120.5)
    assert set(answer) == {"provider", "key_fingerprint", "balance"}
    assert (answer["provider"], answer["balance"]) == (PROVIDER, "120.50")
    assert KEY not in str(answer)  # the key itself is never echoed
    assert set_wallet(client, KEY) == answer  # read: no balance given
    assert balance(client) == "120.50"
    assert balance(client, OTHER) == "1000.00"

    generate(client)
    assert set_wallet(client, KEY)["balance"] == "70.50"
    listed = client.get("/_emulator/wallets")
    assert listed.status_code == 200
    assert listed.json()["wallets"][PROVIDER][answer["key_fingerprint"]] == "70.50"

    assert set_wallet(client, KEY, "9.99")["balance"] == "9.99"
    assert balance(client) == "9.99"
    assert set_wallet(client, "never-used")["balance"] == "1000.00"


# ----------------------------------------------------------------------------------------------
# Expiry
# ----------------------------------------------------------------------------------------------


def files_of(results: list[dict]) -> list[str]:
    return [url for r in results for url in (r["asset_url"], r["thumbnail"])]


def test_results_and_files_expire_24_hours_after_completion() -> None:
    with make_client(queue_duration=0, job_duration=10) as client:
        task_id = generate(client, num_images=2)
        advance(client, 20)  # 10 s per image
        urls = files_of(finished(client, task_id))
        advance(client, DAY - 1)
        assert len(finished(client, task_id)) == 2
        assert [client.get(url).status_code for url in urls] == [200] * 4
        advance(client, 1)
        gone = client.get(status_path(task_id), headers=AUTH)
        assert error_of(gone, 404)["code"] == "not_found"
        assert [client.get(url).status_code for url in urls] == [404] * 4


def test_expiry_with_the_default_timings(client: TestClient) -> None:
    task_id = generate(client)
    advance(client, 95)  # queued at most 5 s, then at most 90 s
    urls = files_of(finished(client, task_id))
    advance(client, DAY + 40 - 95)  # finished at 41 s or later
    assert status(client, task_id)["status"] == "FINISHED"
    advance(client, 55)  # finished at 95 s or earlier
    assert client.get(status_path(task_id), headers=AUTH).status_code == 404
    assert [client.get(url).status_code for url in urls] == [404, 404]


def test_configured_asset_ttl() -> None:
    with make_client(queue_duration=0, job_duration=0, asset_ttl=60) as client:
        task_id = generate(client)
        urls = files_of(finished(client, task_id))
        advance(client, 59)
        assert [client.get(url).status_code for url in urls] == [200, 200]
        advance(client, 1)
        assert client.get(status_path(task_id), headers=AUTH).status_code == 404
        assert [client.get(url).status_code for url in urls] == [404, 404]


# ----------------------------------------------------------------------------------------------
# Rate limit
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def limited() -> Iterator[TestClient]:
    with make_client(rate_limit={"requests": 3, "per_seconds": 60}) as client:
        yield client


def test_the_fourth_submit_in_a_minute_is_rate_limited_with_retry_after(
    limited: TestClient,
) -> None:
    first = generate(limited)
    submit(limited, GENERATE.rstrip("/"), {"prompt": "x"})
    submit(limited, EDIT, {"prompt": "x", "images": [PNG_4_3]})
    jobs, before = job_count(limited), balance(limited)
    for path, body in ((GENERATE, {"prompt": "x"}), (EDIT, {"prompt": "x", "images": [PNG_4_3]})):
        refused = limited.post(path, json=body, headers=AUTH)
        assert error_of(refused, 429)["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "20"  # a token every 60 / 3 s
    assert (job_count(limited), balance(limited)) == (jobs, before)

    # Status polls and wallet reads are not limited; another key has its own bucket.
    for _ in range(10):
        status(limited, first)
        for path in WALLETS:
            assert limited.get(path, headers=AUTH).status_code == 200
    submit(limited, GENERATE, {"prompt": "x"}, headers=OTHER)


def test_advancing_the_clock_refills_the_bucket(limited: TestClient) -> None:
    for _ in range(3):
        generate(limited)
    advance(limited, 5)
    refused = limited.post(GENERATE, json={"prompt": "x"}, headers=AUTH)
    wait = int(refused.headers["Retry-After"])
    assert error_of(refused, 429)["code"] == "rate_limited"
    assert 1 <= wait <= 15
    advance(limited, wait)
    generate(limited)  # one token came back
    assert limited.post(GENERATE, json={"prompt": "x"}, headers=AUTH).status_code == 429
    advance(limited, 600)  # a full bucket holds 3, however long the wait
    for _ in range(3):
        generate(limited)
    assert limited.post(GENERATE, json={"prompt": "x"}, headers=AUTH).status_code == 429


def test_no_rate_limit_by_default(client: TestClient) -> None:
    for _ in range(10):
        generate(client)


# ----------------------------------------------------------------------------------------------
# Keys and privacy
# ----------------------------------------------------------------------------------------------


def test_missing_or_unknown_key_gets_401_on_every_path() -> None:
    config = emulator_config(api_keys=["good-key"])
    with contract_client(create_app(config)) as client:
        good = {"Authorization": "Bearer good-key"}
        task_id = submit(client, GENERATE, {"prompt": "x"}, headers=good)
        requests = [
            ("POST", GENERATE, {"prompt": "x"}),
            ("POST", EDIT, {"prompt": "x", "images": [PNG_4_3]}),
            ("GET", status_path(task_id), None),
            *[("GET", path, None) for path in WALLETS],
        ]
        bad_headers = [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic good-key"},
            {"Authorization": "Bearer "},
        ]
        for method, path, body in requests:
            for headers in bad_headers:
                response = client.request(method, path, json=body, headers=headers)
                assert error_of(response, 401)["code"] == "invalid_api_key", (path, headers)
            assert client.request(method, path, json=body, headers=good).status_code == 200


def test_any_non_empty_key_is_accepted_by_default(client: TestClient) -> None:
    submit(client, GENERATE, {"prompt": "x"}, headers={"Authorization": "Bearer z"})
    empty = client.post(GENERATE, json={"prompt": "x"}, headers={"Authorization": "Bearer "})
    assert error_of(empty, 401)["code"] == "invalid_api_key"


def test_a_task_is_private_to_the_key_that_made_it(fast: TestClient) -> None:
    task_id = generate(fast)
    other = fast.get(status_path(task_id), headers=OTHER)
    assert error_of(other, 404)["code"] == "not_found"
    assert error_of(fast.get(status_path(task_id, ""), headers=OTHER), 404)["code"] == "not_found"
    assert len(finished(fast, task_id)) == 1


# ----------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "status_code", "code", "retry_after"),
    [
        ("rate_limited", 429, "rate_limited", "1"),
        ("rate_limited; retry-after=7", 429, "rate_limited", "7"),
        ("internal", 500, "internal_error", None),
        ("unavailable", 503, "service_unavailable", "1"),
        ("insufficient_credits", 402, "insufficient_credits", None),
        ("unauthenticated", 401, "invalid_api_key", None),
    ],
)
def test_the_fault_header_fails_one_request_in_the_provider_shape(
    client: TestClient, header: str, status_code: int, code: str, retry_after: str | None
) -> None:
    faulty = {**AUTH, "X-Emulator-Fault": header}
    jobs = job_count(client)
    response = client.post(GENERATE, json={"prompt": "x"}, headers=faulty)
    assert error_of(response, status_code)["code"] == code
    assert response.headers.get("Retry-After") == retry_after
    assert (job_count(client), balance(client)) == (jobs, "1000.00")  # nothing queued or taken
    task_id = generate(client)
    assert error_of(client.get(status_path(task_id), headers=faulty), status_code)["code"] == code
    assert error_of(client.get(WALLETS[1], headers=faulty), status_code)["code"] == code
    assert status(client, task_id)["status"] == "PENDING"  # the next request is served


def test_an_unknown_fault_header_is_a_clear_400(client: TestClient) -> None:
    faulty = {**AUTH, "X-Emulator-Fault": "no-such-fault"}
    response = client.post(GENERATE, json={"prompt": "x"}, headers=faulty)
    error = error_of(response, 400)
    assert error["code"] == "validation_failed"
    assert "no-such-fault" in error["message"]


def test_queued_faults_hit_the_next_3daistudio_requests(client: TestClient) -> None:
    queued = client.post(
        "/_emulator/faults", json={"provider": PROVIDER, "error": "internal", "count": 2}
    )
    assert queued.status_code == 200
    assert queued.json() == {"pending": {PROVIDER: ["500", "500"]}}
    # Another provider's requests leave them alone.
    vibedream = client.post(
        "/api/v1/models/z-image-turbo/generate", json={"prompt": "x"}, headers=AUTH
    )
    assert vibedream.status_code == 200
    first = client.post(GENERATE, json={"prompt": "x"}, headers=AUTH)
    assert error_of(first, 500)["code"] == "internal_error"
    assert error_of(client.get(WALLETS[0], headers=AUTH), 500)["code"] == "internal_error"
    assert balance(client) == "1000.00"
    generate(client)
    assert client.get("/_emulator/faults").json() == {"pending": {}}


def test_a_queued_rate_limit_fault_carries_its_retry_after(client: TestClient) -> None:
    client.post(
        "/_emulator/faults", json={"provider": PROVIDER, "error": "rate_limited", "retry_after": 9}
    )
    refused = client.post(GENERATE, json={"prompt": "x"}, headers=AUTH)
    assert error_of(refused, 429)["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "9"


def test_an_injected_job_failure_is_accepted_then_fails_and_refunds(client: TestClient) -> None:
    faulty = {**AUTH, "X-Emulator-Fault": "job_failed"}
    task_id = submit(client, GENERATE, {"prompt": "a cat", "num_images": 2}, headers=faulty)
    assert status(client, task_id)["status"] == "PENDING"
    assert balance(client) == "900.00"
    advance(client, 200)
    body = status(client, task_id)
    assert (body["status"], body["results"]) == ("FAILED", [])
    assert "injected" in body["failure_reason"]
    assert balance(client) == "1000.00"


def test_a_queued_job_failure_waits_for_a_submit(client: TestClient) -> None:
    done = generate(client)
    client.post("/_emulator/faults", json={"provider": PROVIDER, "error": "job_failed"})
    assert status(client, done)["status"] == "PENDING"  # polls and wallet reads leave it queued
    assert balance(client) == "950.00"
    failing = edit(client)
    assert client.get("/_emulator/faults").json() == {"pending": {}}
    advance(client, 200)
    assert status(client, done)["status"] == "FINISHED"
    assert status(client, failing)["status"] == "FAILED"
    assert balance(client) == "950.00"


# ----------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------


def contents(client: TestClient, task_id: str) -> list[bytes]:
    return [client.get(url).content for url in files_of(finished(client, task_id))]


def test_the_same_request_gives_the_same_image_bytes(fast: TestClient) -> None:
    first = generate(fast, prompt="a lighthouse", num_images=2, output_format="jpeg")
    second = generate(fast, prompt="a lighthouse", num_images=2, output_format="jpeg")
    assert first != second
    assert files_of(finished(fast, first)) != files_of(finished(fast, second))
    assert contents(fast, first) == contents(fast, second)
    different = generate(fast, prompt="a lighthouse at dawn", num_images=2, output_format="jpeg")
    assert contents(fast, different)[0] != contents(fast, first)[0]


def test_the_same_edit_gives_the_same_bytes_and_another_input_another(fast: TestClient) -> None:
    first = contents(fast, edit(fast, [PNG_4_3]))
    assert contents(fast, edit(fast, [PNG_4_3])) == first
    other_input = data_uri("PNG", size=(64, 48), color="green")
    assert contents(fast, edit(fast, [other_input]))[0] != first[0]


def test_a_fresh_emulator_with_the_same_seed_replays_ids_and_images() -> None:
    runs = []
    for _ in range(2):
        with make_client(queue_duration=0, job_duration=0) as client:
            task_ids = [generate(client, prompt=f"cat {i}") for i in range(2)]
            runs.append((task_ids, [contents(client, task_id) for task_id in task_ids]))
    assert runs[0] == runs[1]


def test_created_at_follows_the_configured_clock_start() -> None:
    config = emulator_config(clock_start=EPOCH + DAY)
    with contract_client(create_app(config)) as client:
        created = client.post(GENERATE, json={"prompt": "x"}, headers=AUTH).json()
        assert created["created_at"] == "2025-01-16T12:00:00Z"
