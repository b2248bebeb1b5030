"""Which `Host` headers the emulator answers: the defence against DNS rebinding.

A page on a hostile name that its DNS later points at 127.0.0.1 reaches a loopback server as
the same origin as itself, so the browser lets it read every answer (the admin API's config,
the journal). What tells such a request apart is its `Host` header: it names the hostile host.
So, once a list is configured (`serve` configures one on a loopback address), only loopback
names are served (`localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`, any port) plus the
listed ones (`allowed_hosts`, `serve --allowed-host`, for a proxy in front); any other name is
answered 400 by Starlette's own TrustedHostMiddleware. Without a list (an app made in-process,
a server bound beyond loopback without one) every name is served, as before.

The check wraps the app's whole request path, so both of its dispatches (routing.py's table
and Starlette's router) answer alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.core.http import scope_header

ANY_HOST = "*"
# Names that resolve to this machine only (RFC 6761 6.3: browsers and resolvers keep
# `localhost` and its subdomains on loopback); the IP literals are checked by address.
LOOPBACK_NAMES = ("localhost", "*.localhost")
# Host headers already admitted, remembered so a request costs one set lookup; bounded, so a
# client cycling through 127.x.y.z names cannot grow it without end.
MAX_REMEMBERED = 256


def is_loopback_host(host: str) -> bool:
    """Whether a Host header (host[:port]) names a loopback IP address: 127.0.0.0/8 or [::1]."""
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018 (read to refuse a port that is no number)
        name = parts.hostname
        return name is not None and ipaddress.ip_address(name).is_loopback
    except ValueError:  # not an IP literal, or a malformed one
        return False


class TrustedHosts:
    """`app` behind the Host check of `allowed_hosts` (None: none, any name is served)."""

    __slots__ = ("_admitted", "app", "middleware")

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self._admitted: set[str] = set()
        open_to_any = allowed_hosts is None or ANY_HOST in allowed_hosts
        self.middleware = (
            None
            if open_to_any
            else TrustedHostMiddleware(
                self._admit, [*LOOPBACK_NAMES, *(allowed_hosts or ())], www_redirect=False
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.middleware is None:
            await self.app(scope, receive, send)
            return
        host = scope_header(scope, b"host")
        if host is not None and (host in self._admitted or is_loopback_host(host)):
            self._remember(host)
            await self.app(scope, receive, send)
        else:
            await self.middleware(scope, receive, send)  # admits a listed name, or answers 400

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The middleware let the request through: its Host is a listed name."""
        host = scope_header(scope, b"host")
        if host is not None:
            self._remember(host)
        await self.app(scope, receive, send)

    def _remember(self, host: str) -> None:
        if len(self._admitted) < MAX_REMEMBERED:
            self._admitted.add(host)
