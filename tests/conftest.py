"""Shared fixtures: the app in-process with a virtual clock, a client that checks every
provider response against the contracts, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
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
def open_client() -> Iterator[Callable[[Config], TestClient]]:
    """Opens contract-checking clients on fresh apps, each with its config; closes them all."""
    clients: list[TestClient] = []

    def open_one(config: Config) -> TestClient:
        client = contract_client(create_app(config))
        client.__enter__()
        clients.append(client)
        return client

    yield open_one
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def app() -> Starlette:
    return create_app(emulator_config())


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
def live_server() -> Iterator[LiveServer]:
    app = create_app(emulator_config())
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
