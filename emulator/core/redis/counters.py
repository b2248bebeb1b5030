"""Counters on Redis (the twin of emulator/core/counters.py): one hash per group,
`<ns>:counters:<group>`, so every worker plays a replay's answers in one sequence."""

from __future__ import annotations

from emulator.core.redis.link import RedisLink


class RedisCounters:
    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def take(self, group: str, key: str) -> int:
        with self.link.guard():
            return int(self.link.client.hincrby(self.link.key("counters", group), key, 1)) - 1

    def clear(self) -> None:
        """Done by the reset script, with everything else."""
