"""`imagegen-emulator calibrate RECORDINGS --out FILE`: a profile fitted to recorded traffic.

The recordings are made here: the emulator runs in-process under a known profile on the
virtual clock (jobs of known length distributions, seeded 429s with a Retry-After, 503s,
moderation), an app-like loop submits and polls every provider, and each exchange goes to
``emulator.recording.Session.add`` with timings the loop controls. The written file must load
with the emulator's own config loader, its figures must match what was recorded, and an
emulator running the fitted profile must produce jobs within the fitted bounds and a 429 rate
near the recorded one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import statistics
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator import create_app
from emulator.cli import main
from emulator.config import Config
from emulator.recording import Session, Timings
from emulator.recording.calibration import calibrate, fit_seconds
from emulator.recording.har import read_recordings
from tests.conftest import AUTH, EPOCH

TICK = 0.5  # seconds between two rounds of polls (the recorded poll interval)
SUBMIT_VIBEDREAM = "/api/v1/models/z-image-turbo/generate"
SUBMIT_3DAISTUDIO = "/v1/images/gemini/3/pro/generate/"
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-2.5-flash-image:generateContent"
VERTEX_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "a red fox"}]}],
    "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "1:1"}},
}
# The traffic's truth: what the recorded "upstream" does.
TRUTH = {
    "clock": "virtual",
    "clock_start": EPOCH,
    "seed": 18,
    "profile": "truth",
    "profiles": {
        "truth": {
            "extends": "instant",
            "providers": {
                "vibedream": {
                    "wallet_balance": 1_000_000,
                    "job_duration": [4, 8],
                    "faults": {"429; retry-after=3": 0.1, "503": 0.03},
                    "moderation": [{"probability": 0.1}],
                },
                "3daistudio": {
                    "queue_duration": [1, 2],
                    "job_duration": [3, 5],
                },
                "vertex": {"moderation": [{"probability": 0.2}]},
            },
        }
    },
}
# The recorded wall-clock timings the loop stamps on each answer (seconds), seeded.
ASYNC_FIRST_BYTE = (0.1, 0.3)
VERTEX_ELAPSED = (2.0, 4.0)


@dataclass
class Recorded:
    """What the loop knows of the traffic it recorded, to check the fit against."""

    path: Path
    durations: dict[str, list[float]] = field(default_factory=dict)  # by provider
    queues: list[float] = field(default_factory=list)  # 3daistudio
    first_bytes: dict[str, list[float]] = field(default_factory=dict)
    vertex_elapsed: list[float] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    moderated: dict[str, int] = field(default_factory=dict)
    finished: dict[str, int] = field(default_factory=dict)


class Recorder:
    """An app's loop against the in-process emulator (httpx over ASGI, the virtual clock moved
    directly), every exchange added to a session."""

    def __init__(self, app: Starlette, session: Session, recorded: Recorded) -> None:
        self.app, self.session, self.recorded = app, session, recorded
        self.clock = app.state.runtime.clock
        self.wall = random.Random(5)

    def run(self, body: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
        async def main() -> None:
            transport = httpx.ASGITransport(self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                await body(http)

        asyncio.run(main())

    async def call(
        self,
        http: httpx.AsyncClient,
        provider: str,
        method: str,
        path: str,
        body: Any = None,
        elapsed: float | None = None,
    ) -> httpx.Response:
        started = self.clock.now()
        response = await http.request(method, path, json=body, headers=AUTH)
        first_byte = self.wall.uniform(*ASYNC_FIRST_BYTE) if elapsed is None else elapsed * 0.9
        total = first_byte + 0.01 if elapsed is None else elapsed
        self.session.add(
            method,
            f"https://upstream.example{path}",
            [*AUTH.items(), ("Content-Type", "application/json")],
            None if body is None else json.dumps(body).encode(),
            response.status_code,
            list(response.headers.items()),
            response.content,
            Timings(datetime.fromtimestamp(started, UTC), total * 1000, first_byte * 1000),
        )
        recorded = self.recorded
        recorded.requests[provider] = recorded.requests.get(provider, 0) + 1
        recorded.statuses.setdefault(provider, []).append(response.status_code)
        if response.is_success and elapsed is None:
            recorded.first_bytes.setdefault(provider, []).append(first_byte)
        return response

    def jobs(
        self, provider: str, submit: str, body: dict[str, Any], count: int, status_path: str
    ) -> None:
        """Submit ``count`` jobs (a 429 or 503 is retried next tick), poll every running job
        each tick until it ends."""
        self.run(lambda http: self._jobs(http, provider, submit, body, count, status_path))

    async def _jobs(
        self,
        http: httpx.AsyncClient,
        provider: str,
        submit: str,
        body: dict[str, Any],
        count: int,
        status_path: str,
    ) -> None:
        recorded = self.recorded
        id_field = "task_id" if provider == "3daistudio" else "id"
        running: dict[str, float] = {}  # job id -> submitted at
        running_since: dict[str, float] = {}
        submitted = 0
        while submitted < count or running:
            if submitted < count:
                at = self.clock.now()
                answer = await self.call(http, provider, "POST", submit, body)
                if answer.is_success:
                    running[answer.json()[id_field]] = at
                    submitted += 1
            for job_id, at in list(running.items()):
                polled_at = self.clock.now()
                answer = await self.call(http, provider, "GET", status_path.format(job_id))
                if not answer.is_success:
                    continue
                state = answer.json()["status"]
                if state == "IN_PROGRESS":
                    running_since.setdefault(job_id, polled_at)
                if state not in ("completed", "failed", "FINISHED", "FAILED"):
                    continue
                del running[job_id]
                recorded.finished[provider] = recorded.finished.get(provider, 0) + 1
                if state in ("failed", "FAILED"):
                    recorded.moderated[provider] = recorded.moderated.get(provider, 0) + 1
                    continue
                start = at
                if provider == "3daistudio":
                    start = running_since.get(job_id, polled_at)
                    recorded.queues.append(start - at)
                recorded.durations.setdefault(provider, []).append(polled_at - start)
            self.clock.advance(TICK)

    def generations(self, count: int) -> None:
        async def generate(http: httpx.AsyncClient) -> None:
            recorded = self.recorded
            for _ in range(count):
                elapsed = self.wall.uniform(*VERTEX_ELAPSED)
                answer = await self.call(http, "vertex", "POST", GATEWAY, VERTEX_BODY, elapsed)
                assert answer.status_code == 200
                recorded.vertex_elapsed.append(elapsed)
                recorded.finished["vertex"] = recorded.finished.get("vertex", 0) + 1
                if "promptFeedback" in answer.json():
                    recorded.moderated["vertex"] = recorded.moderated.get("vertex", 0) + 1

        self.run(generate)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("recordings")
    recorded = Recorded(folder)
    app = create_app(Config.from_mapping(TRUTH))
    session = Session()
    recorder = Recorder(app, session, recorded)
    recorder.jobs("vibedream", SUBMIT_VIBEDREAM, {"prompt": "a fox"}, 60, "/api/v1/predictions/{}")
    session.write(folder / "vibedream.har")
    session = recorder.session = Session()
    recorder.jobs(
        "3daistudio",
        SUBMIT_3DAISTUDIO,
        {"prompt": "a fox"},
        25,
        "/v1/generation-request/{}/status/",
    )
    recorder.generations(25)
    session.write(folder / "others.har")
    return recorded


@pytest.fixture(scope="module")
def fitted(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("fitted") / "recorded.toml"
    assert main(["calibrate", str(recorded.path), "--out", str(out)]) == 0
    yield out


def lognormal(setting: Any) -> dict[str, float]:
    assert isinstance(setting, dict) and setting["distribution"] == "lognormal", setting
    return setting


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- the file


def test_the_file_loads_with_the_emulators_own_loader_and_says_what_it_was_fitted_from(
    fitted: Path, recorded: Recorded
) -> None:
    text = fitted.read_text()
    assert text.startswith("# Fitted by `imagegen-emulator calibrate` at ")
    entries = len(read_recordings(recorded.path))
    assert f"{entries} entries ({sum(recorded.requests.values())} requests)" in text
    assert "providers: 3daistudio, vertex, vibedream" in text
    config = Config.load(fitted, "recorded")
    assert config.profile == "recorded"
    profile = tomllib.loads(text)["profiles"]["recorded"]
    assert profile["extends"] == "realistic"
    # The fitted settings are what the running emulator reads.
    assert config.job_duration("vibedream", "z-image-turbo").shape == "lognormal"


def test_job_durations_are_fitted_per_model_from_submit_to_the_first_terminal_answer(
    fitted: Path, recorded: Recorded
) -> None:
    providers = tomllib.loads(fitted.read_text())["profiles"]["recorded"]["providers"]
    vibedream = lognormal(providers["vibedream"]["models"]["z-image-turbo"]["job_duration"])
    seen = sorted(recorded.durations["vibedream"])
    assert vibedream["median"] == pytest.approx(median(seen), abs=0.01)
    assert vibedream["min"] >= seen[0] - 0.01 and vibedream["max"] <= seen[-1] + 0.01
    # The truth is uniform 4-8 s, seen through polls every TICK seconds.
    assert 5.5 <= vibedream["median"] <= 7 + TICK
    assert 4 <= vibedream["min"] <= 4.5 + TICK and 7.5 <= vibedream["max"] <= 8 + TICK
    studio = providers["3daistudio"]["models"]["gemini-3-pro"]
    queue, run = studio["queue_duration"], studio["job_duration"]
    assert 1 <= median_of(queue) <= 2 + TICK
    assert median_of(queue) == pytest.approx(median(recorded.queues), abs=0.01)
    assert median_of(run) == pytest.approx(median(recorded.durations["3daistudio"]), abs=0.01)
    assert 3 <= median_of(run) <= 5 + TICK


def median_of(setting: Any) -> float:
    if isinstance(setting, int | float):
        return float(setting)
    if setting["distribution"] == "uniform":
        return (setting["min"] + setting["max"]) / 2
    return float(setting["median"])


def test_latencies_are_fitted_per_provider_and_vertex_generations_per_model(
    fitted: Path, recorded: Recorded
) -> None:
    providers = tomllib.loads(fitted.read_text())["profiles"]["recorded"]["providers"]
    for provider in ("vibedream", "3daistudio"):
        latency = lognormal(providers[provider]["latency"])
        # Collapsed polls keep the first answer's timing: the fit sees a sample of them.
        assert latency["median"] == pytest.approx(median(recorded.first_bytes[provider]), abs=0.02)
        assert ASYNC_FIRST_BYTE[0] <= latency["min"] < latency["max"] <= ASYNC_FIRST_BYTE[1]
    vertex = lognormal(providers["vertex"]["models"]["gemini-2.5-flash-image"]["latency"])
    assert vertex["median"] == pytest.approx(median(recorded.vertex_elapsed), abs=0.002)
    assert VERTEX_ELAPSED[0] <= vertex["min"] < vertex["max"] <= VERTEX_ELAPSED[1]
    # Uniform 2-4 s has an interquartile range of 1 s around 3 s: sigma about 0.25.
    assert 0.15 <= vertex["sigma"] <= 0.35
    # Vertex answered nothing but generations: its provider latency stays the base's.
    assert "latency" not in providers["vertex"]
    assert "# latency: 0 answers (fewer than 5): realistic's value kept" in fitted.read_text()


def test_error_and_429_rates_are_fitted_with_their_retry_after(
    fitted: Path, recorded: Recorded
) -> None:
    providers = tomllib.loads(fitted.read_text())["profiles"]["recorded"]["providers"]
    statuses = recorded.statuses["vibedream"]
    total = recorded.requests["vibedream"]
    faults = providers["vibedream"]["faults"]
    assert faults["429; retry-after=3"] == pytest.approx(statuses.count(429) / total, abs=1e-4)
    assert faults["503; retry-after=1"] == pytest.approx(statuses.count(503) / total, abs=1e-4)
    assert 0.06 <= faults["429; retry-after=3"] <= 0.14  # the truth: 0.1 of requests
    # The recorded 429s replace the base profile's token bucket.
    assert providers["vibedream"]["rate_limit"] is False
    # No error in the others' traffic: an empty table, overriding any the base has.
    assert providers["3daistudio"]["faults"] == {}
    # 25 generations are too few for a fault rate: the base's stays.
    assert "faults" not in providers["vertex"]
    assert "# faults: 25 requests (fewer than 50): realistic's faults kept" in fitted.read_text()


def test_moderation_rates_are_fitted_from_moderated_jobs_and_blocked_generations(
    fitted: Path, recorded: Recorded
) -> None:
    providers = tomllib.loads(fitted.read_text())["profiles"]["recorded"]["providers"]
    for provider in ("vibedream", "vertex"):
        (rule,) = providers[provider]["moderation"]
        share = recorded.moderated[provider] / recorded.finished[provider]
        assert rule["probability"] == pytest.approx(share, abs=1e-4)
        assert rule["stage"] == "prompt"
    assert 0.03 <= providers["vibedream"]["moderation"][0]["probability"] <= 0.2
    assert providers["3daistudio"]["moderation"] == [{"probability": 0.0}]


def test_an_emulator_running_the_fitted_profile_behaves_like_the_recording(
    fitted: Path, recorded: Recorded
) -> None:
    config = dataclasses.replace(
        Config.load(fitted, "recorded"), clock="virtual", clock_start=EPOCH, seed=99
    )
    duration = config.job_duration("vibedream", "z-image-turbo")
    assert duration is not None
    session = Session()
    again = Recorded(fitted.parent)
    Recorder(create_app(config), session, again).jobs(
        "vibedream", SUBMIT_VIBEDREAM, {"prompt": "a fox"}, 40, "/api/v1/predictions/{}"
    )
    durations = again.durations["vibedream"]
    assert len(durations) >= 25
    # Polled every TICK: a job is seen done at most one tick after it ends.
    assert all(duration.low - 1e-6 <= seconds <= duration.high + TICK for seconds in durations)
    statuses = again.statuses["vibedream"]
    recorded_rate = recorded.statuses["vibedream"].count(429) / recorded.requests["vibedream"]
    rate = statuses.count(429) / len(statuses)
    assert abs(rate - recorded_rate) <= 0.05, (rate, recorded_rate)
    answered = [entry for entry in session.entries() if entry.status == 429]
    assert all(
        ("retry-after", "3") in [(k.lower(), v) for k, v in e.response_headers] for e in answered
    )


# --------------------------------------------------------------------------- fitting


def test_too_few_samples_keep_the_base_profiles_value_and_say_so(tmp_path: Path) -> None:
    session = Session()
    Recorder(create_app(Config.from_mapping(TRUTH)), session, Recorded(tmp_path)).jobs(
        "3daistudio",
        SUBMIT_3DAISTUDIO,
        {"prompt": "a fox"},
        2,
        "/v1/generation-request/{}/status/",
    )
    session.write(tmp_path / "few.har")
    out = tmp_path / "few.toml"
    assert main(["calibrate", str(tmp_path), "--out", str(out), "--base", "chaos"]) == 0
    text = out.read_text()
    assert "# job_duration: 2 jobs (per image) (fewer than 5): chaos's value kept" in text
    assert "# faults: " in text and "chaos's faults kept" in text
    section = tomllib.loads(text)["profiles"]["recorded"]["providers"]["3daistudio"]
    assert "faults" not in section and section["models"]["gemini-3-pro"] == {}
    config = Config.load(out, "recorded")
    # The base's values show through: chaos' faults and realistic's rate limit.
    assert config.fault_table("3daistudio", "gemini-3-pro").cumulative
    assert config.setting("3daistudio", "gemini-3-pro", "rate_limit") == {
        "requests": 3,
        "per_seconds": 60,
    }


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([2.0] * 6, 2.0),
        ([0.0, 0.0, 0.0, 0.5, 1.0, 2.0], {"distribution": "uniform", "min": 0.0, "max": 1.95}),
    ],
)
def test_equal_samples_fit_a_fixed_number_and_zeros_a_uniform_range(
    samples: list[float], expected: Any
) -> None:
    assert fit_seconds(samples) == expected


def test_a_lognormal_sample_is_fitted_back_to_its_parameters() -> None:
    rng = random.Random(3)
    fitted = lognormal(fit_seconds([rng.lognormvariate(1.0, 0.4) for _ in range(4000)]))
    assert fitted["median"] == pytest.approx(2.718, rel=0.05)
    assert fitted["sigma"] == pytest.approx(0.4, rel=0.08)


def test_unknown_traffic_is_not_fitted(tmp_path: Path) -> None:
    session = Session()
    session.add(
        "GET",
        "https://elsewhere.example/health",
        [],
        None,
        200,
        [],
        b"{}",
        Timings(datetime(2025, 1, 15, tzinfo=UTC), 5.0),
    )
    assert calibrate(session.entries()).providers == ()
    # A submit whose request is not JSON still counts, as one image.
    session.add(
        "POST",
        f"https://upstream.example{SUBMIT_3DAISTUDIO}",
        [("Content-Type", "text/plain")],
        b"not json",
        200,
        [("Content-Type", "application/json")],
        b'{"task_id": "t1", "created_at": "2025-01-15T12:00:00Z"}',
        Timings(datetime(2025, 1, 15, tzinfo=UTC), 5.0),
    )
    assert calibrate(session.entries()).providers == ("3daistudio",)
    session = Session()
    session.add(
        "GET",
        "https://elsewhere.example/health",
        [],
        None,
        200,
        [],
        b"{}",
        Timings(datetime(2025, 1, 15, tzinfo=UTC), 5.0),
    )
    session.write(tmp_path / "foreign-paths.har")
    assert main(["calibrate", str(tmp_path)]) == 2


# --------------------------------------------------------------------------- bad input


def test_stdout_is_the_default_output(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(recorded.path / "vibedream.har"), "--profile-name", "s1"]) == 0
    out = capsys.readouterr().out
    data = tomllib.loads(out)
    assert data["profile"] == "s1" and set(data["profiles"]["s1"]["providers"]) == {"vibedream"}


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        (None, ["{tmp}/missing"], "missing: no such file or folder"),
        ("empty", ["{tmp}"], "no .har files in this folder"),
        ("corrupt", ["{tmp}"], "not a HAR file: invalid JSON"),
        ("foreign", ["{tmp}"], "not a HAR file: no log.entries list"),
        ("no-entries", ["{tmp}"], "no recorded exchange of a known provider (0 entries)"),
        ("no-entries", ["{tmp}", "--out", "{tmp}/nowhere/x.toml"], "no such folder for --out"),
        ("no-entries", ["{tmp}", "--profile-name", "realistic"], "must be a new name"),
        ("no-entries", ["{tmp}", "--base", "mine"], "--base must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str | None,
    arguments: list[str],
    message: str,
) -> None:
    contents = {
        "corrupt": '{"log": {"entries": [',
        "foreign": json.dumps({"name": "not a HAR"}),
        "no-entries": json.dumps({"log": {"version": "1.2", "entries": []}}),
    }
    if setup in contents:
        (tmp_path / "session.har").write_text(contents[setup])
    out = tmp_path / "out.toml"
    given = [argument.format(tmp=tmp_path) for argument in arguments]
    code = main(["calibrate", *given, *([] if "--out" in given else ["--out", str(out)])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("imagegen-emulator: error: calibrate: ")
    assert message in err
    assert not out.exists()


def exchange(
    session: Session,
    at: float,
    status: int,
    path: str = "/v1beta/models/gemini-2.5-flash-image:generateContent",
    body: object = None,
    headers: tuple[tuple[str, str], ...] = (),
    elapsed_ms: float = 50.0,
    note: str | None = None,
) -> None:
    session.add(
        "POST",
        f"https://generativelanguage.example{path}",
        [("x-goog-api-key", "AIzaCalibrationKey01"), ("Content-Type", "application/json")],
        json.dumps(VERTEX_BODY).encode(),
        status,
        [("Content-Type", "application/json"), *headers],
        b"" if body is None else json.dumps(body).encode(),
        Timings(datetime.fromtimestamp(EPOCH + at, UTC), elapsed_ms, None),
        note=note,
    )


def test_google_retry_info_other_5xx_and_unanswered_requests_become_faults(
    tmp_path: Path,
) -> None:
    session = Session()
    retry_info = {
        "error": {
            "code": 429,
            "message": "Resource exhausted.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26.5s"}
            ],
        }
    }
    for index in range(10):
        exchange(session, index, 429, body=retry_info)
    for index in range(5):
        exchange(session, 10 + index, 0, elapsed_ms=30_000.0)  # no answer (HAR status 0)
    exchange(session, 20, 501, body={"error": {"code": 501, "message": "x", "status": "X"}})
    for index in range(84):
        exchange(session, 30 + index, 200, body={"candidates": []}, elapsed_ms=1500.0)
    session.write(tmp_path / "vertex.har")
    out = tmp_path / "fitted.toml"
    assert main(["calibrate", str(tmp_path), "--out", str(out)]) == 0
    vertex = tomllib.loads(out.read_text())["profiles"]["recorded"]["providers"]["vertex"]
    assert vertex["faults"] == {"429; retry-after=27": 0.1, "500": 0.01, "timeout": 0.05}
    assert vertex["timeout_seconds"] == 30.0
    assert vertex["rate_limit"] is False
    assert vertex["models"]["gemini-2.5-flash-image"]["latency"] == 1.5
    assert Config.load(out, "recorded").fault_table("vertex", "gemini-2.5-flash-image").cumulative


def test_the_recorders_own_answers_are_a_timeout_or_left_out(tmp_path: Path) -> None:
    """A 504 the recording proxy answered after its --timeout is the provider too slow (a
    timeout); a 502 it answered because the upstream could not be reached is not the
    provider's doing, so it counts neither as a fault nor as a request."""
    session = Session()
    for index in range(5):
        exchange(session, index, 504, elapsed_ms=300_000.0, note="read timeout")
    for index in range(40):
        exchange(session, 10 + index, 502, note="connection refused or failed")
    for index in range(95):
        exchange(session, 60 + index, 200, body={"candidates": []}, elapsed_ms=1500.0)
    session.write(tmp_path / "vertex.har")
    out = tmp_path / "fitted.toml"
    assert main(["calibrate", str(tmp_path), "--out", str(out)]) == 0
    vertex = tomllib.loads(out.read_text())["profiles"]["recorded"]["providers"]["vertex"]
    assert vertex["faults"] == {"timeout": 0.05}
    assert vertex["timeout_seconds"] == 300.0
