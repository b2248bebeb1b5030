"""Token buckets per provider and API key, on the emulator's clock.

A bucket holds up to `requests` tokens and refills at requests/per_seconds a second; a request
takes one or is refused with 429 and a Retry-After saying when the next token arrives. Reading
the clock (not a timer) means advancing the virtual clock refills at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulator.core.errors import ApiError, ErrorKind


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per_seconds: float

    @classmethod
    def from_setting(cls, value: object) -> RateLimit | None:
        """A config value ({requests, per_seconds}, or false/None for none)."""
        if not isinstance(value, dict):
            return None
        return cls(int(value["requests"]), float(value["per_seconds"]))

    @property
    def refill_per_second(self) -> float:
        return self.requests / self.per_seconds


def refused(limit: RateLimit, tokens: float) -> ApiError:
    """The 429 of an empty bucket holding `tokens` (< 1), with Retry-After in whole seconds:
    waiting that long is enough."""
    wait = math.ceil((1 - tokens) / limit.refill_per_second)
    return ApiError(
        ErrorKind.RATE_LIMITED,
        f"Rate limit exceeded: {limit.requests} requests per {limit.per_seconds:g} s."
        f" Retry in {wait} s.",
        headers={"Retry-After": str(max(1, wait))},
    )


@dataclass
class _Bucket:
    tokens: float
    updated_at: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    def take(self, bucket_key: tuple[str, ...], limit: RateLimit | None, now: float) -> None:
        """Take one token from the bucket (e.g. provider, model or "*", key fingerprint), or
        raise a 429 ApiError with Retry-After in whole seconds: waiting that long is enough."""
        if limit is None:
            return
        bucket = self._buckets.setdefault(bucket_key, _Bucket(limit.requests, now))
        elapsed = max(0.0, now - bucket.updated_at)
        bucket.tokens = min(limit.requests, bucket.tokens + elapsed * limit.refill_per_second)
        bucket.updated_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        raise refused(limit, bucket.tokens)

    def clear(self) -> None:
        self._buckets.clear()
