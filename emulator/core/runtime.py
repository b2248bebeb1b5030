"""The bundle of core services one app instance runs on, reachable from any request handler."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from emulator.config import Config
from emulator.core.auth import KeyPolicy
from emulator.core.clock import Clock
from emulator.core.faults import FaultQueue
from emulator.core.images import ImageCache
from emulator.core.moderation import Moderator
from emulator.core.randomness import SeededRandom
from emulator.core.rate_limits import RateLimiter
from emulator.core.store import Store
from emulator.core.wallets import Wallets


@dataclass
class Runtime:
    config: Config
    clock: Clock
    rng: SeededRandom
    store: Store
    images: ImageCache
    keys: KeyPolicy
    moderator: Moderator
    faults: FaultQueue
    wallets: Wallets
    rate_limiter: RateLimiter

    def reset(self) -> None:
        """Back to a just-started state: no jobs, files, queued faults,
        wallets or rate-limit state, clock offset 0,
        generator re-seeded."""
        self.store.clear()
        self.images.clear()
        self.rng.reset()
        self.clock.reset()
        self.faults.clear()
        self.wallets.clear()
        self.rate_limiter.clear()


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
