"""The Redis backend: every stateful service in Redis, shared by the workers and hosts that
name the same store (and prefix), and what a worker does when another one changed something.

- A reset is one script (lua/reset.lua): every key of the prefix goes but the epoch and the
  config; the epoch's reset generation moves on, and each other worker, on its next request,
  starts its own generators over and drops its rendered images.
- The config in force is in Redis (lua/config_start.lua, config_put.lua): a worker started
  with the config the others were started with adopts the one in force (so a restart keeps
  changes made through PUT /_emulator/config); one started with a new config puts it in force
  for all. A change is seen by every worker on its next request (the epoch's config version).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from emulator.config import RESTART_ONLY_KEYS
from emulator.core.clock import Clock
from emulator.core.redis.clock import SharedClock
from emulator.core.redis.counters import RedisCounters
from emulator.core.redis.journal import RedisJournal
from emulator.core.redis.link import Epoch, RedisLink, StoreUnavailable
from emulator.core.redis.rate_limits import RedisRateLimiter
from emulator.core.redis.scenarios import RedisScenarios
from emulator.core.redis.store import RedisStore
from emulator.core.redis.uploads import RedisUploads
from emulator.core.redis.wallets import RedisWallets

if TYPE_CHECKING:
    from emulator.config import Config
    from emulator.core.runtime import Runtime

log = logging.getLogger("emulator")


def config_json(config: Config) -> str:
    """The config as the workers compare and share it (its file shape, keys sorted)."""
    # What each worker keeps from its own start is not shared, nor compared (a random seed
    # drawn at start is no new config).
    shared = {k: v for k, v in config.to_mapping().items() if k not in RESTART_ONLY_KEYS}
    return orjson.dumps(shared, option=orjson.OPT_SORT_KEYS).decode()


class RedisBackend:
    shared = True

    def __init__(self, url: str) -> None:
        self.link = RedisLink(url)
        self.description = self.link.url + (
            "" if self.link.namespace == "imagegen" else f" (prefix {self.link.namespace})"
        )
        self._runtime: Runtime | None = None
        self._store: RedisStore | None = None

    # ------------------------------------------------------------------ services

    def clock(self, config: Config) -> Clock:
        return SharedClock(self.link, config.clock, config.clock_start)

    def wallets(self) -> RedisWallets:
        return RedisWallets(self.link)

    def store(self, clock: Clock, config: Config, wallets: RedisWallets) -> RedisStore:
        self._store = RedisStore(self.link, clock, config.max_jobs, config.job_retention)
        return self._store

    def rate_limiter(self, config: Config) -> RedisRateLimiter:
        return RedisRateLimiter(self.link, config.clock)

    def scenarios(self) -> RedisScenarios:
        return RedisScenarios(self.link)

    def journal(self, size: int) -> RedisJournal:
        return RedisJournal(self.link, size)

    def uploads(self, clock: Clock) -> RedisUploads:
        return RedisUploads(self.link, clock)

    def counters(self) -> RedisCounters:
        return RedisCounters(self.link)

    # ------------------------------------------------------------------ sharing

    def attach(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.link.on_reset.append(self._reset_elsewhere)
        self.link.on_config.append(self._config_elsewhere)

    def start(self, config: Config) -> tuple[str, bool]:
        """(the config in force as JSON, whether this start put its own in force)."""
        current, published = self.link.run("config_start", [config_json(config)])
        self.link.epoch()  # what is in force now is what this worker starts on: no echo
        return current.decode(), published == 1

    def begin_request(self) -> object:
        return self.link.begin_request()

    def sync(self, job_ids: list[str]) -> None:
        """A request's first read, at the start of its handler: the epoch (what other workers
        changed), and the jobs its path names, in one round trip."""
        view = self.link.view()
        if view is None or view.epoch is not None:
            return
        if self._store is not None and job_ids:
            self._store.prefetch(job_ids)
        else:
            self.link.epoch()

    def end_request(self, token: object) -> None:
        self.link.end_request(token)  # type: ignore[arg-type]

    def reset(self) -> None:
        generation = self.link.run("reset", [])
        self.link.forget_epoch()
        self.link.saw_reset(int(generation))  # this worker starts over itself, not on its echo

    def publish_config(self, config: Config) -> None:
        version = self.link.run("config_put", [config_json(config)])
        self.link.forget_epoch()
        self.link.saw_config(int(version))

    def problem(self) -> str | None:
        return self.link.ping()

    def _reset_elsewhere(self, _epoch: Epoch) -> None:
        if self._runtime is not None:
            self._runtime.start_over_here()

    def _config_elsewhere(self, _epoch: Epoch) -> None:
        if self._runtime is None:
            return
        from emulator.config import Config, ConfigError

        with self.link.guard():
            raw = self.link.client.hget(self.link.key("config"), "current")
        if raw is None:
            return
        try:
            config = Config.from_mapping(orjson.loads(raw))
        except (ConfigError, ValueError) as exc:  # written by a newer or older version
            log.error("the config in the store cannot be read (%s): keeping this one", exc)
            return
        self._runtime.apply_config(config, publish=False)


__all__ = ["RedisBackend", "StoreUnavailable"]
