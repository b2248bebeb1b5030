"""The contract suite's three targets: the emulator in-process, the emulator on a real uvicorn
server on 127.0.0.1, and the real APIs when their keys are in the environment.

A ``Target`` is what a contract test needs and nothing about how it was made: per provider a
base URL and key (or the reason it is unavailable), clients for it, a way to move time
forward, and the budget real requests are charged against. Tests written against it run
unchanged on all three.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from contracts.budget import Budget, Ledger, Unit
from contracts.conformance import (
    BASE_URL_ENV,
    KEY_ENV,
    PROVIDERS,
    REAL_BASE_URLS,
    AdvancingClock,
    Clock,
    RealTime,
)
from emulator import Config, create_app
from tests.conftest import emulator_config, run_server

KEY = "contract-suite-key"
# Real requests can be slow (a 4K image, a busy gateway): be patient per request.
LIVE_REQUEST_TIMEOUT = 120.0
BUDGET_ENV = {Unit.CENTS: "CONTRACT_BUDGET_CENTS", Unit.CREDITS: "CONTRACT_BUDGET_CREDITS"}
IN_PROCESS_BASE = "http://testserver"


def emulator_settings() -> Config:
    """The emulated targets' config: documented timings (realistic), no rate limit, one key
    (so a wrong key is refused), wallets too deep for a long run to empty."""
    return emulator_config(api_keys=[KEY], defaults={"rate_limit": False, "wallet_balance": 10**9})


@dataclass(frozen=True)
class Endpoint:
    provider: str
    base_url: str
    api_key: str = field(repr=False)


@dataclass(repr=False)
class Target:
    name: str  # "in-process", "uvicorn", "real-api"
    endpoints: dict[str, Endpoint]
    unavailable: dict[str, str]  # provider -> why (names the missing environment variable)
    budget: Budget | None  # None: spending is not limited (emulated money)
    open_client: Callable[[str], AbstractContextManager[httpx.Client]]
    open_async_client: Callable[[str], httpx.AsyncClient]
    move_clock: Callable[[float], None] | None  # None: time passes for real
    clock_how: str = ""
    app: Starlette | None = None  # the emulator, when in this process

    def __repr__(self) -> str:
        return f"Target({self.name})"

    @property
    def is_emulator(self) -> bool:
        return self.move_clock is not None

    @property
    def live(self) -> bool:
        return not self.is_emulator

    def endpoint(self, provider: str) -> Endpoint:
        """The provider's base URL and key; skips the test when it is unavailable."""
        if provider in self.unavailable:
            pytest.skip(self.unavailable[provider])
        return self.endpoints[provider]

    def base_url(self, provider: str) -> str:
        return self.endpoint(provider).base_url

    def api_key(self, provider: str) -> str:
        return self.endpoint(provider).api_key

    def client(self, provider: str) -> AbstractContextManager[httpx.Client]:
        """``with target.client("vibedream") as client:``, base URL set, no key attached."""
        return self.open_client(self.base_url(provider))

    def async_client(self, provider: str) -> httpx.AsyncClient:
        """An httpx.AsyncClient on the provider's base URL (close it, or use ``async with``)."""
        return self.open_async_client(self.base_url(provider))

    def advance(self, seconds: float) -> None:
        """Move time forward: the emulator's clock, or a real sleep against a real API."""
        if self.move_clock is None:
            time.sleep(seconds)
        else:
            self.move_clock(seconds)

    def clock(self) -> Clock:
        """The same, as the conformance library's Clock."""
        if self.move_clock is None:
            return RealTime()
        return AdvancingClock(self.move_clock, self.clock_how)

    def require_emulator(self, why: str) -> None:
        if not self.is_emulator:
            pytest.skip(f"{why}: only the emulator can do that")


def emulated_endpoints(base_url: str) -> dict[str, Endpoint]:
    return {provider: Endpoint(provider, base_url, KEY) for provider in PROVIDERS}


@contextmanager
def in_process_target() -> Iterator[Target]:
    app = create_app(emulator_settings())

    @contextmanager
    def open_client(base_url: str) -> Iterator[httpx.Client]:
        with TestClient(app, base_url=base_url) as client:
            yield client

    def open_async_client(base_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    yield Target(
        name="in-process",
        endpoints=emulated_endpoints(IN_PROCESS_BASE),
        unavailable={},
        budget=None,
        open_client=open_client,
        open_async_client=open_async_client,
        move_clock=app.state.runtime.clock.advance,
        clock_how="in-process (runtime.clock.advance)",
        app=app,
    )


def plain_clients(
    timeout: float,
) -> tuple[
    Callable[[str], AbstractContextManager[httpx.Client]], Callable[[str], httpx.AsyncClient]
]:
    """Client factories for a target over a real socket."""

    @contextmanager
    def open_client(base_url: str) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=base_url, timeout=timeout) as client:
            yield client

    def open_async_client(base_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base_url, timeout=timeout)

    return open_client, open_async_client


@contextmanager
def uvicorn_target() -> Iterator[Target]:
    app = create_app(emulator_settings())
    server, thread, base_url = run_server(app)
    admin = httpx.Client(base_url=base_url, timeout=30)

    def advance(seconds: float) -> None:
        admin.post("/_emulator/clock/advance", json={"seconds": seconds}).raise_for_status()

    open_client, open_async_client = plain_clients(30)
    try:
        yield Target(
            name="uvicorn",
            endpoints=emulated_endpoints(base_url),
            unavailable={},
            budget=None,
            open_client=open_client,
            open_async_client=open_async_client,
            move_clock=advance,
            clock_how="through the admin API (POST /_emulator/clock/advance)",
            app=app,
        )
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=10)


def real_endpoints(environ: dict[str, str]) -> tuple[dict[str, Endpoint], dict[str, str]]:
    """The real APIs whose keys (and, for the gateway, base URL) are set, and why the others
    are not."""
    found: dict[str, Endpoint] = {}
    missing: dict[str, str] = {}
    for provider in PROVIDERS:
        needed = [KEY_ENV[provider]]
        if provider in BASE_URL_ENV:
            needed.insert(0, BASE_URL_ENV[provider])
        absent = [name for name in needed if not environ.get(name)]
        if absent:
            missing[provider] = f"real {provider} API: set {' and '.join(absent)} to run against it"
            continue
        base = environ.get(BASE_URL_ENV.get(provider, ""), "") or REAL_BASE_URLS[provider]
        found[provider] = Endpoint(provider, base.rstrip("/"), environ[KEY_ENV[provider]])
    return found, missing


def live_budget(ledger_path: Path, environ: dict[str, str]) -> Budget:
    limits = {
        unit: Decimal(environ[name]) for unit, name in BUDGET_ENV.items() if environ.get(name)
    }
    return Budget(limits, FileLedger(ledger_path))


def real_api_target(ledger_path: Path) -> Target:
    environ = dict(os.environ)
    endpoints, missing = real_endpoints(environ)
    open_client, open_async_client = plain_clients(LIVE_REQUEST_TIMEOUT)
    return Target(
        name="real-api",
        endpoints=endpoints,
        unavailable=missing,
        budget=live_budget(ledger_path, environ),
        open_client=open_client,
        open_async_client=open_async_client,
        move_clock=None,
    )


class FileLedger(Ledger):
    """The budget's totals in a JSON file under an exclusive lock, so every pytest-xdist
    worker of one run draws on the same budget."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
        with open(self.path, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            text = handle.read()
            saved = json.loads(text) if text else {}
            self.spent = {Unit(k): Decimal(v) for k, v in saved.get("spent", {}).items()}
            self.reserved = {Unit(k): Decimal(v) for k, v in saved.get("reserved", {}).items()}
            yield self
            handle.seek(0)
            handle.truncate()
            json.dump(
                {
                    "spent": {unit.value: str(v) for unit, v in self.spent.items()},
                    "reserved": {unit.value: str(v) for unit, v in self.reserved.items()},
                },
                handle,
            )
