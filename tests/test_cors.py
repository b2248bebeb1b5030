"""CORS (emulator/cors.py): every provider route and output file answers a browser's preflight
and carries the CORS headers on every answer (errors, injected faults and crashes included),
as Google's generativelanguage.googleapis.com does; the admin API grants no other origin
unless configured; the origins are a validated setting."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from emulator import Config, create_app
from emulator.config import ConfigError
from emulator.cors import CorsPolicy, cors_middleware
from emulator.providers import PROVIDERS
from emulator.providers.vibedream import responses as vibedream_responses
from tests.conftest import AUTH, KEY, emulator_config

PAGE = "http://127.0.0.1:5173"  # a web app's dev server, say
OTHER_PAGE = "http://127.0.0.1:9999"
# What @google/genai sends from a browser in API-key mode (googleapis/js-genai
# src/_api_client.ts getDefaultHeaders, src/web/_web_auth.ts): a browser asks for these.
SDK_HEADERS = "content-type,x-goog-api-client,x-goog-api-key"
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
TURBO = "/api/v1/models/z-image-turbo/generate"
IMAGE_REQUEST = {"contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}]}


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "p", template)


# Every provider route, as a request path, with a method it serves.
PROVIDER_ROUTES = [
    (sorted(route.methods - {"HEAD"})[0], concrete(route.path))
    for provider in PROVIDERS
    for route in provider.routes
]


def preflight(method: str = "POST", origin: str = PAGE) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": SDK_HEADERS,
    }


def open_app(**settings: object) -> TestClient:
    return TestClient(create_app(emulator_config(**settings)), raise_server_exceptions=False)


@pytest.fixture
def web() -> Iterator[TestClient]:
    with open_app() as client:
        yield client


def finished_asset(client: TestClient) -> str:
    submitted = client.post(TURBO, json={"prompt": "a red fox"}, headers=AUTH).json()
    client.post("/_emulator/clock/advance", json={"seconds": 3})  # turbo: 1-3 s
    polled = client.get(f"/api/v1/predictions/{submitted['id']}", headers=AUTH).json()
    [url] = polled["outputs"]
    return url.removeprefix("http://testserver")


@pytest.mark.parametrize(("method", "path"), PROVIDER_ROUTES)
def test_a_preflight_on_every_provider_route_is_granted_as_google_grants_it(
    web: TestClient, method: str, path: str
) -> None:
    response = web.options(path, headers=preflight(method))
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == PAGE  # echoed, not "*"
    assert headers["access-control-allow-methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert headers["access-control-allow-headers"] == SDK_HEADERS  # echoed
    assert headers["access-control-max-age"] == "3600"
    assert "access-control-allow-credentials" not in headers
    assert "Origin" in headers["vary"]


def test_output_files_and_unknown_provider_paths_are_preflighted_too(web: TestClient) -> None:
    asset = finished_asset(web)
    for path in (asset, "/v1beta/models/gemini-3-pro-image-preview:noSuchMethod"):
        response = web.options(path, headers=preflight("GET"))
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == PAGE


def check_readable(headers: httpx.Headers) -> None:
    """The page may read the answer, and the headers it needs from it."""
    assert headers["access-control-allow-origin"] == PAGE
    assert "Origin" in headers["vary"]
    exposed = {name.strip().lower() for name in headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "x-goog-upload-url", "x-goog-upload-status"} <= exposed


def cors_headers(headers: httpx.Headers) -> list[str]:
    return [name for name in headers if name.startswith("access-control-")]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        (GEMINI, {"x-goog-api-key": KEY}, IMAGE_REQUEST, 200),
        (GEMINI, {"x-goog-api-key": KEY}, {"contents": []}, 400),
        (GEMINI, {}, IMAGE_REQUEST, None),  # no key: refused (which status: not this test's)
        (GEMINI.replace("generateContent", "nothing"), {"x-goog-api-key": KEY}, {}, 404),
        (GEMINI, {"x-goog-api-key": KEY, "x-emulator-fault": "429"}, IMAGE_REQUEST, 429),
        (GEMINI, {"x-goog-api-key": KEY, "x-emulator-fault": "503"}, IMAGE_REQUEST, 503),
        (TURBO, AUTH, {"prompt": "a cat"}, 200),
        ("/v1/images/gemini/3/pro/generate/", AUTH, {"prompt": "a cat"}, 200),
    ],
)
def test_every_answer_a_page_gets_is_readable_by_it(
    web: TestClient, path: str, headers: dict[str, str], body: object, status: int | None
) -> None:
    response = web.post(path, json=body, headers={"Origin": PAGE, **headers})
    assert response.status_code == status if status else response.status_code in (401, 403)
    check_readable(response.headers)


def test_an_output_file_and_a_wallet_are_readable_by_a_page(web: TestClient) -> None:
    asset = finished_asset(web)
    for path in (asset, "/account/user/wallet/"):
        response = web.get(path, headers={"Origin": PAGE, **AUTH})
        assert response.status_code == 200, path
        check_readable(response.headers)


def test_a_delivery_fault_and_a_crash_carry_the_headers_too(
    web: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    malformed = web.post(
        GEMINI,
        json=IMAGE_REQUEST,
        headers={"Origin": PAGE, "x-goog-api-key": KEY, "x-emulator-fault": "malformed"},
    )
    assert malformed.status_code == 200
    check_readable(malformed.headers)

    def crash(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(vibedream_responses, "documented_params", crash)
    crashed = web.post(TURBO, json={"prompt": "a cat"}, headers={"Origin": PAGE, **AUTH})
    assert crashed.status_code == 500
    check_readable(crashed.headers)


def test_without_an_origin_an_answer_only_varies_on_it(web: TestClient) -> None:
    response = web.post(GEMINI, json=IMAGE_REQUEST, headers={"x-goog-api-key": KEY})
    assert response.status_code == 200
    assert response.headers.get_list("vary") == ["Origin"]
    assert not cors_headers(response.headers)


async def answer_with_vary(scope: Scope, receive: Receive, send: Send) -> None:
    headers = {"Vary": "Accept-Encoding"} if scope["path"] == "/varies" else None
    await PlainTextResponse("hi", headers=headers)(scope, receive, send)


@pytest.mark.parametrize("path", ["/plain", "/varies"])
@pytest.mark.parametrize("origin", [None, PAGE])
def test_skipping_the_middleware_without_an_origin_answers_as_the_middleware(
    path: str, origin: str | None
) -> None:
    """CorsPolicy's short cut for requests without an Origin gives byte for byte what
    Starlette's CORSMiddleware gives, a Vary already there included."""
    ours = TestClient(CorsPolicy(answer_with_vary, ["*"]))
    starlettes = TestClient(cors_middleware(answer_with_vary, ["*"]))
    assert isinstance(starlettes.app, CORSMiddleware)
    headers = {"Origin": origin} if origin else {}
    mine, theirs = ours.get(path, headers=headers), starlettes.get(path, headers=headers)
    assert mine.headers.multi_items() == theirs.headers.multi_items()
    assert mine.content == theirs.content


def test_only_the_configured_origins_are_granted() -> None:
    with open_app(cors_allowed_origins=[PAGE]) as client:
        granted = client.options(GEMINI, headers=preflight())
        assert granted.status_code == 200
        assert granted.headers["access-control-allow-origin"] == PAGE
        refused = client.options(GEMINI, headers=preflight(origin=OTHER_PAGE))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        answer = client.post(
            GEMINI, json=IMAGE_REQUEST, headers={"Origin": OTHER_PAGE, "x-goog-api-key": KEY}
        )
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers


def test_with_no_allowed_origin_there_is_no_cors_at_all() -> None:
    with open_app(cors_allowed_origins=[]) as client:
        refused = client.options(GEMINI, headers=preflight())
        assert refused.status_code in (404, 405)  # an OPTIONS like any other: not served
        assert not cors_headers(refused.headers)
        answer = client.post(
            GEMINI, json=IMAGE_REQUEST, headers={"Origin": PAGE, "x-goog-api-key": KEY}
        )
        assert "access-control-allow-origin" not in answer.headers
        assert "vary" not in answer.headers


@pytest.mark.parametrize("admin_token", [None, "an-admin-token"])
def test_a_page_is_not_granted_the_admin_api(admin_token: str | None) -> None:
    with open_app(admin_token=admin_token) as client:
        # A foreign page is refused as cross-site (cross_site.py), before the token is asked.
        reset = client.options("/_emulator/reset", headers=preflight(origin=PAGE))
        assert reset.status_code == 403
        assert not cors_headers(reset.headers)
        token = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        health = client.get("/_emulator/health", headers={"Origin": PAGE, **token})
        assert health.status_code == 403
        assert not cors_headers(health.headers)


def test_configured_admin_origins_are_granted_the_admin_api_and_no_others() -> None:
    token = {"Authorization": "Bearer an-admin-token"}
    with open_app(admin_token="an-admin-token", admin_allowed_origins=[PAGE]) as client:
        # A preflight carries no credentials: it is answered before the token is asked for.
        granted = client.options("/_emulator/reset", headers=preflight(origin=PAGE))
        assert granted.status_code == 200
        assert granted.headers["access-control-allow-origin"] == PAGE
        refused = client.options("/_emulator/reset", headers=preflight(origin=OTHER_PAGE))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        without_token = client.post("/_emulator/reset", headers={"Origin": PAGE})
        assert without_token.status_code == 401
        done = client.post("/_emulator/reset", headers={"Origin": PAGE, **token})
        assert done.status_code == 200
        assert done.headers["access-control-allow-origin"] == PAGE


def test_the_origins_are_a_checked_setting() -> None:
    loaded = Config.from_mapping(
        {
            "cors": {"allowed_origins": [PAGE, "https://app.example"]},
            "admin": {"allowed_origins": [PAGE]},
        }
    )
    assert loaded.cors_allowed_origins == [PAGE, "https://app.example"]
    assert loaded.admin_allowed_origins == [PAGE]
    assert Config.from_mapping({}).cors_allowed_origins == ["*"]
    assert Config.from_mapping({}).admin_allowed_origins == []
    for bad in (
        {"cors": {"allowed_origins": ["http://127.0.0.1:5173/app"]}},  # a path is no origin
        {"cors": {"allowed_origins": ["127.0.0.1:5173"]}},  # no scheme
        {"cors": {"allowed_origins": ["HTTP://Example.COM"]}},  # browsers send lower case
        {"cors": {"allowed_origins": "*"}},  # a list
        {"cors": {"origins": ["*"]}},
        {"admin": {"allowed_origins": ["*"]}},  # every site: not for the admin API
    ):
        with pytest.raises(ConfigError):
            Config.from_mapping(bad)


def test_the_provider_origins_change_at_run_time_and_the_admin_ones_do_not(
    web: TestClient,
) -> None:
    config = web.get("/_emulator/config").json()["config"]
    assert config["cors"] == {"allowed_origins": ["*"]}
    config["cors"] = {"allowed_origins": [OTHER_PAGE]}
    config["admin"] = {"allowed_origins": [PAGE]}
    assert web.put("/_emulator/config", json=config).status_code == 200
    assert web.options(GEMINI, headers=preflight()).status_code == 400  # PAGE no longer
    assert web.options(GEMINI, headers=preflight(origin=OTHER_PAGE)).status_code == 200
    # PAGE is still not an admin origin: refused as cross-site, and without CORS headers.
    admin_preflight = web.options("/_emulator/reset", headers=preflight())
    assert admin_preflight.status_code == 403
    assert not cors_headers(admin_preflight.headers)
    bad = {**config, "cors": {"allowed_origins": ["nonsense"]}}
    refused = web.put("/_emulator/config", json=bad)
    assert refused.status_code == 400
    assert "allowed_origins" in refused.json()["error"]["message"]
