"""intercept() and the imagegen_intercept fixture (issue 20): app code that calls the providers'
real hosts, changed in nothing (no base URL, no transport), answered in-process; any other host
refused with the client's own connection error, unless allowed."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import httpx
import httpx2
import pytest
import requests
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from emulator.testing import ImagegenEmulator, InterceptError, intercept
from emulator.testing.server import RunningServer, served

pytest.importorskip("google.genai")

from google import genai
from google.genai import types

pytest_plugins = ["pytester"]

KEY = "k"
AUTH = {"Authorization": f"Bearer {KEY}"}
GEMINI_MODEL = "gemini-3-pro-image-preview"
VIBEDREAM_SUBMIT = "https://api.vibedream.ai/api/v1/models/z-image-turbo/generate"
STUDIO = "https://api.3daistudio.com"
IMAGE_CONFIG = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    image_config=types.ImageConfig(aspect_ratio="16:9"),
)


@pytest.fixture
def emu() -> Iterator[ImagegenEmulator]:
    with intercept(seed=3) as emulator:
        yield emulator


def image_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def inline_images(response: types.GenerateContentResponse) -> list[types.Blob]:
    parts = response.candidates[0].content.parts if response.candidates else []
    return [part.inline_data for part in parts or [] if part.inline_data and not part.thought]


# ------------------------------------------------------------------ google-genai (httpx2)


@pytest.mark.usefixtures("no_google_environment")
def test_google_genai_with_no_base_url_reaches_the_emulator(emu: ImagegenEmulator) -> None:
    client = genai.Client(api_key="dummy")
    answer = client.models.generate_content(
        model=GEMINI_MODEL, contents="a lighthouse at dusk", config=IMAGE_CONFIG
    )
    (image,) = inline_images(answer)
    assert image.mime_type == "image/jpeg"  # the Gemini API's default for this model
    assert image_size(image.data) == (1376, 768)  # 16:9 at 1K
    chunks = list(
        client.models.generate_content_stream(
            model=GEMINI_MODEL, contents="a lighthouse", config=IMAGE_CONFIG
        )
    )
    streamed = [blob for chunk in chunks for blob in inline_images(chunk)]
    assert [image_size(blob.data) for blob in streamed] == [(1376, 768)]

    async def in_async() -> types.GenerateContentResponse:
        return await client.aio.models.generate_content(model=GEMINI_MODEL, contents="a fox")

    assert inline_images(asyncio.run(in_async()))
    journal = emu.requests("vertex")
    assert [(e["route"], e["model"], e["status"]) for e in journal] == [
        ("generateContent", GEMINI_MODEL, 200),
        ("streamGenerateContent", GEMINI_MODEL, 200),
        ("generateContent", GEMINI_MODEL, 200),
    ]
    # The SDK's own default path on generativelanguage.googleapis.com: the Gemini API surface.
    assert all(e["path"].startswith("/v1") and "/models/" in e["path"] for e in journal)


@pytest.mark.usefixtures("no_google_environment")
def test_google_genai_on_vertex_ai_express_mode_and_a_regional_project(
    emu: ImagegenEmulator,
) -> None:
    # Express mode: an API key with vertexai=True, on https://aiplatform.googleapis.com.
    express = genai.Client(vertexai=True, api_key="dummy")
    answer = express.models.generate_content(model=GEMINI_MODEL, contents="a lighthouse")
    assert [blob.mime_type for blob in inline_images(answer)] == ["image/png"]  # Vertex: PNG
    # A project and location need Google credentials; a ready-made access token is enough
    # (the SDK refreshes none): https://us-central1-aiplatform.googleapis.com.
    from google.oauth2.credentials import Credentials

    regional = genai.Client(
        vertexai=True,
        project="my-project",
        location="us-central1",
        credentials=Credentials(token="dummy-token"),
    )
    answer = regional.models.generate_content(model=GEMINI_MODEL, contents="a lighthouse")
    assert inline_images(answer)
    paths = [e["path"] for e in emu.requests("vertex", status=200)]
    assert paths == [
        f"/v1beta1/publishers/google/models/{GEMINI_MODEL}:generateContent",
        "/v1beta1/projects/my-project/locations/us-central1/publishers/google/models/"
        f"{GEMINI_MODEL}:generateContent",
    ]


@pytest.mark.usefixtures("no_google_environment")
@pytest.mark.parametrize("given", ["parameter", "environment"])
def test_the_gateway_host_from_a_parameter_or_the_environment(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = "https://ai.gateway.example.test"
    if given == "environment":
        monkeypatch.setenv("VERTEX_GATEWAY_BASE_URL", base)
        activation = intercept()
    else:
        activation = intercept(gateway_url=base)
    with activation as emulator:
        client = genai.Client(
            vertexai=True,
            http_options=types.HttpOptions(
                base_url=base + "/api/v1",
                base_url_resource_scope="COLLECTION",
                headers={"Authorization": "Bearer gateway-key"},
            ),
        )
        answer = client.models.generate_content(
            model="googleVertexAI/gemini-3-pro-image", contents="a lighthouse"
        )
        assert inline_images(answer)
        (entry,) = emulator.requests("vertex")
    assert entry["path"] == (
        "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
    )


# ------------------------------------------------------------------ requests: vibedream


def test_a_plain_requests_vibedream_submit_poll_download(emu: ImagegenEmulator) -> None:
    before = emu.balance("vibedream", KEY)
    with requests.Session() as session:
        session.headers.update(AUTH)
        submitted = session.post(
            VIBEDREAM_SUBMIT, json={"prompt": "a red fox", "size": "1024*768"}
        ).json()
        assert submitted["status"] == "processing"
        assert submitted["statusUrl"].startswith("https://api.vibedream.ai/api/v1/predictions/")
        emu.advance(30)
        prediction = session.get(submitted["statusUrl"]).json()
        assert prediction["status"] == "completed"
        (url,) = prediction["outputs"]
        assert url.startswith("https://assets.vibedream.ai/")  # the real asset host (seed 003)
        download = requests.get(url)  # no key: a direct download link
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/jpeg"
    assert image_size(download.content) == (1024, 768)
    assert [(e["route"], e["status"]) for e in emu.requests("vibedream")] == [
        ("submit", 200),
        ("poll", 200),
    ]
    assert emu.requests()[-1]["path"] == url.removeprefix("https://assets.vibedream.ai")
    assert emu.balance("vibedream", KEY) == before - submitted["costCents"]


def test_a_fault_reaches_requests_as_its_own_error(emu: ImagegenEmulator) -> None:
    emu.fail_next("vibedream", "429", route="submit")
    limited = requests.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)
    assert limited.status_code == 429 and "retry-after" in limited.headers
    emu.fail_next("vibedream", "drop", route="submit")
    with pytest.raises(requests.ConnectionError):
        requests.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)


# ------------------------------------------------------------------ httpx: 3D AI Studio


def test_an_httpx_3d_ai_studio_flow(emu: ImagegenEmulator) -> None:
    with httpx.Client(base_url=STUDIO, headers=AUTH) as client:
        task = client.post(
            "/v1/images/gemini/3/pro/generate/",
            json={"prompt": "a teapot", "aspect_ratio": "4:3", "resolution": "1K"},
        ).json()
        emu.advance(600)
        status = client.get(f"/v1/generation-request/{task['task_id']}/status/").json()
        assert status["status"] == "FINISHED", status
        (result,) = status["results"]
        assert result["asset_url"].startswith("https://cdn.3daistudio.com/")  # seed 002's host
        asset = client.get(result["asset_url"])
        thumbnail = httpx.get(result["thumbnail"])
        wallet = client.get("/account/user/wallet/").json()
    assert asset.status_code == thumbnail.status_code == 200
    assert image_size(asset.content) == (1200, 896)
    assert image_size(thumbnail.content) < (1200, 896)
    assert float(wallet["balance"]) == float(emu.balance("3daistudio", KEY))
    assert [e["route"] for e in emu.requests("3daistudio")] == ["generate", "status", "wallet"]


def test_an_async_httpx_client_on_the_real_host(emu: ImagegenEmulator) -> None:
    async def flow() -> tuple[int, tuple[int, int]]:
        async with httpx.AsyncClient(headers=AUTH) as client:
            submitted = (await client.post(VIBEDREAM_SUBMIT, json={"prompt": "a cat"})).json()
            emu.advance(30)
            prediction = (await client.get(submitted["statusUrl"])).json()
            download = await client.get(prediction["outputs"][0])
            return download.status_code, image_size(download.content)

    assert asyncio.run(flow()) == (200, (1024, 1024))
    assert [e["route"] for e in emu.requests("vibedream")] == ["submit", "poll"]


def test_in_process_drops_and_timeouts_reach_each_client_as_its_own_error(
    emu: ImagegenEmulator,
) -> None:
    emu.fail_next("vibedream", "drop", count=2, route="submit")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)
    with pytest.raises(httpx2.RemoteProtocolError):
        httpx2.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)
    emu.configure({"defaults": {"timeout_seconds": 0}})
    emu.fail_next("vibedream", "timeout", count=3, route="submit")
    for send, error in (
        (httpx.post, httpx.ReadTimeout),
        (httpx2.post, httpx2.ReadTimeout),
        (requests.post, requests.exceptions.ReadTimeout),
    ):
        with pytest.raises(error):
            send(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)


@pytest.mark.parametrize("url", ["https://assets.vibedream.ai/", "ftp://x.test", "https://a b"])
def test_an_asset_base_url_is_scheme_host_and_path_without_a_trailing_slash(url: str) -> None:
    with pytest.raises(InterceptError, match="asset_base_url"):
        intercept(config={"providers": {"vibedream": {"asset_base_url": url}}}).__enter__()


# ------------------------------------------------------------------ other hosts


def refusals(host: str) -> list[tuple[str, type[Exception], object]]:
    url = f"https://{host}/path"

    async def async_httpx() -> object:
        async with httpx.AsyncClient() as client:
            return await client.get(url)

    async def async_httpx2() -> object:
        async with httpx2.AsyncClient() as client:
            return await client.get(url)

    return [
        ("httpx", httpx.ConnectError, lambda: httpx.get(url)),
        ("httpx async", httpx.ConnectError, lambda: asyncio.run(async_httpx())),
        ("requests", requests.ConnectionError, lambda: requests.get(url)),
        ("httpx2", httpx2.ConnectError, lambda: httpx2.get(url)),
        ("httpx2 async", httpx2.ConnectError, lambda: asyncio.run(async_httpx2())),
    ]


def test_an_unlisted_host_is_refused_by_every_client_naming_it() -> None:
    activation = intercept()
    with activation as emulator:
        for client, error, call in refusals("api.openai.com"):
            with pytest.raises(error) as refused:
                call()
            message = str(refused.value)
            assert "'api.openai.com' is not an emulated provider host" in message, client
            assert "allow_hosts=['api.openai.com']" in message, client
        assert emulator.requests() == []  # nothing reached the emulator either
    assert activation.interceptor is not None
    assert activation.interceptor.refused == ["GET https://api.openai.com/path"] * 5


def test_a_lookalike_of_a_provider_host_is_refused() -> None:
    with intercept(), pytest.raises(httpx.ConnectError, match=r"evil-api\.vibedream"):
        httpx.get("https://evil-api.vibedream.ai.example/api/v1/predictions/x")


def hello_app() -> Starlette:
    return Starlette(routes=[Route("/", lambda _request: PlainTextResponse("hello"))])


@pytest.fixture
def local_server() -> Iterator[RunningServer]:
    with served(hello_app()) as server:
        yield server


@pytest.mark.live
def test_allowed_hosts_pass_through_to_the_network(local_server: RunningServer) -> None:
    url = local_server.base_url + "/"

    async def async_get() -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(url)).text

    with intercept(allow_hosts=["127.0.0.1"]) as emulator:
        assert httpx.get(url).text == "hello"
        assert asyncio.run(async_get()) == "hello"
        assert requests.get(url).text == "hello"
        assert httpx2.get(url).text == "hello"
        assert emulator.requests() == []
    with intercept(), pytest.raises(requests.ConnectionError, match=r"'127\.0\.0\.1'"):
        requests.get(url)


# ------------------------------------------------------------------ life cycle


def test_the_patches_are_undone_on_exit() -> None:
    originals = (
        requests.adapters.HTTPAdapter.send,
        httpx2.HTTPTransport.handle_request,
        httpx2.AsyncHTTPTransport.handle_async_request,
    )
    with intercept():
        assert httpx2.HTTPTransport.handle_request is not originals[1]
    assert (
        requests.adapters.HTTPAdapter.send,
        httpx2.HTTPTransport.handle_request,
        httpx2.AsyncHTTPTransport.handle_async_request,
    ) == originals
    # respx: no router left registered to answer (httpcore's pool is unpatched again).
    import httpcore

    assert "respx" not in type(httpcore.ConnectionPool.handle_request).__module__
    assert not getattr(httpcore.ConnectionPool.handle_request, "_mock_name", None)


def test_one_activation_at_a_time_and_a_bad_profile_is_one_line() -> None:
    with intercept(), pytest.raises(InterceptError, match="already active"), intercept():
        pass
    with pytest.raises(InterceptError, match="profile") as refused, intercept(profile="nope"):
        pass
    assert "\n" not in str(refused.value)


@intercept(seed=5)
def test_as_a_decorator() -> None:
    answer = requests.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)
    assert answer.status_code == 200


def test_as_a_decorator_of_a_coroutine_function() -> None:
    @intercept()
    async def flow() -> int:
        async with httpx.AsyncClient() as client:
            answer = await client.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH)
            return answer.status_code

    original = requests.adapters.HTTPAdapter.send
    assert asyncio.run(flow()) == 200
    assert requests.adapters.HTTPAdapter.send is original  # undone once the coroutine ended


def test_the_test_config_wins_over_the_real_asset_host() -> None:
    config = {"providers": {"vibedream": {"asset_base_url": "https://files.example.test/v"}}}
    with intercept(config=config) as emulator:
        submitted = requests.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH).json()
        emulator.advance(30)
        prediction = requests.get(submitted["statusUrl"], headers=AUTH).json()
    assert prediction["outputs"][0].startswith("https://files.example.test/v/assets/")


# ------------------------------------------------------------------ the fixture


@pytest.mark.imagegen(seed=7, config={"providers": {"vibedream": {"job_duration": 100}}})
def test_the_fixture_honours_the_marker(imagegen_intercept: ImagegenEmulator) -> None:
    assert imagegen_intercept.seed == 7
    submitted = requests.post(VIBEDREAM_SUBMIT, json={"prompt": "x"}, headers=AUTH).json()
    assert requests.get(submitted["statusUrl"], headers=AUTH).json()["status"] == "processing"
    imagegen_intercept.advance(100)
    prediction = requests.get(submitted["statusUrl"], headers=AUTH).json()
    assert prediction["outputs"][0].startswith("https://assets.vibedream.ai/")


@pytest.mark.imagegen(allow_hosts=["localhost"])
def test_the_fixture_takes_allowed_hosts_from_the_marker(
    imagegen_intercept: ImagegenEmulator,
) -> None:
    with pytest.raises(httpx.ConnectError) as refused:
        httpx.get("http://localhost:1/")  # let through: refused by the OS, not by intercept
    assert "imagegen intercept" not in str(refused.value)


def test_a_strict_fixture_fails_on_unused_faults_and_refused_hosts(
    pytester: pytest.Pytester,
) -> None:
    from tests.test_pytest_plugin import INI

    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import httpx
        import pytest
        import requests

        SUBMIT = "https://api.vibedream.ai/api/v1/models/z-image-turbo/generate"

        @pytest.mark.imagegen(strict=True)
        def test_it(imagegen_intercept):
            imagegen_intercept.fail_next("vertex", "503")
            try:  # an app that swallows the error still leaves the refusal
                httpx.get("https://telemetry.example.com/ping")
            except httpx.ConnectError:
                pass
            auth = {"Authorization": "Bearer k"}
            answer = requests.post(SUBMIT, json={"prompt": "x"}, headers=auth)
            assert answer.status_code == 200

        def test_not_strict(imagegen_intercept):
            imagegen_intercept.fail_next("vertex", "503")
        """
    )
    result = pytester.runpytest()
    out = result.stdout.str()
    assert result.parseoutcomes() == {"passed": 2, "errors": 1}, out
    assert "fail_next 503 x1" in out, out
    assert "refused: GET https://telemetry.example.com/ping" in out, out


def test_the_plugin_loads_no_mocking_library_until_intercept_starts() -> None:
    import subprocess
    import sys

    code = (
        "import sys, emulator.testing.pytest_plugin\n"
        "print(sorted(m for m in ('respx', 'responses', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out
