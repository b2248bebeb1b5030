"""Output URLs in answers, rewritten to pass through the recording proxy (``--record-downloads``).

``OUTPUT_URL_FIELDS`` says, per provider, where its JSON answers carry URLs the client will
fetch next (a poll URL, an image to download); that table is the only provider knowledge here.
A URL under one of the proxy's upstreams becomes the proxy's own URL of the same path (it is
then proxied and recorded as any request); any other URL (a CDN's) becomes
``{proxy}/_imagegen/download/{scheme}/{host[:port]}/{path}?{query}``, which the proxy fetches
only when it rewrote that very URL itself (:class:`Rewrites`): never an open proxy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DOWNLOAD_PREFIX", "OUTPUT_URL_FIELDS", "Rewrites", "output_urls_rewritten"]

DOWNLOAD_PREFIX = "/_imagegen/download/"

# Provider id -> JSON paths of output URLs in its answers; `[]` steps into every list item.
OUTPUT_URL_FIELDS: Mapping[str, tuple[str, ...]] = {
    "vibedream": ("statusUrl", "outputs[]"),
    "3daistudio": ("results[].asset_url", "results[].asset", "results[].thumbnail"),
}

# How many rewritten download URLs are remembered (oldest forgotten first).
MAX_REWRITES = 100_000


def _steps(field: str) -> list[str]:
    """ "results[].asset" -> ["results", "[]", "asset"]."""
    steps: list[str] = []
    for part in field.split("."):
        name, brackets, _ = part.partition("[]")
        if name:
            steps.append(name)
        if brackets:
            steps.append("[]")
    return steps


def _rewrite_at(value: Any, steps: list[str], change: Callable[[str], str]) -> Any:
    if not steps:
        return change(value) if isinstance(value, str) else value
    step, rest = steps[0], steps[1:]
    if step == "[]":
        if isinstance(value, list):
            return [_rewrite_at(item, rest, change) for item in value]
        return value
    if isinstance(value, dict) and step in value:
        return {**value, step: _rewrite_at(value[step], rest, change)}
    return value


def output_urls_rewritten(provider: str | None, body: Any, change: Callable[[str], str]) -> Any:
    """A copy of a JSON answer with each of the provider's output URLs passed through
    ``change``; the body itself when the provider has no output URL fields."""
    for field in OUTPUT_URL_FIELDS.get(provider or "", ()):
        body = _rewrite_at(body, _steps(field), change)
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
