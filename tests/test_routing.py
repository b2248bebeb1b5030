"""The hot path: provider routes answered without Starlette's stack (emulator/routing.py)
answer exactly as Starlette's router would (same routes chosen, same answers, same errors,
crashes included); the lean JSON response and the per-request header table give what
Starlette's own would; `serve` tunes the garbage collector."""

from __future__ import annotations

import gc

import orjson
import pytest
from starlette.convertors import IntegerConvertor
from starlette.requests import Request
from starlette.responses import JSONResponse as StarletteJSONResponse
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from emulator import create_app
from emulator.commands.serve import GC_THRESHOLDS, tune_gc
from emulator.core.http import JSONResponse, header
from emulator.providers.vibedream import responses as vibedream_responses
from emulator.routing import ProviderRoutes
from tests.conftest import AUTH, check_contract, emulator_config

AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
VERTEX = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"


async def first(request: Request) -> Response:
    return PlainTextResponse("first")


async def second(request: Request) -> Response:
    return PlainTextResponse("second")


def http_scope(method: str, path: str, root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_fixed_and_templated_paths_match_with_their_parameters_converted() -> None:
    table = ProviderRoutes(
        [
            Route("/fixed", first, methods=["POST"]),
            Route("/items/{n:int}", second, methods=["GET"]),
        ]
    )
    assert table.match(http_scope("POST", "/fixed")) == (first, {})
    endpoint, params = table.match(http_scope("GET", "/items/42")) or (None, None)
    assert endpoint is second and params == {"n": 42}
    assert isinstance(params["n"], int)
    assert table.match(http_scope("HEAD", "/items/42")) is not None  # GET routes take HEAD
    assert IntegerConvertor().regex == "[0-9]+"  # so "/items/x" matches no route
    assert table.match(http_scope("GET", "/items/x")) is None


def test_a_wrong_method_an_unknown_path_or_a_root_path_is_left_to_starlette() -> None:
    table = ProviderRoutes(
        [Route("/fixed", first, methods=["POST"]), Route("/items/{id}", second, methods=["GET"])]
    )
    assert table.match(http_scope("GET", "/fixed")) is None
    assert table.match(http_scope("POST", "/items/1")) is None
    assert table.match(http_scope("POST", "/elsewhere")) is None
    assert table.match(http_scope("POST", "/fixed", root_path="/proxy")) is None


def test_an_earlier_templated_route_still_wins_over_a_later_fixed_path() -> None:
    table = ProviderRoutes(
        [Route("/items/{id}", first, methods=["GET"]), Route("/items/new", second, methods=["GET"])]
    )
    endpoint, params = table.match(http_scope("GET", "/items/new")) or (None, None)
    assert endpoint is first and params == {"id": "new"}


def test_of_two_routes_on_one_fixed_path_the_first_wins() -> None:
    table = ProviderRoutes(
        [Route("/same", first, methods=["POST"]), Route("/same", second, methods=["POST"])]
    )
    assert table.match(http_scope("POST", "/same")) == (first, {})


CAT = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}
REQUESTS = [
    ("POST", "/api/v1/models/z-image-turbo/generate", {"prompt": "a cat"}),
    ("POST", "/api/v1/models/z-image-turbo/generate", {"prompt": 5}),
    ("POST", "/api/v1/models/no-such-model/generate", {"prompt": "a cat"}),
    ("GET", "/api/v1/models/z-image-turbo/generate", None),
    ("GET", "/api/v1/predictions/unknown-id", None),
    ("DELETE", "/api/v1/predictions/unknown-id", None),
    ("POST", AISTUDIO_GENERATE, {"prompt": "a cat"}),
    ("POST", AISTUDIO_GENERATE.rstrip("/"), {"prompt": "a cat"}),
    ("POST", AISTUDIO_GENERATE, {"prompt": "a cat", "num_images": 0}),
    ("GET", "/v1/generation-request/unknown/status/", None),
    ("GET", "/account/user/wallet/", None),
    ("POST", VERTEX, {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}),
    ("POST", VERTEX, {"contents": []}),
    ("PUT", VERTEX, None),
    ("POST", "/v1beta/models/gemini-3-pro-image-preview:generateContent", {"contents": []}),
    ("POST", "/v1/images/gemini/3/pro/nowhere/", {}),
    # Issue 16's route kinds: streams (SSE and the JSON array), token counts, listings, files.
    ("POST", VERTEX.replace(":generateContent", ":streamGenerateContent?alt=sse"), CAT),
    ("POST", "/v1beta/models/gemini-3-pro-image:streamGenerateContent", CAT),
    ("POST", "/v1beta/models/gemini-3-pro-image:streamGenerateContent?alt=x", CAT),
    ("POST", "/v1beta/models/gemini-3-pro-image:countTokens", CAT),
    ("POST", "/v1beta1/publishers/google/models/gemini-3-pro-image:computeTokens", CAT),
    ("GET", "/v1beta/models?pageSize=1", None),
    ("GET", "/v1/models/gemini-3-pro-image", None),
    ("GET", "/v1beta/models/no-such-model", None),
    ("GET", "/v1beta/files", None),
    ("GET", "/v1beta/files/nosuchfile", None),
    ("DELETE", "/v1beta/files/nosuchfile", None),
]


PAGE = {"Origin": "http://127.0.0.1:5173"}  # a browser page's request


def preflight(method: str) -> dict[str, str]:
    return {
        **PAGE,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "content-type,x-goog-api-key",
    }


# Browser requests (emulator/cors.py): preflights, a non-preflight OPTIONS, requests from a
# page, on routes of either path and on none; each with the AUTH headers too.
CORS_REQUESTS = [
    ("OPTIONS", VERTEX, None, preflight("POST")),
    ("OPTIONS", REQUESTS[14][1], None, preflight("POST")),
    ("OPTIONS", "/api/v1/predictions/unknown-id", None, preflight("GET")),
    ("OPTIONS", AISTUDIO_GENERATE.rstrip("/"), None, preflight("POST")),
    ("OPTIONS", "/v1/images/gemini/3/pro/nowhere/", None, preflight("POST")),
    ("OPTIONS", VERTEX, None, PAGE),  # not a preflight: no Access-Control-Request-Method
    ("POST", VERTEX, REQUESTS[11][2], PAGE),
    ("POST", VERTEX, {"contents": []}, PAGE),
    ("PUT", VERTEX, None, PAGE),
    ("POST", REQUESTS[0][1], {"prompt": "a cat"}, {**PAGE, "x-emulator-fault": "429"}),
    ("GET", "/account/user/wallet/", None, PAGE),
    ("POST", AISTUDIO_GENERATE.rstrip("/"), {"prompt": "a cat"}, PAGE),
]
ANSWER_HEADERS = (
    "allow",
    "vary",
    "retry-after",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-expose-headers",
)


def answers(fast_path: bool) -> list[tuple[int, bytes, list[str | None]]]:
    app = create_app(emulator_config())
    if not fast_path:
        app.provider_routes = ProviderRoutes([])  # every request through Starlette's router
    seen = []
    requests = [(*request, {}) for request in REQUESTS] + CORS_REQUESTS
    with TestClient(app) as client:
        client.event_hooks["response"].append(check_contract)
        for method, path, body, headers in requests:
            response = client.request(method, path, json=body, headers={**AUTH, **headers})
            kept = [response.headers.get(name) for name in ANSWER_HEADERS]
            seen.append((response.status_code, response.content, kept))
    return seen


def test_every_provider_request_is_answered_as_starlettes_router_answers_it() -> None:
    """Browser requests included: a preflight and the CORS headers are the same both ways."""
    fast, routed = answers(fast_path=True), answers(fast_path=False)
    assert [status for status, _, _ in fast] == [status for status, _, _ in routed]
    assert fast == routed
    assert {status for status, _, _ in fast} >= {200, 400, 404, 405, 429}
    cors = fast[len(REQUESTS) :]
    assert all(headers[3] == PAGE["Origin"] for _, _, headers in cors)  # allow-origin
    assert all(headers[1] == "Origin" for _, _, headers in fast[: len(REQUESTS)])  # vary


def test_a_crash_is_answered_in_the_providers_shape_then_raised_for_the_server_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def crash(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(vibedream_responses, "documented_params", crash)
    app = create_app(emulator_config())
    with TestClient(app, raise_server_exceptions=False) as client:
        client.event_hooks["response"].append(check_contract)
        response = client.post(REQUESTS[0][1], json={"prompt": "a cat"}, headers=AUTH)
        assert response.status_code == 500
        assert "boom" not in response.text and "Traceback" not in response.text
        journal = client.get("/_emulator/requests").json()
    assert [entry["status"] for entry in journal["requests"]][-1] == 500
    with TestClient(app) as client, pytest.raises(RuntimeError, match="boom"):
        client.post(REQUESTS[0][1], json={"prompt": "a cat"}, headers=AUTH)


@pytest.mark.parametrize("status", [200, 201, 400, 404, 500])
@pytest.mark.parametrize(
    "content", [{"id": "x", "outputs": None}, [1, 2.5, "é"], {"nested": {"a": [True, None]}}]
)
def test_the_lean_json_response_is_what_starlette_would_build(content: object, status: int) -> None:
    ours = JSONResponse(content, status_code=status)
    starlettes = StarletteJSONResponse(content, status_code=status)
    assert ours.body == orjson.dumps(content)
    assert ours.raw_headers == starlettes.raw_headers
    assert ours.status_code == status and ours.background is None
    with_header = JSONResponse(content, status_code=status, headers={"Retry-After": "3"})
    assert with_header.raw_headers[0] == (b"retry-after", b"3")
    assert dict(with_header.raw_headers)[b"content-length"] == str(len(ours.body)).encode()


def test_a_header_is_the_first_of_its_name_read_from_one_table_per_request() -> None:
    scope = {
        "type": "http",
        "headers": [(b"host", b"a:1"), (b"x-emulator-fault", b"429"), (b"host", b"b:2")],
    }
    request = Request(scope)
    assert header(request, b"host") == "a:1"  # as Starlette's Headers.get
    assert header(request, b"host") == Request(scope).headers.get("host")
    assert header(request, b"x-emulator-fault") == "429"
    assert header(request, b"authorization") is None
    scope["headers"] = []  # the table was built once, on the first read
    assert header(request, b"host") == "a:1"


def test_serve_freezes_start_up_objects_and_collects_the_young_generation_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > thresholds[0]
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
