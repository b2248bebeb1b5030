"""The emulator's sense of time.

Every time-dependent behaviour (job progress, completion, asset expiry, later rate-limit refill)
reads one clock, so moving it moves everything at once and deterministically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    mode: str

    def now(self) -> float:
        """Seconds since the Unix epoch, as the emulator sees it."""
        ...

    def advance(self, seconds: float) -> None: ...

    async def sleep(self, seconds: float) -> None:
        """Wait before answering (latency, a held connection): real time on the real clock;
        on the virtual clock no wall time passes, as a test skips waits."""
        ...

    def reset(self) -> None: ...

    @property
    def offset(self) -> float: ...


class _OffsetClock:
    """A base time plus an offset that only `advance` moves."""

    def __init__(self) -> None:
        self._offset = 0.0

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def reset(self) -> None:
        self._offset = 0.0

    @property
    def offset(self) -> float:
        return self._offset


class VirtualClock(_OffsetClock):
    """Stands still until told to move: tests skip a 90-second job instantly."""

    mode = "virtual"

    def __init__(self, start: float | None = None) -> None:
        super().__init__()
        # Whole milliseconds, so timestamps round-trip through ISO 8601 with ms exactly.
        self._start = round(time.time() if start is None else start, 3)

    def now(self) -> float:
        return self._start + self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # still yield, so concurrency behaves as on a live server


class RealClock(_OffsetClock):
    """Wall time plus an offset, so `advance` fast-forwards a running server too."""

    mode = "real"

    def now(self) -> float:
        return time.time() + self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


CLOCKS: dict[str, Callable[[float | None], Clock]] = {
    "virtual": VirtualClock,
    "real": lambda _start: RealClock(),
}


def utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)


@lru_cache(maxsize=4096)  # polls format the same few instants over and over
def iso8601(epoch_seconds: float, timespec: str = "milliseconds") -> str:
    """UTC with a Z suffix, e.g. 2025-01-15T12:00:00.000Z; providers pick the precision."""
    return utc(epoch_seconds).isoformat(timespec=timespec).replace("+00:00", "Z")
