"""Store URLs without a Redis import: the memory store, the config and the command line need
them with no redis package installed."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

SCHEMES = ("redis", "rediss", "unix")
MASK = "***"


def is_store_url(text: str) -> bool:
    """A Redis URL by its scheme (what the config schema's `store` pattern accepts)."""
    return text.partition("://")[0] in SCHEMES and "://" in text


def safe_url(url: str) -> str:
    """The URL without its password (in the user part or a `password` query parameter), for
    messages, logs, the banner and the config view. Never raises: a URL too broken to split
    shows its scheme only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition('://')[0]}://{MASK}"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:{MASK}@{hostport}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in query):
        masked = [(name, MASK if name == "password" else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return parts.geturl()
