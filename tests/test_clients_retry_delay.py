"""The reference client reads Google's typed error details: RetryInfo's retryDelay becomes the
error's ``retry_delay`` (seconds) and, with no Retry-After header, the wait before a retry; an
ErrorInfo saying API_KEY_INVALID makes a 400 an AuthenticationError."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient

from clients import AuthenticationError, RateLimitedError, RetryPolicy, VertexClient
from clients.vertex import VertexProtocol
from emulator import create_app
from tests.conftest import KEY, emulator_config

RPC = "type.googleapis.com/google.rpc."
BASE = "http://gateway.test"


def quota_body(delay: str) -> dict:
    return {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": f"{RPC}Help", "links": [{"description": "d", "url": "https://x"}]},
                {"@type": f"{RPC}RetryInfo", "retryDelay": delay},
            ],
        }
    }


def client_answering(
    status: int, body: dict, headers: dict[str, str] | None = None
) -> tuple[VertexClient, list[float]]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers or {})

    sleeps: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(answer), base_url=BASE)
    client = VertexClient(
        KEY, http_client=http, sleep=sleeps.append, retry=RetryPolicy(max_retries=2)
    )
    return client, sleeps


def test_retry_info_is_the_wait_when_retry_after_is_absent() -> None:
    client, sleeps = client_answering(429, quota_body("3s"))
    with pytest.raises(RateLimitedError) as caught:
        client.generate("a cat")
    assert sleeps == [3.0, 3.0]
    assert (caught.value.retry_delay, caught.value.retry_after) == (3.0, 3.0)


def test_retry_after_wins_when_both_are_sent() -> None:
    client, sleeps = client_answering(429, quota_body("3s"), {"Retry-After": "5"})
    with pytest.raises(RateLimitedError) as caught:
        client.generate("a cat")
    assert sleeps == [5.0, 5.0]
    assert (caught.value.retry_delay, caught.value.retry_after) == (3.0, 5.0)


def test_a_retry_delay_beyond_the_cap_is_not_waited_for() -> None:
    client, sleeps = client_answering(429, quota_body("600s"))
    with pytest.raises(RateLimitedError) as caught:
        client.generate("a cat")
    assert sleeps == []
    assert caught.value.retry_delay == 600.0


def test_a_bad_api_key_400_is_an_authentication_error() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": f"{RPC}ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        }
    }
    client, _ = client_answering(400, body)
    with pytest.raises(AuthenticationError) as caught:
        client.generate("a cat")
    assert (caught.value.status, caught.value.code) == (400, "INVALID_ARGUMENT")
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("delay", "seconds"), [("26s", 26.0), ("38.804097346s", 38.804097346), ("26", None), (26, None)]
)
def test_retry_delay_reads_a_protobuf_duration(delay: object, seconds: float | None) -> None:
    body = quota_body("0s")
    body["error"]["details"][1]["retryDelay"] = delay
    assert VertexProtocol.describe_error(body).retry_delay == seconds


def test_the_emulators_gemini_429_agrees_with_its_retry_after() -> None:
    with TestClient(create_app(emulator_config())) as http:
        response = http.post(
            "/v1beta/models/gemini-3-pro-image:generateContent",
            json={"contents": [{"parts": [{"text": "a cat"}]}]},
            headers={"x-goog-api-key": KEY, "X-Emulator-Fault": "429; retry-after=26"},
        )
    assert response.status_code == 429
    details = VertexProtocol.describe_error(response.json())
    assert details.retry_delay == float(response.headers["Retry-After"]) == 26.0
