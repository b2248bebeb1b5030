"""Scenarios, the request journal, the config and admin-token parts of the admin API, and
moderation rules from the config, all in-process on the virtual clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator import Config
from emulator.config import ConfigError
from emulator.core.auth import fingerprint
from tests.conftest import AUTH, EPOCH, KEY, emulator_config

TURBO = "/api/v1/models/z-image-turbo/generate"
NANO = "/api/v1/models/nano-banana-pro-edit/generate"
NANO_BODY = {"prompt": "make it blue", "images": "https://x/a.jpg"}
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
GOOGLE = "/v1beta/models/gemini-3-pro-image:generateContent"
STUDIO = "/v1/images/gemini/3/pro/generate/"
WALLET = "/account/user/wallet/"
SCENARIOS = "/_emulator/scenarios"
REQUESTS = "/_emulator/requests"
CONFIG = "/_emulator/config"
VIBEDREAM_MODERATION = "Your request was flagged by content moderation. Please modify your prompt."
STUDIO_MODERATION = "Content moderation: the request was flagged. Credits have been refunded."


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def vertex_body(text: str = "a cat") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.fixture
def make_client(open_client: Callable[[Config], TestClient]) -> Callable[..., TestClient]:
    """A contract-checking client on a fresh app with the given emulator_config overrides."""
    return lambda **overrides: open_client(emulator_config(**overrides))


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def submit(client: TestClient, key: str = KEY, prompt: str = "a lighthouse") -> httpx.Response:
    return client.post(TURBO, json={"prompt": prompt}, headers=bearer(key))


def prediction(client: TestClient, prediction_id: str, key: str = KEY) -> dict[str, Any]:
    response = client.get(f"/api/v1/predictions/{prediction_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def task(client: TestClient, task_id: str, key: str = KEY) -> dict[str, Any]:
    response = client.get(f"/v1/generation-request/{task_id}/status/", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def generate(client: TestClient, prompt: str = "a lighthouse", key: str = KEY) -> str:
    response = client.post(STUDIO, json={"prompt": prompt}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def balance(client: TestClient, provider: str, key: str = KEY) -> str:
    response = client.post("/_emulator/wallets", json={"provider": provider, "key": key})
    assert response.status_code == 200, response.text
    return response.json()["balance"]


def scenarios(client: TestClient) -> list[dict[str, Any]]:
    return client.get(SCENARIOS).json()["scenarios"]


def journal(client: TestClient, **filters: object) -> list[dict[str, Any]]:
    response = client.get(REQUESTS, params=filters)
    assert response.status_code == 200, response.text
    return response.json()["requests"]


# ---------------------------------------------------------------------- scenarios


def test_the_next_two_submits_with_one_key_get_429_then_normal(make_client) -> None:
    client = make_client()
    earlier = submit(client, "K").json()["id"]
    added = client.post(
        SCENARIOS,
        json={
            "match": {"provider": "vibedream", "route": "submit", "key": "K"},
            "steps": [{"fault": "429", "times": 2}],
        },
    )
    assert added.status_code == 200, added.text
    (listed,) = scenarios(client)
    assert listed["match"] == {
        "provider": "vibedream",
        "route": "submit",
        "model": None,
        "key_fingerprint": fingerprint("K"),
    }
    assert listed["remaining"] == [{"fault": "429"}, {"fault": "429"}]

    assert submit(client, "other-key").status_code == 200  # another key: unaffected
    assert prediction(client, earlier, "K")["status"] == "processing"  # K's poll: unaffected
    assert scenarios(client)[0]["used"] == 0

    first = submit(client, "K")
    assert (first.status_code, first.json()["code"]) == (429, "rate_limited")
    assert first.headers["retry-after"] == "1"
    assert scenarios(client)[0]["remaining"] == [{"fault": "429"}]
    assert scenarios(client)[0]["used"] == 1
    assert prediction(client, earlier, "K")["status"] == "processing"
    assert submit(client, "K").status_code == 429
    assert scenarios(client) == []  # used up
    third = submit(client, "K")
    assert third.status_code == 200
    assert prediction(client, third.json()["id"], "K")["status"] == "processing"
    assert submit(client, "K").status_code == 200


def test_a_task_stays_in_progress_until_a_set_time_then_fails_with_moderation(
    make_client,
) -> None:
    client = make_client()
    finish_at = EPOCH + 300  # 2025-01-15T12:05:00Z
    added = client.post(
        SCENARIOS,
        json={
            "match": {"provider": "3daistudio", "route": "generate"},
            "steps": [
                {"times": 2},
                {"job": {"finish_at": "2025-01-15T12:05:00Z", "outcome": "moderation"}},
            ],
        },
    )
    assert added.status_code == 200, added.text
    assert scenarios(client)[0]["remaining"][2] == {"fault": "moderation", "finish_at": finish_at}
    normal = [generate(client), generate(client)]
    held = generate(client)
    assert scenarios(client) == []
    assert balance(client, "3daistudio") == "850.00"  # 3 x 50 credits

    advance(client, 6)  # past the longest queue (1-5 s)
    assert task(client, held)["status"] == "IN_PROGRESS"
    advance(client, 89)  # +95: past 5 s of queue and 90 s of work
    for task_id in normal:
        assert task(client, task_id)["status"] == "FINISHED"
    advance(client, 204.5)  # +299.5
    status = task(client, held)
    assert (status["status"], status["results"]) == ("IN_PROGRESS", [])
    assert status["progress"] < 100
    assert "failure_reason" not in status
    assert balance(client, "3daistudio") == "850.00"  # no refund before it fails

    advance(client, 0.5)  # +300: T
    status = task(client, held)
    assert (status["status"], status["failure_reason"]) == ("FAILED", STUDIO_MODERATION)
    assert status["results"] == []
    assert balance(client, "3daistudio") == "900.00"  # refunded when it failed


def test_a_prediction_fails_a_set_time_after_its_submit(make_client) -> None:
    client = make_client()
    client.post(
        SCENARIOS,
        json={
            "match": {"provider": "vibedream"},
            "steps": [{"job": {"finish_after": 42, "outcome": "job:500"}}],
        },
    )
    polled_first = submit(client).json()["id"]  # takes the step: it starts a job
    assert scenarios(client) == []
    assert balance(client, "vibedream") == "999.00"
    advance(client, 41.5)  # z-image-turbo would be done after 1-3 s
    assert prediction(client, polled_first)["status"] == "processing"
    assert balance(client, "vibedream") == "999.00"
    advance(client, 0.5)
    failed = prediction(client, polled_first)
    assert (failed["status"], failed["error"], failed["outputs"]) == (
        "failed",
        "The generation failed (injected fault: 500).",
        None,
    )
    assert failed["completedAt"] == "2025-01-15T12:00:42.000Z"
    assert balance(client, "vibedream") == "1000.00"


def test_a_job_step_waits_for_a_request_that_starts_a_job(make_client) -> None:
    client = make_client()
    done = submit(client).json()["id"]
    client.post(
        SCENARIOS,
        json={"match": {"provider": "vibedream"}, "steps": [{"job": {"finish_after": 100}}]},
    )
    assert prediction(client, done)["status"] == "processing"  # a poll leaves it be
    assert len(scenarios(client)) == 1
    slow = submit(client).json()["id"]
    advance(client, 99)
    assert prediction(client, done)["status"] == "completed"
    assert prediction(client, slow)["status"] == "processing"
    advance(client, 1)
    assert prediction(client, slow)["status"] == "completed"


def test_scenarios_match_by_model(make_client) -> None:
    client = make_client()
    client.post(
        SCENARIOS,
        json={"match": {"model": "nano-banana-pro-edit"}, "steps": [{"fault": "503"}]},
    )
    assert submit(client).status_code == 200  # z-image-turbo
    refused = client.post(NANO, json=NANO_BODY, headers=AUTH)
    assert (refused.status_code, refused.json()["code"]) == (503, "service_unavailable")
    assert client.post(NANO, json=NANO_BODY, headers=AUTH).status_code == 200


def test_scenarios_match_by_route(make_client) -> None:
    client = make_client()
    client.post(
        SCENARIOS,
        json={
            "match": {"provider": "vertex", "route": "generateContent"},
            "steps": [{"fault": "500"}],
        },
    )
    assert submit(client).status_code == 200  # another provider
    failed = client.post(GATEWAY, json=vertex_body(), headers=AUTH)
    assert failed.status_code == 500
    assert set(failed.json()["error"]) == {"message", "type", "code"}
    answered = client.post(GATEWAY, json=vertex_body(), headers=AUTH)
    assert answered.status_code == 200
    assert answered.json()["candidates"]


def test_a_latency_step_is_recorded_in_the_journal(make_client) -> None:
    client = make_client()
    client.post(SCENARIOS, json={"match": {"provider": "vibedream"}, "steps": [{"latency": 2.5}]})
    assert submit(client).status_code == 200
    assert submit(client).status_code == 200
    newest, oldest = journal(client)
    assert (oldest["latency_ms"], oldest["fault"]) == (2500.0, None)
    assert newest["latency_ms"] == 0.0  # realistic: vibedream answers at once


def test_config_scenarios_play_from_the_start_and_return_after_reset(make_client) -> None:
    client = make_client(
        scenarios=[
            {"name": "boot 503", "match": {"provider": "vertex"}, "steps": [{"fault": "503"}]}
        ]
    )
    (listed,) = scenarios(client)
    assert (listed["name"], listed["remaining"]) == ("boot 503", [{"fault": "503"}])
    for _ in range(2):
        refused = client.post(GOOGLE, json=vertex_body(), headers={"x-goog-api-key": KEY})
        assert refused.status_code == 503
        assert refused.json()["error"]["status"] == "UNAVAILABLE"
        assert scenarios(client) == []
        again = client.post(GOOGLE, json=vertex_body(), headers={"x-goog-api-key": KEY})
        assert again.status_code == 200
        assert client.post("/_emulator/reset").status_code == 200
        assert [s["name"] for s in scenarios(client)] == ["boot 503"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"match": {"provider": "vibedream"}, "steps": [{"fault": "meteor"}]}, "unknown fault"),
        ({"match": {"provider": "vibedream"}, "steps": [{"faults": "429"}]}, "unknown field"),
        ({"match": {"colour": "red"}, "steps": [{"fault": "429"}]}, "match: unknown field"),
        ({"match": {}, "steps": [{"fault": "429", "times": 0}]}, "times is a whole number"),
        ({"match": {}, "steps": [{"fault": "429", "times": "2"}]}, "times is a whole number"),
        (
            {"match": {}, "steps": [{"job": {"finish_at": EPOCH, "finish_after": 5}}]},
            "finish_at or finish_after, not both",
        ),
        ({"match": {"provider": "midjourney"}, "steps": [{}]}, "match.provider must be one of"),
        ({"match": {}, "steps": []}, "steps is a non-empty list"),
        ({"match": {}, "steps": [{"job": {"outcome": "429"}}]}, "job.outcome"),
        ({"match": {}, "steps": [{"job": {"finish_at": "tomorrow"}}]}, "finish_at"),
    ],
)
def test_invalid_scenarios_are_a_clear_400(make_client, body: dict, message: str) -> None:
    client = make_client()
    response = client.post(SCENARIOS, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert message in error["message"]
    assert scenarios(client) == []


def test_a_list_with_one_invalid_scenario_adds_none(make_client) -> None:
    client = make_client()
    good = {"match": {"provider": "vibedream"}, "steps": [{"fault": "500"}]}
    bad = {"match": {}, "steps": [{"fault": "meteor"}]}
    refused = client.post(SCENARIOS, json=[good, bad])
    assert refused.status_code == 400
    assert "scenarios[1]" in refused.json()["error"]["message"]  # names the bad one
    assert scenarios(client) == []


def test_delete_removes_one_scenario_by_id(make_client) -> None:
    client = make_client()
    for fault in ("500", "503"):
        client.post(
            SCENARIOS, json={"match": {"provider": "vibedream"}, "steps": [{"fault": fault}]}
        )
    assert [s["id"] for s in scenarios(client)] == ["s1", "s2"]
    left = client.delete(SCENARIOS, params={"id": "s1"}).json()["scenarios"]
    assert [s["id"] for s in left] == ["s2"]
    missing = client.delete(SCENARIOS, params={"id": "s9"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert submit(client).status_code == 503  # s2 still plays
    client.post(SCENARIOS, json={"match": {"provider": "vibedream"}, "steps": [{"fault": "500"}]})
    assert client.delete(SCENARIOS).json() == {"scenarios": []}
    assert submit(client).status_code == 200


# ---------------------------------------------------------------------- journal

SECRET_KEY = "sk-live-Zq8mV3raw-secret-77"


def test_the_journal_records_each_provider_request_newest_first(make_client) -> None:
    client = make_client(providers={"3daistudio": {"faults": {"502": 1.0}}})
    client.post(SCENARIOS, json={"match": {"route": "wallet"}, "steps": [{"fault": "503"}]})
    prediction_id = submit(client, SECRET_KEY).json()["id"]
    prediction(client, prediction_id, SECRET_KEY)
    forced = client.post(
        GOOGLE,
        json=vertex_body(),
        headers={"x-goog-api-key": SECRET_KEY, "X-Emulator-Fault": "429"},
    )
    assert forced.status_code == 429
    assert client.get(WALLET, headers=bearer(SECRET_KEY)).status_code == 503  # the scenario
    assert client.get(WALLET, headers=bearer(SECRET_KEY)).status_code == 502  # random
    client.get("/_emulator/health")
    client.get(CONFIG)

    response = client.get(REQUESTS)
    assert SECRET_KEY not in response.text
    body = response.json()
    assert body["capacity"] == 1000
    entries = body["requests"]
    assert [e["seq"] for e in entries] == [5, 4, 3, 2, 1]  # admin requests are not journaled
    rows = [
        (e["method"], e["path"], e["provider"], e["route"], e["model"], e["status"])
        for e in entries
    ]
    assert rows == [
        ("GET", WALLET, "3daistudio", "wallet", None, 502),
        ("GET", WALLET, "3daistudio", "wallet", None, 503),
        ("POST", GOOGLE, "vertex", "generateContent", "gemini-3-pro-image", 429),
        ("GET", f"/api/v1/predictions/{prediction_id}", "vibedream", "poll", "z-image-turbo", 200),
        ("POST", TURBO, "vibedream", "submit", "z-image-turbo", 200),
    ]
    assert [(e["fault"], e["fault_source"]) for e in entries] == [
        ("502", "random"),
        ("503", "scenario"),
        ("429", "header"),
        (None, None),
        (None, None),
    ]
    assert {e["key_fingerprint"] for e in entries} == {fingerprint(SECRET_KEY)}
    assert entries[0]["time"] == "2025-01-15T12:00:00.000Z"
    assert all(e["elapsed_ms"] >= 0 for e in entries)


def test_the_journal_filters(make_client) -> None:
    client = make_client()
    prediction_id = submit(client).json()["id"]
    prediction(client, prediction_id)
    assert submit(client).status_code == 200
    client.post(TURBO, json={"prompt": "x"}, headers={**AUTH, "X-Emulator-Fault": "429"})
    client.post(GATEWAY, json=vertex_body(), headers=AUTH)

    assert [e["seq"] for e in journal(client, provider="vibedream")] == [4, 3, 2, 1]
    assert [e["seq"] for e in journal(client, status=429)] == [4]
    assert [e["seq"] for e in journal(client, route="poll")] == [2]
    assert [e["seq"] for e in journal(client, route="submit", status=200)] == [3, 1]
    assert [e["seq"] for e in journal(client, limit=2)] == [5, 4]
    assert [e["seq"] for e in journal(client, provider="vibedream", limit=1)] == [4]
    assert journal(client, provider="3daistudio") == []

    unknown = client.get(REQUESTS, params={"colour": "red"})
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["error"]["message"]
    assert client.get(REQUESTS, params={"limit": "0"}).status_code == 400


def test_the_journal_is_bounded_and_cleared_by_delete(make_client) -> None:
    client = make_client(journal_size=5)
    for _ in range(7):
        assert submit(client).status_code == 200
    body = client.get(REQUESTS).json()
    assert body["capacity"] == 5
    assert [e["seq"] for e in body["requests"]] == [7, 6, 5, 4, 3]
    assert client.delete(REQUESTS).json() == {"requests": []}
    assert journal(client) == []
    submit(client)
    assert len(journal(client)) == 1


# ---------------------------------------------------------------------- config


def test_get_config_shows_the_profile_and_settings(make_client) -> None:
    client = make_client(providers={"vertex": {"latency": 0}})
    config = client.get(CONFIG).json()["config"]
    assert config["profile"] == "realistic"
    assert config["seed"] == 1234
    assert config["clock"] == "virtual"
    assert config["defaults"] == {"rate_limit": False}
    assert config["providers"] == {"vertex": {"latency": 0}}
    assert config["journal_size"] == 1000


def test_put_config_changes_behaviour_at_once_and_keeps_jobs(make_client) -> None:
    client = make_client()
    prediction_id = submit(client).json()["id"]
    replaced = client.put(CONFIG, json={"profile": "instant", "defaults": {"faults": {"503": 1.0}}})
    assert replaced.status_code == 200, replaced.text
    shown = replaced.json()["config"]
    assert (shown["profile"], shown["defaults"]) == ("instant", {"faults": {"503": 1.0}})
    assert shown["seed"] == 1234  # the seed needs a restart to change
    assert client.get(CONFIG).json()["config"]["profile"] == "instant"
    assert submit(client).status_code == 503
    assert client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH).status_code == 503

    assert client.put(CONFIG, json={"profile": "instant"}).status_code == 200
    # The job made under the realistic profile keeps its timing and stays readable.
    assert prediction(client, prediction_id)["status"] == "processing"
    advance(client, 3)
    assert prediction(client, prediction_id)["status"] == "completed"
    fresh = submit(client).json()["id"]
    assert prediction(client, fresh)["status"] == "completed"  # instant now
    assert client.get("/_emulator/health").json()["store"]["jobs"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"profile": "instant", "defaults": {"faults": {"meteor": 1.0}}}, "unknown fault"),
        ({"profile": "instant", "colour": "red"}, "'colour' was unexpected"),
        ({"profile": "warp-speed"}, "no profile named 'warp-speed'"),
        ({"defaults": {"job_duration": [5, 1]}}, "defaults.job_duration"),
        # (The message names the step but not which scenario: see the helper's report.)
        ({"scenarios": [{"match": {}, "steps": [{"fault": "meteor"}]}]}, "steps[0].fault"),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_an_invalid_config_is_refused_and_the_old_one_kept(
    make_client, body: object, message: str
) -> None:
    client = make_client(providers={"vibedream": {"faults": {"500": 1.0}}})
    before = client.get(CONFIG).json()
    response = client.put(CONFIG, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert message in response.json()["error"]["message"]
    assert client.get(CONFIG).json() == before
    assert submit(client).status_code == 500  # still the old config's faults
    assert client.post(GATEWAY, json=vertex_body(), headers=AUTH).status_code == 200


# ---------------------------------------------------------------------- admin token

TOKEN = "s3cret-token"
ADMIN_CALLS = [
    ("GET", "/_emulator/health", None),
    ("GET", "/_emulator/clock", None),
    ("POST", "/_emulator/clock/advance", {"seconds": 1}),
    ("POST", "/_emulator/reset", None),
    ("GET", CONFIG, None),
    ("PUT", CONFIG, {"profile": "realistic"}),
    ("GET", SCENARIOS, None),
    ("POST", SCENARIOS, {"match": {"provider": "vertex"}, "steps": [{"latency": 1}]}),
    ("DELETE", SCENARIOS, None),
    ("GET", REQUESTS, None),
    ("DELETE", REQUESTS, None),
    ("GET", "/_emulator/faults", None),
    ("POST", "/_emulator/faults", {"provider": "vertex", "error": "429", "count": 0}),
    ("DELETE", "/_emulator/faults", None),
    ("GET", "/_emulator/wallets", None),
    ("POST", "/_emulator/wallets", {"provider": "vertex", "key": "k"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_the_admin_token_guards_every_admin_path(
    make_client, method: str, path: str, body: object
) -> None:
    client = make_client(admin_token=TOKEN)
    for headers in ({}, AUTH, bearer("wrong-token"), {"X-Emulator-Admin-Token": "s3cret"}):
        refused = client.request(method, path, json=body, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert TOKEN not in refused.text
    for headers in (bearer(TOKEN), {"X-Emulator-Admin-Token": TOKEN}):
        allowed = client.request(method, path, json=body, headers=headers)
        assert allowed.status_code == 200, allowed.text


def test_with_an_admin_token_unknown_admin_paths_are_401_and_provider_paths_are_open(
    make_client,
) -> None:
    client = make_client(admin_token=TOKEN)
    assert client.get("/_emulator/nope").status_code == 401
    assert client.get("/_emulator/nope", headers=bearer(TOKEN)).status_code == 404
    assert submit(client).status_code == 200
    assert client.post(GATEWAY, json=vertex_body(), headers=AUTH).status_code == 200
    assert client.get(WALLET, headers=AUTH).status_code == 200
    config = client.get(CONFIG, headers={"X-Emulator-Admin-Token": TOKEN})
    assert TOKEN not in config.text  # the token is never shown
    journaled = client.get(REQUESTS, headers=bearer(TOKEN)).json()["requests"]
    assert [e["provider"] for e in journaled] == ["3daistudio", "vertex", "vibedream"]


# ---------------------------------------------------------------------- moderation rules


def vibedream_outcome(client: TestClient, prompt: str, path: str = TURBO) -> str:
    body = {**NANO_BODY, "prompt": prompt} if path == NANO else {"prompt": prompt}
    submitted = client.post(path, json=body, headers=AUTH)
    assert submitted.status_code == 200, submitted.text
    polled = prediction(client, submitted.json()["id"])
    if polled["status"] == "failed":
        assert polled["error"] == VIBEDREAM_MODERATION
    return polled["status"]


def vertex_blocked(client: TestClient, prompt: str) -> bool:
    response = client.post(GATEWAY, json=vertex_body(prompt), headers=AUTH)
    assert response.status_code == 200, response.text
    return "promptFeedback" in response.json() and "candidates" not in response.json()


def test_a_word_rule_on_one_provider_blocks_only_that_provider(make_client) -> None:
    client = make_client(providers={"vibedream": {"moderation": [{"word": "banana"}]}})
    assert vibedream_outcome(client, "a Banana split") == "failed"  # refused at once
    assert vibedream_outcome(client, "bananas in pyjamas") == "processing"  # whole words
    assert not vertex_blocked(client, "a banana split")


def test_a_regex_rule(make_client) -> None:
    client = make_client(
        defaults={"rate_limit": False, "moderation": [{"match": "dr[a@]gon", "category": "safety"}]}
    )
    assert vibedream_outcome(client, "a DR@GON") == "failed"
    assert vibedream_outcome(client, "a dragonfly") == "failed"  # a regex is not a word
    assert vibedream_outcome(client, "a drgon") == "processing"
    blocked = client.post(GATEWAY, json=vertex_body("red dragon"), headers=AUTH).json()
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY"


def test_a_model_rule_does_not_touch_the_other_models(make_client) -> None:
    client = make_client(
        providers={"vibedream": {"models": {"z-image-turbo": {"moderation": [{"word": "kitten"}]}}}}
    )
    assert vibedream_outcome(client, "a kitten") == "failed"
    assert vibedream_outcome(client, "a kitten", NANO) == "processing"


def test_an_output_rule_with_probability_one_fails_every_task_with_a_refund(make_client) -> None:
    client = make_client(
        providers={"3daistudio": {"moderation": [{"probability": 1.0, "stage": "output"}]}}
    )
    task_ids = [generate(client, prompt) for prompt in ("a lighthouse", "a meadow", "a boat")]
    assert balance(client, "3daistudio") == "850.00"
    advance(client, 6)
    assert {task(client, t)["status"] for t in task_ids} == {"IN_PROGRESS"}  # fails at the end
    advance(client, 90)
    for task_id in task_ids:
        status = task(client, task_id)
        assert (status["status"], status["failure_reason"]) == ("FAILED", STUDIO_MODERATION)
    assert balance(client, "3daistudio") == "1000.00"
    assert vibedream_outcome(client, "a lighthouse") == "processing"  # other providers pass


@pytest.mark.parametrize(
    ("settings", "place", "reason"),
    [
        (
            {"defaults": {"moderation": [{"word": "a", "match": "b"}]}},
            "defaults.moderation",
            "exactly one of word, match, probability",
        ),
        (
            {"providers": {"vibedream": {"moderation": [{"match": "dr[agon"}]}}},
            "providers.vibedream.moderation",
            "not a valid regular expression",
        ),
        (
            {
                "providers": {
                    "vibedream": {"models": {"z-image-turbo": {"moderation": [{"probability": 2}]}}}
                }
            },
            "providers.vibedream.models.z-image-turbo.moderation",
            "probability is a number from 0 to 1",
        ),
        (
            {"defaults": {"moderation": [{"word": "x", "stage": "later"}]}},
            "defaults.moderation",
            "stage is one of",
        ),
    ],
)
def test_invalid_moderation_rules_are_a_config_error_naming_the_place(
    settings: dict, place: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config(clock="virtual", **settings)
    assert str(caught.value).startswith(f"{place}: ")
    assert reason in str(caught.value)
    with pytest.raises(ConfigError, match="moderation"):
        Config.from_mapping(json.loads(json.dumps(settings)))
