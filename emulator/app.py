"""The app factory: one Starlette app, one port, every provider plus the admin API."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from emulator import admin, openapi
from emulator.config import Config
from emulator.core import assets
from emulator.core.delivery import ResponseTap
from emulator.core.faults import DECISION_SCOPE_KEY
from emulator.core.runtime import Runtime
from emulator.error_handlers import EXCEPTION_HANDLERS
from emulator.providers import PROVIDERS, error_shape_for_path
from emulator.request_log import log_request
from emulator.request_log import logger as request_logger
from emulator.routing import Endpoint, ExceptionHandler, ProviderRoutes, exception_handler


class EmulatorApp(Starlette):
    """Starlette, plus what happens around each provider request: its latency or delivery
    fault (core/delivery.py), then a line in the journal and in the request log
    (request_log.py). Done here, outside Starlette's own error handling, so a dropped
    connection is not mistaken for a crash."""

    def __init__(
        self,
        provider_routes: Sequence[BaseRoute],
        other_routes: Sequence[BaseRoute],
        exception_handlers: Mapping[Any, ExceptionHandler],
    ) -> None:
        # Provider routes first: the router tries routes in order, and they carry the traffic.
        super().__init__(
            routes=[*provider_routes, *other_routes], exception_handlers=exception_handlers
        )
        self.provider_routes = ProviderRoutes(provider_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt: Runtime = self.state.runtime
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["path"].startswith(admin.PREFIX):
            if request_logger.isEnabledFor(logging.DEBUG):
                await self._logged_admin(scope, receive, send)
            else:
                await self._admin(scope, receive, send)
            return
        started, now = time.perf_counter(), rt.clock.now()
        tap = ResponseTap(scope, send, rt.clock)
        try:
            matched = self.provider_routes.match(scope)
            if matched is None:
                await super().__call__(scope, receive, tap.send)
            else:
                await self._provider_route(scope, receive, tap, *matched)
            if tap.delivery is not None:
                await tap.finish()
        finally:
            decision = scope.get(DECISION_SCOPE_KEY)
            if decision is not None:
                provider: str | None = decision.provider
            else:
                owner = error_shape_for_path(scope["path"])
                provider = owner[0].id if owner else None
            status = None if tap.dropped else tap.status
            elapsed = time.perf_counter() - started
            rt.journal.record(
                now, scope["method"], scope["path"], provider, status, elapsed, decision
            )
            # Checked here, so a disabled log costs one cached lookup and formats nothing.
            if request_logger.isEnabledFor(logging.INFO):
                log_request(scope["method"], scope["path"], provider, status, elapsed, decision)

    async def _provider_route(
        self,
        scope: Scope,
        receive: Receive,
        tap: ResponseTap,
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
        await tap.respond(response, receive)
        if crash is not None:
            raise crash

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if admin.admin_allowed(Request(scope), self.state.runtime.config.admin_token):
            await super().__call__(scope, receive, send)
        else:
            await admin.refuse(scope, receive, send)

    async def _logged_admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An admin request, logged at DEBUG: a dashboard polls them all the time."""
        started, status = time.perf_counter(), None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._admin(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            log_request(scope["method"], scope["path"], None, status, elapsed, None, logging.DEBUG)


def create_runtime(config: Config) -> Runtime:
    return Runtime.create(config, [provider.id for provider in PROVIDERS])


def create_app(config: Config | None = None) -> Starlette:
    runtime = create_runtime(config or Config())
    app = EmulatorApp(
        provider_routes=[route for provider in PROVIDERS for route in provider.routes],
        other_routes=[*assets.routes, *admin.routes, *openapi.routes],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.runtime = runtime
    return app
