"""Shared fixtures: the app in-process with a virtual clock, a client that checks every
provider response against the contracts, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpcore  # noqa: F401  (see below)
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

import contracts
from contracts.streams import stream_chunks
from emulator import Config, create_app
from emulator.providers import error_shape_for_path
from emulator.testing.server import start_server
from tests.browser import CHROMIUM

# The real redis-server's fixtures (redis_server_session, redis_url), for every test module.
from tests.redis_fixture import redis_server_session, redis_url  # noqa: F401

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# httpcore is imported here, before any test runs, because pytester's in-process runs
# (tests/test_pytest_plugin.py) drop from sys.modules what they imported first: httpcore
# imported again later has new exception classes, which httpx's cached map of them no longer
# matches, so a dropped connection escaped as httpcore's error instead of httpx's.
KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
# 2025-01-15T12:00:00.000Z, the instant the providers' own examples use.
EPOCH = 1736942400.0


def emulator_config(**overrides: object) -> Config:
    # The documented timings (realistic), without its rate limit unless a test sets one.
    settings: dict[str, object] = {
        "clock": "virtual",
        "seed": 1234,
        "clock_start": EPOCH,
        "profile": "realistic",
        "defaults": {"rate_limit": False},
    }
    settings.update(overrides)
    return Config(**settings)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- memory and Redis

# Test modules whose tests run twice, on the in-memory store and on Redis: those of their tests
# that use `app`, `client`, `open_client` or `live_server` (directly or through a fixture).
# Module names without "tests." and ".py", e.g. "test_admin".
SHARED_STATE_SUITES: tuple[str, ...] = (
    "test_vibedream_api",
    "test_3daistudio_api",
    "test_vertex_api",
    "test_vertex_files",
    "test_admin",
    "test_wallets_and_rate_limits",
    "test_scenarios_and_admin",
    "test_faults_and_moderation",
    "test_store",
    "test_dashboard",
    "test_replay",
)
STORES = ("memory", "redis")
STORE_FIXTURES = frozenset({"app", "client", "open_client", "live_server"})


def runs_on_both_stores(module_name: str, fixture_names: Iterable[str]) -> bool:
    return module_name.rpartition(".")[2] in SHARED_STATE_SUITES and not STORE_FIXTURES.isdisjoint(
        fixture_names
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames or not runs_on_both_stores(
        metafunc.module.__name__, metafunc.fixturenames
    ):
        return
    if "store" in parametrized_names(metafunc):
        return  # the test chose its stores itself
    metafunc.parametrize("store", STORES, indirect=True)  # ids: [memory], [redis]


def parametrized_names(metafunc: pytest.Metafunc) -> set[str]:
    names: set[str] = set()
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(argnames, str):
            argnames = argnames.split(",")
        names.update(name.strip() for name in argnames)
    return names


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """"memory", or "redis" for a test of SHARED_STATE_SUITES in its Redis run."""
    return str(getattr(request, "param", "memory"))


def store_url(store: str, request: pytest.FixtureRequest) -> str | None:
    """For "redis", the test's own prefix on the session's redis-server; None for memory.
    A module's own app fixture can take `store` and use this and `on_store` too."""
    return request.getfixturevalue("redis_url") if store == "redis" else None


def on_store(config: Config, url: str | None) -> Config:
    """`config` on that store (set before create_app: the app opens its store once)."""
    if url is not None:
        config.store = url
    return config


def check_contract(response: httpx.Response) -> None:
    """Every answer on a provider path must match that provider's contract for its status."""
    path = response.request.url.path
    owner = error_shape_for_path(path)
    if owner is None:
        return
    request = response.request
    if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
        return  # a browser's CORS preflight (emulator/cors.py): in no provider's contract
    provider, error_shape = owner
    response.read()
    if response.status_code >= 400:
        contracts.validate(provider.id, error_shape.schema, response.json())
        return
    # 3D AI Studio's paths end in "/", and are served without it too.
    found = contracts.find_operation(response.request.method, path) or contracts.find_operation(
        response.request.method, path + "/"
    )
    assert found is not None, f"{response.request.method} {path} answered but has no contract"
    provider_id, operation, _ = found
    schema = operation.response_schema(response.status_code)
    assert schema, f"{operation.operation_id} has no declared {response.status_code} response"
    if not response.content and operation.raw_media_types:
        # A resumable upload's step (start, chunk, query, cancel): headers only, no body.
        assert response.headers.get("x-goog-upload-status"), "a bodyless step has no status"
        return
    bodies = streamed_bodies(response) if operation.streamed else [response.json()]
    for body in bodies:
        contracts.validate(provider_id, schema, body)


def streamed_bodies(response: httpx.Response) -> list[Any]:
    chunks = stream_chunks(response)
    assert chunks is not None, f"not a stream of JSON chunks: {response.text[:200]!r}"
    return chunks


def contract_client(app: Starlette) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    client.event_hooks["response"].append(check_contract)
    return client


@pytest.fixture
def open_client(
    store: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[Config], TestClient]]:
    """Opens contract-checking clients on fresh apps, each with its config; closes them all.
    On Redis every app opened shares the test's prefix: they are workers of one emulator."""
    clients: list[TestClient] = []
    url = store_url(store, request)

    def open_one(config: Config) -> TestClient:
        client = contract_client(create_app(on_store(config, url)))
        client.__enter__()
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def app(store: str, request: pytest.FixtureRequest) -> Starlette:
    return create_app(on_store(emulator_config(), store_url(store, request)))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with contract_client(app) as test_client:
        yield test_client


@dataclass
class LiveServer:
    base_url: str
    app: Starlette


def run_server(app: Starlette) -> tuple[uvicorn.Server, threading.Thread, str]:
    """The app on a real uvicorn server, 127.0.0.1 and an ephemeral port, in a thread."""
    running = start_server(app)
    return running.server, running.thread, running.base_url


@pytest.fixture
def live_server(store: str, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    app = create_app(on_store(emulator_config(), store_url(store, request)))
    server, thread, base_url = run_server(app)
    try:
        yield LiveServer(base_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """What the contract suite's real-API tests spent, from the run's budget ledger. It lives
    here, not in tests/contract/, because under xdist the controller loads only this file."""
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's own, set by its tmp_path
    if factory is None:
        return
    from tests.contract.targets import live_budget  # it imports this module

    for path in sorted(factory.getbasetemp().glob("contract-live-budget-*.json")):
        budget = live_budget(path, dict(os.environ))
        if any(budget.spent().values()):
            terminalreporter.write_line(f"contract suite, real APIs: {budget.summary()}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """The system's Chromium (tests/browser.py), launched once a module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


# The Google SDK falls back on these for keys, project and mode; none may leak into a test.
GOOGLE_SDK_ENVIRONMENT = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL",
)


@pytest.fixture
def no_google_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the SDK tests: `pytestmark = pytest.mark.usefixtures("no_google_environment")`."""
    for name in GOOGLE_SDK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
