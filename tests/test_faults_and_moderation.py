"""Injected faults (request header, admin queue) and the built-in moderation rules, on the
vibedream API; the vertex tests cover the same core from the other provider's side."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from emulator.config import Config
from emulator.core.faults import Fault
from emulator.core.moderation import Category, Moderator, Rule, Stage
from emulator.core.randomness import SeededRandom
from tests.conftest import AUTH

TURBO = "/api/v1/models/z-image-turbo/generate"
BODY = {"prompt": "a lighthouse at dusk"}
FAULTS = "/_emulator/faults"
MODERATION_MESSAGE = "Your request was flagged by content moderation. Please modify your prompt."


def submit(client: TestClient, body: dict = BODY, **headers: str) -> object:
    return client.post(TURBO, json=body, headers={**AUTH, **headers})


def poll(client: TestClient, prediction_id: str) -> dict:
    response = client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("header", "status", "code", "retry_after"),
    [
        ("rate_limited", 429, "rate_limited", "1"),
        ("rate_limited; retry-after=7", 429, "rate_limited", "7"),
        ("unavailable", 503, "service_unavailable", "1"),
        ("internal", 500, "internal_error", None),
        ("insufficient_credits", 402, "insufficient_credits", None),
    ],
)
def test_the_fault_header_fails_one_request_in_the_provider_shape(
    client: TestClient, header: str, status: int, code: str, retry_after: str | None
) -> None:
    response = submit(client, **{"X-Emulator-Fault": header})
    assert response.status_code == status
    assert response.json()["code"] == code
    assert "injected" in response.json()["error"]
    assert response.headers.get("retry-after") == retry_after
    assert submit(client).status_code == 200  # only that request


def test_an_unknown_fault_header_is_a_clear_400(client: TestClient) -> None:
    response = submit(client, **{"X-Emulator-Fault": "meteor_strike"})
    assert response.status_code == 400
    assert "meteor_strike" in response.json()["error"]


def test_queued_faults_hit_the_next_requests_of_that_provider_only(client: TestClient) -> None:
    queued = client.post(
        FAULTS, json={"provider": "vibedream", "error": "rate_limited", "count": 2}
    )
    assert queued.status_code == 200
    assert queued.json() == {"pending": {"vibedream": ["429", "429"]}}
    statuses = [submit(client).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert client.get(FAULTS).json() == {"pending": {}}


def test_queued_faults_are_cleared_by_delete_and_by_reset(client: TestClient) -> None:
    for clear in (lambda: client.delete(FAULTS), lambda: client.post("/_emulator/reset")):
        client.post(FAULTS, json={"provider": "vibedream", "error": "internal"})
        assert clear().status_code == 200
        assert submit(client).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "nobody", "error": "rate_limited"},
        {"provider": "vibedream", "error": "meteor_strike"},
        {"provider": "vibedream", "error": "rate_limited", "count": -1},
        {"provider": "vibedream", "error": "rate_limited", "count": True},
        {"provider": "vibedream", "error": "rate_limited", "retry_after": "soon"},
        ["not", "an", "object"],
    ],
)
def test_bad_fault_requests_are_refused(client: TestClient, body: object) -> None:
    response = client.post(FAULTS, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.get(FAULTS).json() == {"pending": {}}


def test_fault_parse_reads_kind_and_retry_after() -> None:
    assert Fault.parse(" Rate_Limited ; retry-after=3") == Fault("429", 3)
    with pytest.raises(ValueError, match="retry-after"):
        Fault.parse("rate_limited; wait=3")
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("not_found")  # not an injectable fault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a NSFW picture", (Stage.PROMPT, Category.PROHIBITED)),
        ("blocklisted words", (Stage.PROMPT, Category.BLOCKLIST)),
        ("gore everywhere", (Stage.OUTPUT, Category.SAFETY)),
        ("an unsafe-image please", (Stage.OUTPUT, Category.SAFETY)),
        ("an unsafe image please", (Stage.OUTPUT, Category.SAFETY)),
        ("nsfwx and gorey and gorgeous", None),  # whole words only
        ("a lighthouse at dusk", None),
    ],
)
def test_default_moderation_rules(text: str, expected: tuple[Stage, Category] | None) -> None:
    verdict = Moderator(Config(), SeededRandom(1)).judge(text, "vibedream", None)
    assert (verdict and (verdict.stage, verdict.category)) == expected


@pytest.mark.parametrize(
    ("text", "caught"),
    [
        ("a fox", "fox"),
        ("FOX!", "FOX"),
        ("fox-like", "fox"),  # a hyphen ends a word
        ("foxes", None),  # the word must end where the trigger does
        ("a foxglove", None),
        ("firefox", None),  # ... and start where it does
        ("fox_trot", None),  # "_" is a word character
    ],
)
def test_a_word_rule_matches_whole_words_only(text: str, caught: str | None) -> None:
    rule = Rule.parse({"word": "fox"})
    assert rule.catches(text, SeededRandom(1)) == caught
    assert asyncio.run(rule.catches_sliced(text, SeededRandom(1))) == caught


def test_a_blocked_prompt_fails_the_prediction_at_once(client: TestClient) -> None:
    submitted = submit(client, {"prompt": "something nsfw"})
    assert submitted.status_code == 200  # vibedream accepts, then fails the prediction
    polled = poll(client, submitted.json()["id"])
    assert (polled["status"], polled["error"], polled["outputs"]) == (
        "failed",
        MODERATION_MESSAGE,
        None,
    )


def test_a_withheld_output_fails_when_the_job_would_finish(client: TestClient) -> None:
    prediction_id = submit(client, {"prompt": "gore"}).json()["id"]
    assert poll(client, prediction_id)["status"] == "processing"
    client.post("/_emulator/clock/advance", json={"seconds": 60})
    polled = poll(client, prediction_id)
    assert (polled["status"], polled["error"], polled["outputs"]) == (
        "failed",
        MODERATION_MESSAGE,
        None,
    )
    assert polled["completedAt"] is not None


def test_a_job_failed_fault_accepts_the_request_and_fails_its_job(client: TestClient) -> None:
    submitted = submit(client, **{"X-Emulator-Fault": "job_failed"})
    assert submitted.status_code == 200
    client.post("/_emulator/clock/advance", json={"seconds": 60})
    polled = poll(client, submitted.json()["id"])
    assert (polled["status"], polled["error"]) == (
        "failed",
        "The generation failed (injected fault: 500).",
    )


def test_a_queued_job_failure_waits_for_a_request_that_starts_a_job(client: TestClient) -> None:
    done = submit(client).json()["id"]
    client.post(FAULTS, json={"provider": "vibedream", "error": "job_failed"})
    assert poll(client, done)["status"] == "processing"  # a poll does not use it up
    assert client.get(FAULTS).json() == {"pending": {"vibedream": ["job:500"]}}
    failing = submit(client).json()["id"]
    assert client.get(FAULTS).json() == {"pending": {}}
    client.post("/_emulator/clock/advance", json={"seconds": 60})
    assert poll(client, failing)["status"] == "failed"
    assert poll(client, done)["status"] == "completed"


def test_a_job_failure_on_a_synchronous_api_is_a_server_error(client: TestClient) -> None:
    response = client.post(
        "/v1beta/models/gemini-3-pro-image:generateContent",
        json={"contents": [{"parts": [{"text": "a lighthouse"}]}]},
        headers={"x-goog-api-key": "k", "X-Emulator-Fault": "job_failed"},
    )
    assert response.status_code == 500
    assert response.json()["error"]["status"] == "INTERNAL"
