"""Retries, polling and time limits of the reference clients, scripted with the emulator's
fault queue and scenarios: 429 honoured then success, retries exhausted, a 5xx or a dropped
poll retried, a paid submit never re-sent once it may have reached the provider, the overall
polling timeout. Waits advance the emulator's virtual clock, so Retry-After is exact."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage
from starlette.testclient import TestClient

from clients import (
    SYNC_CLIENTS,
    AsyncEmulatorClock,
    AsyncVertexClient,
    AsyncVibedreamClient,
    EmulatorClock,
    NetworkError,
    PollingTimeoutError,
    PollPolicy,
    RateLimitedError,
    RetryPolicy,
    SubmitMayHaveSucceededError,
    VertexClient,
    VibedreamClient,
)
from emulator import create_app
from tests.conftest import KEY, LiveServer, contract_client, emulator_config

# The journal's route names for each provider's paid submit and its poll.
SUBMIT = {"vibedream": "submit", "vertex": "generateContent", "3daistudio": "generate"}
POLL = {"vibedream": "poll", "3daistudio": "status"}


@pytest.fixture
def http(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A contract-checking client, except where a test sends a malformed body on purpose."""
    app = create_app(emulator_config())
    callspec = getattr(request.node, "callspec", None)
    malformed = callspec is not None and callspec.params.get("fault") == "malformed"
    with TestClient(app) if malformed else contract_client(app) as client:
        yield client


def client_for(provider: str, http: httpx.Client, **options: Any) -> tuple[Any, EmulatorClock]:
    clock = EmulatorClock(http)
    client = SYNC_CLIENTS[provider](
        KEY, http_client=http, sleep=clock.sleep, clock=clock.now, **options
    )
    return client, clock


def queue_faults(
    http: httpx.Client, provider: str, error: str, count: int, retry_after: int
) -> None:
    body = {"provider": provider, "error": error, "count": count, "retry_after": retry_after}
    assert http.post("/_emulator/faults", json=body).status_code == 200


def script(http: httpx.Client, provider: str, route: str, fault: str, times: int = 1) -> None:
    scenario = {
        "match": {"provider": provider, "route": route},
        "steps": [{"fault": fault, "times": times}],
    }
    assert http.post("/_emulator/scenarios", json=scenario).status_code == 200


def journal(http: httpx.Client, provider: str, route: str) -> list[dict[str, Any]]:
    """The journal's requests on a route, oldest first."""
    params = {"provider": provider, "route": route}
    entries: list[dict[str, Any]] = http.get("/_emulator/requests", params=params).json()[
        "requests"
    ]
    return entries[::-1]


def statuses(http: httpx.Client, provider: str, route: str) -> list[int | None]:
    """Statuses of the requests on a route, oldest first (None: no answer was sent)."""
    return [entry["status"] for entry in journal(http, provider, route)]


# ------------------------------------------------------------------- 429


@pytest.mark.parametrize("provider", sorted(SYNC_CLIENTS))
def test_a_429_is_retried_after_its_retry_after_then_succeeds(
    provider: str, http: TestClient
) -> None:
    queue_faults(http, provider, "429", count=2, retry_after=3)
    client, clock = client_for(provider, http)
    result = client.generate("a red fox")
    assert result.images
    assert statuses(http, provider, SUBMIT[provider]) == [429, 429, 200]
    # Waited exactly what the provider asked, before anything else.
    assert clock.sleeps[:2] == [3, 3]


@pytest.mark.parametrize("provider", sorted(SYNC_CLIENTS))
def test_retries_exhausted_raise_rate_limited(provider: str, http: TestClient) -> None:
    queue_faults(http, provider, "429", count=5, retry_after=2)
    client, clock = client_for(provider, http, retry=RetryPolicy(max_retries=2))
    with pytest.raises(RateLimitedError) as caught:
        client.generate("a red fox")
    assert caught.value.status == 429
    assert caught.value.retry_after == 2
    assert caught.value.body is not None
    assert statuses(http, provider, SUBMIT[provider]) == [429, 429, 429]
    assert clock.sleeps == [2, 2]


def test_a_retry_after_beyond_the_cap_is_not_waited_for(http: TestClient) -> None:
    queue_faults(http, "vibedream", "429", count=1, retry_after=600)
    client, clock = client_for("vibedream", http, retry=RetryPolicy(max_retry_after=60))
    with pytest.raises(RateLimitedError) as caught:
        client.generate("a red fox")
    assert caught.value.retry_after == 600
    assert clock.sleeps == []


def test_the_rate_limit_of_the_emulator_is_waited_out_exactly() -> None:
    """3 generations a minute: the fourth gets 429 with the exact wait, and then succeeds."""
    config = emulator_config(
        providers={"3daistudio": {"rate_limit": {"requests": 3, "per_seconds": 60}}},
        profile="instant",
    )
    with contract_client(create_app(config)) as http:
        client, clock = client_for("3daistudio", http)
        for _ in range(4):
            client.generate("a red fox")
        assert statuses(http, "3daistudio", "generate") == [200, 200, 200, 429, 200]
        assert clock.sleeps == [pytest.approx(20.0)]


# ------------------------------------------------------------------- polls and downloads


@pytest.mark.parametrize("fault", ["503", "500", "drop", "timeout", "malformed"])
@pytest.mark.parametrize("provider", sorted(POLL))
def test_a_failed_poll_is_retried(provider: str, fault: str, http: TestClient) -> None:
    script(http, provider, POLL[provider], fault, times=2)
    client, _ = client_for(provider, http)
    result = client.generate("a red fox")
    assert result.images
    polls = journal(http, provider, POLL[provider])
    assert [entry["fault"] for entry in polls[:3]] == [fault, fault, None]
    assert polls[-1]["status"] == 200
    assert statuses(http, provider, SUBMIT[provider]) == [200]


def test_a_poll_failing_past_the_retries_raises_a_typed_error(http: TestClient) -> None:
    script(http, "vibedream", "poll", "drop", times=10)
    client, _ = client_for("vibedream", http, retry=RetryPolicy(max_retries=1))
    with pytest.raises(NetworkError) as caught:
        client.generate("a red fox")
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


# ------------------------------------------------------------------- paid submits


@pytest.mark.parametrize("fault", ["503", "500", "drop", "timeout", "malformed"])
@pytest.mark.parametrize("provider", sorted(SYNC_CLIENTS))
def test_a_paid_submit_is_never_sent_twice(provider: str, fault: str, http: TestClient) -> None:
    script(http, provider, SUBMIT[provider], fault)
    client, clock = client_for(provider, http)
    with pytest.raises(SubmitMayHaveSucceededError) as caught:
        client.generate("a red fox")
    error = caught.value
    assert "may have succeeded" in str(error)
    submits = statuses(http, provider, SUBMIT[provider])
    assert len(submits) == 1, "the submit was sent again"
    assert clock.sleeps == []
    if fault in ("503", "500"):
        assert error.status == int(fault)
        assert error.body["error"]  # the provider's error body, kept
    elif fault == "malformed":
        assert error.status == 200
        assert isinstance(error.body, str)  # the half body that came
    else:
        assert error.status is None
        assert isinstance(error.__cause__, httpx.TransportError)


def test_resending_a_paid_submit_is_an_explicit_choice(http: TestClient) -> None:
    script(http, "vibedream", "submit", "503")
    client, _ = client_for("vibedream", http, retry=RetryPolicy(resend_paid_submits=True))
    assert client.generate("a red fox").images
    assert statuses(http, "vibedream", "submit") == [503, 200]


def png_base64() -> str:
    out = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_a_submit_that_never_connected_is_retried() -> None:
    """A connect error happens before anything is sent: safe to retry even a paid call."""
    calls: list[str] = []
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": png_base64()}}]
                },
                "finishReason": "STOP",
            }
        ]
    }

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=answer)

    sleeps: list[float] = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = VertexClient(
            KEY, base_url="http://gateway.test", http_client=http, sleep=sleeps.append
        )
        assert client.generate("a red fox").image.size == (8, 8)
    assert len(calls) == 3
    assert sleeps == [0.5, 1.0]  # the default back-off


def test_the_async_runner_takes_a_plain_sleep_function_too() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectTimeout("no route")
        return httpx.Response(
            429,
            headers={"Retry-After": "7"},
            json={
                "error": {
                    "message": "slow down",
                    "type": "rate_limit_error",
                    "code": "rate_limit_exceeded",
                }
            },
        )

    sleeps: list[float] = []

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = AsyncVertexClient(
                KEY,
                base_url="http://gateway.test",
                http_client=http,
                sleep=sleeps.append,
                retry=RetryPolicy(max_retries=2),
            )
            with pytest.raises(RateLimitedError) as caught:
                await client.generate("a red fox")
            assert caught.value.code == "rate_limit_exceeded"

    asyncio.run(main())
    assert len(calls) == 3
    assert sleeps == [0.5, 7]


def test_a_server_that_never_answers_is_a_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        client = VibedreamClient(KEY, http_client=http, sleep=lambda _: None)
        with pytest.raises(NetworkError) as caught:
            client.generate("a red fox")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# ------------------------------------------------------------------- polling timeout


@pytest.mark.parametrize("provider", sorted(POLL))
def test_polling_gives_up_at_the_overall_timeout(provider: str, http: TestClient) -> None:
    # Realistic: vibedream's nano-banana-pro-edit takes 10-30 s, 3D AI Studio 40-90 s.
    client, clock = client_for(provider, http, polling=PollPolicy(interval=1, timeout=8))
    with pytest.raises(PollingTimeoutError) as caught:
        if provider == "vibedream":
            client.edit("bluer", "https://example.com/fox.png")
        else:
            client.generate("a red fox")
    error = caught.value
    assert error.elapsed == pytest.approx(8)
    assert clock.elapsed == pytest.approx(8)
    assert error.job_id
    assert error.body["status"] in ("processing", "PENDING", "IN_PROGRESS")


# ------------------------------------------------------------------- async, over a socket


def test_async_client_retries_a_429_then_a_503_poll() -> None:
    app = create_app(emulator_config())

    async def main() -> tuple[Any, list[float]]:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            queue_faults_async = {
                "provider": "vibedream",
                "error": "429",
                "count": 1,
                "retry_after": 4,
            }
            await http.post("/_emulator/faults", json=queue_faults_async)
            scenario = {
                "match": {"provider": "vibedream", "route": "poll"},
                "steps": [{"fault": "503"}],
            }
            await http.post("/_emulator/scenarios", json=scenario)
            clock = AsyncEmulatorClock(http)
            client = AsyncVibedreamClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
            return await client.generate("a red fox"), clock.sleeps

    result, sleeps = asyncio.run(main())
    assert result.images
    assert sleeps[0] == 4  # the 429's Retry-After
    assert 1 in sleeps[1:]  # the 503's Retry-After


def test_async_submit_dropped_is_not_resent() -> None:
    app = create_app(emulator_config())

    async def main() -> None:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            scenario = {
                "match": {"provider": "vibedream", "route": "submit"},
                "steps": [{"fault": "drop"}],
            }
            await http.post("/_emulator/scenarios", json=scenario)
            clock = AsyncEmulatorClock(http)
            client = AsyncVibedreamClient(KEY, http_client=http, sleep=clock.sleep, clock=clock.now)
            with pytest.raises(SubmitMayHaveSucceededError):
                await client.generate("a red fox")
            journal = await http.get("/_emulator/requests", params={"route": "submit"})
            assert len(journal.json()["requests"]) == 1

    asyncio.run(main())


@pytest.mark.live
def test_over_a_real_socket_a_dropped_submit_is_not_resent(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        script(http, "vibedream", "submit", "drop")
        client, _ = client_for("vibedream", http)
        with pytest.raises(SubmitMayHaveSucceededError) as caught:
            client.generate("a red fox")
        assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
        assert statuses(http, "vibedream", "submit") == [None]
        # The next call goes through, and a dropped poll on a socket is retried.
        script(http, "vibedream", "poll", "drop")
        assert client.generate("a red fox").images
