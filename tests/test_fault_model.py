"""The fault model across all three providers, in-process: every HTTP fault on every route in
the provider's own error shape, job faults that fail later and refund, random fault rates,
seeded replay of a chaotic run, and Retry-After against the configured rate limits.

Responses from `contract_client` are also checked against the contracts by its hook."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator import Config, create_app
from emulator.config import ConfigError
from emulator.core.delivery import DroppedConnection
from emulator.core.faults import FaultTable
from tests.conftest import AUTH, EPOCH, KEY, contract_client, emulator_config

PROMPT = "a lighthouse at dusk"
TURBO = "/api/v1/models/z-image-turbo/generate"
NANO = "/api/v1/models/nano-banana-pro-edit/generate"
NANO_BODY = {"prompt": PROMPT, "images": "https://example.com/a.jpg"}
PREDICTION = "/api/v1/predictions/{id}"
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
GOOGLE = "/v1beta/models/gemini-3-pro-image:generateContent"
CONTENT = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
TEXT_ONLY = {**CONTENT, "generationConfig": {"responseModalities": ["TEXT"]}}
GENERATE = "/v1/images/gemini/3/pro/generate/"
STATUS = "/v1/generation-request/{id}/status/"
WALLET = "/account/user/wallet/"
FAULT = "X-Emulator-Fault"
VIBEDREAM_MODERATION = "Your request was flagged by content moderation. Please modify your prompt."
BLOCK_REASONS = {"PROHIBITED_CONTENT", "SAFETY", "OTHER", "BLOCKLIST", "IMAGE_SAFETY"}


# ----------------------------------------------------------------------------------------------
# Requests
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One provider request: where it goes, how the key is sent, which error body it answers in
    (vibedream, gateway, google or 3daistudio). A path with {id} is a job made just before."""

    name: str
    provider: str
    method: str
    path: str
    shape: str
    body: Any = None
    google_key: bool = False

    def __str__(self) -> str:
        return self.name

    def headers(self, **extra: str) -> dict[str, str]:
        return {**({"x-goog-api-key": KEY} if self.google_key else AUTH), **extra}

    def url(self, client: TestClient) -> str:
        if "{id}" not in self.path:
            return self.path
        return self.path.format(id=new_job(client, self.provider))

    def send(self, client: TestClient, url: str | None = None, **headers: str) -> httpx.Response:
        return client.request(
            self.method, url or self.path, json=self.body, headers=self.headers(**headers)
        )


VIBEDREAM_SUBMIT = Call(
    "vibedream submit", "vibedream", "POST", TURBO, "vibedream", {"prompt": PROMPT}
)
VERTEX_GATEWAY = Call("vertex gateway", "vertex", "POST", GATEWAY, "gateway", TEXT_ONLY)
VERTEX_GOOGLE = Call("vertex google", "vertex", "POST", GOOGLE, "google", TEXT_ONLY, True)
STUDIO_GENERATE = Call(
    "3daistudio generate", "3daistudio", "POST", GENERATE, "3daistudio", {"prompt": PROMPT}
)
GENERATION_CALLS = [VIBEDREAM_SUBMIT, VERTEX_GATEWAY, VERTEX_GOOGLE, STUDIO_GENERATE]
CALLS = [
    VIBEDREAM_SUBMIT,
    Call("vibedream poll", "vibedream", "GET", PREDICTION, "vibedream"),
    VERTEX_GATEWAY,
    VERTEX_GOOGLE,
    STUDIO_GENERATE,
    Call("3daistudio status", "3daistudio", "GET", STATUS, "3daistudio"),
    Call("3daistudio wallet", "3daistudio", "GET", WALLET, "3daistudio"),
]


def new_job(client: TestClient, provider: str) -> str:
    if provider == "vibedream":
        response = client.post(TURBO, json={"prompt": PROMPT}, headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()["id"]
    response = client.post(GENERATE, json={"prompt": PROMPT}, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()["task_id"]


def balance(client: TestClient, provider: str) -> Decimal:
    response = client.post("/_emulator/wallets", json={"provider": provider, "key": KEY})
    assert response.status_code == 200, response.text
    return Decimal(response.json()["balance"])


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


# The error each shape answers an HTTP fault with: vibedream and 3daistudio `code`, the
# gateway's (`type`, `code`), Google's (HTTP status, `status`): Google has no 402, quota is 429.
FIVE_XX = {
    "500": "internal_error",
    "502": "bad_gateway",
    "503": "service_unavailable",
    "504": "gateway_timeout",
}
ERRORS: dict[str, dict[str, Any]] = {
    "vibedream": {
        "401": "unauthorized",
        "402": "insufficient_credits",
        "403": "forbidden",
        "429": "rate_limited",
        **FIVE_XX,
    },
    "3daistudio": {
        "401": "invalid_api_key",
        "402": "insufficient_credits",
        "403": "permission_denied",
        "429": "rate_limited",
        **FIVE_XX,
    },
    "gateway": {
        "401": ("authentication_error", "invalid_api_key"),
        "402": ("insufficient_quota", "insufficient_balance"),
        "403": ("permission_error", "forbidden"),
        "429": ("rate_limit_error", "rate_limit_exceeded"),
        **{fault: ("server_error", code) for fault, code in FIVE_XX.items()},
    },
    "google": {
        "401": (401, "UNAUTHENTICATED"),
        "402": (429, "RESOURCE_EXHAUSTED"),
        "403": (403, "PERMISSION_DENIED"),
        "429": (429, "RESOURCE_EXHAUSTED"),
        "500": (500, "INTERNAL"),
        "502": (502, "UNAVAILABLE"),
        "503": (503, "UNAVAILABLE"),
        "504": (504, "DEADLINE_EXCEEDED"),
    },
}
HTTP_FAULT_NAMES = list(ERRORS["google"])


def expected_error(shape: str, fault: str) -> tuple[int, object]:
    """(HTTP status, the shape's code fields) for an HTTP fault."""
    code = ERRORS[shape][fault]
    return (code[0], code[1]) if shape == "google" else (int(fault), code)


def error_of(shape: str, response: httpx.Response) -> tuple[object, str]:
    """(the shape's code fields, message) of an error response."""
    body = response.json()
    if shape == "vibedream":
        return body["code"], body["error"]
    error = body["error"]
    if shape == "gateway":
        return (error["type"], error["code"]), error["message"]
    if shape == "google":
        assert error["code"] == response.status_code
        return error["status"], error["message"]
    return error["code"], error["message"]


# ----------------------------------------------------------------------------------------------
# 1. Every HTTP fault on every route
# ----------------------------------------------------------------------------------------------

# (header value, the fault it names, Retry-After expected)
HTTP_FAULTS = [
    *((status, status, "1" if status in ("429", "503") else None) for status in HTTP_FAULT_NAMES),
    ("rate_limited", "429", "1"),
    ("503; retry-after=7", "503", "7"),
]


@pytest.mark.parametrize("call", CALLS, ids=str)
@pytest.mark.parametrize(("header", "fault", "retry_after"), HTTP_FAULTS, ids=str)
def test_every_http_fault_answers_in_the_routes_error_shape(
    client: TestClient, call: Call, header: str, fault: str, retry_after: str | None
) -> None:
    url = call.url(client)
    response = call.send(client, url, **{FAULT: header})
    status, code = expected_error(call.shape, fault)
    assert response.status_code == status
    found, message = error_of(call.shape, response)
    assert found == code
    # A 429 on Google's paths is worded as Google words a quota (test_vertex_keys_and_quotas).
    assert "injected" in message or (call.shape == "google" and status == 429)
    assert response.headers.get("retry-after") == retry_after
    assert call.send(client, url).status_code == 200  # that request only


# ----------------------------------------------------------------------------------------------
# 2. Job faults, refunds, and refused requests charging nothing
# ----------------------------------------------------------------------------------------------

JOB_SECONDS = 10
COSTS = {"vibedream": Decimal(16), "3daistudio": Decimal(50)}  # nano-banana-pro-edit 1k; 1 image
RUNNING = {"vibedream": {"processing"}, "3daistudio": {"PENDING", "IN_PROGRESS"}}
ENDS = {"vibedream": ("completed", "failed"), "3daistudio": ("FINISHED", "FAILED")}


@pytest.fixture
def timed() -> Iterator[TestClient]:
    """Every job takes exactly JOB_SECONDS, none queues."""
    config = emulator_config(
        defaults={"rate_limit": False, "job_duration": JOB_SECONDS, "queue_duration": 0}
    )
    with contract_client(create_app(config)) as client:
        yield client


def submit_job(client: TestClient, provider: str, **headers: str) -> httpx.Response:
    if provider == "vibedream":
        return client.post(NANO, json=NANO_BODY, headers={**AUTH, **headers})
    return client.post(GENERATE, json={"prompt": PROMPT}, headers={**AUTH, **headers})


def job_state(client: TestClient, provider: str, job_id: str) -> tuple[str, str | None]:
    """(wire status, failure message) of a job."""
    path = PREDICTION if provider == "vibedream" else STATUS
    response = client.get(path.format(id=job_id), headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    if provider == "vibedream":
        return body["status"], body["error"]
    return body["status"], body.get("failure_reason")


@pytest.mark.parametrize("provider", ["vibedream", "3daistudio"])
@pytest.mark.parametrize("fault", [None, "moderation", "job:500", "job:502"])
def test_a_job_fault_accepts_the_submit_then_fails_the_job_and_refunds_it(
    timed: TestClient, provider: str, fault: str | None
) -> None:
    start = balance(timed, provider)
    submitted = submit_job(timed, provider, **({FAULT: fault} if fault else {}))
    assert submitted.status_code == 200
    job_id = submitted.json()["id" if provider == "vibedream" else "task_id"]
    assert balance(timed, provider) == start - COSTS[provider]  # charged at submit

    advance(timed, JOB_SECONDS - 0.5)
    assert job_state(timed, provider, job_id)[0] in RUNNING[provider]
    assert balance(timed, provider) == start - COSTS[provider]  # not before it fails

    advance(timed, 0.5)
    status, failure = job_state(timed, provider, job_id)
    completed, failed = ENDS[provider]
    if fault is None:  # the control: a job that succeeds keeps its charge
        assert (status, failure) == (completed, None)
        assert balance(timed, provider) == start - COSTS[provider]
        return
    assert status == failed
    assert failure is not None
    if fault == "moderation":
        assert "moderation" in failure.lower()
        if provider == "vibedream":
            assert failure == VIBEDREAM_MODERATION
    else:
        assert "injected" in failure and fault.removeprefix("job:") in failure
    assert balance(timed, provider) == start
    if provider == "3daistudio":
        assert Decimal(timed.get(WALLET, headers=AUTH).json()["balance"]) == start


@pytest.mark.parametrize("call", GENERATION_CALLS, ids=str)
def test_a_refused_generation_request_charges_nothing(client: TestClient, call: Call) -> None:
    start = balance(client, call.provider)
    assert start == Decimal("1000.00")  # every provider's default
    faults = [*HTTP_FAULT_NAMES, *(("job:500", "job:502") if call.provider == "vertex" else ())]
    for fault in faults:
        response = call.send(client, **{FAULT: fault})
        assert response.status_code >= 400, fault
        assert balance(client, call.provider) == start, fault
    assert call.send(client).status_code == 200
    assert balance(client, call.provider) < start  # an answered request is charged


@pytest.mark.parametrize("call", [VERTEX_GATEWAY, VERTEX_GOOGLE], ids=str)
@pytest.mark.parametrize("status", ["500", "502"])
def test_a_job_fault_on_vertex_is_the_calls_own_error(
    client: TestClient, call: Call, status: str
) -> None:
    response = call.send(client, **{FAULT: f"job:{status}"})
    expected_status, code = expected_error(call.shape, status)
    assert response.status_code == expected_status
    assert error_of(call.shape, response)[0] == code
    assert balance(client, "vertex") == Decimal("1000.00")  # the default: nothing charged


@pytest.mark.parametrize("call", [VERTEX_GATEWAY, VERTEX_GOOGLE], ids=str)
def test_moderation_on_vertex_is_a_blocked_prompt(client: TestClient, call: Call) -> None:
    response = call.send(client, **{FAULT: "moderation"})
    assert response.status_code == 200
    body = response.json()
    assert "candidates" not in body
    assert body["promptFeedback"]["blockReason"] in BLOCK_REASONS
    assert call.send(client).json()["candidates"]  # that request only


# ----------------------------------------------------------------------------------------------
# 3. Random fault rates
# ----------------------------------------------------------------------------------------------

RATES = {"429": 0.05, "503": 0.02, "500": 0.01}


def test_random_faults_occur_at_their_configured_rates() -> None:
    n = 2000
    config = Config(
        profile="instant",
        clock="virtual",
        seed=2024,
        defaults={"faults": RATES, "wallet_balance": 10**9},
    )
    app = create_app(config)

    async def run() -> Counter[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            body = {"prompt": PROMPT}
            answers = [await c.post(TURBO, json=body, headers=AUTH) for _ in range(n)]
            return Counter(answer.status_code for answer in answers)

    counts = asyncio.run(run())
    assert set(counts) <= {200, 429, 503, 500}
    expected = {int(name): p for name, p in RATES.items()} | {200: 1 - sum(RATES.values())}
    for status, p in expected.items():
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[status] - n * p) <= 3 * sd, (status, counts)


# ----------------------------------------------------------------------------------------------
# 4. Determinism
# ----------------------------------------------------------------------------------------------

CHAOS_SEED = 7


def chaos_config(seed: int) -> Config:
    return Config(
        profile="chaos",
        clock="virtual",
        clock_start=EPOCH,
        seed=seed,
        defaults={
            "rate_limit": False,
            "moderation": [{"probability": 0.1, "stage": "prompt", "category": "other"}],
        },
    )


@cache
def chaos_run(seed: int, run: int) -> tuple[Any, ...]:
    """(status, body) or "drop" for 200 mixed requests across the providers. `run` only tells
    runs apart for the cache: each is a fresh app."""
    app = create_app(chaos_config(seed))
    outcomes: list[Any] = []
    last = {"vibedream": "none", "3daistudio": "none"}
    with contract_client(app) as client:
        for i in range(200):
            step = i % 8
            if step == 0:
                call = (client.post, TURBO, {"prompt": f"{PROMPT} {i}"}, AUTH)
            elif step in (1, 7):
                call = (client.get, PREDICTION.format(id=last["vibedream"]), None, AUTH)
            elif step == 2:
                call = (client.post, GATEWAY, TEXT_ONLY, AUTH)
            elif step == 3:
                body = {"contents": [{"role": "user", "parts": [{"text": f"a fox {i % 3}"}]}]}
                call = (client.post, GOOGLE, body, {"x-goog-api-key": KEY})
            elif step == 4:
                call = (client.post, GENERATE, {"prompt": f"{PROMPT} {i}"}, AUTH)
            elif step == 5:
                call = (client.get, STATUS.format(id=last["3daistudio"]), None, AUTH)
            else:
                call = (client.get, WALLET, None, AUTH)
            send, path, body, headers = call
            try:
                response = send(path, headers=headers, **({"json": body} if body else {}))
            except DroppedConnection:
                outcomes.append("drop")
                continue
            answer = response.json()
            outcomes.append((response.status_code, answer))
            if response.status_code == 200 and step == 0:
                last["vibedream"] = answer["id"]
            if response.status_code == 200 and step == 4:
                last["3daistudio"] = answer["task_id"]
            if step == 7:
                app.state.runtime.clock.advance(3)
    return tuple(outcomes)


def without_asset_ids(outcomes: tuple[Any, ...]) -> list[Any]:
    """Asset ids renamed by order of first appearance: they are random on purpose."""
    names: dict[str, str] = {}

    def rename(found: re.Match[str]) -> str:
        return "/assets/" + names.setdefault(found.group(1), f"asset-{len(names)}") + "/"

    return [json.loads(re.sub(r"/assets/([\w-]+)/", rename, json.dumps(o))) for o in outcomes]


def statuses(outcomes: tuple[Any, ...]) -> list[Any]:
    return [o if o == "drop" else o[0] for o in outcomes]


def is_moderated(outcome: Any) -> bool:
    text = json.dumps(outcome)
    return "moderation" in text or "blockReason" in text


def test_the_same_seed_and_requests_replay_the_same_responses_and_faults() -> None:
    first, second = chaos_run(CHAOS_SEED, 0), chaos_run(CHAOS_SEED, 1)
    # The run must exercise the fault model for the comparison to mean something.
    seen = Counter(statuses(first))
    assert seen[429] and seen[503] and seen["drop"] and seen[200] > 150, seen
    assert any(is_moderated(o) for o in first)
    assert without_asset_ids(first) == without_asset_ids(second)


def test_a_different_seed_gives_a_different_fault_sequence() -> None:
    assert statuses(chaos_run(CHAOS_SEED, 0)) != statuses(chaos_run(CHAOS_SEED + 1, 0))


def replayed_outputs(seed: int) -> list[tuple[str, bytes]]:
    """(output URL, file bytes) of three z-image-turbo predictions on a fresh chaos app."""
    app = create_app(chaos_config(seed))
    with contract_client(app) as client:
        ids = []
        for i in range(3):
            submitted = client.post(TURBO, json={"prompt": f"{PROMPT} {i}"}, headers=AUTH)
            ids.append(submitted.json()["id"])
        app.state.runtime.clock.advance(60)
        urls = [
            url
            for prediction_id in ids
            for url in client.get(PREDICTION.format(id=prediction_id), headers=AUTH).json()[
                "outputs"
            ]
            or []
        ]
        return [(url, client.get(url).content) for url in urls]


def test_the_same_seed_replays_the_same_images_at_unguessable_urls() -> None:
    """Images replay byte for byte; their URLs are random on purpose (asset ids are not drawn
    from the seeded generator, so one URL does not reveal another)."""
    first, second = replayed_outputs(CHAOS_SEED), replayed_outputs(CHAOS_SEED)
    assert first and len(first) == len(second)
    assert [data for _, data in first] == [data for _, data in second]
    assert all(data[:3] == b"\xff\xd8\xff" or data[:4] == b"\x89PNG" for _, data in first)
    assert not {url for url, _ in first} & {url for url, _ in second}


# ----------------------------------------------------------------------------------------------
# 5. Retry-After against the configured rate limits
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", GENERATION_CALLS, ids=str)
@pytest.mark.parametrize(("requests", "per_seconds"), [(2, 10), (3, 10), (1, 0.5)])
def test_waiting_retry_after_is_exactly_enough(
    call: Call, requests: int, per_seconds: float
) -> None:
    limit = {"requests": requests, "per_seconds": per_seconds}
    app = create_app(emulator_config(providers={call.provider: {"rate_limit": limit}}))
    clock = app.state.runtime.clock
    with contract_client(app) as client:
        for _ in range(requests):
            assert call.send(client).status_code == 200
        refused = call.send(client)
        status, code = expected_error(call.shape, "429")
        assert (refused.status_code, error_of(call.shape, refused)[0]) == (status, code)
        retry_after = int(refused.headers["retry-after"])
        assert retry_after == math.ceil(per_seconds / requests)  # one token's refill time
        if retry_after > 1:
            clock.advance(retry_after - 1)
            assert call.send(client).status_code == 429
            clock.advance(1)
        else:
            clock.advance(retry_after)
        assert call.send(client).status_code == 200
        assert call.send(client).status_code == 429  # that was the one token


def test_a_rate_limit_counts_generation_requests_per_key_only() -> None:
    limit = {"rate_limit": {"requests": 1, "per_seconds": 60}}
    app = create_app(emulator_config(providers={"vibedream": limit, "3daistudio": limit}))
    with contract_client(app) as client:
        prediction, task = new_job(client, "vibedream"), new_job(client, "3daistudio")
        assert VIBEDREAM_SUBMIT.send(client).status_code == 429
        assert STUDIO_GENERATE.send(client).status_code == 429
        for _ in range(3):  # polls and the wallet are not generation requests
            assert client.get(PREDICTION.format(id=prediction), headers=AUTH).status_code == 200
            assert client.get(STATUS.format(id=task), headers=AUTH).status_code == 200
            assert client.get(WALLET, headers=AUTH).status_code == 200
        other = {"Authorization": "Bearer another-key"}
        assert client.post(TURBO, json={"prompt": PROMPT}, headers=other).status_code == 200


def test_a_models_own_rate_limit_is_a_bucket_of_its_own() -> None:
    vibedream = {
        "rate_limit": {"requests": 2, "per_seconds": 10},
        "models": {"z-image-turbo": {"rate_limit": {"requests": 1, "per_seconds": 30}}},
    }
    app = create_app(emulator_config(providers={"vibedream": vibedream}))
    clock = app.state.runtime.clock
    with contract_client(app) as client:

        def nano() -> httpx.Response:
            return client.post(NANO, json=NANO_BODY, headers=AUTH)

        def turbo() -> httpx.Response:
            return VIBEDREAM_SUBMIT.send(client)

        assert [nano().status_code, nano().status_code] == [200, 200]
        assert nano().headers["retry-after"] == "5"
        assert turbo().status_code == 200  # the provider's bucket is empty, the model's not
        refused = turbo()
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "30")
        clock.advance(5)
        assert nano().status_code == 200
        assert turbo().headers["retry-after"] == "25"
        clock.advance(25)
        assert turbo().status_code == 200


def test_a_fault_table_key_may_carry_the_faults_options() -> None:
    table = FaultTable.parse({"429; retry-after=7": 0.25, "moderation; stage=output": 0.5})
    (_, limited), (_, moderated) = table.cumulative
    assert (limited.name, limited.retry_after) == ("429", 7)
    assert (moderated.name, moderated.stage) == ("moderation", "output")
    with pytest.raises(ConfigError, match=r"defaults\.faults: the options are retry-after"):
        Config.from_mapping({"defaults": {"faults": {"429; wait=7": 0.1}}})
