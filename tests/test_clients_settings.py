"""Where the clients' settings come from (arguments, the http client, the documented environment
variables, the real base URLs), where the key goes (the API host only: never a download, a
message, a repr or a log line), and strict mode against bodies that break the contracts."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from clients import (
    AIStudio3DClient,
    ConfigurationError,
    ContractViolationError,
    EmulatorClock,
    UnexpectedResponseError,
    ValidationError,
    VertexClient,
    VibedreamClient,
)
from clients.policy import parse_retry_after
from tests.conftest import LiveServer

Handler = Callable[[httpx.Request], httpx.Response]
ENV_VARS = (
    "VIBEDREAM_API_KEY",
    "THREEDAI_API_KEY",
    "VERTEX_GATEWAY_BASE_URL",
    "VERTEX_GATEWAY_API_KEY",
)
SECRET = "sk-env-secret-31337"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def png(width: int = 4, height: int = 3) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height)).save(out, "PNG")
    return out.getvalue()


PREDICTION_ID = "550e8400-e29b-41d4-a716-446655440000"
SUBMITTED = {
    "id": PREDICTION_ID,
    "status": "processing",
    "statusUrl": f"https://api.vibedream.ai/api/v1/predictions/{PREDICTION_ID}",
    "estimatedTime": "1-3s",
    "costCents": 1,
    "createdAt": "2025-01-15T12:00:00.000Z",
}
COMPLETED = {
    "id": PREDICTION_ID,
    "modelId": "z-image-turbo",
    "modelName": "Z-Image Turbo",
    "status": "completed",
    "outputs": ["https://assets.vibedream.ai/outputs/x/1736942400000-0.png"],
    "error": None,
    "createdAt": "2025-01-15T12:00:00.000Z",
    "completedAt": "2025-01-15T12:00:01.000Z",
}


def vibedream_api(seen: list[httpx.Request], **replace: Any) -> Handler:
    """The documented vibedream exchange, each body replaceable by path kind."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "assets.vibedream.ai":
            return httpx.Response(200, content=png(), headers={"Content-Type": "image/png"})
        if request.method == "POST":
            return httpx.Response(200, json=replace.get("submit", SUBMITTED))
        return httpx.Response(200, json=replace.get("poll", COMPLETED))

    return handler


def test_vibedream_reads_its_key_from_the_environment_and_uses_the_real_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIBEDREAM_API_KEY", SECRET)
    seen: list[httpx.Request] = []
    with httpx.Client(transport=httpx.MockTransport(vibedream_api(seen))) as http:
        result = VibedreamClient(http_client=http, sleep=lambda _: None).generate("a fox")
    assert result.image.size == (4, 3)
    submit, poll, download = seen
    assert str(submit.url) == "https://api.vibedream.ai/api/v1/models/z-image-turbo/generate"
    assert str(poll.url) == f"https://api.vibedream.ai/api/v1/predictions/{PREDICTION_ID}"
    assert submit.headers["Authorization"] == poll.headers["Authorization"] == f"Bearer {SECRET}"
    # The output lives on another host: it never gets the key.
    assert download.url.host == "assets.vibedream.ai"
    assert "Authorization" not in download.headers


def test_3daistudio_reads_its_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREEDAI_API_KEY", SECRET)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"balance": "150.00"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        assert str(AIStudio3DClient(http_client=http).balance()) == "150.00"
    assert str(seen[0].url) == "https://api.3daistudio.com/account/user/wallet/"
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_vertex_reads_base_url_and_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VERTEX_GATEWAY_BASE_URL", "https://gateway.example/ai/")
    monkeypatch.setenv("VERTEX_GATEWAY_API_KEY", SECRET)
    seen: list[httpx.Request] = []
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(png()).decode()}}
    answer = {"candidates": [{"content": {"role": "model", "parts": [part]}}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        result = VertexClient(http_client=http).edit("bluer", png(8, 8))
    assert result.image.size == (4, 3)
    (request,) = seen
    assert str(request.url) == (
        "https://gateway.example/ai/api/v1/publishers/googleVertexAI/models/"
        "gemini-3-pro-image:generateContent"
    )
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    sent = httpx.Response(200, content=request.content).json()
    text, image = sent["contents"][0]["parts"]
    assert text == {"text": "bluer"}
    assert image["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(image["inlineData"]["data"]) == png(8, 8)


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIBEDREAM_API_KEY", "from-the-environment")
    seen: list[httpx.Request] = []
    with httpx.Client(transport=httpx.MockTransport(vibedream_api(seen))) as http:
        client = VibedreamClient(
            "from-the-argument", base_url="http://127.0.0.1:9/", http_client=http
        )
        client.generate("a fox")
    assert seen[0].headers["Authorization"] == "Bearer from-the-argument"
    assert str(seen[0].url).startswith("http://127.0.0.1:9/api/v1/models/")


@pytest.mark.parametrize(
    ("make", "variable"),
    [
        (lambda: VibedreamClient(), "VIBEDREAM_API_KEY"),
        (lambda: AIStudio3DClient(), "THREEDAI_API_KEY"),
        (lambda: VertexClient(base_url="https://gw.example"), "VERTEX_GATEWAY_API_KEY"),
        (lambda: VertexClient("key"), "VERTEX_GATEWAY_BASE_URL"),
    ],
)
def test_a_missing_setting_names_its_environment_variable(
    make: Callable[[], object], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        make()


def test_an_own_http_client_is_closed_with_the_client() -> None:
    with VibedreamClient("key") as client:
        assert repr(client) == "VibedreamClient(base_url='https://api.vibedream.ai', strict=False)"
    assert client.http_client.is_closed


def test_a_borrowed_http_client_is_left_open() -> None:
    with httpx.Client() as http:
        with VibedreamClient("key", http_client=http):
            pass
        assert not http.is_closed


# ------------------------------------------------------------------- strict mode


def test_strict_mode_names_the_path_that_breaks_the_contract() -> None:
    broken = {**COMPLETED, "outputs": [42]}
    seen: list[httpx.Request] = []
    with httpx.Client(transport=httpx.MockTransport(vibedream_api(seen, poll=broken))) as http:
        strict = VibedreamClient("key", http_client=http, strict=True, sleep=lambda _: None)
        with pytest.raises(ContractViolationError) as caught:
            strict.generate("a fox")
        # Without strict mode the same answer reaches the protocol, which cannot use it.
        lenient = VibedreamClient("key", http_client=http, sleep=lambda _: None)
        with pytest.raises(UnexpectedResponseError):
            lenient.generate("a fox")
    assert caught.value.path == "$.outputs[0]"
    assert caught.value.schema == "vibedream/prediction"
    assert caught.value.body == broken


def test_strict_mode_checks_the_submit_answer_too() -> None:
    seen: list[httpx.Request] = []
    missing = {key: value for key, value in SUBMITTED.items() if key != "costCents"}
    with httpx.Client(transport=httpx.MockTransport(vibedream_api(seen, submit=missing))) as http:
        client = VibedreamClient("key", http_client=http, strict=True)
        with pytest.raises(ContractViolationError) as caught:
            client.generate("a fox")
    assert caught.value.path == "$.costCents"
    assert caught.value.schema == "vibedream/submit-response"
    assert len(seen) == 1


def test_strict_mode_checks_error_bodies() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "bad", "code": "nope"}})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        strict = AIStudio3DClient("key", http_client=http, strict=True)
        with pytest.raises(ContractViolationError) as caught:
            strict.generate("a fox")
        lenient = AIStudio3DClient("key", http_client=http)
        with pytest.raises(ValidationError):
            lenient.generate("a fox")
    assert caught.value.path == "$.error.code"
    assert caught.value.status == 400


# ------------------------------------------------------------------- the key stays secret


@pytest.mark.live
def test_the_key_is_never_logged(live_server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=live_server.base_url, timeout=10) as http:
        clock = EmulatorClock(http)
        client = VibedreamClient(SECRET, http_client=http, sleep=clock.sleep, clock=clock.now)
        assert client.generate("a red fox").images
        with pytest.raises(ValidationError) as caught:
            client.generate("a red fox", size="7*1024")
    assert caplog.records, "httpx logged nothing: the check would be empty"
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value) + repr(caught.value) + repr(client)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3
    assert parse_retry_after("-5") == 0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
