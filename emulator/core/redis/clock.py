"""The clock on Redis: the offset (and a virtual clock's start) live in the epoch hash, so an
advance on any worker is what every worker reads on its next request."""

from __future__ import annotations

import asyncio
import time

from emulator.core.redis.link import RedisLink


class SharedClock:
    """The real or virtual clock, its offset and start shared through Redis."""

    def __init__(self, link: RedisLink, mode: str, start: float | None) -> None:
        self.link = link
        self.mode = mode
        # Whole milliseconds, as the memory clock's, so timestamps round-trip through ISO 8601.
        self._proposed_start = round(time.time() if start is None else start, 3)

    def now(self) -> float:
        epoch = self.link.epoch()
        if self.mode != "virtual":
            return time.time() + epoch.offset
        if epoch.start is None:
            # The first worker to need it sets the start; the others (and a restart) keep it.
            # Done on first use, not at start-up, so a worker starts while Redis is down.
            with self.link.guard():
                self.link.client.hsetnx(self.link.epoch_key, "start", repr(self._proposed_start))
            self.link.forget_epoch()
            epoch = self.link.epoch()
        return (epoch.start or self._proposed_start) + epoch.offset

    @property
    def offset(self) -> float:
        return self.link.epoch().offset

    def advance(self, seconds: float) -> None:
        with self.link.guard():
            self.link.client.hincrbyfloat(self.link.epoch_key, "offset", seconds)
        self.link.forget_epoch()

    def reset(self) -> None:
        """The offset back to 0 (done by the reset script with the rest)."""
        self.link.forget_epoch()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0 if self.mode == "virtual" else seconds)
