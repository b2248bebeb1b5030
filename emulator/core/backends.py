"""Where a runtime keeps its state: in this process (the default), or in Redis, shared by every
worker and host that names the same store (emulator/core/redis/backend.py).

A backend makes the stateful services (clock, store, wallets, rate limits, scenarios, journal,
uploads) and says what sharing adds: a per-request view (begin_request / end_request), one
reset for everything shared, config changes published to the other workers, and whether the
store answers (health). The memory backend adds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from emulator.core.clock import CLOCKS, Clock
from emulator.core.counters import Counters
from emulator.core.journal import Journal
from emulator.core.rate_limits import RateLimiter
from emulator.core.scenarios import Scenarios
from emulator.core.store import MemoryStore, Store
from emulator.core.uploads import UploadStore
from emulator.core.wallets import Wallets

if TYPE_CHECKING:
    from emulator.config import Config
    from emulator.core.runtime import Runtime

MEMORY = "memory"


class Backend(Protocol):
    shared: bool  # state seen by other processes (then the seed's ids are per worker)
    description: str  # for the banner and health, never with a password

    def clock(self, config: Config) -> Clock: ...
    def wallets(self) -> Any: ...
    def store(self, clock: Clock, config: Config, wallets: Any) -> Store: ...
    def rate_limiter(self, config: Config) -> Any: ...
    def scenarios(self) -> Any: ...
    def journal(self, size: int) -> Any: ...
    def uploads(self, clock: Clock) -> Any: ...
    def counters(self) -> Any: ...
    def start(self, config: Config) -> tuple[str, bool]:
        """(the config in force as JSON, whether this start put `config` in force): a shared
        store may hold one the running workers use, which this worker then adopts."""
        ...

    def attach(self, runtime: Runtime) -> None:
        """Follow what other workers change (config, reset) on `runtime`."""
        ...

    def begin_request(self) -> object: ...

    def sync(self, job_ids: list[str]) -> None:
        """At a request's start: read what other workers changed (and these jobs with it)."""
        ...
    def end_request(self, token: object) -> None: ...
    def reset(self) -> None: ...
    def publish_config(self, config: Config) -> None: ...
    def problem(self) -> str | None: ...


class MemoryBackend:
    shared = False
    description = MEMORY

    def clock(self, config: Config) -> Clock:
        return CLOCKS[config.clock](config.clock_start)

    def wallets(self) -> Wallets:
        return Wallets()

    def store(self, clock: Clock, config: Config, wallets: Wallets) -> MemoryStore:
        return MemoryStore(clock, config.max_jobs, config.job_retention, wallets)

    def rate_limiter(self, config: Config) -> RateLimiter:
        return RateLimiter()

    def scenarios(self) -> Scenarios:
        return Scenarios()

    def journal(self, size: int) -> Journal:
        return Journal(size)

    def uploads(self, clock: Clock) -> UploadStore:
        return UploadStore(clock)

    def counters(self) -> Counters:
        return Counters()

    def start(self, config: Config) -> tuple[str, bool]:
        return "", True  # no other worker: this config is the one in force

    def attach(self, runtime: Runtime) -> None:
        pass

    def begin_request(self) -> object:
        return None

    def sync(self, job_ids: list[str]) -> None:
        pass

    def end_request(self, token: object) -> None:
        pass

    def reset(self) -> None:
        """Nothing shared: each service clears itself."""

    def publish_config(self, config: Config) -> None:
        """No other worker to tell."""

    def problem(self) -> str | None:
        return None


def open_backend(store: str) -> Backend:
    """The backend a config's `store` names: "memory", or a Redis URL (ValueError else).
    Redis is imported only here: the memory store needs nothing installed."""
    if store == MEMORY:
        return MemoryBackend()
    from emulator.core.redis.backend import RedisBackend

    return RedisBackend(store)
