"""Replay (emulator/replay/): recordings made here by running the emulator in-process and
feeding every exchange to emulator.recording.Session, then replayed by another emulator with
another seed and profile. Same answers by contract and content; fresh ids and URLs on the
replaying emulator whose files are real images of the recorded size and format; the poll
timeline on the virtual clock; ordered playback; streams chunk for chunk; strict refusals in
each provider's shape; the matcher's config; the pytest marker; serve's bad input."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

import contracts
from clients import EmulatorClock, VibedreamClient
from contracts.streams import SSE_MEDIA_TYPE, stream_chunks
from emulator import create_app
from emulator.cli import main
from emulator.commands.serve import banner
from emulator.core.clock import utc
from emulator.core.streams import event_times
from emulator.recording import Session, Timings, read_recordings
from emulator.recording.sanitise import IMAGE_KEY
from emulator.replay.player import STRICT_STATUS
from emulator.testing.server import start_server
from emulator.testing.settings import SettingsError, resolve
from tests.conftest import (
    AUTH,
    KEY,
    STORES,
    contract_client,
    emulator_config,
    on_store,
    parametrized_names,
    runs_on_both_stores,
)
from tests.images import data_uri
from tests.redis_fixture import delete_prefix

VIBEDREAM_SUBMIT = "/api/v1/models/z-image-turbo/generate"
FOX = {"prompt": "a red fox", "size": "1024*768", "output_format": "webp"}
AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
CITY = {"prompt": "a city at night", "aspect_ratio": "3:2", "num_images": 2}
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:{}"
GEMINI = "/v1beta/models/gemini-3-pro-image-preview:{}"
GOOGLE_KEY = {"x-goog-api-key": KEY}
LIGHTHOUSE = {
    "contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
    "generationConfig": {"imageConfig": {"aspectRatio": "16:9"}},
}
RECORDING_SEED, REPLAY_SEED = 1234, 99


# --------------------------------------------------------------------------- recording


class Recorder:
    """An httpx response hook that adds each provider exchange to a recording Session, timed
    on the recording emulator's clock (admin calls are left out, as a proxy never sees them)."""

    def __init__(self, app: Starlette, elapsed_ms: float = 40.0) -> None:
        self.session = Session()
        self.clock = app.state.runtime.clock
        self.elapsed_ms = elapsed_ms
        self.first_byte_ms: float | None = None

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        if request.url.path.startswith("/_emulator/"):
            return
        response.read()
        self.session.add(
            request.method,
            str(request.url),
            list(request.headers.items()),
            request.content or None,
            response.status_code,
            list(response.headers.items()),
            response.content,
            Timings(utc(self.clock.now()), self.elapsed_ms, self.first_byte_ms),
        )

    def write(self, folder: Path, name: str = "session.har") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self.session.write(folder / name)
        return folder


@pytest.fixture
def recording() -> Iterator[tuple[TestClient, Recorder]]:
    """A contract-checking client on an emulator (realistic timings, seed 1234) whose traffic
    is recorded."""
    app = create_app(emulator_config(seed=RECORDING_SEED))
    recorder = Recorder(app)
    with contract_client(app) as client:
        client.event_hooks["response"].append(recorder)
        yield client, recorder


# The replaying emulators run on both stores ([memory], [redis]): what is replayed is what is
# tested. The recording one stays on memory: it only makes the HAR file.


class ReplayApp(Protocol):
    def __call__(self, folder: Path, **overrides: Any) -> Starlette: ...


class Replaying(Protocol):
    def __call__(self, folder: Path, **overrides: Any) -> TestClient: ...


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that open replaying emulators get [memory] and [redis] (conftest's hook does it
    for those that use its app fixtures; none here does both)."""
    if "replay_app" not in metafunc.fixturenames or "store" in parametrized_names(metafunc):
        return
    if runs_on_both_stores(metafunc.module.__name__, metafunc.fixturenames):
        return  # parametrized by conftest's hook already
    metafunc.parametrize("store", STORES, indirect=True)


@pytest.fixture
def replay_app(store: str, request: pytest.FixtureRequest) -> Iterator[ReplayApp]:
    """Opens apps replaying a folder, with another seed and profile than the recording's. On
    Redis each app gets a prefix of its own: two of them in one test are two emulators, as on
    memory, not two workers of one."""
    prefixes: list[str] = []

    def open_one(folder: Path, **overrides: Any) -> Starlette:
        settings: dict[str, Any] = {
            "seed": REPLAY_SEED,
            "profile": "instant",
            "replay_folder": str(folder),
        }
        url = None
        if store == "redis":
            prefixes.append(f"t{uuid.uuid4().hex[:12]}")
            url = f"{request.getfixturevalue('redis_server_session').url}?prefix={prefixes[-1]}"
        return create_app(on_store(emulator_config(**{**settings, **overrides}), url))

    yield open_one
    if prefixes:
        server_url = request.getfixturevalue("redis_server_session").url
        for prefix in prefixes:
            delete_prefix(server_url, prefix)


@pytest.fixture
def replaying(replay_app: ReplayApp) -> Replaying:
    """A contract-checking client (not yet entered) on a replaying emulator."""

    def open_one(folder: Path, **overrides: Any) -> TestClient:
        return contract_client(replay_app(folder, **overrides))

    return open_one


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def record_vibedream_job(client: TestClient, body: dict[str, Any] = FOX, **headers: str) -> dict:
    """Submit, poll at 0 s and 0.5 s (processing), then at 10.5 s (the end), then download the
    output; the final answer."""
    created = client.post(VIBEDREAM_SUBMIT, json=body, headers={**AUTH, **headers})
    assert created.status_code == 200, created.text
    poll = f"/api/v1/predictions/{created.json()['id']}"
    assert client.get(poll, headers=AUTH).json()["status"] == "processing"
    advance(client, 0.5)
    assert client.get(poll, headers=AUTH).json()["status"] == "processing"
    advance(client, 10)
    final = client.get(poll, headers=AUTH).json()
    if final["status"] == "completed":
        assert client.get(final["outputs"][0]).status_code == 200
    return final


def image_of(data: bytes) -> tuple[str, int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return (image.format or "").lower(), image.width, image.height


def journal(client: TestClient) -> list[dict[str, Any]]:
    return client.get("/_emulator/requests").json()["requests"]


# --------------------------------------------------------------------------- vibedream


def test_a_vibedream_job_replays_with_fresh_ids_its_timeline_and_real_files(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    recorded_final = record_vibedream_job(client)
    folder = recorder.write(tmp_path / "recordings")
    recorded_id = recorded_final["id"]

    with replaying(folder) as replay:
        created = replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH)
        assert created.status_code == 200
        job = created.json()
        assert job["id"] != recorded_id
        assert job["statusUrl"] == f"http://testserver/api/v1/predictions/{job['id']}"
        assert job["costCents"] == 1 and job["status"] == "processing"
        poll = job["statusUrl"].removeprefix("http://testserver")
        # Processing until the recorded 10.5 s have passed on the replaying emulator's clock.
        assert replay.get(poll, headers=AUTH).json()["status"] == "processing"
        advance(replay, 10.4)
        running = replay.get(poll, headers=AUTH).json()
        assert (running["status"], running["id"], running["outputs"]) == (
            "processing",
            job["id"],
            None,
        )
        advance(replay, 0.1)
        final = replay.get(poll, headers=AUTH).json()
        assert final["status"] == "completed" and final["id"] == job["id"]
        assert final["modelId"] == recorded_final["modelId"]
        [output] = final["outputs"]
        assert (
            output.startswith("http://testserver/assets/")
            and output != recorded_final["outputs"][0]
        )
        download = replay.get(output)
        assert download.status_code == 200
        assert image_of(download.content) == ("webp", 1024, 768)  # the recorded download's
        routes = [(e["route"], e["provider"], e["status"]) for e in journal(replay)]
    assert routes[0] == (None, None, 200)  # the download, newest first
    assert ("replay:submitPrediction", "vibedream", 200) in routes
    assert routes.count(("replay:getPrediction", "vibedream", 200)) == 3


def test_a_recorded_429_then_200_replays_in_order_the_last_answer_repeating(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    refused = client.post(
        VIBEDREAM_SUBMIT, json=FOX, headers={**AUTH, "X-Emulator-Fault": "429; retry-after=7"}
    )
    assert refused.status_code == 429
    record_vibedream_job(client)
    folder = recorder.write(tmp_path)

    with replaying(folder) as replay:
        first = replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH)
        assert first.status_code == 429 and first.headers["retry-after"] == "7"
        assert first.json() == refused.json()
        second, third = (replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH) for _ in range(2))
        assert second.status_code == third.status_code == 200
        assert (
            second.json()["id"] != third.json()["id"]
        )  # the last answer repeats, a new job each time
        # A reset starts the sequence over.
        assert replay.post("/_emulator/reset").status_code == 200
        assert replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH).status_code == 429


def test_a_moderated_job_replays_as_a_failed_prediction(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    recorded = record_vibedream_job(client, **{"X-Emulator-Fault": "moderation; stage=output"})
    assert recorded["status"] == "failed"
    with replaying(recorder.write(tmp_path)) as replay:
        job = replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH).json()
        poll = f"/api/v1/predictions/{job['id']}"
        assert replay.get(poll, headers=AUTH).json()["status"] == "processing"
        advance(replay, 60)
        final = replay.get(poll, headers=AUTH).json()
        [shown] = replay.get("/_emulator/jobs").json()["jobs"]
    assert (shown["id"], shown["status"], shown["failure"]) == (job["id"], "failed", final["error"])
    assert (final["status"], final["error"], final["outputs"]) == (
        "failed",
        recorded["error"],
        None,
    )
    assert "moderation" in final["error"]


# --------------------------------------------------------------------------- 3D AI Studio


def test_a_3daistudio_task_replays_its_progress_and_402(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    broke = client.post(
        AISTUDIO_GENERATE, json=CITY, headers={**AUTH, "X-Emulator-Fault": "insufficient_credits"}
    )
    assert broke.status_code == 402
    task = client.post(AISTUDIO_GENERATE, json=CITY, headers=AUTH).json()
    poll = f"/v1/generation-request/{task['task_id']}/status/"
    seen = []
    for step in (0, 20, 20, 300):  # PENDING or IN_PROGRESS with progress, then FINISHED
        advance(client, step) if step else None
        seen.append(client.get(poll, headers=AUTH).json())
    assert seen[-1]["status"] == "FINISHED" and seen[1]["status"] == "IN_PROGRESS"
    folder = recorder.write(tmp_path)  # no download recorded: the files get the default size

    with replaying(folder) as replay:
        refused = replay.post(AISTUDIO_GENERATE, json=CITY, headers=AUTH)
        assert refused.status_code == 402 and refused.json() == broke.json()
        created = replay.post(AISTUDIO_GENERATE, json=CITY, headers=AUTH).json()
        assert created["task_id"] != task["task_id"]
        replayed_poll = f"/v1/generation-request/{created['task_id']}/status/"
        answers = []
        for step in (0, 20, 20, 300):
            advance(replay, step) if step else None
            answers.append(replay.get(replayed_poll, headers=AUTH).json())
        final = answers[-1]
        urls = [
            result[name]
            for result in final["results"]
            for name in ("asset_url", "asset", "thumbnail")
        ]
        files = [replay.get(url) for url in urls]
    assert [(a["status"], a["progress"]) for a in answers] == [
        (s["status"], s["progress"]) for s in seen
    ]
    assert len(final["results"]) == 2
    assert all(url.startswith("http://testserver/assets/") for url in urls)
    recorded_urls = {
        r[name] for r in seen[-1]["results"] for name in ("asset_url", "asset", "thumbnail")
    }
    assert not recorded_urls & set(urls)
    for file, url in zip(files, urls, strict=True):
        assert file.status_code == 200
        extension = url.rsplit(".", 1)[-1].replace("jpg", "jpeg")
        assert image_of(file.content) == (extension, 1024, 1024)  # no recorded download


# --------------------------------------------------------------------------- vertex


def inline_images(body: dict[str, Any]) -> list[tuple[str, tuple[str, int, int]]]:
    return [
        (part["inlineData"]["mimeType"], image_of(base64.b64decode(part["inlineData"]["data"])))
        for candidate in body.get("candidates", [])
        for part in candidate["content"].get("parts", [])
        if "inlineData" in part
    ]


def test_a_vertex_answer_replays_with_its_image_rendered_and_an_input_image_matched_by_hash(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    photo = data_uri("PNG", size=(64, 48), color="red").split(",", 1)[1]
    edit = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "make it blue"},
                    {"inlineData": {"mimeType": "image/png", "data": photo}},
                ],
            }
        ]
    }
    recorded = client.post(GATEWAY.format("generateContent"), json=edit, headers=AUTH).json()
    folder = recorder.write(tmp_path)
    with replaying(folder) as replay:
        # Key order and spacing do not matter; the image is compared by its bytes' sha256.
        reordered = json.dumps(
            {"contents": [{"parts": edit["contents"][0]["parts"], "role": "user"}]}
        )
        answer = replay.post(
            GATEWAY.format("generateContent"),
            content=reordered,
            headers={**AUTH, "content-type": "application/json"},
        ).json()
        other_photo = data_uri("PNG", size=(64, 48), color="green").split(",", 1)[1]
        other = json.loads(json.dumps(edit))
        other["contents"][0]["parts"][1]["inlineData"]["data"] = other_photo
        emulated = replay.post(GATEWAY.format("generateContent"), json=other, headers=AUTH).json()
    assert answer["responseId"] == recorded["responseId"]
    assert answer["usageMetadata"] == recorded["usageMetadata"]
    assert inline_images(answer) == inline_images(recorded)  # same size and format
    replayed_image = answer["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
    recorded_image = recorded["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"]
    assert replayed_image != recorded_image  # rendered again, from the descriptor
    assert emulated["responseId"] != recorded["responseId"]  # another image: emulated


@pytest.mark.parametrize("alt", ["sse", None])
def test_a_stream_replays_chunk_for_chunk_with_its_images_rendered(
    recording: tuple[TestClient, Recorder], tmp_path: Path, alt: str | None, replaying: Replaying
) -> None:
    client, recorder = recording
    recorder.first_byte_ms, recorder.elapsed_ms = 300.0, 1200.0
    params = {"alt": alt} if alt else {}
    body = {
        **LIGHTHOUSE,
        "generationConfig": {
            **LIGHTHOUSE["generationConfig"],
            "thinkingConfig": {"includeThoughts": True},
        },
    }
    recorded = client.post(
        GEMINI.format("streamGenerateContent"), json=body, params=params, headers=GOOGLE_KEY
    )
    recorded_chunks = stream_chunks(recorded)
    assert recorded_chunks and len(recorded_chunks) > 2
    with replaying(recorder.write(tmp_path)) as replay:
        replayed = replay.post(
            GEMINI.format("streamGenerateContent"), json=body, params=params, headers=GOOGLE_KEY
        )
        # The other framing was not recorded: emulated.
        other = replay.post(
            GEMINI.format("streamGenerateContent"),
            json=body,
            params={} if alt else {"alt": "sse"},
            headers=GOOGLE_KEY,
        )
    assert replayed.headers["content-type"].startswith(
        SSE_MEDIA_TYPE if alt else "application/json"
    )
    chunks = stream_chunks(replayed)
    assert chunks is not None and len(chunks) == len(recorded_chunks)
    for mine, theirs in zip(chunks, recorded_chunks, strict=True):
        assert mine["responseId"] == theirs["responseId"]
        assert inline_images(mine) == inline_images(theirs)
    assert sum(len(inline_images(chunk)) for chunk in chunks) >= 2  # interim and final images
    assert stream_chunks(other)[0]["responseId"] != recorded_chunks[0]["responseId"]


def test_on_the_real_clock_a_replayed_stream_arrives_at_its_recorded_pace(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replay_app: ReplayApp
) -> None:
    """Over a real socket: the first chunk after the recorded 150 ms to first byte, the whole
    stream after the recorded 400 ms."""
    client, recorder = recording
    recorder.first_byte_ms, recorder.elapsed_ms = 150.0, 400.0
    path, params = GEMINI.format("streamGenerateContent"), {"alt": "sse"}
    assert client.post(path, json=LIGHTHOUSE, params=params, headers=GOOGLE_KEY).is_success
    folder = recorder.write(tmp_path)
    app = replay_app(folder, clock="real", seed=1234, profile="realistic", replay_strict=True)
    running = start_server(app)
    try:
        with httpx.Client(base_url=running.base_url) as http:
            started = time.perf_counter()
            with http.stream(
                "POST", path, json=LIGHTHOUSE, params=params, headers=GOOGLE_KEY
            ) as answer:
                assert answer.status_code == 200
                chunks = answer.iter_bytes()
                next(chunks)
                first = time.perf_counter() - started
                body = b"".join(chunks)
            total = time.perf_counter() - started
    finally:
        running.stop()
    assert 0.14 <= first < 0.35, first
    assert total >= 0.39, total
    assert body.endswith(b"\r\n\r\n")


def test_a_replayed_stream_keeps_its_recorded_pace() -> None:
    # First chunk at the recorded time to first byte, the last at the recorded end.
    assert event_times(4, 1.2, 0.3) == pytest.approx([0.3, 0.6, 0.9, 1.2])
    assert event_times(1, 1.2, 0.3) == pytest.approx([0.3])
    assert event_times(3, 1.0) == pytest.approx([0.25, 0.625, 1.0])  # the emulator's own pace


# --------------------------------------------------------------------------- unmatched


UNMATCHED = [
    ("vibedream", "POST", VIBEDREAM_SUBMIT, {"prompt": "never recorded"}, AUTH, "error"),
    ("vibedream", "GET", "/api/v1/predictions/0000", None, AUTH, "error"),
    ("3daistudio", "POST", AISTUDIO_GENERATE, {"prompt": "never recorded"}, AUTH, "error"),
    ("vertex", "POST", GATEWAY.format("generateContent"), LIGHTHOUSE, AUTH, "error-gateway"),
    ("vertex", "POST", GEMINI.format("generateContent"), LIGHTHOUSE, GOOGLE_KEY, "error-google"),
]


@pytest.fixture
def one_recorded_job(recording: tuple[TestClient, Recorder], tmp_path: Path) -> Path:
    client, recorder = recording
    record_vibedream_job(client)
    return recorder.write(tmp_path / "recordings")


@pytest.mark.parametrize(("provider", "method", "path", "body", "headers", "schema"), UNMATCHED)
def test_unmatched_requests_are_emulated_or_refused_by_strict_replay_in_the_providers_shape(
    one_recorded_job: Path,
    provider: str,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    schema: str,
    replaying: Replaying,
) -> None:
    with replaying(one_recorded_job) as replay:
        emulated = replay.request(method, path, json=body, headers=headers)
    assert emulated.status_code == (404 if method == "GET" else 200)  # as the emulator answers
    with replaying(one_recorded_job, replay_strict=True) as strict:
        refused = strict.request(method, path, json=body, headers=headers)
        entry = journal(strict)[0]
    assert refused.status_code == STRICT_STATUS
    contracts.validate(provider, schema, refused.json())
    message = json.dumps(refused.json())
    assert f"{method} {path}" in message and "No recording matched" in message
    assert "strict replay" in message
    assert (entry["provider"], entry["status"]) == (provider, STRICT_STATUS)
    assert entry["route"].startswith("replay-unmatched:")


def test_strict_replay_never_refuses_the_admin_api_or_downloads(
    one_recorded_job: Path, replaying: Replaying
) -> None:
    with replaying(one_recorded_job, replay_strict=True) as strict:
        assert strict.get("/_emulator/health").status_code == 200
        job = strict.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH).json()
        advance(strict, 11)
        final = strict.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
        assert strict.get(final["outputs"][0]).status_code == 200
        assert strict.get("/assets/nothing/here.png").status_code == 404  # not a refusal


def test_a_request_under_a_root_path_is_replayed(
    one_recorded_job: Path, replay_app: ReplayApp
) -> None:
    app = replay_app(one_recorded_job, seed=1234, profile="realistic", replay_strict=True)
    with TestClient(app, base_url="http://emulator.test:9000", root_path="/ai") as client:
        job = client.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH).json()
        assert job["statusUrl"] == f"http://emulator.test:9000/ai/api/v1/predictions/{job['id']}"
        advance(client, 11)
        final = client.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
    assert final["outputs"][0].startswith("http://emulator.test:9000/ai/assets/")


# --------------------------------------------------------------------------- the matcher


def test_the_matchers_ignore_and_match_config(
    recording: tuple[TestClient, Recorder], tmp_path: Path, replaying: Replaying
) -> None:
    client, recorder = recording
    seeded = {"prompt": "a red fox", "seed": 1}
    assert client.post(VIBEDREAM_SUBMIT, json=seeded, headers=AUTH).status_code == 200
    folder = recorder.write(tmp_path)
    reseeded = {"prompt": "a red fox", "seed": 2}

    def replayed(body: dict[str, Any], **replay: Any) -> bool:
        with replaying(folder, replay_strict=True, **replay) as strict:
            return strict.post(VIBEDREAM_SUBMIT, json=body, headers=AUTH).status_code == 200

    assert replayed(seeded) and not replayed(reseeded)
    assert replayed(reseeded, replay_ignore=["seed"])  # a name, at any depth
    assert replayed(reseeded, replay_ignore=["$.seed"])  # a path
    assert not replayed({"prompt": "a blue fox", "seed": 2}, replay_ignore=["$.seed"])
    assert replayed({"prompt": "anything"}, replay_match=["method", "operation"])


def test_the_replay_table_in_a_config_file(one_recorded_job: Path, tmp_path: Path) -> None:
    from emulator.config import Config

    file = tmp_path / "emulator.toml"
    file.write_text(
        f'[replay]\nfolder = "{one_recorded_job}"\nstrict = true\n'
        'match = ["method", "operation", "body"]\nignore = ["seed", "$.contents[*].role"]\n'
    )
    config = Config.load(file)
    assert (config.replay_folder, config.replay_strict) == (str(one_recorded_job), True)
    assert config.replay_match == ["method", "operation", "body"]
    assert config.to_mapping()["replay"]["ignore"] == ["seed", "$.contents[*].role"]
    file.write_text('[replay]\nmatch = ["headers"]\n')
    with pytest.raises(ValueError, match=r"replay\.match"):
        Config.load(file)


# --------------------------------------------------------------------------- the marker


@pytest.fixture
def marked_replay(request: pytest.FixtureRequest, one_recorded_job: Path) -> Path:
    """Marks the test as the marker would, with a folder made at run time."""
    request.node.add_marker(pytest.mark.imagegen(replay=one_recorded_job, replay_strict=True))
    return one_recorded_job


def test_the_pytest_marker_replays_a_folder(marked_replay: Path, imagegen_emulator: Any) -> None:
    client = imagegen_emulator.client
    job = client.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH).json()
    assert job["status"] == "processing" and job["statusUrl"].endswith(job["id"])
    refused = client.post(VIBEDREAM_SUBMIT, json={"prompt": "other"}, headers=AUTH)
    assert refused.status_code == STRICT_STATUS
    assert imagegen_emulator.settings.mapping["replay"] == {
        "folder": str(marked_replay),
        "strict": True,
    }


def test_the_marker_refuses_recordings_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "broken.har").write_text("{not json")
    for folder, problem in (
        (tmp_path / "missing", "no such file or folder"),
        (tmp_path, "not a HAR file"),
    ):
        settings = resolve(None, None, [((), {"replay": folder})])
        with pytest.raises(SettingsError, match=problem):
            settings.build()
    assert "replay" in resolve(None, None, [((), {"replay": tmp_path})]).server_key()


# --------------------------------------------------------------------------- serve


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--replay", "{tmp}/missing"], "replay: {tmp}/missing: no such file or folder"),
        (["--replay", "{tmp}/broken.har"], "replay: {tmp}/broken.har: not a HAR file"),
        (
            ["--replay", "{tmp}/foreign.har"],
            "replay: {tmp}/foreign.har: not a HAR file: no log.entries list",
        ),
        (["--replay-strict"], "--replay-strict needs recordings: give --replay DIR"),
        (
            ["--config", "{tmp}/bad-ignore.toml", "--replay", "{tmp}/good.har"],
            "replay: '$.a..b' is not a field path (at '..b')",
        ),
    ],
)
def test_serve_refuses_bad_recordings_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], problem: str
) -> None:
    (tmp_path / "broken.har").write_text('{"log": {"entries": [')
    (tmp_path / "foreign.har").write_text('{"openapi": "3.1.0"}')
    (tmp_path / "good.har").write_text('{"log": {"entries": []}}')
    (tmp_path / "bad-ignore.toml").write_text('[replay]\nignore = ["$.a..b"]\n')
    given = [argument.format(tmp=tmp_path) for argument in arguments]
    assert main(["serve", "--port", "0", *given]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imagegen-emulator: error: " + problem.format(tmp=tmp_path))
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_config_change_at_run_time_keeps_the_replay(
    one_recorded_job: Path, replaying: Replaying
) -> None:
    with replaying(one_recorded_job, replay_strict=True) as strict:
        config = strict.get("/_emulator/config").json()["config"]
        assert config["replay"]["folder"] == str(one_recorded_job)
        changed = {key: value for key, value in config.items() if key != "replay"}
        assert strict.put("/_emulator/config", json=changed).status_code == 200
        assert strict.get("/_emulator/config").json()["config"]["replay"] == config["replay"]
        refused = strict.post(VIBEDREAM_SUBMIT, json={"prompt": "other"}, headers=AUTH)
        assert refused.status_code == STRICT_STATUS


def test_the_serve_banner_says_what_is_replayed(one_recorded_job: Path) -> None:
    app = create_app(emulator_config(replay_folder=str(one_recorded_job), replay_strict=True))
    text = banner("http://127.0.0.1:8000", app.state.runtime)
    assert f"replaying {one_recorded_job} (strict: unmatched requests refused)" in text


# --------------------------------------------------------------------------- a reference client


def test_the_vibedream_client_runs_against_a_replaying_emulator(
    tmp_path: Path, replay_app: ReplayApp
) -> None:
    """The reference client records a job (its downloads too), then runs the same call against
    a strict replay of it: the same image, by size and format, from the replaying emulator."""
    app = create_app(emulator_config(seed=RECORDING_SEED))
    recorder = Recorder(app)

    def run(client_app: Starlette, hook: Callable[[httpx.Response], None] | None) -> Any:
        with contract_client(client_app) as http:
            if hook is not None:
                http.event_hooks["response"].append(hook)
            clock = EmulatorClock(http)
            with VibedreamClient(
                KEY, http_client=http, sleep=clock.sleep, clock=clock.now, strict=True
            ) as client:
                return client.generate(
                    "a red fox", model="z-image-turbo", size="1024*768", output_format="webp"
                )

    recorded = run(app, recorder)
    folder = recorder.write(tmp_path)
    entries = read_recordings(folder)
    assert any(IMAGE_KEY in entry.response_text for entry in entries)  # the download
    replayed = run(replay_app(folder, replay_strict=True), None)
    assert replayed.job_id != recorded.job_id
    assert (
        [(i.format, i.width, i.height) for i in replayed.images]
        == [(i.format, i.width, i.height) for i in recorded.images]
        == [("webp", 1024, 768)]
    )
    assert replayed.images[0].data != recorded.images[0].data  # rendered from the descriptor
