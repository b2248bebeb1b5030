"""Which browser requests the admin API refuses as cross-site: the defence against a web page
that changes the emulator behind the developer's back.

CORS keeps a foreign page from *reading* an answer, not from *sending* a "simple" request
(a POST with a text/plain body needs no preflight), and every admin call that changes state
is a POST or a DELETE. So an admin request is refused when a browser says it comes from
another page: its `Origin` is neither the emulator's own (scheme, host and port as the
client reached it: the scheme a trusted proxy forwarded, the Host it passed on) nor one of
`[admin] allowed_origins`; or it carries no Origin and `Sec-Fetch-Site: cross-site` (a
link, an image or a form GET from another site). A request without either header (curl,
the pytest plugin, the reference clients) is no browser's, and passes as before.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import Scope

from emulator.core.http import scope_header

DEFAULT_PORTS = {"http": "80", "https": "443"}


def normal_origin(origin: str) -> str:
    """An origin as browsers serialise it: lower case, without its scheme's default port."""
    origin = origin.lower()
    scheme = origin.partition("://")[0]
    default = DEFAULT_PORTS.get(scheme)
    if default is not None and origin.endswith(f":{default}"):
        origin = origin[: -len(default) - 1]
    return origin


def own_origin(scope: Scope) -> str:
    """The emulator's origin as this request's client reached it."""
    host = scope_header(scope, b"host")
    if not host:
        server_host, port = scope.get("server") or ("localhost", None)
        host = server_host if port is None else f"{server_host}:{port}"
    return normal_origin(f"{scope['scheme']}://{host}")


def cross_site_refusal(scope: Scope, allowed_origins: Collection[str]) -> str | None:
    """Why this request is refused as cross-site, in a sentence; None when it is not."""
    origin = scope_header(scope, b"origin")
    if origin is not None:
        ours = own_origin(scope)
        if normal_origin(origin) == ours or origin in allowed_origins:
            return None
        return (
            f"Cross-site request refused: the admin API answers pages of its own origin"
            f" ({ours}), not {origin}. To let that page in, list its origin in"
            " [admin] allowed_origins."
        )
    if scope_header(scope, b"sec-fetch-site") == "cross-site":
        return (
            "Cross-site request refused: the browser says it comes from another site"
            " (Sec-Fetch-Site: cross-site). Open the dashboard from its own address."
        )
    return None
