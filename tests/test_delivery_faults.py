"""Delivery faults (drop, timeout, malformed, slow) and latency, seen from a client: over real
sockets on a real-clock uvicorn server, where a hold takes wall time, and in-process, where the
emulator raises the exception an httpx client would raise and the virtual clock skips holds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from emulator import Config, create_app
from emulator.core.delivery import DroppedConnection, HeldPastTimeout
from tests.conftest import AUTH, KEY, LiveServer, check_contract, contract_client, run_server

Z_IMAGE = "/api/v1/models/z-image-turbo/generate"
PREDICTION = "/api/v1/predictions/{id}"
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
GOOGLE = "/v1beta/models/gemini-3-pro-image:generateContent"
STUDIO = "/v1/images/gemini/3/pro/generate/"
STUDIO_STATUS = "/v1/generation-request/{id}/status/"
STUDIO_WALLET = "/account/user/wallet/"
HEALTH = "/_emulator/health"
JOURNAL = "/_emulator/requests"
VERTEX_BODY = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}

# (name, path, body, extra headers, how the answer's JSON begins)
SUBMITS = {
    "vibedream": (Z_IMAGE, {"prompt": "a cat"}, {}, b'{"id":"'),
    "vertex": (GATEWAY, VERTEX_BODY, {}, b'{"candidates":['),
    "vertex-google": (GOOGLE, VERTEX_BODY, {"x-goog-api-key": KEY}, b'{"candidates":['),
    "3daistudio": (STUDIO, {"prompt": "a cat"}, {}, b'{"task_id":"'),
}

TIMEOUT_SECONDS = 0.5
SLOW_BODY_SECONDS = 1.0
CONFIGURED_LATENCY = 0.2


def fault(name: str) -> dict[str, str]:
    return {"X-Emulator-Fault": name}


def serve(config: Config) -> Iterator[str]:
    server, thread, base_url = run_server(create_app(config))
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def real_server() -> Iterator[str]:
    """A real-clock server: holds and latency take wall time."""
    defaults = {"timeout_seconds": TIMEOUT_SECONDS, "slow_body_seconds": SLOW_BODY_SECONDS}
    yield from serve(Config(clock="real", seed=1, profile="instant", defaults=defaults))


@pytest.fixture(scope="module")
def latency_server() -> Iterator[str]:
    """A real-clock server whose config delays every provider answer."""
    defaults = {"latency": CONFIGURED_LATENCY}
    yield from serve(Config(clock="real", seed=1, profile="instant", defaults=defaults))


@pytest.fixture
def http(real_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=real_server, headers=AUTH, timeout=5) as client:
        yield client


def jobs(client: httpx.Client) -> int:
    count: int = client.get(HEALTH).json()["store"]["jobs"]
    return count


def vibedream_balance(client: httpx.Client) -> Decimal:
    answer = client.post("/_emulator/wallets", json={"provider": "vibedream", "key": KEY})
    assert answer.status_code == 200
    return Decimal(answer.json()["balance"])


def newest(client: httpx.Client, **filters: str) -> dict[str, Any]:
    entries = client.get(JOURNAL, params={**filters, "limit": "1"}).json()["requests"]
    assert entries, f"nothing in the journal for {filters}"
    entry: dict[str, Any] = entries[0]
    return entry


def submit_ok(client: httpx.Client) -> httpx.Response:
    answer = client.post(Z_IMAGE, json={"prompt": "a cat"})
    assert answer.status_code == 200
    check_contract(answer)
    return answer


# ------------------------------------------------------------------- over a socket: drop


@pytest.mark.live
@pytest.mark.parametrize("provider", ["vibedream", "vertex", "3daistudio"])
def test_drop_closes_the_connection_without_a_response(http: httpx.Client, provider: str) -> None:
    path, body, headers, _ = SUBMITS[provider]
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(path, json=body, headers={**headers, **fault("drop")})
    # The server is still serving, on the same client (a fresh connection).
    submit_ok(http)
    assert http.get(HEALTH).json()["status"] == "ok"


@pytest.mark.live
def test_the_journal_records_a_drop_with_no_status(http: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(Z_IMAGE, json={"prompt": "journal"}, headers=fault("drop"))
    entry = newest(http, fault="drop")
    assert entry["status"] is None
    assert entry["fault"] == "drop"
    assert entry["fault_source"] == "header"
    assert entry["provider"] == "vibedream"
    assert entry["route"] == "submit"
    assert entry["path"] == Z_IMAGE


@pytest.mark.live
def test_a_dropped_submit_still_created_and_charged_its_job(http: httpx.Client) -> None:
    cost = Decimal(submit_ok(http).json()["costCents"])
    before_jobs, before_balance = jobs(http), vibedream_balance(http)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(Z_IMAGE, json={"prompt": "lost answer"}, headers=fault("drop"))
    assert jobs(http) == before_jobs + 1
    assert vibedream_balance(http) == before_balance - cost


# ---------------------------------------------------------------- over a socket: timeout


@pytest.mark.live
def test_timeout_holds_the_connection_then_closes_it(http: httpx.Client) -> None:
    before = jobs(http)
    started = time.monotonic()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post(Z_IMAGE, json={"prompt": "held"}, headers=fault("timeout"))
    held = time.monotonic() - started
    assert TIMEOUT_SECONDS - 0.05 <= held < TIMEOUT_SECONDS + 2
    # The submit was processed; only its answer was lost.
    assert jobs(http) == before + 1
    entry = newest(http, fault="timeout")
    assert entry["status"] is None
    assert entry["elapsed_ms"] >= (TIMEOUT_SECONDS - 0.05) * 1000
    submit_ok(http)


@pytest.mark.live
def test_a_client_timeout_shorter_than_the_hold_is_a_read_timeout(real_server: str) -> None:
    with httpx.Client(base_url=real_server, headers=AUTH, timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.post(Z_IMAGE, json={"prompt": "impatient"}, headers=fault("timeout"))
        assert time.monotonic() - started < TIMEOUT_SECONDS
    with httpx.Client(base_url=real_server, headers=AUTH, timeout=5) as client:
        submit_ok(client)


# -------------------------------------------------------------- over a socket: malformed


@pytest.mark.live
@pytest.mark.parametrize("provider", ["vibedream", "vertex", "3daistudio"])
def test_malformed_is_a_valid_http_answer_with_half_a_json_body(
    http: httpx.Client, provider: str
) -> None:
    path, body, headers, opening = SUBMITS[provider]
    answer = http.post(path, json=body, headers={**headers, **fault("malformed")})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert int(answer.headers["content-length"]) == len(answer.content) > 0
    assert answer.content.startswith(opening)
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    # Half of a whole answer of the same shape: compare with a normal one.
    whole = http.post(path, json=body, headers=headers)
    assert whole.status_code == 200
    assert abs(len(answer.content) - len(whole.content) // 2) <= 2
    entry = newest(http, fault="malformed")
    assert entry["status"] == 200


# ------------------------------------------------------------------- over a socket: slow


@pytest.mark.live
def test_slow_sends_the_whole_body_in_pieces_over_slow_body_seconds(http: httpx.Client) -> None:
    started = time.monotonic()
    with http.stream("POST", Z_IMAGE, json={"prompt": "dribble"}, headers=fault("slow")) as answer:
        head_at = time.monotonic() - started
        chunks = [chunk for chunk in answer.iter_raw() if chunk]
    took = time.monotonic() - started
    assert answer.status_code == 200
    assert head_at < SLOW_BODY_SECONDS / 2  # the status line comes at once, the body dribbles
    assert took >= SLOW_BODY_SECONDS * 0.9
    assert len(chunks) > 1
    content = b"".join(chunks)
    assert int(answer.headers["content-length"]) == len(content)
    whole = httpx.Response(200, headers=answer.headers, content=content, request=answer.request)
    check_contract(whole)  # complete, valid JSON, the provider's submit answer
    assert whole.json()["status"] == "processing"


# ------------------------------------------------------------------------------ in-process


def in_process_app(**defaults: object) -> Starlette:
    return create_app(Config(clock="virtual", seed=1, profile="instant", defaults=defaults))


def test_in_process_drop_raises_dropped_connection() -> None:
    app = in_process_app()
    with contract_client(app) as client:
        with pytest.raises(DroppedConnection) as raised:
            client.post(Z_IMAGE, json={"prompt": "a cat"}, headers={**AUTH, **fault("drop")})
        assert isinstance(raised.value, httpx.RemoteProtocolError)
        assert client.get(HEALTH).json()["store"]["jobs"] == 1
        entry = client.get(JOURNAL, params={"limit": "1"}).json()["requests"][0]
        assert (entry["status"], entry["fault"]) == (None, "drop")
        assert client.post(Z_IMAGE, json={"prompt": "a cat"}, headers=AUTH).status_code == 200


def test_in_process_timeout_raises_held_past_timeout_without_wall_time() -> None:
    app = in_process_app(timeout_seconds=30)
    with contract_client(app) as client:
        started = time.monotonic()
        with pytest.raises(HeldPastTimeout) as raised:
            client.post(Z_IMAGE, json={"prompt": "a cat"}, headers={**AUTH, **fault("timeout")})
        assert time.monotonic() - started < 1
        assert isinstance(raised.value, httpx.ReadTimeout)
        assert client.get(HEALTH).json()["store"]["jobs"] == 1


def test_in_process_faults_through_httpx_asgi_transport() -> None:
    async def scenario() -> None:
        transport = httpx.ASGITransport(app=in_process_app(timeout_seconds=30))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://emulator", headers=AUTH
        ) as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(GATEWAY, json=VERTEX_BODY, headers=fault("drop"))
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await client.post(STUDIO, json={"prompt": "a"}, headers=fault("timeout"))
            assert time.monotonic() - started < 1
            slow = await client.post(Z_IMAGE, json={"prompt": "a"}, headers=fault("slow"))
            assert slow.json()["status"] == "processing"
            assert time.monotonic() - started < 1  # slow takes no wall time either
            malformed = await client.post(Z_IMAGE, json={"prompt": "a"}, headers=fault("malformed"))
            assert malformed.status_code == 200
            assert malformed.content.startswith(b'{"id":"')
            with pytest.raises(json.JSONDecodeError):
                malformed.json()

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------- latency


@pytest.mark.live
def test_the_latency_header_delays_that_response(http: httpx.Client) -> None:
    started = time.monotonic()
    submit_ok(http)
    undelayed = time.monotonic() - started
    started = time.monotonic()
    answer = http.post(Z_IMAGE, json={"prompt": "a cat"}, headers={"X-Emulator-Latency": "0.3"})
    delayed = time.monotonic() - started
    assert answer.status_code == 200
    check_contract(answer)
    assert delayed >= 0.3
    assert undelayed < 0.3
    assert newest(http, route="submit")["latency_ms"] == 300.0


@pytest.mark.parametrize("value", ["abc", "-1", "9999", "nan", ""])
@pytest.mark.parametrize("provider", ["vibedream", "vertex", "vertex-google", "3daistudio"])
def test_an_invalid_latency_header_is_a_400_in_the_provider_shape(
    provider: str, value: str
) -> None:
    path, body, headers, _ = SUBMITS[provider]
    with contract_client(in_process_app()) as client:  # checks the error against the contract
        answer = client.post(
            path, json=body, headers={**AUTH, **headers, "X-Emulator-Latency": value}
        )
        assert answer.status_code == 400
        assert "x-emulator-latency" in json.dumps(answer.json())
        assert client.get(HEALTH).json()["store"]["jobs"] == 0


@pytest.mark.live
@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", Z_IMAGE, {"prompt": "a cat"}, {}),
        ("POST", Z_IMAGE, {}, {}),  # a validation error is delayed too
        ("GET", PREDICTION.format(id="nope"), None, {}),
        ("POST", GATEWAY, VERTEX_BODY, {}),
        ("POST", GOOGLE, VERTEX_BODY, {"x-goog-api-key": KEY}),
        ("POST", STUDIO, {"prompt": "a cat"}, {}),
        ("GET", STUDIO_WALLET, None, {}),
    ],
    ids=["submit", "invalid", "poll-404", "gateway", "google", "studio", "studio-wallet"],
)
def test_configured_latency_delays_every_provider_answer(
    latency_server: str, method: str, path: str, body: object, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=latency_server, headers=AUTH, timeout=5) as client:
        client.get(HEALTH)  # admin is not delayed; opens the connection
        started = time.monotonic()
        answer = client.request(method, path, json=body, headers=headers)
        took = time.monotonic() - started
        check_contract(answer)
        assert took >= CONFIGURED_LATENCY
        entry = newest(client)
        assert (entry["path"], entry["latency_ms"]) == (path, CONFIGURED_LATENCY * 1000)


@pytest.mark.live
def test_configured_latency_holds_polls_and_the_header_overrides_it(latency_server: str) -> None:
    with httpx.Client(base_url=latency_server, headers=AUTH, timeout=5) as client:
        created = client.post(STUDIO, json={"prompt": "a cat"}, headers={"X-Emulator-Latency": "0"})
        started = time.monotonic()
        status = client.get(STUDIO_STATUS.format(id=created.json()["task_id"]))
        assert time.monotonic() - started >= CONFIGURED_LATENCY
        check_contract(status)
        assert newest(client, route="generate")["latency_ms"] == 0.0


def test_latency_takes_no_wall_time_on_the_virtual_clock() -> None:
    with contract_client(in_process_app(latency=30)) as client:
        started = time.monotonic()
        configured = client.post(Z_IMAGE, json={"prompt": "a cat"}, headers=AUTH)
        header = client.post(
            Z_IMAGE, json={"prompt": "a cat"}, headers={**AUTH, "X-Emulator-Latency": "600"}
        )
        assert time.monotonic() - started < 1
        assert configured.status_code == header.status_code == 200
        entries = client.get(JOURNAL, params={"limit": "2"}).json()["requests"]
        assert [entry["latency_ms"] for entry in entries] == [600_000.0, 30_000.0]


@pytest.mark.live
def test_latency_takes_no_wall_time_on_a_virtual_clock_server(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, headers=AUTH, timeout=5) as client:
        started = time.monotonic()
        answer = client.post(Z_IMAGE, json={"prompt": "a"}, headers={"X-Emulator-Latency": "600"})
        assert time.monotonic() - started < 1
        assert answer.status_code == 200


@pytest.mark.live
def test_delayed_requests_do_not_block_each_other(real_server: str) -> None:
    count, latency = 20, 0.5

    async def one(client: httpx.AsyncClient, n: int) -> float:
        started = time.monotonic()
        answer = await client.post(
            Z_IMAGE, json={"prompt": f"cat {n}"}, headers={"X-Emulator-Latency": str(latency)}
        )
        assert answer.status_code == 200
        return time.monotonic() - started

    async def fan_out() -> tuple[float, list[float]]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(
            base_url=real_server, headers=AUTH, timeout=10, limits=limits
        ) as client:
            started = time.monotonic()
            each = await asyncio.gather(*(one(client, n) for n in range(count)))
            return time.monotonic() - started, list(each)

    total, each = asyncio.run(fan_out())
    assert min(each) >= latency
    assert total < 1.5, f"{count} requests held {latency} s each took {total:.2f} s together"
