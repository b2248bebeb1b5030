"""Where a client's base URL and API key come from: the arguments, then the given http client's
own base URL, then the documented environment variables, then the provider's real base URL."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx

from clients.errors import ConfigurationError


@dataclass(frozen=True)
class ProviderSettings:
    provider: str
    api_key_env: str
    base_url_env: str | None = None
    default_base_url: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A resolved base URL and key. The key never appears in repr() or any message."""

    base_url: str
    api_key: str = field(repr=False)


def resolve(
    settings: ProviderSettings,
    api_key: str | None,
    base_url: str | None,
    http_client: httpx.Client | httpx.AsyncClient | None,
) -> Endpoint:
    key = api_key if api_key is not None else os.environ.get(settings.api_key_env)
    if not key:
        raise ConfigurationError(
            f"{settings.provider}: no API key; pass api_key= or set {settings.api_key_env}",
            provider=settings.provider,
        )
    client_base = str(http_client.base_url) if http_client is not None else ""
    env_base = os.environ.get(settings.base_url_env) if settings.base_url_env else None
    base = base_url or client_base or env_base or settings.default_base_url
    if not base:
        raise ConfigurationError(
            f"{settings.provider}: no base URL; pass base_url= or set {settings.base_url_env}",
            provider=settings.provider,
        )
    url = httpx.URL(base)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            # The URL itself is not quoted: it may carry credentials.
            f"{settings.provider}: the base URL must be http(s)://host[/prefix]",
            provider=settings.provider,
        )
    return Endpoint(base.rstrip("/"), key)
