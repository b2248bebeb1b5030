"""Issue 22: the admin API and the dashboard against the browser.

- Cross-site requests (emulator/cross_site.py): on every admin route of the routing table, a
  browser's "simple" request from a foreign page (text/plain body, so no preflight) is refused
  with 403 in the admin error shape and changes nothing; the same request without an Origin
  (curl, the plugin, the clients) works; the emulator's own origin, as the client reached it
  (behind a proxy, under a root path), and the configured `[admin] allowed_origins` pass.
- DNS rebinding (emulator/trusted_hosts.py): once `allowed_hosts` is in force (`serve` puts it
  in force on a loopback address), a Host naming anything but loopback or a listed name is
  answered 400 on every route, on both request paths alike; over a real socket too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from emulator import admin, create_app
from emulator.commands.serve import resolve_allowed_hosts
from emulator.config import Config, ConfigError
from emulator.routing import ProviderRoutes
from emulator.trusted_hosts import is_loopback_host
from tests.conftest import AUTH, KEY, emulator_config
from tests.serve_process import serving

EVIL = "http://evil.example"
PAGE = "http://127.0.0.1:5173"  # a page listed in [admin] allowed_origins
TURBO = "/api/v1/models/z-image-turbo/generate"
ADVANCE = "/_emulator/clock/advance"
FOREIGN = {"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"}
SCENARIO = {"name": "one 429", "match": {"provider": "vibedream"}, "steps": [{"fault": "429"}]}

# A body each state-changing route takes (as a page would post it: text/plain); any other
# route gets "{}". A new admin route is covered as it is added: the table is read below.
BODIES: dict[tuple[str, str], object] = {
    ("POST", ADVANCE): {"seconds": 3600},
    ("POST", "/_emulator/faults"): {"provider": "vibedream", "error": "429", "count": 2},
    ("POST", "/_emulator/wallets"): {"provider": "vibedream", "key": KEY, "balance": 1},
    ("POST", "/_emulator/scenarios"): SCENARIO,
}


def admin_requests() -> list[tuple[str, str]]:
    """(method, path template) of every admin route, from the app's routing table."""
    return [
        (method, route.path)
        for route in create_app(emulator_config()).routes
        if isinstance(route, Route)
        and route.path.startswith(admin.PREFIX + "/")
        and route.methods is not None
        for method in sorted(route.methods)
    ]


ADMIN_REQUESTS = admin_requests()


def test_the_admin_routes_are_read_from_the_table() -> None:
    assert len(ADMIN_REQUESTS) >= 20
    assert ("POST", "/_emulator/reset") in ADMIN_REQUESTS
    assert ("PUT", "/_emulator/config") in ADMIN_REQUESTS
    assert ("DELETE", "/_emulator/requests") in ADMIN_REQUESTS
    assert ("GET", "/_emulator/thumbnails/{asset_id}") in ADMIN_REQUESTS


@pytest.fixture
def busy() -> Iterator[TestClient]:
    """An emulator with a bit of everything the admin API can change: a finished job with its
    output, a wallet, a queued fault, a scenario, a journal, a moved clock."""
    with TestClient(create_app(emulator_config())) as client:
        assert client.post(TURBO, json={"prompt": "a red kite"}, headers=AUTH).status_code == 200
        assert client.post(ADVANCE, json={"seconds": 3}).status_code == 200
        assert client.post("/_emulator/scenarios", json={**SCENARIO, "name": "s"}).is_success
        assert client.post(
            "/_emulator/faults", json={"provider": "vertex", "error": "503"}
        ).is_success
        yield client


def state(client: TestClient) -> dict[str, Any]:
    """All the admin API can change, as its own answers show it (none of these changes it)."""
    views = ("clock", "jobs", "wallets", "faults", "scenarios", "config", "requests")
    return {name: client.get(f"/_emulator/{name}").json() for name in views}


def concrete(client: TestClient, path: str) -> str:
    if "{asset_id}" in path:
        job = client.get("/_emulator/jobs").json()["jobs"][0]
        return path.replace("{asset_id}", job["outputs"][0]["id"])
    assert "{" not in path, f"{path}: give this parameter a value here"
    return path


def body_of(method: str, path: str, client: TestClient) -> str:
    if (method, path) == ("PUT", "/_emulator/config") or (method, path) == (
        "POST",
        "/_emulator/config",
    ):
        config = client.get("/_emulator/config").json()["config"]
        return json.dumps({**config, "journal_size": 7})
    return json.dumps(BODIES.get((method, path), {}))


@pytest.mark.parametrize(("method", "path"), ADMIN_REQUESTS)
@pytest.mark.parametrize(
    "browser_headers",
    [FOREIGN, {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}],
    ids=["foreign-origin", "sec-fetch-site"],
)
def test_a_cross_site_request_is_refused_and_changes_nothing_while_one_without_origin_works(
    busy: TestClient, method: str, path: str, browser_headers: dict[str, str]
) -> None:
    url, body = concrete(busy, path), body_of(method, path, busy)
    before = state(busy)
    refused = busy.request(method, url, content=body, headers=browser_headers)
    assert refused.status_code == 403, refused.text
    if method != "HEAD":  # a HEAD answer has no body
        error = refused.json()["error"]
        assert error["code"] == "permission_denied"
        assert "Cross-site request refused" in error["message"]
    assert state(busy) == before

    done = busy.request(method, url, content=body, headers={"Content-Type": "text/plain"})
    assert done.status_code < 400, (method, path, done.text)


def test_the_refusals_really_guard_state_the_same_request_would_change() -> None:
    """The check above means something: without an Origin, these very requests change it."""
    with TestClient(create_app(emulator_config())) as client:
        offset = client.get("/_emulator/clock").json()["offset"]
        client.post(ADVANCE, content=json.dumps(BODIES[("POST", ADVANCE)]), headers=FOREIGN)
        assert client.get("/_emulator/clock").json()["offset"] == offset
        client.post(ADVANCE, content=json.dumps(BODIES[("POST", ADVANCE)]))
        assert client.get("/_emulator/clock").json()["offset"] == offset + 3600


@pytest.mark.parametrize(
    ("base_url", "origin", "status"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", 200),
        ("http://localhost:8000", "http://localhost:8000", 200),
        ("http://localhost:8000", "http://127.0.0.1:8000", 403),  # another origin, same machine
        ("http://127.0.0.1:8000", "http://127.0.0.1:5174", 403),  # another port: same site
        ("http://emu.example", "http://emu.example", 200),  # the default port, left out
        ("https://emu.example:443", "https://emu.example", 200),
        ("https://emu.example", "http://emu.example", 403),  # another scheme
        ("http://127.0.0.1:8000", "null", 403),  # a sandboxed frame, a file:// page
        ("http://127.0.0.1:8000", PAGE, 200),  # listed in [admin] allowed_origins
    ],
)
def test_the_own_origin_is_the_one_the_client_reached_and_listed_origins_pass(
    base_url: str, origin: str, status: int
) -> None:
    app = create_app(emulator_config(admin_allowed_origins=[PAGE]))
    with TestClient(app, base_url=base_url, root_path="/behind/a/proxy") as client:
        answer = client.post(ADVANCE, json={"seconds": 1}, headers={"Origin": origin})
        assert answer.status_code == status, answer.text


def test_same_origin_and_same_site_fetch_metadata_without_origin_pass() -> None:
    """A page's own GETs (a thumbnail, the dashboard opened from a link on localhost) carry no
    Origin; only `cross-site` is refused."""
    with TestClient(create_app(emulator_config())) as client:
        for site in ("same-origin", "same-site", "none"):
            assert client.get("/_emulator/ui", headers={"Sec-Fetch-Site": site}).status_code == 200


def test_with_an_admin_token_a_cross_site_request_is_still_refused() -> None:
    token = "an-admin-token"
    with TestClient(create_app(emulator_config(admin_token=token))) as client:
        answer = client.post(
            "/_emulator/reset", headers={"Origin": EVIL, "Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403
        assert client.post("/_emulator/reset", headers={"Origin": EVIL}).status_code == 403


# ------------------------------------------------------------------------- DNS rebinding

HOSTS = [
    ("attacker.example", 400),
    ("attacker.example:8000", 400),
    ("localhost.attacker.example", 400),
    ("127.0.0.1.attacker.example", 400),
    ("emu.test", 200),  # listed
    ("EMU.test:9000", 200),
    ("api.emu.test", 400),
    ("docs.wild.test", 200),  # *.wild.test
    ("localhost", 200),
    ("localhost:8000", 200),
    ("dashboard.localhost:8000", 200),
    ("127.0.0.1:8000", 200),
    ("127.4.5.6", 200),
    ("[::1]:8000", 200),
    ("[::2]:8000", 400),
    ("10.0.0.1:8000", 400),
]


@pytest.mark.parametrize(("host", "status"), HOSTS)
def test_only_loopback_and_listed_names_are_served_once_hosts_are_configured(
    host: str, status: int
) -> None:
    app = create_app(emulator_config(allowed_hosts=["emu.test", "*.wild.test"]))
    with TestClient(app) as client:
        for path in ("/_emulator/health", "/_emulator/ui", "/api/v1/predictions/none"):
            answer = client.get(path, headers={"Host": host, **AUTH})
            assert (answer.status_code == 400) == (status == 400), (host, path, answer.text)
            if status == 400:
                assert answer.text == "Invalid host header"


def test_an_app_made_in_process_serves_any_host_unless_configured() -> None:
    """The pytest plugin, httpx's ASGITransport (`http://testserver`), and the interception of
    real provider hostnames talk to such an app."""
    with TestClient(create_app(emulator_config())) as client:
        for host in ("testserver", "api.vibedream.ai", "generativelanguage.googleapis.com"):
            assert client.get("/_emulator/health", headers={"Host": host}).status_code == 200
    with TestClient(create_app(emulator_config(allowed_hosts=["*"]))) as client:
        assert client.get("/_emulator/health", headers={"Host": "any.example"}).status_code == 200


def host_answers(fast_path: bool) -> list[tuple[int, bytes]]:
    app = create_app(emulator_config(allowed_hosts=["emu.test"]))
    if not fast_path:
        app.provider_routes = ProviderRoutes([])  # every request through Starlette's router
    seen = []
    with TestClient(app) as client:
        for host in ("attacker.example", "emu.test", "127.0.0.1:1"):
            for method, path in (("POST", TURBO), ("GET", "/api/v1/predictions/x")):
                response = client.request(
                    method, path, json={"prompt": "a cat"}, headers={"Host": host, **AUTH}
                )
                seen.append((response.status_code, response.content))
    return seen


def test_both_request_paths_check_the_host_alike() -> None:
    fast, routed = host_answers(fast_path=True), host_answers(fast_path=False)
    assert fast == routed
    assert [status for status, _ in fast[:2]] == [400, 400]
    assert all(status != 400 for status, _ in fast[2:])


def test_is_loopback_host_reads_ip_literals_only() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("127.255.0.1:80")
    assert is_loopback_host("[::1]") and is_loopback_host("[::1]:8000")
    for host in ("localhost", "::1", "[::1", "128.0.0.1", "1.2.3.4:80", "", "[::1]:x"):
        assert not is_loopback_host(host), host


@pytest.mark.parametrize(
    ("bind", "configured", "given", "expected"),
    [
        ("127.0.0.1", None, [], []),  # loopback only
        ("localhost", None, ["emu.test"], ["emu.test"]),
        ("::1", ["a.test"], ["emu.test", "a.test"], ["a.test", "emu.test"]),
        ("0.0.0.0", None, [], None),  # beyond loopback: the admin token guards it; any name
        ("0.0.0.0", ["a.test"], [], ["a.test"]),
        ("0.0.0.0", None, ["emu.test"], ["emu.test"]),
    ],
)
def test_serve_puts_the_loopback_rule_in_force_on_a_loopback_address(
    bind: str, configured: list[str] | None, given: list[str], expected: list[str] | None
) -> None:
    config = Config(allowed_hosts=configured)
    assert resolve_allowed_hosts(config, bind, given) is None
    assert config.allowed_hosts == expected


def test_allowed_hosts_are_checked_in_the_file_and_on_the_command_line() -> None:
    assert Config.from_mapping({"allowed_hosts": ["emu.test", "*.b.test", "[::2]"]})
    for bad in (["emu.test:80"], ["a.*.test"], ["http://emu.test"], [""]):
        with pytest.raises(ConfigError, match="allowed_hosts"):
            Config.from_mapping({"allowed_hosts": bad})
    refusal = resolve_allowed_hosts(Config(), "127.0.0.1", ["emu.test:80"])
    assert refusal is not None and refusal.startswith("--allowed-host: ")


def test_allowed_hosts_need_a_restart() -> None:
    app = create_app(emulator_config(allowed_hosts=[]))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        config = client.get("/_emulator/config").json()["config"]
        assert config["allowed_hosts"] == []
        changed = client.put("/_emulator/config", json={**config, "allowed_hosts": ["*"]})
        assert changed.status_code == 200
        assert changed.json()["config"]["allowed_hosts"] == []
        assert client.get("/_emulator/health", headers={"Host": "any.example"}).status_code == 400


# ------------------------------------------------------------------------- a real socket


def test_serve_on_loopback_refuses_foreign_host_names_on_every_kind_of_route() -> None:
    """`serve` itself, over a real socket: its loopback default, --allowed-host, and the own
    origin behind a proxy (X-Forwarded-Proto from a trusted address) under --root-path."""
    with serving(
        "--clock",
        "virtual",
        "--profile",
        "instant",
        "--allowed-host",
        "emu.test",
        "--root-path",
        "/emu",
    ) as served:
        port = httpx.URL(served.base_url).port
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            submitted = client.post(TURBO, json={"prompt": "a kite"}, headers=AUTH)
            assert submitted.status_code == 200, submitted.text
            polled = client.get(f"/api/v1/predictions/{submitted.json()['id']}", headers=AUTH)
            asset = httpx.URL(polled.json()["outputs"][0]).path.removeprefix("/emu")
            paths = [
                TURBO,
                f"/api/v1/predictions/{submitted.json()['id']}",
                asset,
                "/_emulator/ui",
                "/_emulator/config",
            ]
            for path in paths:
                method = "POST" if path == TURBO else "GET"
                for host, ok in (
                    ("attacker.example", False),
                    (f"attacker.example:{port}", False),
                    (f"localhost:{port}", True),
                    (f"127.0.0.1:{port}", True),
                    ("emu.test", True),
                ):
                    answer = client.request(
                        method, path, json={"prompt": "a kite"}, headers={"Host": host, **AUTH}
                    )
                    assert (answer.status_code == 400) != ok, (host, path, answer.text)
            # Behind a TLS proxy: its origin is https://emu.test, the one the browser reached.
            proxied = {"Host": "emu.test", "X-Forwarded-Proto": "https"}
            own = client.post(
                ADVANCE, json={"seconds": 1}, headers={**proxied, "Origin": "https://emu.test"}
            )
            assert own.status_code == 200, own.text
            other = client.post(
                ADVANCE, json={"seconds": 1}, headers={**proxied, "Origin": "http://emu.test"}
            )
            assert other.status_code == 403
            assert client.get("/_emulator/clock").json()["offset"] == 1


def test_under_a_root_path_the_admin_api_still_asks_for_its_token() -> None:
    """uvicorn puts --root-path in front of the ASGI path; the admin API was reached by its
    path as the client sent it, and so skipped the token check (and now the origin check)."""
    token = "a-root-path-token"
    with serving("--root-path", "/emu", "--admin-token", token) as served:
        port = httpx.URL(served.base_url).port
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/_emulator/config").status_code == 401
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.get("/_emulator/config", headers=bearer).status_code == 200
            refused = client.post("/_emulator/reset", headers={**bearer, "Origin": EVIL})
            assert refused.status_code == 403
