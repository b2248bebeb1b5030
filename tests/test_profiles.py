"""The built-in profiles (emulator/data/profiles.toml) as an app sees them on the virtual clock,
and how a config's own settings and profiles layer over them."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator import Config, create_app
from emulator.config import ConfigError
from emulator.core.delivery import DroppedConnection
from tests.conftest import AUTH, EPOCH, KEY, contract_client

TURBO = "/api/v1/models/z-image-turbo/generate"
NANO = "/api/v1/models/nano-banana-pro-edit/generate"
NANO_BODY = {"prompt": "make it blue", "images": "https://x/a.jpg"}
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
VERTEX_BODY = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}
STUDIO = "/v1/images/gemini/3/pro/generate/"


@pytest.fixture
def make_client(open_client: Callable[[Config], TestClient]) -> Callable[..., TestClient]:
    """A contract-checking client on a fresh app: virtual clock at EPOCH, the given settings."""

    def make(**settings: object) -> TestClient:
        values: dict[str, Any] = {"clock": "virtual", "clock_start": EPOCH, "seed": 1234}
        return open_client(Config(**{**values, **settings}))

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def advance_to(client: TestClient, seconds: float) -> None:
    """Move the virtual clock to EPOCH + seconds."""
    offset = client.get("/_emulator/clock").json()["offset"]
    assert seconds >= offset
    client.post("/_emulator/clock/advance", json={"seconds": seconds - offset})


def submit(client: TestClient, path: str = TURBO, key: str = KEY) -> str:
    body = NANO_BODY if path == NANO else {"prompt": "a lighthouse"}
    response = client.post(path, json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["id"]


def prediction(client: TestClient, prediction_id: str, key: str = KEY) -> dict[str, Any]:
    response = client.get(f"/api/v1/predictions/{prediction_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def generate(client: TestClient, key: str = KEY, num_images: int = 1) -> str:
    body = {"prompt": "a lighthouse", "num_images": num_images}
    response = client.post(STUDIO, json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def task_status(client: TestClient, task_id: str, key: str = KEY) -> str:
    response = client.get(f"/v1/generation-request/{task_id}/status/", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["status"]


def seconds_taken(polled: dict[str, Any]) -> float:
    created, completed = (
        datetime.fromisoformat(polled[name].replace("Z", "+00:00"))
        for name in ("createdAt", "completedAt")
    )
    return (completed - created).total_seconds()


def vertex_latencies(client: TestClient, count: int) -> list[float]:
    for _ in range(count):
        assert client.post(GATEWAY, json=VERTEX_BODY, headers=AUTH).status_code == 200
    entries = client.get("/_emulator/requests", params={"provider": "vertex"}).json()["requests"]
    return [entry["latency_ms"] for entry in entries]


def poll_statuses(client: TestClient, prediction_id: str, count: int) -> list[int | str]:
    """Each poll's status code, or "drop" for a connection closed without an answer."""
    statuses: list[int | str] = []
    for _ in range(count):
        try:
            response = client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH)
        except DroppedConnection:
            statuses.append("drop")
            continue
        statuses.append(response.status_code)
        if response.status_code in (429, 503):
            assert response.headers["retry-after"] == "1"
    return statuses


def submit_until_accepted(client: TestClient) -> str:
    """A submit under random faults: retried, as a client would."""
    for _ in range(50):
        try:
            response = client.post(TURBO, json={"prompt": "a lighthouse"}, headers=AUTH)
        except DroppedConnection:
            continue
        if response.status_code == 200:
            return response.json()["id"]
    raise AssertionError("50 submits in a row failed")


# ---------------------------------------------------------------------- instant


def test_instant_is_the_default_and_finishes_everything_at_the_first_poll(make_client) -> None:
    assert Config().profile == "instant"
    client = make_client()
    for path in (TURBO, NANO):
        polled = prediction(client, submit(client, path))
        assert polled["status"] == "completed"
        assert polled["completedAt"] == polled["createdAt"]
    tasks = [generate(client, num_images=n) for n in (1, 4)]
    assert [task_status(client, t) for t in tasks] == ["FINISHED", "FINISHED"]
    assert set(vertex_latencies(client, 3)) == {0.0}


def test_instant_has_no_rate_limit(make_client) -> None:
    client = make_client()
    for _ in range(10):
        generate(client)


# ---------------------------------------------------------------------- dev
# profiles.toml: jobs 1-3 s; 3D AI Studio queued 0.2-0.5 s, then 0.5-1.5 s per image.


def test_dev_vibedream_jobs_take_one_to_three_seconds(make_client) -> None:
    client = make_client(profile="dev")
    ids = [submit(client, path) for path in (TURBO, NANO) * 4]
    advance_to(client, 0.5)
    assert {prediction(client, i)["status"] for i in ids} == {"processing"}
    advance_to(client, 0.999)
    assert {prediction(client, i)["status"] for i in ids} == {"processing"}
    advance_to(client, 3)
    polled = [prediction(client, i) for i in ids]
    assert {p["status"] for p in polled} == {"completed"}
    taken = [seconds_taken(p) for p in polled]
    assert all(1 <= t <= 3 for t in taken), taken
    assert len(set(taken)) > 1  # drawn, not fixed
    assert set(vertex_latencies(client, 2)) == {0.0}


def test_dev_3daistudio_tasks_queue_then_run_for_a_few_seconds(make_client) -> None:
    client = make_client(profile="dev")
    singles = [generate(client) for _ in range(6)]  # no rate limit either
    double = generate(client, num_images=2)
    everything = [*singles, double]
    assert {task_status(client, t) for t in everything} == {"PENDING"}  # queued >= 0.2 s
    advance_to(client, 0.15)
    assert {task_status(client, t) for t in everything} == {"PENDING"}
    advance_to(client, 0.6)  # queued <= 0.5 s, and each image takes >= 0.5 s
    assert {task_status(client, t) for t in everything} == {"IN_PROGRESS"}
    advance_to(client, 2)  # 0.5 s queued + 1.5 s
    assert {task_status(client, t) for t in singles} == {"FINISHED"}
    advance_to(client, 3.5)  # two images: 0.5 + 2 x 1.5
    assert task_status(client, double) == "FINISHED"


# ---------------------------------------------------------------------- realistic


def test_realistic_vibedream_timings_follow_each_model(make_client) -> None:
    client = make_client(profile="realistic")
    nano = [submit(client, NANO) for _ in range(6)]
    turbo = [submit(client, TURBO) for _ in range(6)]
    advance_to(client, 0.999)
    assert {prediction(client, i)["status"] for i in nano + turbo} == {"processing"}
    advance_to(client, 3)
    assert {prediction(client, i)["status"] for i in turbo} == {"completed"}
    assert all(1 <= seconds_taken(prediction(client, i)) <= 3 for i in turbo)
    advance_to(client, 9.999)
    assert {prediction(client, i)["status"] for i in nano} == {"processing"}
    advance_to(client, 30)
    taken = [seconds_taken(prediction(client, i)) for i in nano]
    assert all(10 <= t <= 30 for t in taken), taken
    assert len(set(taken)) > 1


def test_realistic_3daistudio_queues_one_to_five_seconds_then_takes_40_to_90(
    make_client,
) -> None:
    client = make_client(profile="realistic")
    # Three a minute per key: one key per task.
    tasks = {f"key-{n}": generate(client, f"key-{n}") for n in range(6)}
    statuses = {}
    for seconds in (0.999, 5, 40.999, 95):
        advance_to(client, seconds)
        statuses[seconds] = {task_status(client, t, key) for key, t in tasks.items()}
    assert statuses == {
        0.999: {"PENDING"},
        5: {"IN_PROGRESS"},
        40.999: {"IN_PROGRESS"},
        95: {"FINISHED"},
    }


def test_realistic_3daistudio_allows_three_generations_a_minute(make_client) -> None:
    client = make_client(profile="realistic")
    for _ in range(3):
        generate(client)
    advance_to(client, 10)
    refused = client.post(STUDIO, json={"prompt": "a lighthouse"}, headers=AUTH)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == 10  # one token every 20 s; 10 s have passed
    generate(client, "another-key")  # per key
    advance_to(client, 10 + retry_after)
    generate(client)
    assert client.post(STUDIO, json={"prompt": "x"}, headers=AUTH).status_code == 429
    # Polls and the wallet are not generations.
    assert client.get("/account/user/wallet/", headers=AUTH).status_code == 200


def test_realistic_vertex_latency_is_drawn_from_2_to_20_seconds_without_wall_time(
    make_client,
) -> None:
    client = make_client(profile="realistic")
    started = time.perf_counter()
    latencies = vertex_latencies(client, 20)
    assert time.perf_counter() - started < 10  # 20 answers of ~6 s each, on the virtual clock
    assert all(2000 <= ms <= 20000 for ms in latencies), latencies
    assert len(set(latencies)) == 20
    assert 3000 <= statistics.median(latencies) <= 12000  # lognormal, median 6 s
    assert client.get("/_emulator/clock").json()["offset"] == 0


def test_realistic_has_no_random_faults(make_client) -> None:
    client = make_client(profile="realistic", seed=7)
    prediction_id = submit(client)
    assert set(poll_statuses(client, prediction_id, 300)) == {200}


# ---------------------------------------------------------------------- chaos


def test_chaos_has_seeded_random_faults(make_client) -> None:
    runs = []
    for _ in range(2):
        client = make_client(profile="chaos", seed=7)
        runs.append(poll_statuses(client, submit_until_accepted(client), 300))
    statuses = Counter(runs[0])
    assert statuses[429] > 0 and statuses[503] > 0, statuses
    assert statuses[200] > 240, statuses  # 5% + 2% + 1% of faults
    assert set(statuses) <= {200, 429, 503, "drop"}
    assert runs[0] == runs[1]  # same seed, same faults
    journaled = client.get("/_emulator/requests", params={"status": "429", "route": "poll"})
    assert {e["fault_source"] for e in journaled.json()["requests"]} == {"random"}


# ---------------------------------------------------------------------- layering


def test_a_configs_own_settings_win_over_its_profile(make_client) -> None:
    calm = make_client(profile="chaos", seed=7, defaults={"faults": {}})
    assert set(poll_statuses(calm, submit_until_accepted(calm), 300)) == {200}

    unlimited = make_client(profile="realistic", providers={"3daistudio": {"rate_limit": False}})
    for _ in range(10):
        generate(unlimited)

    # The config's defaults beat even the profile's provider setting.
    quick = make_client(profile="realistic", defaults={"latency": 0})
    assert set(vertex_latencies(quick, 3)) == {0.0}


def test_a_model_setting_wins_over_its_providers(make_client) -> None:
    client = make_client(
        profile="instant",
        providers={
            "vibedream": {
                "faults": {"503": 1.0},
                "job_duration": 5,
                "models": {"z-image-turbo": {"faults": {}, "job_duration": 1}},
            }
        },
    )
    turbo = submit(client, TURBO)
    assert client.post(NANO, json=NANO_BODY, headers=AUTH).status_code == 503
    advance_to(client, 1)
    polled = prediction(client, turbo)
    assert (polled["status"], seconds_taken(polled)) == ("completed", 1.0)


def test_a_custom_profile_extends_a_builtin_one(make_client) -> None:
    client = make_client(
        profile="mine",
        profiles={"mine": {"extends": "dev", "providers": {"vertex": {"faults": {"500": 1.0}}}}},
    )
    assert client.post(GATEWAY, json=VERTEX_BODY, headers=AUTH).status_code == 500
    prediction_id = submit(client)
    advance_to(client, 0.5)
    assert prediction(client, prediction_id)["status"] == "processing"  # dev's 1-3 s
    advance_to(client, 3)
    assert prediction(client, prediction_id)["status"] == "completed"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"profile": "a", "profiles": {"a": {"extends": "b"}, "b": {"extends": "a"}}},
            "profiles: a -> b -> a extends in a circle",
        ),
        ({"profile": "a", "profiles": {"a": {"extends": "a"}}}, "a -> a extends in a circle"),
        ({"profile": "nope"}, "no profile named 'nope'; known: chaos, dev, instant, realistic"),
        ({"profile": "a", "profiles": {"a": {"extends": "nope"}}}, "no profile named 'nope'"),
    ],
)
def test_bad_profiles_are_a_config_error(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config(**settings)
    assert message in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(settings)
    assert message in str(caught.value)


def test_a_bad_setting_in_a_profile_is_reported_under_that_profile() -> None:
    with pytest.raises(ConfigError, match=r"profiles\.mine\.defaults\.job_duration"):
        Config(profile="mine", profiles={"mine": {"defaults": {"job_duration": [5, 1]}}})


def test_a_profile_the_config_does_not_use_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"profiles\.unused\.extends: no profile named 'nope'"):
        Config(profiles={"unused": {"extends": "nope"}})
    with pytest.raises(ConfigError, match=r"profiles\.unused\.providers\.vertex\.latency"):
        Config(profiles={"unused": {"providers": {"vertex": {"latency": [3, 1]}}}})


CONFIG_FILE = """\
seed = 5
clock = "virtual"
profile = "mine"

[profiles.mine]
extends = "dev"
providers.vertex.faults = { "500" = 1.0 }

[providers.3daistudio]
rate_limit = false

[providers.vibedream]
job_duration = 5

[providers.vibedream.models.z-image-turbo]
job_duration = 0.25
"""


def test_a_toml_file_with_its_own_profile_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "emulator.toml"
    path.write_text(CONFIG_FILE)
    config = Config.load(path)
    assert (config.profile, config.seed, config.clock) == ("mine", 5, "virtual")
    with contract_client(create_app(config)) as client:
        assert client.post(GATEWAY, json=VERTEX_BODY, headers=AUTH).status_code == 500
        turbo, nano = submit(client, TURBO), submit(client, NANO)
        tasks = [generate(client) for _ in range(5)]  # the file's rate_limit = false
        client.post("/_emulator/clock/advance", json={"seconds": 0.25})
        assert prediction(client, turbo)["status"] == "completed"
        assert prediction(client, nano)["status"] == "processing"
        client.post("/_emulator/clock/advance", json={"seconds": 4.75})
        assert prediction(client, nano)["status"] == "completed"
        assert {task_status(client, t) for t in tasks} == {"FINISHED"}  # dev: <= 2 s

    path.write_text('profile = "a"\n[profiles.a]\nextends = "b"\n[profiles.b]\nextends = "a"\n')
    with pytest.raises(ConfigError, match=r"emulator\.toml: profiles: a -> b -> a"):
        Config.load(path)
    path.write_text('profile = "warp"\n')
    with pytest.raises(ConfigError, match="no profile named 'warp'"):
        Config.load(path)


def test_serve_and_tests_default_to_different_profiles(tmp_path: Path) -> None:
    path = tmp_path / "emulator.toml"
    path.write_text("seed = 1\n")
    assert Config.load(path).profile == "instant"
    assert Config.load(path, default_profile="dev").profile == "dev"
    with pytest.raises(ConfigError, match="no profile named 'nope'"):
        Config(clock="virtual").with_profile("nope")
