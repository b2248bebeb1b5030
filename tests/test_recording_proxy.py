"""The recording proxy (`imagegen-emulator record`) in front of a real upstream: the emulator
itself on a uvicorn server on loopback, the proxy on another. A client pointed at the proxy
gets what the upstream answers (statuses, Retry-After, bodies, a stream chunk by chunk as it
is sent), and each exchange lands, sanitised, in one HAR file that contract-check accepts.
Small Starlette upstreams in the tests hold a stream open, answer too late, or point at a CDN.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import contracts
from contracts.streams import stream_chunks
from emulator import create_app
from emulator.cli import main
from emulator.recording import Session, read_har
from emulator.recording.proxy import RecordingProxy, Upstream
from emulator.recording.writer import SessionWriter
from emulator.testing.server import RunningServer, served
from tests.conftest import emulator_config

KEY = "sk-live-Zq7distinctive-4b1f9e"  # must appear in no byte written
AUTH = {"Authorization": f"Bearer {KEY}"}
Z_IMAGE = "/api/v1/models/z-image-turbo/generate"
GEMINI = "/v1beta/models/gemini-2.5-flash-image:{}"
AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "a red fox"}]}]}


@pytest.fixture(scope="module")
def upstream() -> Iterator[RunningServer]:
    """The emulator as the real provider: every provider on one socket."""
    with served(create_app(emulator_config())) as running:
        yield running


@contextmanager
def recording(
    folder: Path, upstreams: list[Upstream], **options: Any
) -> Iterator[tuple[RunningServer, SessionWriter]]:
    """A recording proxy on a real port; the session file is complete when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = SessionWriter(Session(), folder / "session.har")
    writer.write_now()
    try:
        with served(RecordingProxy(upstreams, writer, **options)) as proxy:
            yield proxy, writer
    finally:
        writer.close()


def every_upstream(base_url: str) -> list[Upstream]:
    return [Upstream(key, base_url) for key in ("vibedream", "vertex", "3daistudio")]


def advance(upstream: RunningServer, seconds: float) -> None:
    response = httpx.post(f"{upstream.base_url}/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200


def entries_of(folder: Path) -> list[Any]:
    return read_har(folder / "session.har")


# --------------------------------------------------------------------------- one session


@pytest.fixture(scope="module")
def session(upstream: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One recorded session over all three providers; what the client saw, and the folder."""
    folder = tmp_path_factory.mktemp("recordings")
    seen: dict[str, Any] = {"folder": folder}
    with (
        recording(folder, every_upstream(upstream.base_url)) as (proxy, _),
        httpx.Client(base_url=proxy.base_url, timeout=10) as client,
    ):
        created = client.post(Z_IMAGE, headers=AUTH, json={"prompt": "a fox", "size": "512*512"})
        seen["submit"] = created
        advance(upstream, 30)
        seen["poll"] = client.get(f"/api/v1/predictions/{created.json()['id']}", headers=AUTH)
        # The file is complete while the session goes on (written in the background).
        deadline = time.monotonic() + 5
        while len(seen.setdefault("midway", entries_of(folder))) < 2:
            assert time.monotonic() < deadline, "the file did not catch up"
            time.sleep(0.05)
            seen["midway"] = entries_of(folder)
        # Without --record-downloads the output URL is the upstream's, downloaded from there.
        seen["download"] = httpx.get(seen["poll"].json()["outputs"][0])
        # ?key= reaches the upstream (it refuses a keyless call), and is never written.
        seen["generate"] = client.post(
            GEMINI.format("generateContent") + f"?key={KEY}", json=GEMINI_BODY
        )
        seen["stream"] = client.post(
            GEMINI.format("streamGenerateContent") + f"?alt=sse&key={KEY}", json=GEMINI_BODY
        )
        seen["stream_direct"] = httpx.post(
            upstream.base_url + GEMINI.format("streamGenerateContent") + f"?alt=sse&key={KEY}",
            json=GEMINI_BODY,
        )
        task = client.post(AISTUDIO_GENERATE, headers=AUTH, json={"prompt": "a fox"})
        seen["task"] = task
        advance(upstream, 120)
        seen["status"] = client.get(
            f"/v1/generation-request/{task.json()['task_id']}/status/", headers=AUTH
        )
        flagged = client.post(
            Z_IMAGE, headers={**AUTH, "X-Emulator-Fault": "moderation"}, json={"prompt": "x"}
        )
        advance(upstream, 30)
        seen["moderated"] = client.get(f"/api/v1/predictions/{flagged.json()['id']}", headers=AUTH)
        seen["402"] = client.post(
            Z_IMAGE, headers={**AUTH, "X-Emulator-Fault": "402"}, json={"prompt": "x"}
        )
        seen["429"] = client.post(
            Z_IMAGE,
            headers={**AUTH, "X-Emulator-Fault": "429; retry-after=7"},
            json={"prompt": "x"},
        )
    seen["entries"] = entries_of(folder)
    return seen


def test_answers_are_the_upstreams(session: dict[str, Any]) -> None:
    assert [entry.operation for entry in session["midway"]] == ["submitPrediction", "getPrediction"]
    assert session["submit"].status_code == 200
    assert session["submit"].json()["status"] == "processing"
    assert session["poll"].json()["status"] == "completed"
    assert session["download"].content[:3] == b"\xff\xd8\xff"
    assert session["generate"].status_code == 200
    assert session["task"].status_code == 200
    assert session["status"].json()["status"] == "FINISHED"
    assert session["moderated"].json()["status"] == "failed"
    assert "moderation" in session["moderated"].json()["error"]
    assert session["402"].status_code == 402
    assert session["402"].json()["code"] == "insufficient_credits"
    assert session["429"].status_code == 429
    assert session["429"].headers["retry-after"] == "7"


def test_a_stream_passes_through_with_the_same_chunks_as_direct(session: dict[str, Any]) -> None:
    through, direct = session["stream"], session["stream_direct"]
    assert through.headers["content-type"].startswith("text/event-stream")
    via_proxy, straight = stream_chunks(through), stream_chunks(direct)
    assert via_proxy is not None and straight is not None and len(via_proxy) > 1
    assert len(via_proxy) == len(straight)
    for ours, theirs in zip(via_proxy, straight, strict=True):
        assert ours.keys() == theirs.keys()
        assert ours["candidates"][0].get("finishReason") == theirs["candidates"][0].get(
            "finishReason"
        )


def test_each_exchange_is_recognised_and_recorded(session: dict[str, Any]) -> None:
    recorded = [(e.provider, e.operation, e.status) for e in session["entries"]]
    operations = {operation for _, operation, _ in recorded}
    assert operations == {
        "submitPrediction",
        "getPrediction",
        "generateContentGeminiV1beta",
        "streamGenerateContentGeminiV1beta",
        "generateImage",
        "getTaskStatus",
    }
    providers = {provider for provider, _, _ in recorded}
    assert {"vibedream", "vertex", "3daistudio"} == providers
    stream = next(e for e in session["entries"] if "streamGenerateContent" in e.url)
    assert stream.response_mime.startswith("text/event-stream")
    assert stream.response_text.count("data: ") == len(stream_chunks(session["stream"]) or [])
    assert stream.first_byte_ms is not None and stream.first_byte_ms <= stream.elapsed_ms
    refused = next(e for e in session["entries"] if e.status == 429)
    assert ("retry-after", "7") in [(k.lower(), v) for k, v in refused.response_headers]
    assert all(e.url.startswith("http://127.0.0.1:") for e in session["entries"])


def test_the_key_appears_in_no_byte_written(session: dict[str, Any]) -> None:
    files = [path for path in session["folder"].rglob("*") if path.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data, path
        assert b"Bearer" not in data
    generate = next(e for e in session["entries"] if ":generateContent" in e.url)
    assert "key=" not in generate.url


def test_contract_check_accepts_the_recorded_folder(
    session: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contract-check", "--recordings", str(session["folder"])]) == 0, (
        capsys.readouterr().out
    )


# --------------------------------------------------------------------------- surfaces, paths


def test_an_unknown_path_is_proxied_and_recorded_as_unknown(
    tmp_path: Path, upstream: RunningServer
) -> None:
    with recording(tmp_path, [Upstream("3daistudio", upstream.base_url)]) as (proxy, writer):
        answer = httpx.get(proxy.base_url + "/nowhere/at/all?x=1", headers=AUTH)
        direct = httpx.get(upstream.base_url + "/nowhere/at/all?x=1", headers=AUTH)
        assert writer.flush()
    assert (answer.status_code, answer.json()) == (direct.status_code, direct.json())
    (entry,) = entries_of(tmp_path)
    assert (entry.provider, entry.operation, entry.status) == (None, None, 404)
    assert entry.url == upstream.base_url + "/nowhere/at/all?x=1"


def test_a_surface_upstream_wins_over_the_provider_and_a_base_path_is_kept(
    tmp_path: Path, upstream: RunningServer
) -> None:
    seen: list[str] = []

    async def echo(request: Request) -> Response:
        seen.append(request.url.path)
        return JSONResponse({"candidates": []})

    gateway = Starlette(routes=[Route("/ai/{rest:path}", echo, methods=["POST"])])
    with (
        served(gateway) as mounted,
        recording(
            tmp_path,
            [Upstream("vertex", upstream.base_url), Upstream("gateway", mounted.base_url + "/ai")],
        ) as (proxy, writer),
    ):
        path = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
        assert httpx.post(proxy.base_url + path, headers=AUTH, json=GEMINI_BODY).status_code == 200
        gemini = httpx.post(
            proxy.base_url + GEMINI.format("generateContent"),
            headers={"x-goog-api-key": KEY},
            json=GEMINI_BODY,
        )
        assert gemini.status_code == 200 and gemini.json()["candidates"]
        assert writer.flush()
    assert seen == ["/ai" + path]  # the gateway's; Google's path went to the vertex upstream
    gateway_entry = entries_of(tmp_path)[0]
    assert gateway_entry.url.startswith(mounted.base_url + "/ai/api/v1/")
    assert (gateway_entry.provider, gateway_entry.operation) == ("vertex", "generateContentGateway")


# --------------------------------------------------------------------------- downloads


def cdn_upstream(asset_url: str) -> Starlette:
    """A vibedream whose finished prediction points at a CDN (another origin)."""

    async def prediction(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "id": "p1",
                "status": "completed",
                "statusUrl": f"{base}/api/v1/predictions/p1",
                "outputs": [asset_url],
            }
        )

    return Starlette(routes=[Route("/api/v1/predictions/{id}", prediction)])


def test_record_downloads_rewrites_output_urls_and_records_the_image(
    tmp_path: Path, upstream: RunningServer
) -> None:
    created = httpx.post(upstream.base_url + Z_IMAGE, headers=AUTH, json={"prompt": "a fox"})
    advance(upstream, 30)
    asset = httpx.get(created.json()["statusUrl"], headers=AUTH).json()["outputs"][0]
    with (
        served(cdn_upstream(asset)) as api,
        recording(tmp_path, [Upstream("vibedream", api.base_url)], record_downloads=True) as (
            proxy,
            writer,
        ),
    ):
        answer = httpx.get(proxy.base_url + "/api/v1/predictions/p1", headers=AUTH).json()
        # The poll URL is the proxy's own path; the CDN's URL goes through the download route.
        assert answer["statusUrl"] == proxy.base_url + "/api/v1/predictions/p1"
        rewritten = answer["outputs"][0]
        assert rewritten.startswith(proxy.base_url + "/_imagegen/download/http/127.0.0.1:")
        downloaded = httpx.get(rewritten)
        assert downloaded.status_code == 200
        assert downloaded.content == httpx.get(asset).content
        # Only what the proxy handed out is fetched: never an open proxy.
        elsewhere = rewritten.replace("/assets/", "/_emulator/")
        assert httpx.get(elsewhere).status_code == 404
        assert writer.flush()
    poll, download = entries_of(tmp_path)
    assert poll.response_json()["outputs"] == [asset]  # the upstream's answer, not the rewrite
    assert download.url == asset
    image = json.loads(download.response_text)["_imagegen_image"]
    assert image["format"] == "jpeg" and image["bytes"] == len(downloaded.content)
    assert len(download.response_text) < 8000


def test_without_record_downloads_urls_are_left_alone(
    tmp_path: Path, upstream: RunningServer
) -> None:
    asset = "https://cdn.example.com/out/1.png?sig=abc"
    with (
        served(cdn_upstream(asset)) as api,
        recording(tmp_path, [Upstream("vibedream", api.base_url)]) as (proxy, _),
    ):
        answer = httpx.get(proxy.base_url + "/api/v1/predictions/p1", headers=AUTH).json()
    assert answer["outputs"] == [asset]
    assert answer["statusUrl"].startswith(api.base_url)


# --------------------------------------------------------------------------- failures


def test_an_upstream_that_is_down_is_a_502_in_the_providers_shape(tmp_path: Path) -> None:
    with served(Starlette()) as gone:
        down = gone.base_url  # nothing listens there once it is stopped
    with recording(tmp_path, [Upstream("vibedream", down)]) as (proxy, writer):
        answer = httpx.post(proxy.base_url + Z_IMAGE, headers=AUTH, json={"prompt": "x"})
        plain = httpx.get(proxy.base_url + "/somewhere")
        assert writer.flush()
    assert answer.status_code == 502
    contracts.validate("vibedream", "error", answer.json())
    assert answer.json()["code"] == "bad_gateway"
    assert plain.status_code == 502 and plain.json()["error"]["code"] == 502
    entry = entries_of(tmp_path)[0]
    assert entry.status == 502 and entry.note == "connection refused or failed"
    assert entry.operation == "submitPrediction"


def test_an_upstream_too_slow_is_a_504_and_recorded(tmp_path: Path) -> None:
    answered = threading.Event()

    async def slow(request: Request) -> Response:
        deadline = time.monotonic() + 5
        while not answered.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return JSONResponse({})

    routes = [Route("/v1/images/{rest:path}", slow, methods=["POST"])]
    with (
        served(Starlette(routes=routes)) as late,
        recording(tmp_path, [Upstream("3daistudio", late.base_url)], timeout=0.2) as (
            proxy,
            writer,
        ),
    ):
        answer = httpx.post(proxy.base_url + AISTUDIO_GENERATE, headers=AUTH, json={})
        answered.set()
        assert writer.flush()
    assert answer.status_code == 504
    contracts.validate("3daistudio", "error", answer.json())
    entry = entries_of(tmp_path)[0]
    assert (entry.status, entry.note, entry.provider) == (504, "read timeout", "3daistudio")


def test_a_stream_reaches_the_client_chunk_by_chunk(tmp_path: Path) -> None:
    """The upstream sends one chunk, then waits for the client to have it: a proxy that
    buffered would never deliver it, and the upstream gives up after 3 s."""
    received_first = threading.Event()

    async def events() -> Any:
        yield b'data: {"n": 1}\n\n'
        deadline = time.monotonic() + 3
        while not received_first.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        yield b'data: {"n": 2, "released": %s}\n\n' % str(received_first.is_set()).lower().encode()

    async def stream(request: Request) -> Response:
        return StreamingResponse(events(), media_type="text/event-stream")

    path = GEMINI.format("streamGenerateContent")
    routes = [Route(path, stream, methods=["POST"])]
    with (
        served(Starlette(routes=routes)) as slow,
        recording(tmp_path, [Upstream("gemini", slow.base_url)]) as (proxy, writer),
    ):
        with httpx.stream("POST", proxy.base_url + path + "?alt=sse", json={}) as response:
            pieces = response.iter_raw()
            started = time.monotonic()
            first = next(pieces)
            waited = time.monotonic() - started
            received_first.set()
            rest = b"".join(pieces)
        assert writer.flush()
    assert first == b'data: {"n": 1}\n\n' and waited < 2
    assert b'"released": true' in rest
    assert entries_of(tmp_path)[0].response_text.count("data: ") == 2


# --------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--upstream", "vibedream"], "KEY=URL"),
        (["--upstream", "openai=https://api.openai.com"], "unknown KEY"),
        (["--upstream", "vertex=ftp://example.com"], "not an http(s) URL"),
        (
            ["--upstream", "vibedream=https://a.example", "--upstream", "vibedream=https://b"],
            "given twice",
        ),
        ([f"--upstream=gemini=https://generativelanguage.googleapis.com?key={KEY}"], "a key"),
        ([f"--upstream=vibedream=https://me:{KEY}@api.vibedream.ai"], "credentials"),
        (["--upstream", "vibedream=https://api.vibedream.ai", "--redact", "(unclosed"], "--redact"),
        (["--upstream", "vibedream=https://api.vibedream.ai", "--timeout", "0"], "--timeout"),
        (["--upstream", "vibedream=https://api.vibedream.ai", "--host", "0.0.0.0"], "loopback"),
    ],
)
def test_bad_input_is_one_line_and_never_echoes_a_key(
    arguments: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["record", "--out", str(tmp_path / "out"), *arguments])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and says in err, err
    assert KEY not in out + err
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "taken"
    target.write_text("")
    code = main(["record", "--upstream", "vibedream=https://x.example", "--out", str(target)])
    assert code == 2 and "is a file" in capsys.readouterr().err


def test_writing_into_a_missing_folder_is_a_recording_error(tmp_path: Path) -> None:
    from emulator.recording import RecordingError

    with pytest.raises(RecordingError, match="cannot be written"):
        Session().write(tmp_path / "missing" / "session.har")


def test_the_record_command_serves_writes_and_never_prints_the_key(
    tmp_path: Path, upstream: RunningServer
) -> None:
    """The real command in its own process: banner, one exchange, Ctrl-C, a complete file."""
    out = tmp_path / "new" / "recordings"
    command = [sys.executable, "-m", "emulator", "record", "--port", "0", "--out", str(out)]
    command += ["--upstream", f"vibedream={upstream.base_url}", "--redact", "f[o]x"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("imagegen-emulator record listening on http://127.0.0.1:")
        base_url = first.split()[-1]
        banner = [proc.stdout.readline() for _ in range(3)]
        assert banner[0].split() == ["vibedream", "->", upstream.base_url]
        assert banner[1].startswith(f"  writing {out}/session-")
        created = httpx.post(base_url + Z_IMAGE, headers=AUTH, json={"prompt": "a fox"})
        assert created.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert KEY not in stdout + stderr
    assert "POST /api/v1/models/z-image-turbo/generate -> 200" in stderr
    (written,) = out.glob("session-*.har")
    (entry,) = read_har(written)
    assert entry.operation == "submitPrediction"
    assert entry.request_json() == {"prompt": "a [REDACTED]"}  # --redact applies
    assert "fox" not in written.read_text()


def test_a_compressed_answer_passes_as_sent_and_is_recorded_decoded(tmp_path: Path) -> None:
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware

    answer = {"id": "p1", "status": "completed", "padding": "x" * 2000}

    async def prediction(request: Request) -> Response:
        return JSONResponse(answer)

    app = Starlette(
        routes=[Route("/api/v1/predictions/{id}", prediction)],
        middleware=[Middleware(GZipMiddleware, minimum_size=100)],
    )
    with (
        served(app) as api,
        recording(tmp_path, [Upstream("vibedream", api.base_url)]) as (
            proxy,
            writer,
        ),
    ):
        gzipped = httpx.get(
            proxy.base_url + "/api/v1/predictions/p1", headers={"accept-encoding": "gzip"}
        )
        plain = httpx.get(
            proxy.base_url + "/api/v1/predictions/p1", headers={"accept-encoding": "identity"}
        )
        assert writer.flush()
    assert gzipped.headers["content-encoding"] == "gzip"
    assert int(gzipped.headers["content-length"]) < 200  # the compressed bytes, as sent
    assert gzipped.json() == answer == plain.json()
    assert "content-encoding" not in plain.headers  # the client's Accept-Encoding was forwarded
    assert [entry.response_json() for entry in entries_of(tmp_path)] == [answer, answer]


def test_a_stream_cut_by_the_upstream_is_cut_for_the_client_and_noted(tmp_path: Path) -> None:
    async def cut(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b'data: {"n": 1}\n\n', "more_body": True})
        # Returning unfinished: uvicorn closes the connection mid-answer.

    path = GEMINI.format("streamGenerateContent")
    with (
        served(cut) as api,
        recording(tmp_path, [Upstream("gemini", api.base_url)]) as (
            proxy,
            writer,
        ),
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(proxy.base_url + path + "?alt=sse", json={})
        assert writer.flush()
    (entry,) = entries_of(tmp_path)
    assert entry.status == 200 and entry.note is not None and "cut" in entry.note
    assert entry.response_text.startswith('data: {"n":1}')


def test_output_url_fields_are_rewritten_from_the_table_only() -> None:
    from emulator.recording.downloads import Rewrites, output_urls_rewritten

    rewrites = Rewrites(["https://api.3daistudio.com"])
    body = {
        "status": "FINISHED",
        "results": [
            {
                "asset_url": "https://cdn.example.com/a.png",
                "asset": "https://cdn.example.com/b.png",
                "thumbnail": "https://api.3daistudio.com/t/c.png?size=small",
                "prompt": "https://cdn.example.com/not-an-output.png",
            }
        ],
    }
    changed = output_urls_rewritten(
        "3daistudio", body, lambda url: rewrites.rewrite(url, "http://proxy:1")
    )
    (result,) = changed["results"]
    assert result["asset_url"] == "http://proxy:1/_imagegen/download/https/cdn.example.com/a.png"
    assert result["asset"] == "http://proxy:1/_imagegen/download/https/cdn.example.com/b.png"
    assert result["thumbnail"] == "http://proxy:1/t/c.png?size=small"  # the upstream's own
    assert result["prompt"] == body["results"][0]["prompt"]  # not an output field
    assert rewrites.original("/_imagegen/download/https/cdn.example.com/a.png", "")
    assert rewrites.original("/_imagegen/download/https/cdn.example.com/other.png", "") is None
    assert output_urls_rewritten("vertex", body, lambda url: "changed") is body


def test_a_busy_port_is_one_line_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from emulator.commands.serve import listen

    taken = listen("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        out = tmp_path / "out"
        arguments = ["--upstream", "vibedream=https://x.example", "--port", port]
        code = main(["record", "--out", str(out), *arguments])
    finally:
        taken.close()
    assert code == 2 and "the port is already in use" in capsys.readouterr().err
    assert not out.exists()  # refused before anything is created
