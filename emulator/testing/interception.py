"""moto's decorator mode for image APIs: while ``intercept()`` is active, every request that
httpx (sync and async), httpx2 and requests send to a provider's real host is answered by an
in-process emulator, and every other host is refused unless allowed.

```python
with intercept(profile="instant", seed=1) as emu:
    app_code_that_calls_https_api_vibedream_ai()
    assert emu.requests("vibedream", route="submit")
```

The emulator is the one the ``imagegen_emulator`` fixture gives (an ImagegenEmulator on an
in-process app); its answers name the real hosts (its providers' ``asset_base_url`` is set to
the real file hosts, e.g. https://assets.vibedream.ai), and downloads from those are answered
too. The hosts are the providers' own table (``Provider.real_hosts``) and the gateway's host,
from ``gateway_url=`` or ``VERTEX_GATEWAY_BASE_URL``.

How each client is caught (patchers.py): httpx by respx (its httpcore patch: a client given
its own transport, such as the helper's ASGI one, is left alone), requests by responses, httpx2
by patching its public ``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.
handle_async_request`` (respx does not know httpx2). Not caught: aiohttp, urllib3 or
http.client used directly, and other processes.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from types import TracebackType
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import httpx

from emulator.app import create_app
from emulator.providers import PROVIDERS
from emulator.testing.asgi import BlockingASGITransport
from emulator.testing.backends import InProcess
from emulator.testing.handle import ImagegenEmulator
from emulator.testing.settings import EmulatorSettings, SettingsError, deep_merge, resolve

GATEWAY_ENV = "VERTEX_GATEWAY_BASE_URL"

P = ParamSpec("P")
R = TypeVar("R")


class InterceptError(RuntimeError):
    """intercept() cannot start: a bad profile or config, a bad gateway URL, or one already
    active in this process (the patches are process-wide)."""


def intercept_config() -> dict[str, Any]:
    """What an intercepted emulator changes in its config: output URLs on the real file hosts.
    Laid under the test's own config, so a test may still set ``asset_base_url`` itself."""
    return {
        "providers": {
            provider.id: {"asset_base_url": provider.real_asset_base_url}
            for provider in PROVIDERS
            if provider.real_asset_base_url
        }
    }


def intercept_settings(settings: EmulatorSettings) -> EmulatorSettings:
    return EmulatorSettings(deep_merge(intercept_config(), settings.mapping))


def gateway_host(url: str) -> str:
    """The host of the gateway's base URL (VERTEX_GATEWAY_BASE_URL); InterceptError when it
    has none."""
    host = urlsplit(url.strip()).hostname
    if not host:
        raise InterceptError(
            f"the gateway URL {url!r} names no host; give scheme://host, e.g."
            " https://gateway.example.com"
        )
    return host


class Interceptor:
    """One activation: the emulator, the host table, and the patches while started.

    ``refused`` lists the requests refused so far (``METHOD url``): an app that swallows the
    connection error still leaves its trace here (and fails a strict imagegen_intercept test).
    """

    _active: Interceptor | None = None  # the patches are process-wide: one at a time

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        allow_hosts: Iterable[str] = (),
        gateway_url: str | None = None,
    ) -> None:
        if isinstance(allow_hosts, str):
            allow_hosts = [allow_hosts]  # a lone host, not its letters
        self.settings = intercept_settings(settings)
        self.allow_hosts = tuple(sorted({host.strip().lower() for host in allow_hosts}))
        gateway = gateway_url if gateway_url is not None else os.environ.get(GATEWAY_ENV)
        patterns = [pattern for provider in PROVIDERS for pattern in provider.real_hosts]
        if gateway:
            patterns.append(re.escape(gateway_host(gateway).lower()))
        # One regular expression of a whole host name; the patchers all use it.
        self.hosts_regex = "^(?:" + "|".join(patterns) + ")$"
        self._hosts = re.compile(self.hosts_regex, re.IGNORECASE)
        self.refused: list[str] = []
        self.emulator: ImagegenEmulator | None = None
        self._stack: ExitStack | None = None
        self._sync: BlockingASGITransport | None = None
        self._async: httpx.ASGITransport | None = None

    # ------------------------------------------------------------------ decisions

    def emulates(self, host: str) -> bool:
        return self._hosts.match(host) is not None and host.lower() not in self.allow_hosts

    def allows(self, host: str) -> bool:
        return host.lower() in self.allow_hosts

    def refusal(self, method: str, url: str) -> str:
        """The message of a refused request (recorded in ``refused``)."""
        host = urlsplit(url).hostname or url
        self.refused.append(f"{method} {url}")
        return (
            f"imagegen intercept refused {method} {url}: {host!r} is not an emulated provider"
            " host, and no test may reach the network by accident. Let it through with"
            f" intercept(allow_hosts=[{host!r}]) or @pytest.mark.imagegen(allow_hosts="
            f"[{host!r}]) for the imagegen_intercept fixture."
        )

    # ------------------------------------------------------------------ forwarding

    def forward(self, request: httpx.Request) -> httpx.Response:
        """A request to a real host, answered by the in-process app (from any thread, even
        one running an event loop: the app runs on the transport's own loop thread)."""
        assert self._sync is not None, "intercept is not active"
        return self._sync.handle_request(request)

    async def aforward(self, request: httpx.Request) -> httpx.Response:
        """As forward, on the caller's event loop. The body is read whole: the patched
        transports hand back a buffered answer (a stream arrives at once)."""
        assert self._async is not None, "intercept is not active"
        await request.aread()
        response = await self._async.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    # ------------------------------------------------------------------ life cycle

    def start(self) -> ImagegenEmulator:
        from emulator.testing import patchers  # respx, responses: only when used

        if Interceptor._active is not None:
            raise InterceptError("intercept() is already active in this process")
        try:
            app = create_app(self.settings.build())
        except SettingsError as exc:
            raise InterceptError(f"imagegen intercept: {exc}") from None
        stack = ExitStack()
        try:
            self.emulator = stack.enter_context(ImagegenEmulator(InProcess(app), self.settings))
            self._sync = BlockingASGITransport(app)
            stack.callback(self._sync.close)
            self._async = httpx.ASGITransport(app=app)
            for patch in patchers.PATCHERS:
                stack.enter_context(patch(self))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        Interceptor._active = self
        return self.emulator

    def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            Interceptor._active = None
            stack.close()


class intercept:  # named as a function: used as a context manager and a decorator
    """``with intercept(profile=..., seed=..., config=..., allow_hosts=[...]) as emu:``, or
    ``@intercept(...)`` on a test (sync or async; the decorated test gets no argument: use the
    context form or the imagegen_intercept fixture to reach the helper)."""

    def __init__(
        self,
        profile: str | None = None,
        seed: int | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        allow_hosts: Iterable[str] = (),
        gateway_url: str | None = None,
    ) -> None:
        marker = {"profile": profile, "seed": seed, "config": config}
        try:
            settings = resolve(None, None, [((), marker)])
        except SettingsError as exc:
            raise InterceptError(f"imagegen intercept: {exc}") from None
        self._make = functools.partial(
            Interceptor, settings, allow_hosts=allow_hosts, gateway_url=gateway_url
        )
        self.interceptor: Interceptor | None = None

    def __enter__(self) -> ImagegenEmulator:
        self.interceptor = self._make()
        return self.interceptor.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.interceptor is not None:
            self.interceptor.stop()

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                with self:
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return function(*args, **kwargs)

        return run
