"""The helper the pytest fixtures give a test: one emulator, its clients, and its controls.

Written once for both fixtures: every control (clock, faults, wallets, journal, config, reset)
goes through the emulator's admin API (/_emulator/) on ``client``, which is the only thing the
two backends (in-process, over HTTP; backends.py) make differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import cached_property
from types import TracebackType
from typing import Any, Self

import httpx

from clients import ASYNC_CLIENTS, SYNC_CLIENTS, AsyncEmulatorClock, EmulatorClock
from clients.runners import AsyncShell, SyncShell
from emulator.providers import PROVIDERS
from emulator.testing.backends import Backend
from emulator.testing.settings import EmulatorSettings, deep_merge

ADMIN = "/_emulator"
DEFAULT_API_KEY = "test-key"  # any non-empty key is accepted unless the config lists keys


class EmulatorAdminError(RuntimeError):
    """The admin API refused a call (a bad fault name, an invalid config...); the message is
    the emulator's own."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ImagegenEmulator:
    """``client`` (httpx.Client) and ``async_client`` (httpx.AsyncClient) have ``base_url``
    set; ``api_key`` is the key ``client_for`` gives the reference clients."""

    def __init__(
        self, backend: Backend, settings: EmulatorSettings, api_key: str = DEFAULT_API_KEY
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.api_key = api_key
        self._admin_headers = (
            {"X-Emulator-Admin-Token": settings.admin_token} if settings.admin_token else {}
        )

    @property
    def base_url(self) -> str:
        return self.backend.base_url

    @property
    def profile(self) -> str:
        """The active profile (a config change may have switched it)."""
        return str(self.config["profile"])

    @property
    def seed(self) -> int:
        return self.settings.seed

    @cached_property
    def client(self) -> httpx.Client:
        return self.backend.open_client()

    @cached_property
    def async_client(self) -> httpx.AsyncClient:
        return self.backend.open_async_client()

    # ------------------------------------------------------------------ clock

    def advance(self, seconds: float) -> float:
        """Move the emulator's clock forward: jobs progress and finish at once. Returns the
        emulator's time afterwards (seconds since the epoch)."""
        return float(self._admin("POST", "/clock/advance", json={"seconds": seconds})["epoch"])

    def sleep(self, seconds: float) -> None:
        """A stand-in for time.sleep in the code under test: advances the clock instead."""
        self.advance(seconds)

    def now(self) -> float:
        """The emulator's time, seconds since the epoch."""
        return float(self._admin("GET", "/clock")["epoch"])

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        provider: str,
        fault: str,
        count: int = 1,
        *,
        route: str | None = None,
        model: str | None = None,
        key: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The provider's next ``count`` requests get ``fault``: any X-Emulator-Fault value
        (``429``, ``503``, ``moderation``, ``job:500``, ``drop``...). Narrow it to a ``route``
        (``submit``, ``poll``, ``generate``...), a ``model`` or an API ``key``. A job fault
        (``moderation``, ``job:500``) goes to the next requests that start a job, not to polls."""
        if count < 1:
            raise ValueError("count must be >= 1")
        match = {"provider": provider, "route": route, "model": model, "key": key}
        spec = fault if retry_after is None else f"{fault}; retry-after={retry_after}"
        scenario = {
            "name": f"fail_next {fault} x{count}",
            "match": {name: value for name, value in match.items() if value is not None},
            "steps": [{"fault": spec, "times": count}],
        }
        self._admin("POST", "/scenarios", json=scenario)

    def scenario(self, scenario: Mapping[str, Any]) -> dict[str, Any]:
        """Add a scenario (docs/fault-model.md: Scenarios); returns it as the emulator lists it."""
        return self._admin("POST", "/scenarios", json=dict(scenario))["added"][0]

    # ------------------------------------------------------------------ wallets

    def set_balance(self, provider: str, key: str, amount: float | str | Decimal) -> Decimal:
        """Set what ``key``'s wallet with ``provider`` holds (US cents for vibedream and vertex,
        credits for 3daistudio). Returns the balance."""
        body = {"provider": provider, "key": key, "balance": str(amount)}
        return Decimal(self._admin("POST", "/wallets", json=body)["balance"])

    def balance(self, provider: str, key: str) -> Decimal:
        body = {"provider": provider, "key": key}
        return Decimal(self._admin("POST", "/wallets", json=body)["balance"])

    # ------------------------------------------------------------------ journal

    def requests(self, provider: str | None = None, **filters: object) -> list[dict[str, Any]]:
        """The requests the emulator answered, oldest first, as the journal shows them
        (method, path, provider, route, model, status, fault, ...). Filter by ``provider`` and
        any journal field: ``requests("vibedream", route="submit", status=429)``."""
        if provider is not None:
            filters["provider"] = provider
        params = {name: str(value) for name, value in filters.items()}
        entries = self._admin("GET", "/requests", params=params)["requests"]
        return list(reversed(entries))  # the journal answers newest first

    def last_seq(self) -> int:
        """The journal's newest entry's seq (0 when empty): where a test's own requests begin."""
        entries = self._admin("GET", "/requests", params={"limit": "1"})["requests"]
        return int(entries[0]["seq"]) if entries else 0

    # ------------------------------------------------------------------ strict teardown

    def unmet_expectations(self, since_seq: int = 0) -> list[str]:
        """What a strict test fails on (docs/pytest-plugin.md: Strict tests): steps of
        scenarios (queued faults too) never played, and requests after journal seq ``since_seq``
        that met an unknown endpoint or an unknown model, as lines
        ``METHOD path -> status (route, model)``."""
        problems = []
        for scenario in self._admin("GET", "/scenarios")["scenarios"]:
            if scenario["remaining"]:
                match = {k: v for k, v in scenario["match"].items() if v is not None}
                problems.append(
                    f"unused: scenario {scenario['id']} {scenario['name']!r} {match}:"
                    f" {len(scenario['remaining'])} step(s) never played:"
                    f" {'; '.join(map(step_text, scenario['remaining']))}"
                )
        for entry in self.requests():
            if entry["seq"] <= since_seq:
                continue
            kind = unexpected(entry)
            if kind is not None:
                problems.append(
                    f"{kind}: {entry['method']} {entry['path']} -> {entry['status']}"
                    f" ({entry['route']}, {entry['model']})"
                )
        return problems

    # ------------------------------------------------------------------ config

    @property
    def config(self) -> dict[str, Any]:
        """The active config, in the config file's shape (a fresh copy on every read)."""
        return self._admin("GET", "/config")["config"]

    @config.setter
    def config(self, mapping: Mapping[str, Any]) -> None:
        """Replace the active config. Jobs, wallets and the clock stay; the seed and the clock
        mode cannot change on a running emulator (use the imagegen marker)."""
        self._admin("PUT", "/config", json=dict(mapping))

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Lay ``changes`` over the active config (tables merge key by key) and apply it:
        ``configure({"providers": {"vibedream": {"job_duration": 5}}})``. Returns the result."""
        self.config = deep_merge(self.config, changes)
        return self.config

    def reset(self) -> None:
        """Back to the test's starting point: its config, and no jobs, files, wallets, journal
        or run-time scenarios; the clock rewound and the generators re-seeded."""
        self.config = self.settings.mapping
        self._admin("POST", "/reset")

    # ------------------------------------------------------------------ reference clients

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments that point a reference client (clients/) at this emulator: the
        key, ``client`` as its http client, and sleep/clock hooks that advance the emulator's
        clock instead of waiting. ``VibedreamClient(**emulator.client_options())``."""
        clock = EmulatorClock(self.client, self.settings.admin_token)
        return {
            "api_key": self.api_key,
            "http_client": self.client,
            "sleep": clock.sleep,
            "clock": clock.now,
        }

    def async_client_options(self) -> dict[str, Any]:
        """As client_options, for the async clients, over ``async_client``."""
        clock = AsyncEmulatorClock(self.async_client, self.settings.admin_token)
        return {
            "api_key": self.api_key,
            "http_client": self.async_client,
            "sleep": clock.sleep,
            "clock": clock.now,
        }

    def client_for(self, provider: str, **overrides: Any) -> SyncShell[Any]:
        """The provider's reference client, wired to this emulator (client_options, with
        ``overrides`` such as ``retry=`` or ``strict=True``)."""
        return _client_class(SYNC_CLIENTS, provider)(**{**self.client_options(), **overrides})

    def async_client_for(self, provider: str, **overrides: Any) -> AsyncShell[Any]:
        options = {**self.async_client_options(), **overrides}
        return _client_class(ASYNC_CLIENTS, provider)(**options)

    # ------------------------------------------------------------------ plumbing

    def _admin(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        answer = self.client.request(
            method, ADMIN + path, json=json, params=params, headers=self._admin_headers
        )
        if answer.status_code >= 400:
            try:
                message = answer.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = answer.text[:300]
            raise EmulatorAdminError(
                f"{method} {ADMIN}{path} answered {answer.status_code}: {message}",
                answer.status_code,
            )
        return answer.json()

    def close(self) -> None:
        # The async client needs no closing: ASGITransport holds nothing, and over HTTP it
        # keeps no connection alive (backends.OverHttp).
        if "client" in self.__dict__:
            self.__dict__.pop("client").close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ImagegenEmulator(base_url={self.base_url!r}, seed={self.seed})"


def unexpected(entry: Mapping[str, Any]) -> str | None:
    """Whether a journal entry was an unexpected request: "unknown endpoint" (no provider
    route took it: the journal has no route), "unknown model" (a 404 naming a model that
    the provider's catalog lacks), else None. Decided on the journal's data, not on the
    answer's wording, which differs per provider."""
    if entry["status"] == 404 and entry["route"] is None:
        return "unknown endpoint"
    model, provider = entry["model"], entry["provider"]
    if entry["status"] == 404 and model is not None and model not in known_models(provider):
        return "unknown model"
    return None


def step_text(step: Mapping[str, Any]) -> str:
    """A scenario step as the admin API lists it, in one short phrase: ``fault=429``."""
    return ", ".join(f"{name}={value}" for name, value in step.items())


def known_models(provider: str | None) -> frozenset[str]:
    """The models a provider serves (its registered catalog); none for an unknown provider."""
    found = next((p for p in PROVIDERS if p.id == provider), None)
    return frozenset(found.model_ids()) if found else frozenset()


def _client_class(table: Mapping[str, type[Any]], provider: str) -> type[Any]:
    try:
        return table[provider]
    except KeyError:
        raise ValueError(
            f"no reference client for {provider!r}; one of: {', '.join(table)}"
        ) from None
