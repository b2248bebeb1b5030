"""Provider routes, matched and answered without Starlette's middleware stack.

The provider routes carry the traffic, and Starlette's stack around each one (two middlewares,
a router trying every route in turn, the exception wrappers) costs about as much as a whole
poll. A provider request whose method and path match a route exactly is answered here: one
dict lookup for the fixed paths, a few regular expressions for the rest, then the handler, and
the handler's exceptions answered by the same EXCEPTION_HANDLERS the app registers. Anything
else (an unknown path, a wrong method, a request under a root path) goes through Starlette as
before, so what those get answered does not change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

Endpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class ProviderRoutes:
    """The provider routes' table: fixed paths by (method, path), templated ones in order."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._fixed: dict[tuple[str, str], Endpoint] = {}
        # Tried in order, as Starlette's router does; a fixed path that an earlier templated
        # route also matches stays in this list, so the earlier route still comes first.
        self._ordered: list[Route] = []
        for route in routes:
            if not isinstance(route, Route) or route.methods is None:
                continue  # not a plain endpoint: left to Starlette
            shadowed = any(earlier.path_regex.match(route.path) for earlier in self._ordered)
            if route.param_convertors or shadowed:
                self._ordered.append(route)
                continue
            for method in route.methods:
                # setdefault: of two routes on one path and method, the first wins in Starlette.
                self._fixed.setdefault((method, route.path), route.endpoint)

    def match(self, scope: Scope) -> tuple[Endpoint, dict[str, Any]] | None:
        """The endpoint and path parameters of a request this table answers, else None."""
        if scope.get("root_path"):
            return None
        method, path = scope["method"], scope["path"]
        endpoint = self._fixed.get((method, path))
        if endpoint is not None:
            return endpoint, {}
        for route in self._ordered:
            found = route.path_regex.match(path)
            if found is not None:
                if method not in route.methods:
                    return None  # a later route may take it, or it is a 405: Starlette decides
                convertors = route.param_convertors
                params = {
                    name: convertors[name].convert(value)
                    for name, value in found.groupdict().items()
                }
                return route.endpoint, params
        return None


# Starlette answers exceptions under these keys in ServerErrorMiddleware: as crashes, raised
# again once answered so that the server logs them.
CRASH_KEYS = (500, Exception)


def exception_handler(
    handlers: Mapping[Any, ExceptionHandler], exc: Exception
) -> tuple[ExceptionHandler | None, bool]:
    """The handler Starlette would answer `exc` with (the one registered for its nearest
    class), and whether `exc` is a crash: no class of its own has a handler, so the one for
    500 / Exception answers it."""
    for cls in type(exc).__mro__:
        if cls in handlers and cls not in CRASH_KEYS:
            return handlers[cls], False
    return next((handlers[key] for key in CRASH_KEYS if key in handlers), None), True
