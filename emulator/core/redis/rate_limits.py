"""Rate-limit buckets on Redis: the memory limiter's token buckets (emulator/core/rate_limits.py),
each take one Lua script (lua/take_token.lua), so workers share one bucket per key."""

from __future__ import annotations

from emulator.core.rate_limits import RateLimit, refused
from emulator.core.redis.link import RedisLink

# How long a bucket is kept on a virtual clock, which may stand still for any wall time:
# a bucket untouched that long is forgotten (full again).
VIRTUAL_BUCKET_LIFE_MS = 24 * 3600 * 1000


class RedisRateLimiter:
    def __init__(self, link: RedisLink, clock_mode: str) -> None:
        self.link = link
        self._life = str(VIRTUAL_BUCKET_LIFE_MS) if clock_mode == "virtual" else ""

    def take(self, bucket_key: tuple[str, ...], limit: RateLimit | None, now: float) -> None:
        if limit is None:
            return
        bucket = ":".join(bucket_key)
        args = [bucket, limit.requests, repr(limit.per_seconds), repr(now), self._life]
        tokens, taken = self.link.run("take_token", args)
        if taken != 1:
            raise refused(limit, float(tokens))

    def clear(self) -> None:
        """Done by the reset script, with everything else."""
