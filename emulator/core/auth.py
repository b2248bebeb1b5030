"""Which API keys are accepted, per provider. Providers extract the key from their own header."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

from starlette.requests import Request

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import bearer_token


class KeyPolicy:
    """`keys` maps a provider id (or "*" for all) to its accepted keys.

    A provider with no entry accepts any non-empty key.
    """

    def __init__(self, keys: Mapping[str, Sequence[str]] | None = None) -> None:
        self._keys = {provider: frozenset(values) for provider, values in (keys or {}).items()}

    def accepts(self, provider: str, key: str | None) -> bool:
        if not key:
            return False
        allowed = self._keys.get(provider, self._keys.get("*"))
        return allowed is None or key in allowed

    def describe(self, provider: str) -> str:
        allowed = self._keys.get(provider, self._keys.get("*"))
        if allowed is None:
            return "any non-empty key"
        return f"{len(allowed)} configured key(s)"


@lru_cache(maxsize=1024)
def fingerprint(key: str) -> str:
    """A short, stable, non-reversible name for a key: safe to store, show and log."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def authenticate_bearer(request: Request, keys: KeyPolicy, provider: str) -> str:
    """The fingerprint of the request's `Authorization: Bearer` key, or a 401 ApiError when it
    is missing or not accepted for the provider."""
    key = bearer_token(request)
    if not keys.accepts(provider, key):
        problem = "is missing" if key is None else "is not valid"
        raise ApiError(
            ErrorKind.UNAUTHENTICATED,
            f"API key {problem}. Send it as 'Authorization: Bearer <key>'.",
        )
    return fingerprint(key)
