"""Security: keys never leave as themselves (only a 12-hex-digit fingerprint), the admin API
stays closed without its token, output URLs cannot be guessed from one another, and input
images given by URL are never fetched.

Tested elsewhere, not repeated here: every admin call refuses a missing or wrong token
(tests/test_scenarios_and_admin.py, ADMIN_CALLS), the dashboard page is open while its data is
not (tests/test_dashboard.py), `serve` refuses 0.0.0.0 without a token and never prints the
token (tests/test_cli.py).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import ClassVar

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from emulator import admin, create_app
from emulator.commands.common import is_loopback
from emulator.commands.serve import banner
from emulator.config import Config
from emulator.config_keys import FINGERPRINT_FIELD, redacted
from emulator.core.assets import new_asset_id
from emulator.core.auth import fingerprint
from tests.conftest import contract_client, emulator_config, run_server
from tests.images import encoded

# Distinctive, so a leak anywhere is found by a plain substring search.
KEY = "sk-LEAKCHECK-3f9a1c7e55d24b0e9d"
WRONG_KEY = "sk-WRONGKEY-81d0c2aa94f14f6e7b"
ADMIN_TOKEN = "admin-token-for-security-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MODEL = "gemini-3-pro-image"
PNG_B64 = base64.b64encode(encoded("PNG", size=(32, 24))).decode()
# Loggers of the test's own HTTP client, which logs the URLs it requests (a ?key= with them).
CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2")


def vertex_body(**extra: object) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": "a red kite"}]}], **extra}


def every_kind_of_request(client: TestClient, key: str) -> list[httpx.Response]:
    """Submits, polls, downloads and refusals on every provider, the key in every place a
    provider reads it from, and the admin call that takes a key."""
    bearer = {"Authorization": f"Bearer {key}"}
    responses = []

    def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        responses.append(response)
        return response

    prediction = call(
        "POST", "/api/v1/models/z-image-turbo/generate", json={"prompt": "a kite"}, headers=bearer
    )
    if prediction.status_code == 200:
        polled = call("GET", f"/api/v1/predictions/{prediction.json()['id']}", headers=bearer)
        for url in polled.json()["outputs"] or ():
            call("GET", url)
    task = call(
        "POST", "/v1/images/gemini/3/pro/generate/", json={"prompt": "a kite"}, headers=bearer
    )
    if task.status_code == 200:
        status = call(
            "GET", f"/v1/generation-request/{task.json()['task_id']}/status/", headers=bearer
        )
        for result in status.json()["results"] or ():
            call("GET", result["asset_url"])
    call("GET", "/account/user/wallet/", headers=bearer)
    gateway = f"/api/v1/publishers/googleVertexAI/models/{MODEL}:generateContent"
    text_only = vertex_body(generationConfig={"responseModalities": ["TEXT"]})
    call("POST", gateway, json=text_only, headers=bearer)
    call(
        "POST",
        f"/v1beta/models/{MODEL}:generateContent",
        json=text_only,
        headers={"x-goog-api-key": key},
    )
    call("POST", f"/v1beta/models/{MODEL}:generateContent?key={key}", json=text_only)
    vertex = f"/v1/projects/p/locations/l/publishers/google/models/{MODEL}:generateContent"
    call("POST", vertex, json=text_only, headers=bearer)
    # Refusals after the key was read: a bad body, an injected fault, a rate limit.
    call("POST", gateway, json={"contents": "nope"}, headers=bearer)
    call(
        "POST",
        "/api/v1/models/z-image-turbo/generate",
        json={"prompt": "x"},
        headers={**bearer, "X-Emulator-Fault": "500"},
    )
    call(
        "POST",
        "/v1/images/gemini/3/pro/generate/",
        json={"prompt": "x"},
        headers={**bearer, "X-Emulator-Fault": "429"},
    )
    call(
        "POST",
        "/_emulator/wallets",
        json={"provider": "vibedream", "key": key, "balance": 50},
        headers=ADMIN,
    )
    return responses


@pytest.fixture
def secured() -> Iterator[TestClient]:
    app = create_app(emulator_config(profile="instant", api_keys=[KEY], admin_token=ADMIN_TOKEN))
    with contract_client(app) as client:
        yield client


def test_keys_never_appear_in_answers_journal_dashboard_or_logs(
    secured: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        answers = every_kind_of_request(secured, KEY) + every_kind_of_request(secured, WRONG_KEY)
        # Every GET of the admin API, from its routing table (the thumbnails need an id).
        admin_views = {
            path: secured.get(path, headers=ADMIN)
            for method, path in admin_route_calls()
            if method == "GET" and path != "/_emulator/thumbnails/asset_id"
        }
    assert {a.status_code for a in answers} >= {200, 401, 400, 429, 500}
    for answer in answers:
        seen = answer.content + str(answer.headers).encode()
        for key in (KEY, WRONG_KEY):
            assert key.encode() not in seen, (answer.request.url, seen[:300])
    for path, view in admin_views.items():
        assert view.status_code == 200, path
        assert KEY not in view.text and WRONG_KEY not in view.text, path
    # The key is there as its fingerprint: whose jobs, wallets and requests these are.
    assert fingerprint(KEY) in admin_views["/_emulator/requests"].text
    assert fingerprint(KEY) in admin_views["/_emulator/jobs"].text
    assert fingerprint(KEY) in admin_views["/_emulator/wallets"].text
    assert fingerprint(KEY) in admin_views["/_emulator/config"].text  # [auth] keys
    server_records = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert len(server_records) >= 20  # every request was logged at DEBUG or INFO
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server_records)
    assert KEY not in logged and WRONG_KEY not in logged


def test_the_banner_names_how_many_keys_not_which() -> None:
    app = create_app(emulator_config(api_keys=[KEY, WRONG_KEY]))
    text = banner("http://127.0.0.1:8000", app.state.runtime)
    assert KEY not in text and WRONG_KEY not in text
    assert "2 configured key(s)" in text


def test_the_fingerprint_is_short_and_does_not_give_the_key_away() -> None:
    printed = fingerprint(KEY)
    assert len(printed) == 12 and int(printed, 16) >= 0
    assert printed not in KEY and fingerprint(WRONG_KEY) != printed


# ------------------------------------------------------------------------------ the admin API


def admin_route_calls() -> list[tuple[str, str]]:
    """(method, path) for every admin route, from the routing table itself: a route added
    later is covered without touching this file."""
    calls = []
    for route in admin.routes:
        assert isinstance(route, Route)
        path = route.path.replace("{", "").replace("}", "")  # a value for each parameter
        calls += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return calls


@pytest.mark.parametrize(("method", "path"), admin_route_calls())
def test_every_admin_route_wants_the_token(secured: TestClient, method: str, path: str) -> None:
    answer = secured.request(method, path)
    if path == admin.DASHBOARD_PAGE and method == "GET":
        assert answer.status_code == 200  # the page: static, and it asks for the token
        return
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert secured.request(method, path, headers=ADMIN).status_code != 401


def raw_get(base_url: str, path: str) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_no_spelling_of_an_admin_path_gets_past_the_token() -> None:
    app = create_app(emulator_config(api_keys=[KEY], admin_token=ADMIN_TOKEN))
    server, thread, base_url = run_server(app)
    try:
        for path in (
            "/_emulator/health",
            "/_emulator//health",
            "/_emulator/./health",
            "/_emulator/../_emulator/health",
            "/_emulator%2fhealth",
            "/%5Femulator/health",
            "/_emulator/health%00",
            "/_emulator/health?token=" + ADMIN_TOKEN[:5],
        ):
            answer = raw_get(base_url, path)
            status = int(answer.split(b" ", 2)[1])
            assert status in (400, 401, 404), (path, answer[:300])
            assert b'"clock"' not in answer and b'"store"' not in answer, path
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),  # bind("") is every interface
        ("0", False),  # bind("0") is 0.0.0.0
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("::ffff:127.0.0.1", False),  # refused rather than reasoned about: safe
    ],
)
def test_serve_needs_a_token_for_anything_but_loopback(host: str, loopback: bool) -> None:
    # `serve` refuses a non-loopback --host without a token (tests/test_cli.py runs it for
    # 0.0.0.0); this is the decision it makes, for the spellings of "everywhere" too.
    assert is_loopback(host) is loopback


# ------------------------------------------------------------------------------ asset URLs


def test_output_urls_are_random_and_say_nothing_of_one_another() -> None:
    app = create_app(emulator_config(profile="instant", api_keys=[KEY]))
    bearer = {"Authorization": f"Bearer {KEY}"}
    urls: list[str] = []
    job_ids: list[str] = []
    with TestClient(app) as client:
        for _ in range(250):  # 4 images and 4 thumbnails each: 2000 URLs
            task = client.post(
                "/v1/images/gemini/3/pro/generate/",
                json={"prompt": "x", "num_images": 4},
                headers=bearer,
            ).json()["task_id"]
            results = client.get(f"/v1/generation-request/{task}/status/", headers=bearer).json()
            urls += [r[name] for r in results["results"] for name in ("asset_url", "thumbnail")]
            job_ids.append(task)
    ids = [url.split("/")[-2] for url in urls]
    assert len(set(ids)) == len(ids) == 2000
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert {len(i) for i in ids} == {24} and set("".join(ids)) <= alphabet
    # No shared prefix beyond chance: 2000 random ids in 64 symbols share about 2.
    assert max(common_prefix(a, b) for a, b in pairwise(sorted(ids))) <= 5
    # Every position varies over (nearly) the whole alphabet: nothing is a counter or a field.
    for position in range(24):
        assert len({i[position] for i in ids}) >= 60, position
    # About 6 bits a character: 144 bits an id, nothing derived from anything else.
    counts = Counter("".join(ids))
    total = sum(counts.values())
    entropy = -sum(n / total * math.log2(n / total) for n in counts.values())
    assert entropy > 5.9
    # Consecutive outputs of one task are not neighbours, nor do they carry the task id.
    task_of = {job: {i for i in ids if job in i} for job in job_ids}
    assert not any(task_of.values())
    assert not any(job.replace("-", "")[:8] in "".join(ids) for job in job_ids[:50])


def test_asset_ids_come_from_the_system_generator_not_the_seeded_one() -> None:
    # The seed replays job ids and pictures; it must not replay URLs, or one run's URLs would
    # be known from another's.
    def first_output(seed: int) -> tuple[str, str]:
        app = create_app(emulator_config(profile="instant", api_keys=[KEY], seed=seed))
        with TestClient(app) as client:
            bearer = {"Authorization": f"Bearer {KEY}"}
            submitted = client.post(
                "/api/v1/models/z-image-turbo/generate", json={"prompt": "x"}, headers=bearer
            ).json()
            polled = client.get(f"/api/v1/predictions/{submitted['id']}", headers=bearer).json()
            return submitted["id"], polled["outputs"][0].split("/")[-2]

    (job_a, asset_a), (job_b, asset_b) = first_output(7), first_output(7)
    assert job_a == job_b  # the same seed replays the job ids...
    assert asset_a != asset_b  # ...but never the URLs
    assert new_asset_id() != new_asset_id()


def test_asset_ids_come_from_a_pool_of_os_randomness_a_forked_worker_does_not_share() -> None:
    """Ids are read from the OS a pool at a time; a worker forked with part of the pool left
    must not hand out the ids its parent will."""
    ids = [new_asset_id() for _ in range(1000)]  # several pools' worth
    assert len(set(ids)) == 1000
    assert all(len(each) == 24 and re.fullmatch(r"[A-Za-z0-9_-]+", each) for each in ids)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, new_asset_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 100).decode()
    os.close(read)
    assert len(from_child) == 24 and from_child != new_asset_id()


def common_prefix(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


# ------------------------------------------------------------------------------ input URLs


class CountingHandler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(base64.b64decode(PNG_B64))

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_host() -> Iterator[str]:
    """A local HTTP server that serves a PNG at any path and counts the requests it gets."""
    CountingHandler.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_input_image_urls_are_never_fetched(image_host: str) -> None:
    app = create_app(emulator_config(profile="instant", api_keys=[KEY]))
    bearer = {"Authorization": f"Bearer {KEY}"}
    url = f"{image_host}/photo.png"
    with contract_client(app) as client:
        # vibedream takes image URLs as given, and draws the edit without them.
        edit = client.post(
            "/api/v1/models/nano-banana-pro-edit/generate",
            json={"prompt": "make it blue", "images": [url, f"{image_host}/second.jpg"]},
            headers=bearer,
        )
        assert edit.status_code == 200, edit.text
        outputs = client.get(f"/api/v1/predictions/{edit.json()['id']}", headers=bearer).json()[
            "outputs"
        ]
        assert client.get(outputs[0]).status_code == 200  # the picture is drawn: no fetch
        # 3D AI Studio takes data: URIs only.
        refused = client.post(
            "/v1/images/gemini/3/pro/edit/", json={"prompt": "x", "images": [url]}, headers=bearer
        )
        assert refused.status_code == 400
        # Vertex: fileData is refused (the emulator is offline), on every surface.
        file_part = {"fileData": {"mimeType": "image/png", "fileUri": url}}
        body = {"contents": [{"role": "user", "parts": [{"text": "x"}, file_part]}]}
        for path, headers in (
            (f"/api/v1/publishers/googleVertexAI/models/{MODEL}:generateContent", bearer),
            (f"/v1beta/models/{MODEL}:generateContent", {"x-goog-api-key": KEY}),
            (f"/v1beta1/publishers/google/models/{MODEL}:generateContent", bearer),
        ):
            answer = client.post(path, json=body, headers=headers)
            assert answer.status_code == 400, answer.text
            assert "never fetches" in answer.text
        # A URL where the base64 should be is not followed either.
        inline = {"inlineData": {"mimeType": "image/png", "data": url}}
        body = {"contents": [{"role": "user", "parts": [{"text": "x"}, inline]}]}
        assert (
            client.post(
                f"/v1beta/models/{MODEL}:generateContent",
                json=body,
                headers={"x-goog-api-key": KEY},
            ).status_code
            == 400
        )
    # The local server is alive (it answers us) and was never asked by the emulator.
    assert httpx.get(url).status_code == 200
    assert CountingHandler.hits == ["/photo.png"]


# ------------------------------------------------------------------------------ other keys' jobs


def test_a_job_is_visible_only_to_the_key_that_made_it() -> None:
    other = "sk-OTHER-5b7d3e0c"
    app = create_app(emulator_config(profile="instant", api_keys=[KEY, other]))
    with contract_client(app) as client:
        mine = {"Authorization": f"Bearer {KEY}"}
        theirs = {"Authorization": f"Bearer {other}"}
        prediction = client.post(
            "/api/v1/models/z-image-turbo/generate", json={"prompt": "x"}, headers=mine
        ).json()["id"]
        task = client.post(
            "/v1/images/gemini/3/pro/generate/", json={"prompt": "x"}, headers=mine
        ).json()["task_id"]
        assert client.get(f"/api/v1/predictions/{prediction}", headers=mine).status_code == 200
        assert client.get(f"/api/v1/predictions/{prediction}", headers=theirs).status_code == 404
        assert (
            client.get(f"/v1/generation-request/{task}/status/", headers=theirs).status_code == 404
        )
        # ...nor to another provider's paths: a vibedream id is no 3D AI Studio task.
        assert (
            client.get(f"/v1/generation-request/{prediction}/status/", headers=mine).status_code
            == 404
        )
        assert client.get(f"/api/v1/predictions/{task}", headers=mine).status_code == 404


# ------------------------------------------------------------------ the config's keys

GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
VERTEX_KEY = "sk-VERTEXONLY-0a7d51c2e9b34f81"
PROFILE_KEY = "sk-PROFILEKEY-6be02f9d17a84c35"
NEW_KEY = "sk-NEWKEY-c41e9a0b7d2f4e68a1"


def keyed_config(**extra: object) -> dict:
    """A config with a key in every place the file takes one (config_keys.KEY_PATHS)."""
    return {
        "profile": "instant",
        "auth": {"keys": [KEY, WRONG_KEY]},
        "providers": {"vertex": {"api_keys": [VERTEX_KEY]}},
        "profiles": {
            "mine": {"extends": "instant", "providers": {"vertex": {"api_keys": [PROFILE_KEY]}}}
        },
        "scenarios": [
            {
                "name": "K's next 429",
                "match": {"provider": "vibedream", "key": KEY},
                "steps": [{"fault": "429", "times": 100}],
            }
        ],
        **extra,
    }


ALL_KEYS = (KEY, WRONG_KEY, VERTEX_KEY, PROFILE_KEY)


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    app = create_app(Config.from_mapping(keyed_config()))
    with contract_client(app) as client:
        yield client


def submit_status(client: TestClient, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    return client.post(
        "/api/v1/models/z-image-turbo/generate", json={"prompt": "x"}, headers=headers
    ).status_code


def test_the_config_shows_every_key_by_its_fingerprint(keyed: TestClient) -> None:
    answer = keyed.get("/_emulator/config")
    for key in ALL_KEYS:
        assert key not in answer.text
    config = answer.json()["config"]
    shown = {FINGERPRINT_FIELD: fingerprint(KEY)}
    assert config["auth"]["keys"] == [shown, {FINGERPRINT_FIELD: fingerprint(WRONG_KEY)}]
    assert config["providers"]["vertex"]["api_keys"] == [
        {FINGERPRINT_FIELD: fingerprint(VERTEX_KEY)}
    ]
    mine = config["profiles"]["mine"]["providers"]["vertex"]["api_keys"]
    assert mine == [{FINGERPRINT_FIELD: fingerprint(PROFILE_KEY)}]
    assert config["scenarios"][0]["match"]["key"] == shown
    # The same fingerprint the journal, the wallets and the scenarios show.
    assert keyed.get("/_emulator/scenarios").json()["scenarios"][0]["match"]["key_fingerprint"] == (
        fingerprint(KEY)
    )


def test_a_read_modify_write_of_the_config_keeps_the_keys_it_did_not_change(
    keyed: TestClient,
) -> None:
    config = keyed.get("/_emulator/config").json()["config"]
    config["journal_size"] = 321
    config["auth"]["keys"].append(NEW_KEY)  # a new key goes in as itself
    written = keyed.put("/_emulator/config", json=config)
    assert written.status_code == 200, written.text
    for key in (*ALL_KEYS, NEW_KEY):
        assert key not in written.text
    assert written.json()["config"]["journal_size"] == 321
    in_force = keyed.app.state.runtime.config  # type: ignore[attr-defined]
    assert in_force.api_keys == [KEY, WRONG_KEY, NEW_KEY]
    assert in_force.providers["vertex"]["api_keys"] == [VERTEX_KEY]
    assert in_force.profiles["mine"]["providers"]["vertex"]["api_keys"] == [PROFILE_KEY]
    assert in_force.scenarios[0]["match"]["key"] == KEY
    # ... and they work as before: the scenario still matches K, the other keys are accepted.
    assert submit_status(keyed, KEY) == 429
    assert submit_status(keyed, WRONG_KEY) == 200
    assert submit_status(keyed, NEW_KEY) == 200
    assert submit_status(keyed, "sk-never-configured") == 401
    vertex = keyed.post(
        GATEWAY, json=vertex_body(), headers={"Authorization": f"Bearer {VERTEX_KEY}"}
    )
    assert vertex.status_code == 200, vertex.text


def test_a_fingerprint_no_key_in_force_has_is_refused_and_changes_nothing(
    keyed: TestClient,
) -> None:
    before = keyed.get("/_emulator/config").json()
    config = json.loads(json.dumps(before["config"]))
    config["auth"]["keys"] = [{FINGERPRINT_FIELD: "0123456789ab"}]
    config["journal_size"] = 5
    refused = keyed.put("/_emulator/config", json=config)
    assert refused.status_code == 400
    assert "0123456789ab" in refused.json()["error"]["message"]
    assert keyed.get("/_emulator/config").json() == before


def test_an_error_message_shows_a_key_by_its_fingerprint() -> None:
    """Defence in depth: no message of today's schema quotes a key restored from its
    fingerprint (one the caller never sent), but one that quotes its surroundings would."""
    message = f"scenarios.0: {{'match': {{'key': {KEY!r}}}}} is not valid; k: {'k'!r}"
    shown = redacted(message, [KEY, "k"])
    assert KEY not in shown and "'k'" not in shown
    assert f"<key {fingerprint(KEY)}>" in shown and f"<key {fingerprint('k')}>" in shown
    assert shown.startswith("scenarios.0: {'match': {'key': <key ")  # short keys: quoted only
