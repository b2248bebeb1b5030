"""Output URLs in answers, rewritten to pass through the recording proxy (``--record-downloads``).

Where a provider's JSON answers carry URLs the client fetches next (a poll URL, an image to
download) is the recording's provider table (protocols.py ``url_fields``).
A URL under one of the proxy's upstreams becomes the proxy's own URL of the same path (it is
then proxied and recorded as any request); any other URL (a CDN's) becomes
``{proxy}/_imagegen/download/{scheme}/{host[:port]}/{path}?{query}``, which the proxy fetches
only when it rewrote that very URL itself (:class:`Rewrites`): never an open proxy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from emulator.recording.protocols import PROTOCOLS

__all__ = ["DOWNLOAD_PREFIX", "Rewrites", "output_urls_rewritten"]

DOWNLOAD_PREFIX = "/_imagegen/download/"

# How many rewritten download URLs are remembered (oldest forgotten first).
MAX_REWRITES = 100_000


def output_urls_rewritten(provider: str | None, body: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON answer with each of the provider's output URLs passed through
    ``change``; the body itself when the provider has no output URL fields."""
    protocol = PROTOCOLS.get(provider or "")
    for field in () if protocol is None else protocol.url_fields:
        body = field.changed(body, lambda url: change(url) if isinstance(url, str) else url)
    return body


class Rewrites:
    """Which URLs the proxy rewrote, and how: the allow-list of the download route."""

    def __init__(self, upstream_bases: Iterable[str]) -> None:
        # Longest first, so a base with a path wins over its bare host.
        self._bases = sorted((base.rstrip("/") for base in upstream_bases), key=len, reverse=True)
        self._downloads: dict[str, str] = {}  # download path + query -> original URL
        self._lock = threading.Lock()

    def rewrite(self, url: str, proxy_base: str) -> str:
        """What the client is given in place of ``url``; a URL that is not http(s) is kept."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return url
        for base in self._bases:
            if url == base or url.startswith((base + "/", base + "?")):
                return proxy_base.rstrip("/") + url[len(base) :]
        local = f"{DOWNLOAD_PREFIX}{parts.scheme}/{parts.netloc}{parts.path or '/'}"
        if parts.query:
            local += f"?{parts.query}"
        with self._lock:
            if len(self._downloads) >= MAX_REWRITES:
                self._downloads.pop(next(iter(self._downloads)))
            self._downloads[local] = url
        return proxy_base.rstrip("/") + local

    def original(self, path: str, query: str) -> str | None:
        """The upstream URL of a download route request, or None when the proxy never
        handed out that URL (the request is then refused)."""
        local = path + (f"?{query}" if query else "")
        with self._lock:
            return self._downloads.get(local)
