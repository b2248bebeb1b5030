"""The app factory: one Starlette app, one port, every provider plus the admin API."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator import admin, openapi
from emulator.config import Config
from emulator.core import assets
from emulator.core.delivery import ResponseTap
from emulator.core.errors import ApiError
from emulator.core.faults import DECISION_SCOPE_KEY
from emulator.core.http import route_path
from emulator.core.runtime import Runtime
from emulator.core.streams import StreamCut
from emulator.cors import CorsPolicy
from emulator.cross_site import cross_site_refusal
from emulator.error_handlers import EXCEPTION_HANDLERS
from emulator.providers import (
    PROVIDERS,
    error_shape_for_path,
    job_id_params,
    provider_path_prefixes,
)
from emulator.replay import Player
from emulator.request_log import log_request
from emulator.request_log import logger as request_logger
from emulator.routing import Endpoint, ExceptionHandler, ProviderRoutes, exception_handler
from emulator.trusted_hosts import TrustedHosts


class EmulatorApp(Starlette):
    """Starlette, plus what happens around each provider request: its latency or delivery
    fault (core/delivery.py), then a line in the journal and in the request log
    (request_log.py). Done here, outside Starlette's own error handling, so a dropped
    connection is not mistaken for a crash. CORS (cors.py) wraps the dispatch to either path,
    inside the delivery fault, so a preflight, a fault and a crash all carry its headers. The
    Host check (trusted_hosts.py) comes before all of it, on every request; the admin API
    refuses cross-site browser requests (cross_site.py) before it asks for the token."""

    def __init__(
        self,
        provider_routes: Sequence[BaseRoute],
        other_routes: Sequence[BaseRoute],
        exception_handlers: Mapping[Any, ExceptionHandler],
        cors_path_prefixes: tuple[str, ...] = (),
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        # Provider routes first: the router tries routes in order, and they carry the traffic.
        super().__init__(
            routes=[*provider_routes, *other_routes], exception_handlers=exception_handlers
        )
        self.provider_routes = ProviderRoutes(provider_routes)
        self.cors_path_prefixes = cors_path_prefixes  # paths under the provider CORS policy
        self._cors_config: Config | None = None
        self._cors_dispatch = CorsPolicy(self._dispatch, ())
        self._cors_admin = CorsPolicy(self._admin, ())
        self.replay: Player | None = None  # answers recorded requests (serve --replay)
        # Restart-only (config.RESTART_ONLY): built once.
        self._trusted_hosts = TrustedHosts(self._serve_http, allowed_hosts)

    def _cors_for(self, config: Config) -> tuple[CorsPolicy, CorsPolicy]:
        """The provider dispatch and the admin API behind the CORS policies of `config`,
        built again only when the config is replaced (PUT /_emulator/config)."""
        if config is not self._cors_config:
            self._cors_dispatch = CorsPolicy(self._dispatch, config.cors_allowed_origins)
            self._cors_admin = CorsPolicy(self._admin, config.admin_allowed_origins)
            self._cors_config = config
        return self._cors_dispatch, self._cors_admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await self._trusted_hosts(scope, receive, send)

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt: Runtime = self.state.runtime
        # A shared store's per-request view: what the request has read (the epoch, read once
        # as its handler starts: core/runtime.py, runtime()). Memory: nothing.
        view = rt.backend.begin_request()
        try:
            await self._serve(rt, scope, receive, send)
        finally:
            rt.backend.end_request(view)

    async def _serve(self, rt: Runtime, scope: Scope, receive: Receive, send: Send) -> None:
        cors_dispatch, cors_admin = self._cors_for(rt.config)
        path = route_path(scope)  # under serve --root-path, uvicorn's path starts with it
        if path.startswith(admin.PREFIX):
            if request_logger.isEnabledFor(logging.DEBUG):
                await self._logged_admin(scope, receive, send, cors_admin)
            else:
                await cors_admin(scope, receive, send)
            return
        started = time.perf_counter()
        tap = ResponseTap(scope, send, rt.clock)
        try:
            try:
                if path.startswith(self.cors_path_prefixes):
                    await cors_dispatch(scope, receive, tap.send)
                else:
                    await self._dispatch(scope, receive, tap.send)
            except StreamCut:
                await tap.cut()
            if tap.delivery is not None:
                await tap.finish()
        finally:
            decision = scope.get(DECISION_SCOPE_KEY)
            if decision is not None:
                provider: str | None = decision.provider
            else:
                owner = error_shape_for_path(path)
                provider = owner[0].id if owner else None
            status = None if tap.dropped else tap.status
            elapsed = time.perf_counter() - started
            # The request's start on the emulator's clock, read now: on a shared store the
            # handler has read the clock already, so this costs no round trip.
            try:
                now = rt.clock.now() - (elapsed if rt.clock.mode == "real" else 0.0)
            except ApiError:  # the shared store is down (the answer said so): wall time
                now = time.time() - elapsed
            rt.journal.record(
                now, scope["method"], scope["path"], provider, status, elapsed, decision
            )
            # Checked here, so a disabled log costs one cached lookup and formats nothing.
            if request_logger.isEnabledFor(logging.INFO):
                log_request(scope["method"], scope["path"], provider, status, elapsed, decision)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request outside the admin API: from a recording when one matches (replay, on
        both paths), else by the provider route table when it matches, else by Starlette's
        router."""
        if self.replay is not None:
            emulate = await self.replay(scope, receive, send, self.state.runtime)
            if emulate is None:
                return
            receive = emulate
        matched = self.provider_routes.match(scope)
        if matched is None:
            await super().__call__(scope, receive, send)
        else:
            await self._provider_route(scope, receive, send, *matched)

    async def _provider_route(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        endpoint: Endpoint,
        path_params: dict[str, Any],
    ) -> None:
        """A matched provider route, answered as Starlette's stack would answer it (see
        routing.py): the handler's exceptions by the app's exception handlers, and a crash
        answered in the provider's shape, then raised again for the server's log."""
        scope["app"] = self
        scope["path_params"] = path_params
        request = Request(scope, receive)
        crash: Exception | None = None
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler, crashed = exception_handler(self.exception_handlers, exc)
            if handler is None:
                raise
            crash = exc if crashed else None
            response = await handler(request, exc)
        await response(scope, receive, send)
        if crash is not None:
            raise crash

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        config = self.state.runtime.config
        refusal = cross_site_refusal(scope, config.admin_allowed_origins)
        if refusal is not None:
            await admin.refuse_cross_site(refusal)(scope, receive, send)
        elif admin.admin_allowed(Request(scope), config.admin_token):
            await super().__call__(scope, receive, send)
        else:
            await admin.refuse(scope, receive, send)

    async def _logged_admin(
        self, scope: Scope, receive: Receive, send: Send, cors_admin: ASGIApp
    ) -> None:
        """An admin request, logged at DEBUG: a dashboard polls them all the time."""
        started, status = time.perf_counter(), None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await cors_admin(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            log_request(scope["method"], scope["path"], None, status, elapsed, None, logging.DEBUG)


def create_runtime(config: Config) -> Runtime:
    return Runtime.create(config, [provider.id for provider in PROVIDERS])


def create_app(config: Config | None = None) -> Starlette:
    """The app for `config`; with `[replay] folder`, RecordingError for recordings that cannot
    be read and InvalidPath for an ignore path that does not parse."""
    runtime = create_runtime(config or Config())
    app = EmulatorApp(
        provider_routes=[route for provider in PROVIDERS for route in provider.routes],
        other_routes=[*assets.routes, *admin.routes, *openapi.routes],
        exception_handlers=EXCEPTION_HANDLERS,
        # Output files too: a browser app shows or downloads what it generated.
        cors_path_prefixes=(*provider_path_prefixes(), assets.ASSET_PREFIX + "/"),
        allowed_hosts=runtime.config.allowed_hosts,
    )
    app.state.runtime = runtime
    runtime.job_id_params = job_id_params()
    app.replay = Player.from_config(runtime.config)
    return app
