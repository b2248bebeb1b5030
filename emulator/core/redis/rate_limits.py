"""Rate-limit buckets on Redis: the memory limiter's token buckets (emulator/core/rate_limits.py),
each take one Lua script (lua/take_token.lua), so workers share one bucket per key."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from emulator.core.clock import Clock
from emulator.core.rate_limits import RateLimit, refused
from emulator.core.redis.link import RedisLink

T = TypeVar("T")
NO_START = -2  # take_token: a virtual clock without its start yet

# How long a bucket is kept on a virtual clock, which may stand still for any wall time:
# a bucket untouched that long is forgotten (full again).
VIRTUAL_BUCKET_LIFE_MS = 24 * 3600 * 1000


class RedisRateLimiter:
    def __init__(self, link: RedisLink, clock_mode: str) -> None:
        self.link = link
        self.mode = clock_mode
        self._life = str(VIRTUAL_BUCKET_LIFE_MS) if clock_mode == "virtual" else ""

    def take(self, bucket_key: tuple[str, ...], limit: RateLimit | None, now: float) -> None:
        if limit is None:
            return
        bucket = ":".join(bucket_key)
        args = [bucket, limit.requests, repr(limit.per_seconds), repr(now), self._life]
        tokens, taken = self.link.run("take_token", args)
        if taken != 1:
            raise refused(limit, float(tokens))

    def take_after(
        self,
        bucket_key: tuple[str, ...],
        limit: RateLimit,
        clock: Clock,
        decide: Callable[[], T],
    ) -> T:
        """`decide()` (which may raise: a fault), then take a token, as the memory limiter
        does; but the token is taken first, in the request's first round trip (with its
        clock, the script reading the shared clock itself), and given back if decide raises.
        So a submit costs one round trip less."""
        bucket = ":".join(bucket_key)
        view = self.link.view()
        now = "" if view is None or view.epoch is None else repr(clock.now())
        args = [bucket, limit.requests, repr(limit.per_seconds), now]
        args += [self._life, repr(time.time()), self.mode]
        ((tokens, taken),) = self.link.read(lambda pipe: self.link.queue(pipe, "take_token", args))
        if taken == NO_START:  # the first request of a virtual clock: read it, then take
            outcome = decide()
            self.take(bucket_key, limit, clock.now())
            return outcome
        try:
            outcome = decide()
        except BaseException:
            if taken == 1:
                self.link.run("give_token", [bucket, limit.requests])
            raise
        if taken != 1:
            raise refused(limit, float(tokens))
        return outcome

    def clear(self) -> None:
        """Done by the reset script, with everything else."""
