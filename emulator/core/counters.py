"""Named counters that start over on reset (a replay's playback position per request key).
In memory here; emulator/core/redis/counters.py is the shared twin."""

from __future__ import annotations


class Counters:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}

    def take(self, group: str, key: str) -> int:
        """The count before this call (0 the first time), then one more."""
        count = self._counts.get((group, key), 0)
        self._counts[group, key] = count + 1
        return count

    def clear(self) -> None:
        self._counts.clear()
