"""Issue 18 end to end, over real sockets: an emulator as the upstream, the recording proxy in
front of it (two sessions: with --record-downloads and without), every provider, a stream, a
moderated job, a 402, a 429 and a 4K PNG, sent with a distinctive key in every place a key
goes. The folder written holds no byte of the key, one HAR file per session, a small 4K entry,
and conforms to the contracts; with the upstream stopped, a strict replay of it answers the
same requests the same (by contract and content) with fresh ids and URLs of its own, the
reference client's flow included. A drifted upstream recorded through the proxy fails
contract-check, naming each path; the recorded folder calibrates to a loadable profile.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from clients import EmulatorClock, VibedreamClient
from contracts.streams import stream_chunks
from emulator import create_app
from emulator.cli import main
from emulator.config import Config
from emulator.recording import Session, read_har, read_recordings
from emulator.recording.proxy import RecordingProxy, Upstream
from emulator.recording.sanitise import IMAGE_KEY
from emulator.recording.writer import SessionWriter
from emulator.testing.server import RunningServer, served
from tests.conftest import check_contract, emulator_config

# A key with the characters that change when URL-encoded or JSON-escaped, and a random part
# no file could hold by chance.
SECRET_PART = secrets.token_hex(24)
KEY = f"sk-e2e/{SECRET_PART}+Zq=="
BEARER = {"Authorization": f"Bearer {KEY}"}
GOOGLE_KEY = {"x-goog-api-key": KEY}
RECORDING_SEED, REPLAY_SEED = 1234, 99

Z_IMAGE = "/api/v1/models/z-image-turbo/generate"
AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:{}"
VERTEX_AI_4K = (
    "/v1/projects/e2e-project/locations/global/publishers/google/models/"
    "gemini-3-pro-image-preview:generateContent"
)

CLIENT_JOB = {"prompt": "a red fox", "size": "1024*768", "output_format": "webp"}
RAW_JOB = {"prompt": "a lighthouse at dusk", "size": "512*512", "output_format": "png"}
MODERATED_JOB = {"prompt": "something flagged"}
REFUSED_429 = {"prompt": "too busy"}
TASK = {"prompt": "a city at night", "aspect_ratio": "1:1", "num_images": 1}
REFUSED_402 = {"prompt": "no credits left", "num_images": 1}
GATEWAY_BODY = {"contents": [{"role": "user", "parts": [{"text": "a red square"}]}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "a blue circle"}]}]}
STREAM_BODY = {"contents": [{"role": "user", "parts": [{"text": "a green triangle"}]}]}
FOUR_K_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "a mountain range, very detailed"}]}],
    "generationConfig": {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "1:1", "imageSize": "4K"},
    },
}
# Real seconds between a recorded job's polls: the proxy times entries on the wall clock, so
# these spacings are the replayed timeline (on the replaying emulator's virtual clock).
POLL_GAP = 0.15


@contextmanager
def recording(
    path: Path, upstreams: list[Upstream], *, record_downloads: bool = False
) -> Iterator[RunningServer]:
    """A recording proxy on a real port; its session file is final when the block ends (the
    proxy stopped, then the writer's last write, as `imagegen-emulator record` does)."""
    writer = SessionWriter(Session(), path)
    writer.write_now()
    try:
        with served(RecordingProxy(upstreams, writer, record_downloads=record_downloads)) as proxy:
            yield proxy
    finally:
        writer.close()
    assert not writer.errors


def every_upstream(base_url: str) -> list[Upstream]:
    return [Upstream(key, base_url) for key in ("vibedream", "vertex", "3daistudio")]


def http_client(base_url: str) -> httpx.Client:
    """Every provider answer checked against its contract as it arrives."""
    return httpx.Client(base_url=base_url, timeout=30, event_hooks={"response": [check_contract]})


def advance(base_url: str, seconds: float) -> None:
    answer = httpx.post(f"{base_url}/_emulator/clock/advance", json={"seconds": seconds})
    assert answer.status_code == 200


def pause() -> None:
    time.sleep(POLL_GAP)


def image_of(data: bytes) -> tuple[str, int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return (image.format or "").lower(), image.width, image.height


def inline_images(body: dict[str, Any]) -> list[tuple[str, tuple[str, int, int]]]:
    return [
        (part["inlineData"]["mimeType"], image_of(base64.b64decode(part["inlineData"]["data"])))
        for candidate in body.get("candidates", [])
        for part in candidate["content"].get("parts", [])
        if "inlineData" in part
    ]


def texts(chunks: list[Any]) -> list[list[str]]:
    return [
        [
            part["text"]
            for c in chunk.get("candidates", [])
            for part in c["content"]["parts"]
            if "text" in part
        ]
        for chunk in chunks
    ]


# --------------------------------------------------------------------------- the traffic


def vibedream_by_client(base_url: str, clock_url: str) -> Any:
    """The reference client's whole flow (submit, polls, download) against ``base_url``; its
    waits advance the virtual clock of the emulator at ``clock_url``."""
    with httpx.Client(base_url=clock_url) as admin:
        clock = EmulatorClock(admin)
        with VibedreamClient(
            KEY, base_url=base_url, sleep=clock.sleep, clock=clock.now, strict=True
        ) as client:
            return client.generate(
                "a red fox", model="z-image-turbo", size="1024*768", output_format="webp"
            )


def vibedream_job(http: httpx.Client, clock_url: str, body: dict[str, Any], **headers: str):
    """Submit, poll (processing), let the job finish on the clock, poll (the end): the
    answers in order."""
    created = http.post(Z_IMAGE, json=body, headers={**BEARER, **headers})
    assert created.status_code == 200, created.text
    poll = httpx.URL(created.json()["statusUrl"]).path
    answers = [created, http.get(poll, headers=BEARER)]
    advance(clock_url, 60)
    pause()
    answers.append(http.get(poll, headers=BEARER))
    return answers


def aistudio_task(
    http: httpx.Client, clock_url: str, steps: tuple[float, float] = (20, 600)
) -> list[httpx.Response]:
    """Generate, then poll at once, after ``steps[0]`` seconds (running) and after
    ``steps[1]`` more (finished): the answers in order."""
    created = http.post(AISTUDIO_GENERATE, json=TASK, headers=BEARER)
    assert created.status_code == 200, created.text
    poll = f"/v1/generation-request/{created.json()['task_id']}/status/"
    answers = [created, http.get(poll, headers=BEARER)]
    for step in steps:
        advance(clock_url, step)
        pause()
        answers.append(http.get(poll, headers=BEARER))
    return answers


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two recorded sessions in one folder, and what the clients saw; the upstream is
    stopped when this returns."""
    folder = tmp_path_factory.mktemp("recordings")
    seen: dict[str, Any] = {"folder": folder}
    with served(create_app(emulator_config(seed=RECORDING_SEED))) as upstream:
        up = upstream.base_url
        with (
            recording(
                folder / "with-downloads.har", every_upstream(up), record_downloads=True
            ) as proxy,
            http_client(proxy.base_url) as http,
        ):
            seen["proxy"] = proxy.base_url
            seen["client"] = vibedream_by_client(proxy.base_url, up)
            seen["job"] = vibedream_job(http, up, RAW_JOB)
            seen["job_download"] = http.get(seen["job"][-1].json()["outputs"][0])
            seen["moderated"] = vibedream_job(
                http, up, MODERATED_JOB, **{"X-Emulator-Fault": "moderation"}
            )
            seen["429"] = http.post(
                Z_IMAGE,
                json=REFUSED_429,
                headers={**BEARER, "X-Emulator-Fault": "429; retry-after=7"},
            )
            seen["task"] = aistudio_task(http, up)
            seen["task_download"] = http.get(seen["task"][-1].json()["results"][0]["asset_url"])
            seen["402"] = http.post(
                AISTUDIO_GENERATE, json=REFUSED_402, headers={**BEARER, "X-Emulator-Fault": "402"}
            )
            seen["4k"] = http.post(VERTEX_AI_4K, json=FOUR_K_BODY, headers=BEARER)
        with (
            recording(folder / "plain.har", every_upstream(up)) as plain,
            http_client(plain.base_url) as http,
        ):
            seen["gateway"] = http.post(GATEWAY, json=GATEWAY_BODY, headers=BEARER)
            seen["gemini"] = http.post(
                GEMINI.format("generateContent"), json=GEMINI_BODY, headers=GOOGLE_KEY
            )
            seen["stream"] = http.post(
                GEMINI.format("streamGenerateContent"),
                params={"alt": "sse", "key": KEY},
                json=STREAM_BODY,
            )
    seen["upstream"] = up
    return seen


def task_poll_offsets(folder: Path) -> list[float]:
    """Seconds after the recorded 3D AI Studio submit of each of its polls."""
    entries = [e for e in read_recordings(folder) if e.provider == "3daistudio" and e.status == 200]
    submit = next(e for e in entries if e.operation == "generateImage")
    return [
        (datetime.fromisoformat(e.started) - datetime.fromisoformat(submit.started)).total_seconds()
        for e in entries
        if e.operation == "getTaskStatus"
    ]


@pytest.fixture(scope="module")
def replayed(recorded: dict[str, Any]) -> dict[str, Any]:
    """The same requests against a strict replay of the folder, another seed and profile, on
    a real socket, the upstream gone."""
    with pytest.raises(httpx.ConnectError):
        httpx.get(recorded["upstream"] + "/_emulator/health", timeout=2)
    app = create_app(
        emulator_config(
            seed=REPLAY_SEED,
            profile="instant",
            replay_folder=str(recorded["folder"]),
            replay_strict=True,
        )
    )
    seen: dict[str, Any] = {}
    with served(app) as replay, http_client(replay.base_url) as http:
        base = replay.base_url
        seen["base"] = base
        seen["client"] = vibedream_by_client(base, base)
        seen["job"] = vibedream_job(http, base, RAW_JOB)
        seen["job_download"] = http.get(seen["job"][-1].json()["outputs"][0])
        seen["moderated"] = vibedream_job(http, base, MODERATED_JOB)
        seen["429"] = http.post(Z_IMAGE, json=REFUSED_429, headers=BEARER)
        # The recorded polls' offsets are real seconds: the replay's clock steps to between
        # the running answer's and the final one's, then past the end.
        running, final = task_poll_offsets(recorded["folder"])[-2:]
        seen["task"] = aistudio_task(http, base, ((running + final) / 2, 600))
        seen["task_download"] = http.get(seen["task"][-1].json()["results"][0]["asset_url"])
        seen["402"] = http.post(AISTUDIO_GENERATE, json=REFUSED_402, headers=BEARER)
        seen["4k"] = http.post(VERTEX_AI_4K, json=FOUR_K_BODY, headers=BEARER)
        seen["gateway"] = http.post(GATEWAY, json=GATEWAY_BODY, headers=BEARER)
        seen["gemini"] = http.post(
            GEMINI.format("generateContent"), json=GEMINI_BODY, headers=GOOGLE_KEY
        )
        seen["stream"] = http.post(
            GEMINI.format("streamGenerateContent"),
            params={"alt": "sse", "key": KEY},
            json=STREAM_BODY,
        )
        # A request is journaled once its handler returns, just after its last byte left:
        # over a socket the next request can come first, so wait (bounded) for the stream's.
        deadline = time.monotonic() + 5
        while True:
            seen["journal"] = http.get("/_emulator/requests").json()["requests"]
            streamed = [e for e in seen["journal"] if "streamGenerateContent" in str(e["route"])]
            if streamed or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    return seen


# --------------------------------------------------------------------------- the folder


def test_the_key_is_in_no_byte_of_any_file_written(recorded: dict[str, Any]) -> None:
    forms = {
        KEY,
        SECRET_PART,
        quote(KEY, safe=""),
        quote_plus(KEY),
        json.dumps(KEY)[1:-1],
        KEY.replace("/", "\\/"),
        base64.b64encode(KEY.encode()).decode(),
    }
    files = [path for path in recorded["folder"].rglob("*") if path.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, (path, form)


def test_one_readable_har_file_per_session(recorded: dict[str, Any]) -> None:
    folder = recorded["folder"]
    assert sorted(path.name for path in folder.iterdir()) == ["plain.har", "with-downloads.har"]
    with_downloads, plain = read_har(folder / "with-downloads.har"), read_har(folder / "plain.har")
    assert {e.provider for e in with_downloads} == {"vibedream", "3daistudio", "vertex", None}
    assert {e.operation for e in plain} == {
        "generateContentGateway",
        "generateContentGeminiV1beta",
        "streamGenerateContentGeminiV1beta",
    }
    downloads = [e for e in with_downloads if e.provider is None]
    assert len(downloads) == 3  # the client's, the raw job's and the task's
    assert all(IMAGE_KEY in e.response_text for e in downloads)
    assert all(e.url.startswith(recorded["upstream"]) for e in with_downloads + plain)


def test_a_recorded_4k_png_generation_is_under_16_kb(recorded: dict[str, Any]) -> None:
    assert recorded["4k"].status_code == 200, recorded["4k"].text
    [(mime, (fmt, width, height))] = inline_images(recorded["4k"].json())
    assert (mime, fmt) == ("image/png", "png") and min(width, height) >= 4096 - 1
    [entry] = [
        e
        for e in read_har(recorded["folder"] / "with-downloads.har")
        if "imageSize" in (e.request_text or "")
    ]
    size = len(json.dumps(entry.to_har()).encode())
    assert size < 16 * 1024, size
    assert len(recorded["4k"].content) > 16 * 16 * 1024  # what it stands for


def test_contract_check_accepts_the_plain_session(
    recorded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["contract-check", "--recordings", str(recorded["folder"] / "plain.har")])
    out = capsys.readouterr().out
    assert code == 0, out


def test_contract_check_accepts_the_folder(
    recorded: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["contract-check", "--recordings", str(recorded["folder"])])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "result: CONFORMS (2 files, no field differs)" in out


def test_calibrate_writes_a_profile_that_loads(
    recorded: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "recorded.toml"
    code = main(["calibrate", str(recorded["folder"]), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    config = Config.load(out, "recorded")
    assert config.profile == "recorded"
    assert KEY not in out.read_text() and SECRET_PART not in out.read_text()


# --------------------------------------------------------------------------- the replay


def test_what_was_recorded_is_what_the_upstream_answered(recorded: dict[str, Any]) -> None:
    job = [answer.json()["status"] for answer in recorded["job"]]
    assert job == ["processing", "processing", "completed"]
    moderated = recorded["moderated"][-1].json()
    assert moderated["status"] == "failed" and "moderation" in moderated["error"]
    task = [answer.json().get("status") for answer in recorded["task"][1:]]
    assert task[-1] == "FINISHED" and "IN_PROGRESS" in task
    assert recorded["429"].status_code == 429 and recorded["429"].headers["retry-after"] == "7"
    assert recorded["402"].status_code == 402
    # Downloads went through the proxy (--record-downloads) and are real images.
    assert recorded["job_download"].url.host == httpx.URL(recorded["proxy"]).host
    assert image_of(recorded["job_download"].content) == ("png", 512, 512)


def test_the_replay_answers_the_same_statuses_and_refusals(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    for name in ("429", "402", "4k", "gateway", "gemini", "stream"):
        assert replayed[name].status_code == recorded[name].status_code, name
    assert replayed["429"].headers["retry-after"] == "7"
    assert replayed["429"].json() == recorded["429"].json()
    assert replayed["402"].json() == recorded["402"].json()


def test_a_replayed_job_follows_its_recorded_polls_to_a_real_image(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    mine, theirs = (
        [answer.json()["status"] for answer in run["job"]] for run in (replayed, recorded)
    )
    assert mine == theirs == ["processing", "processing", "completed"]
    first, final = replayed["job"][0].json(), replayed["job"][-1].json()
    assert first["id"] != recorded["job"][0].json()["id"]
    assert first["statusUrl"].startswith(replayed["base"])
    [output] = final["outputs"]
    assert output.startswith(replayed["base"] + "/")
    assert replayed["job_download"].status_code == 200
    assert image_of(replayed["job_download"].content) == image_of(recorded["job_download"].content)


def test_a_replayed_moderated_job_fails_the_same(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    mine, theirs = replayed["moderated"][-1].json(), recorded["moderated"][-1].json()
    assert [a.json()["status"] for a in replayed["moderated"]] == [
        a.json()["status"] for a in recorded["moderated"]
    ]
    assert (mine["status"], mine["error"], mine["outputs"]) == ("failed", theirs["error"], None)


def test_a_replayed_task_progresses_as_recorded_to_its_recorded_asset(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    def progress(run: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(a.json()["status"], a.json().get("progress")) for a in run["task"][1:]]

    assert progress(replayed) == progress(recorded)
    assert replayed["task"][0].json()["task_id"] != recorded["task"][0].json()["task_id"]
    [result] = replayed["task"][-1].json()["results"]
    assert all(result[name].startswith(replayed["base"] + "/") for name in ("asset_url", "asset"))
    assert replayed["task_download"].status_code == 200
    assert image_of(replayed["task_download"].content) == image_of(
        recorded["task_download"].content
    )


def test_replayed_vertex_answers_carry_the_recorded_images(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    for name in ("gateway", "gemini", "4k"):
        mine, theirs = replayed[name].json(), recorded[name].json()
        assert mine["responseId"] == theirs["responseId"], name
        assert inline_images(mine) == inline_images(theirs), name
        assert inline_images(mine), name
    [(mime, (fmt, width, height))] = inline_images(replayed["4k"].json())
    assert (mime, fmt) == ("image/png", "png") and min(width, height) >= 4095


def test_a_replayed_stream_has_the_recorded_chunks_and_texts(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    mine, theirs = stream_chunks(replayed["stream"]), stream_chunks(recorded["stream"])
    assert mine is not None and theirs is not None and len(theirs) > 1
    assert len(mine) == len(theirs)
    assert texts(mine) == texts(theirs)
    assert replayed["stream"].headers["content-type"].startswith("text/event-stream")


def test_the_reference_client_gets_the_same_image_from_the_replay(
    recorded: dict[str, Any], replayed: dict[str, Any]
) -> None:
    """The app changes only its base URL: proxy, then replay."""
    mine, theirs = replayed["client"], recorded["client"]
    assert mine.job_id != theirs.job_id
    assert (
        [(i.format, i.width, i.height) for i in mine.images]
        == [(i.format, i.width, i.height) for i in theirs.images]
        == [("webp", 1024, 768)]
    )


def test_the_replaying_journal_shows_the_replayed_requests(replayed: dict[str, Any]) -> None:
    routes = [(e["route"], e["provider"], e["status"]) for e in replayed["journal"]]
    for route, provider, status in [
        ("replay:submitPrediction", "vibedream", 200),
        ("replay:submitPrediction", "vibedream", 429),
        ("replay:getPrediction", "vibedream", 200),
        ("replay:generateImage", "3daistudio", 200),
        ("replay:generateImage", "3daistudio", 402),
        ("replay:getTaskStatus", "3daistudio", 200),
        ("replay:generateContentGateway", "vertex", 200),
        ("replay:streamGenerateContentGeminiV1beta", "vertex", 200),
    ]:
        assert (route, provider, status) in routes, route
    assert routes.count(("replay:submitPrediction", "vibedream", 200)) == 3


# --------------------------------------------------------------------------- drift


def valid_answers() -> dict[str, Any]:
    """Answers the contracts accept, from an in-process emulator, for the drifted upstream to
    change one thing each."""
    with TestClient(create_app(emulator_config())) as client:
        created = client.post(Z_IMAGE, json={"prompt": "x"}, headers=BEARER).json()
        task = client.post(AISTUDIO_GENERATE, json=TASK, headers=BEARER).json()
        client.post("/_emulator/clock/advance", json={"seconds": 600})
        completed = client.get(f"/api/v1/predictions/{created['id']}", headers=BEARER).json()
        finished = client.get(
            f"/v1/generation-request/{task['task_id']}/status/", headers=BEARER
        ).json()
        generated = client.post(
            GEMINI.format("generateContent"), json=GEMINI_BODY, headers=GOOGLE_KEY
        ).json()
    return {
        "created": created,
        "completed": completed,
        "finished": finished,
        "generated": generated,
    }


def drifted_upstream(valid: dict[str, Any]) -> Starlette:
    created = {**valid["created"], "id": QUEUED_ID}
    queued = {**valid["completed"], "id": QUEUED_ID, "status": "queued_v2"}
    extra = {**valid["completed"], "id": EXTRA_ID, "seed": 7}
    missing = {key: value for key, value in valid["finished"].items() if key != "progress"}
    generated = json.loads(json.dumps(valid["generated"]))
    generated["candidates"][0]["finishReason"] = "IMAGE_NEWLY_INVENTED"

    async def submit(request: Request) -> Response:
        return JSONResponse(created, status_code=201)

    async def prediction(request: Request) -> Response:
        return JSONResponse(queued if request.path_params["id"] == QUEUED_ID else extra)

    async def status(request: Request) -> Response:
        return JSONResponse(missing)

    async def generate(request: Request) -> Response:
        return JSONResponse(generated)

    return Starlette(
        routes=[
            Route("/api/v1/models/{model}/generate", submit, methods=["POST"]),
            Route("/api/v1/predictions/{id}", prediction),
            Route("/v1/generation-request/{id}/status/", status),
            Route("/v1beta/models/{rest:path}", generate, methods=["POST"]),
        ]
    )


QUEUED_ID = "550e8400-e29b-41d4-a716-446655440000"
EXTRA_ID = "550e8400-e29b-41d4-a716-446655440001"
# (the report's line for it, the contract file to change)
DRIFTS = [
    (
        "201 (status): expected a declared status (200, 4XX, 5XX); got 201",
        "contracts/vibedream/operations.json",
    ),
    ("200 $.status: expected one of", "contracts/vibedream/prediction.json"),
    (
        "200 $.seed: expected no such property (the contract allows no others); got 7 (integer)",
        "contracts/vibedream/prediction.json",
    ),
    (
        "200 $.progress: expected the property, which is required; got nothing (missing)",
        "contracts/3daistudio/status.json",
    ),
    ("200 $.candidates[0].finishReason: expected one of", "contracts/vertex/response-gemini.json"),
]


def test_a_drifted_upstream_recorded_through_the_proxy_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "drifted"
    folder.mkdir()
    with (
        served(drifted_upstream(valid_answers())) as upstream,
        recording(folder / "session.har", every_upstream(upstream.base_url)) as proxy,
        httpx.Client(base_url=proxy.base_url) as http,
    ):
        assert http.post(Z_IMAGE, json={"prompt": "x"}, headers=BEARER).status_code == 201
        assert (
            http.get(f"/api/v1/predictions/{QUEUED_ID}", headers=BEARER).json()["status"]
            == "queued_v2"
        )
        assert http.get(f"/api/v1/predictions/{EXTRA_ID}", headers=BEARER).json()["seed"] == 7
        assert "progress" not in http.get("/v1/generation-request/t1/status/").json()
        http.post(GEMINI.format("generateContent"), json=GEMINI_BODY, headers=GOOGLE_KEY)
    assert len(read_recordings(folder)) == 5
    capsys.readouterr()

    assert main(["contract-check", "--recordings", str(folder)]) == 1
    lines = capsys.readouterr().out.splitlines()
    for line, contract in DRIFTS:
        assert any(line in text and text.endswith(f"-> {contract}") for text in lines), "\n".join(
            [line, *lines]
        )

    assert main(["contract-check", "--format", "json", "--recordings", str(folder)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["conforms"] is False
    found = {(f["path"], f["contract"]) for f in report["findings"]}
    for path, contract in [
        ("$.status", "contracts/vibedream/prediction.json"),
        ("$.seed", "contracts/vibedream/prediction.json"),
        ("$.progress", "contracts/3daistudio/status.json"),
        ("$.candidates[0].finishReason", "contracts/vertex/response-gemini.json"),
    ]:
        assert (path, contract) in found, (path, report["findings"])
    assert any(f["contract"] == "contracts/vibedream/operations.json" for f in report["findings"])
