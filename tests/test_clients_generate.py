"""The reference clients against the emulator in-process: every provider, sync and async,
generate and edit, on the realistic profile (jobs take their documented time) with the
client's sleep hook advancing the emulator's virtual clock, so no wall time passes.

The sync clients run over the contract-checking TestClient (every answer is also checked
against the contracts by the test harness) and in strict mode (the client checks them too).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage
from starlette.applications import Starlette

from clients import (
    ASYNC_CLIENTS,
    SYNC_CLIENTS,
    AIStudio3DClient,
    AsyncEmulatorClock,
    AsyncVibedreamClient,
    EmulatorClock,
    GenerationResult,
    PollPolicy,
    Progress,
    VibedreamClient,
)
from emulator import create_app
from tests.conftest import KEY, contract_client, emulator_config

# (call arguments, expected (format, width, height) of every image, images expected)
GENERATE: dict[str, tuple[dict[str, Any], tuple[str, int, int], int]] = {
    "vibedream": ({"size": "1024*768", "output_format": "webp"}, ("webp", 1024, 768), 1),
    "vertex": ({"aspect_ratio": "3:4", "image_size": "1K"}, ("png", 896, 1200), 1),
    "3daistudio": (
        {"aspect_ratio": "3:2", "output_format": "webp", "num_images": 2},
        ("webp", 1264, 848),
        2,
    ),
}
EDIT: dict[str, tuple[dict[str, Any], tuple[str, int, int], int]] = {
    "vibedream": (
        {"aspect_ratio": "16:9", "resolution": "1k", "output_format": "jpeg"},
        ("jpeg", 1376, 768),
        1,
    ),
    "vertex": (
        {"aspect_ratio": "4:3", "imageConfig": {"outputMimeType": "image/jpeg"}},
        ("jpeg", 1200, 896),
        1,
    ),
    "3daistudio": ({"aspect_ratio": "9:16", "output_format": "jpeg"}, ("jpeg", 768, 1376), 1),
}
# The shortest documented job, in virtual seconds: what the sleep hook must have skipped.
SHORTEST_JOB = {"vibedream": 1.0, "vertex": 0.0, "3daistudio": 41.0}
POLLED = ("vibedream", "3daistudio")  # the asynchronous APIs; vertex answers at once
FINAL_STATUS = {"vibedream": "completed", "vertex": "STOP", "3daistudio": "FINISHED"}
WALL_LIMIT = 5.0  # seconds; the virtual durations add up to minutes


def input_png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def check_result(
    result: GenerationResult, provider: str, expected: tuple[str, int, int], count: int
) -> None:
    assert result.provider == provider
    assert len(result.images) == count
    for image in result.images:
        assert (image.format, image.width, image.height) == expected
        # The bytes themselves, read independently of the client.
        with PILImage.open(io.BytesIO(image.data)) as opened:
            assert opened.size == (expected[1], expected[2])
            assert opened.format.lower() == expected[0]
    assert result.responses, "the raw provider answers are kept"
    assert result.job_id


def check_progress(reports: list[Progress], provider: str, clock_elapsed: float) -> None:
    assert reports, "the progress callback was never called"
    assert reports[-1].status == FINAL_STATUS[provider]
    elapsed = [report.elapsed for report in reports]
    assert elapsed == sorted(elapsed)
    assert elapsed[-1] == pytest.approx(clock_elapsed)
    figures = [r.progress for r in reports if r.progress is not None]
    assert figures == sorted(figures), "progress never goes backwards"
    if provider == "3daistudio":
        assert figures[-1] == 100
        assert len(reports) > 2, "a job of a minute is polled more than twice"


@pytest.fixture
def app() -> Starlette:
    return create_app(emulator_config())


@pytest.mark.parametrize("action", ["generate", "edit"])
@pytest.mark.parametrize("provider", sorted(SYNC_CLIENTS))
def test_sync_client_makes_the_images_asked_for(app: Starlette, provider: str, action: str) -> None:
    options, expected, count = (GENERATE if action == "generate" else EDIT)[provider]
    reports: list[Progress] = []
    started = time.perf_counter()
    with contract_client(app) as http:
        clock = EmulatorClock(http)
        with SYNC_CLIENTS[provider](
            KEY, http_client=http, sleep=clock.sleep, clock=clock.now, strict=True
        ) as client:
            if action == "generate":
                result = client.generate("a red fox", on_progress=reports.append, **options)
            else:
                result = client.edit(
                    "make it blue", [input_png()], on_progress=reports.append, **options
                )
    assert time.perf_counter() - started < WALL_LIMIT
    check_result(result, provider, expected, count)
    check_progress(reports, provider, clock.elapsed)
    assert clock.elapsed >= SHORTEST_JOB[provider]


def run_async(
    app: Starlette, body: Callable[[httpx.AsyncClient, AsyncEmulatorClock], Awaitable[Any]]
) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await body(http, AsyncEmulatorClock(http))

    return asyncio.run(main())


@pytest.mark.parametrize("action", ["generate", "edit"])
@pytest.mark.parametrize("provider", sorted(ASYNC_CLIENTS))
def test_async_client_makes_the_images_asked_for(
    app: Starlette, provider: str, action: str
) -> None:
    options, expected, count = (GENERATE if action == "generate" else EDIT)[provider]
    reports: list[Progress] = []

    async def body(http: httpx.AsyncClient, clock: AsyncEmulatorClock) -> Any:
        async with ASYNC_CLIENTS[provider](
            KEY, http_client=http, sleep=clock.sleep, clock=clock.now, strict=True
        ) as client:
            if action == "generate":
                result = await client.generate("a red fox", on_progress=reports.append, **options)
            else:
                result = await client.edit(
                    "make it blue", [input_png()], on_progress=reports.append, **options
                )
        return result, clock.elapsed

    started = time.perf_counter()
    result, elapsed = run_async(app, body)
    assert time.perf_counter() - started < WALL_LIMIT
    check_result(result, provider, expected, count)
    check_progress(reports, provider, elapsed)
    assert elapsed >= SHORTEST_JOB[provider]


def test_sync_and_async_send_the_same_requests(app: Starlette) -> None:
    """One protocol, two runners: the same call gives the same bytes and the same waits."""
    with contract_client(app) as http:
        clock = EmulatorClock(http)
        client = VibedreamClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
        sync_result = client.generate("a red fox", seed=42, output_format="png")
        sync_sleeps = list(clock.sleeps)

    async def body(http: httpx.AsyncClient, clock: AsyncEmulatorClock) -> Any:
        client = AsyncVibedreamClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
        return await client.generate("a red fox", seed=42, output_format="png"), clock.sleeps

    async_result, async_sleeps = run_async(create_app(emulator_config()), body)
    assert sync_result.image.data == async_result.image.data
    assert sync_sleeps == async_sleeps


# A job of exactly 40 s, polled from 1 s, doubling, capped at 8 s: the first poll goes at once,
# then the waits are 1, 2, 4, 8, 8, 8, 8 (39 s: still running) and 8 (47 s: done).
LONG_JOB = {"queue_duration": 0, "job_duration": 40}
GROWING = PollPolicy(interval=1, backoff=2, max_interval=8, timeout=600)
GROWING_SLEEPS = [1, 2, 4, 8, 8, 8, 8, 8]


@pytest.mark.parametrize("provider", sorted(POLLED))
def test_the_polling_interval_grows_by_its_backoff_up_to_its_cap(provider: str) -> None:
    """The exact waits of a long job, through the injectable clock, sync and async (issue 23)."""
    config = emulator_config(providers={provider: LONG_JOB})
    with contract_client(create_app(config)) as http:
        clock = EmulatorClock(http)
        client = SYNC_CLIENTS[provider](
            KEY, http_client=http, sleep=clock.sleep, clock=clock.now, polling=GROWING
        )
        client.generate("a red fox")
    assert clock.sleeps == GROWING_SLEEPS

    async def body(http: httpx.AsyncClient, clock: AsyncEmulatorClock) -> list[float]:
        client = ASYNC_CLIENTS[provider](
            KEY, http_client=http, sleep=clock.sleep, clock=clock.now, polling=GROWING
        )
        await client.generate("a red fox")
        return clock.sleeps

    assert run_async(create_app(config), body) == GROWING_SLEEPS


def test_an_edit_can_take_the_image_of_an_earlier_result(app: Starlette) -> None:
    with contract_client(app) as http:
        clock = EmulatorClock(http)
        client = AIStudio3DClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
        first = client.generate("a red fox", aspect_ratio="21:9")
        # aspect_ratio "auto" (the default) follows the first input image.
        edited = client.edit("make it blue", first.image)
    assert first.image.size == (1584, 672)
    assert edited.image.size == (1584, 672)
    assert edited.image.data != first.image.data


def test_vibedream_takes_any_model_on_its_protocol(app: Starlette) -> None:
    with contract_client(app) as http:
        clock = EmulatorClock(http)
        client = VibedreamClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
        result = client.generate(
            "a red fox",
            model="nano-banana-pro-edit",
            images=["https://example.com/fox.png"],
            aspect_ratio="1:1",
        )
    assert result.model == "nano-banana-pro-edit"
    assert result.response["modelId"] == "nano-banana-pro-edit"
    assert result.image.size == (1024, 1024)
    # Realistic: 10-30 s, polled every 1-2 s, so at least five polls.
    assert clock.elapsed >= 10
    assert all(1.0 <= wait <= 2.0 for wait in clock.sleeps)


def test_3daistudio_balance_reads_the_wallet(app: Starlette) -> None:
    with contract_client(app) as http:
        clock = EmulatorClock(http)
        client = AIStudio3DClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
        before = client.balance()
        client.generate("a red fox", resolution="4K", aspect_ratio="1:1")
        assert before - client.balance() == 80
